"""The live commands: ``voicesim devices`` and ``voicesim mic-check``, and the drill's options and
run (``add_drill_options``, ``run_drill``).

``register(sub, epilog)`` adds devices and mic-check to the main parser. The ``voicesim drill``
command itself is put together in ``voicesim/station.py``, above this package and the lab: the
live drill knows nothing of the lab, the station adds sign-in and upload around it.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import VoicesimError
from ..session.cues import GuidanceOptions, add_guidance_option
from ..session.seed import add_seed_option, call_seed
from ..speech.options import add_model_options, add_voices_option, transcriber_options

if TYPE_CHECKING:
    from ..persona.persona import Persona
    from ..rubric.rubric import Rubric
    from ..speech.transcriber import TranscriberOptions

LATENCY_HELP = (
    "device buffering: 'high' (default; safest against dropouts), 'low', or seconds (e.g. 0.05)"
)


# The trainee's speech is decoded after this much of a pause, before the endpointer's 0.45 s
# hangover has passed: kept when the pause ends the utterance, so the final transcript and the
# customer's answer do not wait a whole decode after it.
SPECULATE_S = 0.12

# Whisper's encoder window in a live drill and the mic check: the utterance plus 1 s, at least
# this (speech/transcriber.py). A decode takes about half as long as in the full 30 s window
# that simulated and scored calls use, with the same word error rate on bench_asr.
LIVE_MIN_WINDOW_S = 15.0


def _live_transcriber_options(args: argparse.Namespace) -> TranscriberOptions:
    return replace(transcriber_options(args), min_window_s=LIVE_MIN_WINDOW_S)


def _latency(text: str) -> str | float:
    if text in ("high", "low"):
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("use 'high', 'low' or a number of seconds") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError("latency in seconds must be between 0 and 1")
    return value


def _device_options(p: argparse.ArgumentParser, output: bool = True) -> None:
    g = p.add_argument_group("audio device")
    g.add_argument(
        "--input-device",
        metavar="D",
        help="microphone: a number or (part of a) name from `voicesim devices` (default: the "
        "system default input)",
    )
    if output:
        g.add_argument(
            "--output-device",
            metavar="D",
            help="headset/speaker for the customer's voice (default: the system default output)",
        )
    g.add_argument(
        "--samplerate",
        type=int,
        metavar="HZ",
        help="device sample rate (default: 48000, else 44100, else the device's own)",
    )


def add_drill_options(d: argparse.ArgumentParser) -> None:
    """The live drill's own options (the station adds the lab's and the transcription ones)."""
    d.add_argument(
        "--persona",
        metavar="ID",
        help="persona id from personas/ (e.g. damaged-blender) or a persona YAML file "
        "(required unless --lab gives the drill)",
    )
    d.add_argument("--rubric", metavar="FILE", help="rubric YAML (default: the built-in rubric)")
    d.add_argument(
        "--out", metavar="DIR", help="session directory (default: sessions/<time>-<persona>)"
    )
    add_seed_option(d)
    _device_options(d)
    d.add_argument("--latency", type=_latency, default="high", metavar="L", help=LATENCY_HELP)
    d.add_argument(
        "--max-seconds",
        type=float,
        default=900.0,
        metavar="S",
        help="safety cap: end the call after this much audio (default 900)",
    )
    d.add_argument(
        "--no-echo-check",
        action="store_true",
        help="do not look for the customer's voice in the microphone (speaker echo)",
    )
    d.add_argument(
        "--no-call-sounds",
        action="store_true",
        help="no ring and pick-up before the customer's first line, no hang-up tone after the last",
    )
    d.add_argument(
        "--no-partials",
        action="store_true",
        help="no partial transcripts while you speak (saves CPU; finals are unchanged)",
    )
    add_guidance_option(d)
    add_voices_option(d)
    d.add_argument("--quiet", action="store_true", help="print only the scorecard")
    d.add_argument("--json", action="store_true", help="print the scorecard as JSON at the end")


def register(sub, epilog: str) -> None:
    dev = sub.add_parser(
        "devices",
        help="list audio input and output devices",
        description="List the audio devices PortAudio can open, with their channels and default "
        "sample rate; '>' marks the default input, '<' the default output. Pass the number or "
        "(part of) the name to --input-device / --output-device.",
        epilog=epilog,
    )
    dev.add_argument("--json", action="store_true", help="print the list as JSON")
    dev.set_defaults(func=cmd_devices)

    mc = sub.add_parser(
        "mic-check",
        help="record a few seconds, show the level and the transcript",
        description="Record from the microphone for a few seconds (say a sentence), then show "
        "the level, warn about clipping or a silent microphone, and show what Whisper heard. "
        "Exit code 0 when the microphone is fine, 1 when it is silent or clipping, 2 on a "
        "device error.",
        epilog=epilog,
    )
    _device_options(mc, output=False)
    mc.add_argument(
        "--seconds", type=float, default=5.0, metavar="S", help="how long to record (default 5)"
    )
    mc.add_argument("--save", metavar="FILE", help="also save the recording as a WAV file")
    mc.add_argument("--json", action="store_true", help="print the result as JSON")
    add_model_options(mc)
    mc.set_defaults(func=cmd_mic_check)


# -- voicesim devices --------------------------------------------------------------------------
def cmd_devices(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from .devices import DeviceError, list_devices

    devices = list_devices()
    if args.json:
        print(json.dumps([vars(d) for d in devices], indent=2))
        return 0 if devices else 2
    if not devices:
        raise DeviceError(
            "no audio devices found; plug in a headset, or check that the sound server "
            "(PulseAudio/PipeWire) is running and that this user may use it"
        )
    table = Table(show_header=True, header_style="bold")
    for col in ("", "#", "name", "host API", "in", "out", "rate"):
        table.add_column(col, justify="right" if col in ("#", "in", "out", "rate") else "left")
    for d in devices:
        mark = (">" if d.default_in else " ") + ("<" if d.default_out else " ")
        table.add_row(
            mark,
            str(d.index),
            d.name,
            d.hostapi,
            str(d.inputs),
            str(d.outputs),
            f"{d.samplerate:g}",
        )
    c = Console(highlight=False)
    c.print(table)
    c.print("[dim]> default input, < default output[/dim]")
    return 0


# -- voicesim drill ----------------------------------------------------------------------------
# What a station does with the finished session: (session dir, exit code, console, quiet) -> the
# exit code. ``quiet``: the terminal is gone (SIGHUP), say nothing.
AfterCall = Callable[[Path, int, object, bool], int]


def run_drill(
    args: argparse.Namespace,
    persona: Persona | None = None,
    rubric: Rubric | None = None,
    after: AfterCall | None = None,
) -> int:
    """Run a live drill with the options of ``add_drill_options``: ``persona`` and ``rubric``
    as given (a lab's assignment), else from --persona and --rubric. ``after`` sees the saved
    session when the call has ended, however it ended."""
    from rich.console import Console

    from ..persona.persona import find_persona, load_persona
    from ..rubric.rubric import load_rubric
    from ..session.call import CallOptions
    from ..session.simulate import default_session_dir
    from ..speech.vad import VadConfig
    from .drill import DrillOptions
    from .source import CallStopped
    from .view import LiveView

    if persona is None:
        if args.persona is None:
            raise VoicesimError("choose a customer with --persona ID")
        rubric = load_rubric(args.rubric)
        persona = load_persona(find_persona(args.persona), set(rubric.library.detectors))
    out = Path(args.out) if args.out else default_session_dir(persona.id)
    if out.exists() and any(out.iterdir()):
        raise VoicesimError(f"{out} already holds files; choose an empty or new --out directory")
    if args.max_seconds is not None and args.max_seconds <= 0:
        raise VoicesimError("--max-seconds must be positive")
    options = CallOptions(
        seed=call_seed(args.seed),
        vad=VadConfig(aggressiveness=args.vad_aggressiveness),
        transcriber=_live_transcriber_options(args),
        call_sounds=not args.no_call_sounds,
        speculate_s=SPECULATE_S,
        guidance=None
        if args.guidance is None
        else GuidanceOptions.for_difficulty(persona.difficulty, cues=args.guidance),
    )
    from ..speech.tts import Synthesizer

    synth = Synthesizer(voices=args.voices)  # a bad VOICESIM_VOICES stops here, in one line
    drill_options = DrillOptions(
        input_device=args.input_device,
        output_device=args.output_device,
        samplerate=args.samplerate,
        latency=args.latency,
        echo_check=not args.no_echo_check,
        max_seconds=args.max_seconds,
        partials=not args.no_partials,
    )
    console = Console(highlight=False, stderr=args.json)
    state: dict = {}

    def stop_on(signum, _frame):
        # Ctrl-C, SIGTERM (kill, logout) and SIGHUP (terminal closed) end the call and the
        # session is finalised; without a terminal nothing more is printed. Once the call
        # runs, the source stops at its next safe point (never inside a lock the audio
        # callback needs); before that, at once.
        name = signal.Signals(signum).name
        if signum == signal.SIGHUP and state.get("view") is not None:
            state["view"].silence()
            state["hangup"] = True
        if signum != signal.SIGINT:
            state["signal"] = signum
        stop = KeyboardInterrupt() if signum == signal.SIGINT else None
        stop = stop or CallStopped("signal", f"stopped by {name}")
        source = state.get("source")
        if source is None:
            raise stop
        source.request_stop(stop)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        state.setdefault("old_handlers", {})[sig] = signal.signal(sig, stop_on)

    def ready(source, worker):
        state["source"] = source
        d = source.describe()
        console.print(
            f"[bold]voicesim[/] live drill: persona [bold]{persona.name}[/] ({persona.id}), "
            f"seed {options.seed}; "
            f"mic [bold]{d['input_device']}[/] -> headset [bold]{d['output_device']}[/] "
            f"({d['device_rate']} Hz); session -> {out}"
        )
        console.print(
            "[dim]The customer speaks first. Ctrl-C ends the call; the session is kept.[/]"
        )
        view = LiveView(source, worker, console, status=None if not args.quiet else False)
        state["view"] = view.__enter__()

        def keep_finalising(ev):
            if ev.type == "call_end":
                # A second Ctrl-C (or a kill) while the session is being written would lose
                # it: hold them until it is saved.
                def hold(*_):
                    if not state.get("hangup"):
                        console.print("[dim]still saving the session...[/dim]")

                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                    state.setdefault("held", {})[sig] = signal.signal(sig, hold)

        return [keep_finalising] + ([] if args.quiet else [view])

    rc = _run(persona, rubric, out, options, drill_options, ready, args, console, state, synth)
    if after is not None and (out / "meta.json").exists():
        rc = after(out, rc, console, bool(state.get("hangup")))
    return rc


def _run(persona, rubric, out, options, drill_options, ready, args, console, state, synth) -> int:  # noqa: ANN001
    """Run the call; the exit code says how it ended (the session is saved in every case)."""
    from ..report.terminal import print_scorecard
    from .drill import drill
    from .source import CallStopped

    try:
        result = drill(persona, rubric, out, options, drill_options, synth=synth, on_ready=ready)
    except KeyboardInterrupt as exc:
        _restore(state)
        if state.get("hangup"):
            return 128 + signal.SIGHUP
        if not (out / "meta.json").exists():
            console.print("\nstopped before the call began; nothing was recorded")
            return 128 + state.get("signal", signal.SIGINT)
        source = state.get("source")
        err = getattr(source, "error", None)
        if err is None and isinstance(exc, CallStopped):
            err = exc
        if err is None and state.get("signal"):
            name = signal.Signals(state["signal"]).name
            console.print(f"\nstopped by {name}; the session so far is saved in {out}")
            _print_partial_score(console, out)
            return 128 + state["signal"]
        if err is None:
            console.print(f"\ninterrupted; the session so far is saved in {out}")
            _print_partial_score(console, out)
            return 130
        console.print(f"{err.message}; the session so far is saved in {out}")
        _print_partial_score(console, out)
        if err.reason == "max_seconds":
            return 0
        print(f"voicesim: error: {err.message}", file=sys.stderr)
        return 2
    _restore(state)
    if args.json:
        print(json.dumps(result.scorecard.to_dict(), indent=2))
    else:
        print_scorecard(result.scorecard, console)
        console.print(
            f"session saved in [bold]{result.session_dir}[/] ({result.duration_s:.1f} s of call "
            "audio)"
        )
    return 0


def _restore(state: dict) -> None:
    view = state.pop("view", None)
    if view is not None:
        view.__exit__(None, None, None)
    for table in ("held", "old_handlers"):
        for sig, handler in state.pop(table, {}).items():
            signal.signal(sig, handler)


def _print_partial_score(console, out: Path) -> None:
    try:
        card = json.loads((out / "scorecard.json").read_text())
    except (OSError, ValueError):
        return
    console.print(
        f"score so far: [bold]{card.get('overall', 0):.0f}[/]/100 (replay: voicesim replay {out})"
    )


# -- voicesim mic-check ------------------------------------------------------------------------
def cmd_mic_check(args: argparse.Namespace) -> int:
    from rich.console import Console

    from .miccheck import mic_check

    if not 0.5 <= args.seconds <= 60:
        raise VoicesimError("--seconds must be between 0.5 and 60")
    console = Console(highlight=False, stderr=args.json)
    result = mic_check(
        args.input_device,
        args.seconds,
        samplerate=args.samplerate,
        transcriber_options=_live_transcriber_options(args),
        vad_aggressiveness=args.vad_aggressiveness,
        console=console,
        save=args.save,
    )
    if args.json:
        print(json.dumps(result, indent=2))
    return 1 if result["warnings"] else 0
