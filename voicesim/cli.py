"""voicesim command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from . import __version__
from .errors import OutputError, VoicesimError
from .session.cues import add_guidance_option
from .session.seed import add_seed_option
from .speech.options import add_model_options as _add_model_options
from .speech.options import add_voices_option

EPILOG = (
    "Docs: README.md and docs/ (the session format: docs/session-format.md). Exit codes: 0 ok, "
    "2 usage or input error, 130 Ctrl-C."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voicesim",
        description="Offline voice-call training simulator: a difficult customer speaks, the "
        "trainee answers out loud, a rubric scores tone, interruptions and resolution.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"voicesim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sim = sub.add_parser(
        "simulate",
        help="run a whole call with a scripted trainee voice (no microphone needed)",
        description="Run a simulated call: the persona's voice and a scripted trainee voice on a "
        "virtual line, faster than real time, through the same VAD + Whisper pipeline "
        "as a live drill. Prints the conversation as it happens and the scorecard, and "
        "writes a session directory (call.wav, events.jsonl, meta.json, scorecard.json).",
        epilog=EPILOG,
    )
    sim.add_argument(
        "--persona",
        required=True,
        metavar="ID",
        help="persona id from personas/ (e.g. damaged-blender) or a persona YAML file",
    )
    sim.add_argument(
        "--trainee",
        required=True,
        metavar="SCRIPT",
        help="trainee script name from personas/scripts/ (e.g. model-agent) or a YAML file",
    )
    sim.add_argument("--rubric", metavar="FILE", help="rubric YAML (default: the built-in rubric)")
    sim.add_argument(
        "--out",
        metavar="DIR",
        help="session directory to write (default: sessions/<time>-<persona>)",
    )
    add_seed_option(sim)
    sim.add_argument(
        "--realtime",
        action="store_true",
        help="pace the virtual line at speaking speed, as a live drill runs (default: as fast as possible)",
    )
    add_guidance_option(sim)
    add_voices_option(sim)
    sim.add_argument("--quiet", action="store_true", help="print only the scorecard")
    sim.add_argument("--json", action="store_true", help="print the scorecard as JSON at the end")
    _add_model_options(sim)
    sim.set_defaults(func=cmd_simulate)

    per = sub.add_parser(
        "personas",
        help="list, show, validate or hear the customer personas",
        description="Customer personas live in personas/*.yaml (and in the folders named by "
        "VOICESIM_PERSONAS, separated by ':'). See docs/configuration.md for the file format.",
        epilog=EPILOG,
    )
    per_sub = per.add_subparsers(dest="personas_command", metavar="ACTION", required=True)
    p_list = per_sub.add_parser("list", help="one line per persona: id, name, difficulty, lesson")
    p_list.set_defaults(func=cmd_personas_list)
    p_show = per_sub.add_parser("show", help="everything about one persona")
    p_show.add_argument("persona", metavar="ID", help="persona id or YAML file")
    p_show.set_defaults(func=cmd_personas_show)
    p_val = per_sub.add_parser(
        "validate",
        help="check persona files against the schema and the rubric's move names",
        description="Validate persona files (default: every persona). Exit code 2 if any fails.",
    )
    p_val.add_argument("files", nargs="*", metavar="FILE", help="persona files or ids")
    p_val.add_argument("--rubric", metavar="FILE", help="rubric whose moves reactions may name")
    p_val.add_argument(
        "--strict",
        action="store_true",
        help="also require three or more wordings of every line (opening, reactions, answers, "
        "endings), as the shipped personas have: each call's seed picks one, so attempts "
        "sound different",
    )
    p_val.set_defaults(func=cmd_personas_validate)
    p_say = per_sub.add_parser(
        "say",
        help="render a persona's opening line(s) to a WAV file",
        description="Render the persona's opening lines with its own voice to a WAV file "
        "(16-bit, the voice engine's own rate), one after another with a short pause.",
    )
    p_say.add_argument("persona", metavar="ID", help="persona id or YAML file")
    p_say.add_argument("--out", metavar="FILE", help="WAV file to write (default: <id>.wav)")
    p_say.add_argument(
        "--mood", type=float, metavar="0-1", help="speak at this mood (default: start)"
    )
    add_voices_option(p_say)
    p_say.set_defaults(func=cmd_personas_say)
    p_pre = per_sub.add_parser(
        "prerender",
        help="render a persona's lines into the voice cache ahead of a training session",
        description="Render every wording of every line of the persona, in the voice of each "
        "mood it can be said in, into the voice cache (VOICESIM_CACHE, else ~/.cache/voicesim), "
        "nearest the starting mood first and the first sentences of all lines before the rest: "
        "a drill or simulated call then starts each of these lines from a file read instead of "
        "a render. A drill renders the lines likely next by itself while the call goes on; this "
        "fills the cache ahead. Ctrl-C stops it; what was rendered stays.",
    )
    p_pre.add_argument("persona", metavar="ID", help="persona id or YAML file")
    p_pre.add_argument(
        "--moods",
        type=_mood_range,
        metavar="LOW-HIGH",
        help="the moods (0-1) to render the lines in, in tenths (default: from the persona's "
        "resolve mood less its largest step to its start mood plus its largest step; goodbyes "
        "and hang-ups at the moods that end the call)",
    )
    add_voices_option(p_pre)
    p_pre.set_defaults(func=cmd_personas_prerender)
    rub = sub.add_parser(
        "rubric",
        help="show, validate or try out a rubric",
        description="Rubrics are YAML files of criteria in families, thresholds and the detector "
        "phrase library (default: the built-in rubric). See docs/configuration.md for the format.",
        epilog=EPILOG,
    )
    rub_sub = rub.add_subparsers(dest="rubric_command", metavar="ACTION", required=True)
    r_show = rub_sub.add_parser("show", help="print a rubric's families, criteria and thresholds")
    r_show.add_argument("rubric", nargs="?", metavar="FILE", help="rubric YAML (default: built-in)")
    r_show.add_argument(
        "--detectors", action="store_true", help="also list every detector's phrases"
    )
    r_show.set_defaults(func=cmd_rubric_show)
    r_val = rub_sub.add_parser("validate", help="check rubric files; exit code 2 if any fails")
    r_val.add_argument("files", nargs="*", metavar="FILE", help="rubric files (default: built-in)")
    r_val.set_defaults(func=cmd_rubric_validate)
    r_text = rub_sub.add_parser(
        "score-text",
        help="run the rubric's detectors on agent utterances (one JSON line per utterance)",
        description="Reads agent utterances, one per line, or JSON lines with 'text' and an "
        "optional 'customer' (what the customer said before, so that reflecting the problem "
        "back can be recognised). Prints one JSON object per utterance with every criterion hit "
        "and its evidence. For rubric authors and calibration.",
    )
    r_text.add_argument(
        "input",
        nargs="?",
        default="-",
        metavar="FILE",
        help="text or JSONL file (default: standard input)",
    )
    r_text.add_argument("--rubric", metavar="FILE", help="rubric YAML (default: built-in)")
    r_text.add_argument("--customer", metavar="TEXT", help="customer context for every utterance")
    r_text.set_defaults(func=cmd_rubric_score_text)

    from .report.commands import register as register_review

    register_review(sub, EPILOG)
    from .live.commands import register as register_live
    from .station import register as register_drill

    register_drill(sub, EPILOG)
    register_live(sub, EPILOG)
    from .lab.commands import register as register_lab

    register_lab(sub, EPILOG)
    return parser


def cmd_rubric_show(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.padding import Padding

    from .rubric.rubric import load_rubric

    r = load_rubric(args.rubric)
    c = Console(highlight=False)
    c.print(
        f"[bold]{r.name}[/] ({r.id} v{r.version}), pass mark {r.pass_mark:g}  [dim]{r.path}[/dim]"
    )
    th = ", ".join(f"{k} {v}" for k, v in vars(r.thresholds).items())
    c.print(f"[bold]thresholds[/]: {th}")
    # One block per criterion, details on lines of their own: readable at 80 columns.
    for fam in r.families:
        c.print()
        c.print(f"[bold]{fam.name}[/] (weight {fam.weight:g})")
        for cr in fam.criteria:
            if cr.detectors:
                source = "words: " + ", ".join(cr.detectors)
            elif cr.event:
                source = f"timeline: {cr.event}"
            elif cr.metric:
                source = f"metric: {cr.metric}"
            elif cr.order:
                source = f"order: {'/'.join(cr.before)} before {'/'.join(cr.first)}"
            else:
                source = f"outcome: {cr.outcome}"
            if cr.unless:
                source += f" (unless {', '.join(cr.unless)})"
            if cr.when:
                source += (
                    " (when " + "; ".join(f"{k} {', '.join(v)}" for k, v in cr.when.items()) + ")"
                )
            pts = f"{cr.points:g} points" + (
                f", -{cr.per_hit:g} per hit" if cr.kind == "penalty" else f", {cr.target} to earn"
            )
            c.print(Padding(f"[bold]{cr.label}[/] [dim]({cr.id})[/dim]", (0, 0, 0, 2)))
            c.print(Padding(f"{cr.kind}, {pts}. {cr.description}", (0, 0, 0, 4)))
            c.print(Padding(f"[dim]{source}[/dim]", (0, 0, 0, 4)))
            for ex in cr.examples[:1]:
                c.print(Padding(f'[green]e.g. "{ex}"[/green]', (0, 0, 0, 4)))
    if args.detectors:
        from .rubric.moves import MOVES

        for det in r.library.detectors.values():
            if det.kind == "reflect":
                what = f"reflect, {det.min_terms}+ complaint terms"
            else:
                parts = ["recognised from meaning"] if det.model and det.id in MOVES else []
                if det.phrases:
                    parts.append("phrases: " + ", ".join(det.phrases))
                if det.customer_phrases:
                    parts.append("customer: " + ", ".join(det.customer_phrases))
                what = "; ".join(parts)
            c.print(f"[bold]{det.id}[/]{'' if det.negatable else ' (not negatable)'}: {what}")
    return 0


def _validate_files(targets: list[str], check: Callable[[str], str]) -> int:
    """``ok``/``error`` per file (``check`` returns the ok line or raises ConfigError), a
    summary, and exit code 2 when any failed: `rubric validate` and `personas validate`."""
    from .errors import ConfigError

    failed = 0
    for name in targets:
        try:
            print(f"ok    {check(name)}")
        except ConfigError as exc:
            failed += 1
            print(f"error {exc}")
    print(f"{len(targets) - failed} valid, {failed} invalid")
    return 2 if failed else 0


def cmd_rubric_validate(args: argparse.Namespace) -> int:
    from .rubric.rubric import DEFAULT_RUBRIC, load_rubric

    def check(name: str) -> str:
        r = load_rubric(name)
        n = sum(len(f.criteria) for f in r.families)
        return (
            f"{name} ({r.id} v{r.version}: {len(r.families)} families, {n} criteria, "
            f"{len(r.library.detectors)} detectors)"
        )

    return _validate_files(args.files or [str(DEFAULT_RUBRIC)], check)


SCORE_TEXT_MAX = 10_000  # characters of one utterance or customer line for score-text


def cmd_rubric_score_text(args: argparse.Namespace) -> int:
    import json

    from .rubric.rubric import load_rubric
    from .rubric.textscore import score_text
    from .session.transcript import CUSTOMER, Labels, split_label

    rubric = load_rubric(args.rubric)
    try:
        stream = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise VoicesimError(f"cannot read {args.input}: {exc.strerror}") from None
    with stream:
        for n, raw in enumerate(stream, 1):
            line = raw.strip()
            if not line:
                continue
            customer = args.customer or ""
            if line.startswith("{"):
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise VoicesimError(f"{args.input}:{n}: not valid JSON ({exc.msg})") from None
                except RecursionError:  # json's parser recurses once per level of nesting
                    raise VoicesimError(
                        f"{args.input}:{n}: JSON nested too deeply (a line is one object: "
                        '{"text": ..., "customer": ...})'
                    ) from None
                if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                    raise VoicesimError(
                        f"{args.input}:{n}: a JSON line needs a string field 'text'"
                    )
                if obj.get("customer") is not None and not isinstance(obj["customer"], str):
                    raise VoicesimError(f"{args.input}:{n}: customer: must be a string")
                text, customer = obj["text"], obj.get("customer") or customer
            else:
                text = line
                label = split_label(line, Labels())
                if label is not None and Labels().side(label[0]) == CUSTOMER:
                    raise VoicesimError(
                        f"{args.input}:{n}: '{label[0]}:' starts the customer's words, and "
                        "score-text judges the agent's, one utterance a line; to score a "
                        "labelled transcript, use: voicesim score FILE"
                    )
            # A JSON "\ud800" escape is a lone surrogate: no UTF-8 can carry it, so it is
            # replaced, as undecodable bytes are.
            text = text.encode("utf-8", "replace").decode("utf-8")
            customer = customer.encode("utf-8", "replace").decode("utf-8")
            for field, value in (("text", text), ("customer", customer)):
                if len(value) > SCORE_TEXT_MAX:
                    raise VoicesimError(
                        f"{args.input}:{n}: {field}: longer than {SCORE_TEXT_MAX} characters "
                        "(one utterance per line)"
                    )
            print(json.dumps(score_text(text, rubric, customer), ensure_ascii=False))
    return 0


def _load_persona_arg(name: str, rubric_path: str | None = None, min_wordings: int = 1):
    from .persona.persona import find_persona, load_persona
    from .rubric.rubric import load_rubric

    rubric = load_rubric(rubric_path)
    return load_persona(find_persona(name), set(rubric.library.detectors), min_wordings)


def cmd_personas_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.padding import Padding

    from .errors import ConfigError
    from .persona.persona import persona_files

    # One block per persona, the lesson on its own lines: readable at 80 columns.
    c = Console(highlight=False)
    broken = 0
    for path in persona_files():
        try:
            p = _load_persona_arg(str(path))
        except ConfigError as exc:
            broken += 1
            c.print(f"[bold]{path.stem}[/] [red]invalid[/red]")
            c.print(Padding(str(exc), (0, 0, 0, 2)))
            continue
        c.print(
            f"[bold]{p.id}[/] {p.name}, difficulty {'*' * p.difficulty}, "
            f"[dim]{p.voice.label()}[/dim]"
        )
        if p.lesson:
            c.print(Padding(f"Lesson: {p.lesson}", (0, 0, 0, 2)))
    return 2 if broken else 0


def cmd_personas_show(args: argparse.Namespace) -> int:
    from rich.console import Console

    p = _load_persona_arg(args.persona)
    c = Console(highlight=False)
    m = p.mood
    c.print(
        f"[bold]{p.name}[/] ({p.id} v{p.version}), difficulty {p.difficulty}/5  [dim]{p.path}[/dim]"
    )
    c.print(f"[bold]lesson[/]: {p.lesson}")
    c.print(f"[bold]situation[/]: {p.summary}")
    for k, v in p.facts.items():
        c.print(f"  {k}: {v}")
    c.print(
        f"[bold]voice[/]: {p.voice.label()}, {p.voice.rate:g} wpm, "
        f"pitch {p.voice.pitch:g}, volume {p.voice.volume:g}"
        + (f", accent {p.voice.accent}" if p.voice.engine == "kokoro" else "")
    )
    pr = p.prosody
    c.print(
        f"[bold]prosody[/]: mood 1 vs 0.5: +{pr.rate:g} wpm, +{pr.pitch:g} pitch, "
        f"+{100 * pr.volume:g} % volume, pauses {pr.pause_s:g} s -{pr.pause_span_s:g} s; "
        f"emphatic from mood {pr.emphatic_at:g}" + ("; hesitant" if pr.hesitant else "")
    )
    esc = f", demands a manager at {m.escalate_at}" if m.escalate_at is not None else ""
    c.print(
        f"[bold]mood[/]: starts {m.start}, baseline {m.baseline}, at most {m.max_step} per turn, "
        f"drift {m.drift}; accepts a resolution at or below {m.resolve_below}; hangs up at "
        f"{m.hang_up_at}{esc}; patience {m.patience_s:g} s, hangs up after {m.max_silences} silences"
    )
    c.print(
        f"[bold]talked over[/]: {p.talked_over.behavior}"
        + (f" after {p.talked_over.yield_after_s:g} s" if p.talked_over.behavior == "stop" else "")
    )
    t = p.timing
    c.print(
        f"[bold]timing[/]: answers a finished turn after {t.answer_after_s:g}-"
        f"{t.answer_after_s + t.spread_s:g} s of silence; eagerness {t.eagerness:g} (takes a "
        f"pause for the end of the turn at P >= {1 - t.eagerness:.2f}, else after the rubric's gap)"
    )
    if p.interrupts:
        c.print(
            f"[bold]interrupts[/] a trainee talking over {p.interrupts.after_s:g} s "
            f"when mood >= {p.interrupts.mood_at_least}"
        )
    c.print(
        f"[bold]accepts[/]: {', '.join(p.accept)}"
        + (f" (only after: {', '.join(p.requires)})" if p.requires else "")
        + (f"; refuses: {', '.join(p.refuse)}" if p.refuse else "")
    )
    c.print("[bold]opening[/]:")
    for line in p.opening:
        c.print(f"  - {line}")
    c.print("[bold]reactions[/] (mood change, lines):")
    for move, r in p.reactions.items():
        c.print(f"  {move}: {r.mood:+g}" + (f" - {r.say[0]!r}" if r.say else ""))
    c.print(f"[bold]end states[/]: {', '.join(p.endings)}; time limit {p.time_limit_s:g} s")
    if p.model_lines:  # what the coaching offers a trainee after a call with this customer
        c.print("[bold]model lines[/] (the coaching's better wording, by move):")
        for move, lines in p.model_lines.items():
            for line in lines:
                c.print(f"  {move}: {line!r}")
    return 0


def cmd_personas_validate(args: argparse.Namespace) -> int:
    from .persona.persona import STRICT_WORDINGS, persona_files

    least = STRICT_WORDINGS if args.strict else 1
    targets = args.files or [str(p) for p in persona_files()]
    return _validate_files(targets, lambda name: _load_persona_arg(name, args.rubric, least).path)


def cmd_personas_say(args: argparse.Namespace) -> int:
    import numpy as np

    from .audio.formats import write_audio_file
    from .speech.tts import Synthesizer

    p = _load_persona_arg(args.persona)
    voice = p.voice
    if args.mood is not None:
        from .persona.engine import DialogueEngine
        from .rubric.rubric import load_rubric

        engine = DialogueEngine(p, load_rubric().library)
        engine.mood = min(1.0, max(0.0, args.mood))
        voice = engine._voice()
    synth = Synthesizer(voices=args.voices)
    parts, rate = [], None
    for line in p.opening:
        audio, rate = synth.render_native(line, voice)
        parts += [audio, np.zeros(int(0.6 * rate), dtype=np.float32)]
    out = Path(args.out or f"{p.id}.wav")
    write_audio_file(out, np.concatenate(parts), rate, subtype="PCM_16")
    print(
        f"wrote {out} ({len(p.opening)} opening line(s), {sum(x.size for x in parts) / rate:.1f} s)"
    )
    return 0


def _mood_range(text: str) -> tuple[float, float]:
    low, sep, high = text.partition("-")
    try:
        lo, hi = float(low), float(high)
    except ValueError:
        lo = hi = -1.0
    if not sep or not 0 <= lo <= hi <= 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected LOW-HIGH within 0-1, e.g. 0.3-0.9")
    return lo, hi


def cmd_personas_prerender(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from .persona.engine import DialogueEngine
    from .rubric.rubric import load_rubric
    from .speech.streaming import Planned, Prerenderer
    from .speech.tts import Synthesizer, cache_dir

    p = _load_persona_arg(args.persona)
    m = p.mood
    low, high = args.moods or (
        max(0.0, m.resolve_below - m.max_step),
        min(1.0, m.start + m.max_step),
    )
    synth = Synthesizer(voices=args.voices)
    lines = DialogueEngine(p, load_rubric().library).every_line(low, high)
    plan = list(dict.fromkeys(Planned(x.text, x.voice) for x in lines))
    total = sum(len(synth.pieces(x.text, x.voice)) for x in plan)
    c = Console(highlight=False)
    c.print(
        f"{p.name} ({p.id}): {len(plan)} lines at moods {low:g}-{high:g}, {total} pieces, "
        f"voice {synth.describe(p.voice).get('spoken_by', {}).get('engine', p.voice.engine)}; "
        f"cache {synth.cache}"
    )
    fresh = 0
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=c, transient=False) as bar:
        task = bar.add_task("rendering", total=total)

        def step(_line: Planned, _piece, rendered: bool) -> None:
            nonlocal fresh
            fresh += rendered
            bar.advance(task)

        pre = Prerenderer(synth, on_piece=step)
        try:
            pre.plan(plan)
            while not pre.wait_idle(timeout=0.5):
                pass
        except KeyboardInterrupt:
            c.print(f"interrupted; the {fresh} pieces rendered stay in {cache_dir()}")
            return 130
        finally:
            pre.close()
            pre.join()  # the piece under way: the model must not be torn down under it
    if pre.error is not None:
        raise VoicesimError(f"rendering {p.id}'s lines failed: {pre.error}")
    c.print(f"done: {fresh} pieces rendered, {total - fresh} were in the cache already")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console

    from .persona.persona import find_persona, load_persona
    from .report.terminal import LivePrinter, print_scorecard
    from .rubric.rubric import load_rubric
    from .session.call import CallOptions
    from .session.cues import GuidanceOptions
    from .session.script import find_script, load_script
    from .session.seed import call_seed
    from .session.simulate import default_session_dir, simulate
    from .speech.transcriber import TranscriberOptions
    from .speech.tts import Synthesizer
    from .speech.vad import VadConfig

    rubric = load_rubric(args.rubric)
    persona = load_persona(find_persona(args.persona), set(rubric.library.detectors))
    script = load_script(find_script(args.trainee))
    out = Path(args.out) if args.out else default_session_dir(persona.id)
    if out.exists() and any(out.iterdir()):
        raise VoicesimError(f"{out} already holds files; choose an empty or new --out directory")
    synth = Synthesizer(voices=args.voices)  # a bad VOICESIM_VOICES stops here, in one line
    options = CallOptions(
        seed=call_seed(args.seed),
        vad=VadConfig(aggressiveness=args.vad_aggressiveness),
        transcriber=TranscriberOptions(
            model=args.model, device=args.device, compute_type=args.compute_type
        ),
        guidance=None
        if args.guidance is None
        else GuidanceOptions.for_difficulty(persona.difficulty, cues=args.guidance),
    )
    console = Console(highlight=False, stderr=args.json)
    console.print(
        f"[bold]voicesim[/] simulated call: persona [bold]{persona.name}[/] ({persona.id}), "
        f"trainee script [bold]{script.name}[/], seed {options.seed}; session -> {out}"
    )
    listeners = [] if args.quiet else [LivePrinter(console)]
    try:
        result = simulate(
            persona,
            script,
            rubric,
            out,
            options,
            listeners=listeners,
            synth=synth,
            realtime=args.realtime,
        )
    except KeyboardInterrupt:
        console.print(f"\ninterrupted; the session so far is saved in {out}")
        return 130
    if args.json:
        print(json.dumps(result.scorecard.to_dict(), indent=2))
    else:
        print_scorecard(result.scorecard, console)
        console.print(
            f"session saved in [bold]{result.session_dir}[/] "
            f"({result.duration_s:.1f} s of call audio)"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except VoicesimError as exc:
        print(f"voicesim: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # disk full, read-only, a missing folder: one line, never a traceback
        print(f"voicesim: error: {OutputError.from_os(exc, action='')}", file=sys.stderr)
        return OutputError.exit_code


if __name__ == "__main__":
    sys.exit(main())
