"""voicesim command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__
from .errors import VoicesimError

EPILOG = (
    "Docs and the session format: README.md. Exit codes: 0 ok, 2 usage or input error, 130 Ctrl-C."
)


def _add_model_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("transcription")
    g.add_argument(
        "--model",
        default=None,
        help="Whisper model: a faster-whisper name (downloads when online) or a "
        "CTranslate2 model directory; default: the bundled tiny.en",
    )
    g.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    g.add_argument("--compute-type", default="int8", help="CTranslate2 compute type (default int8)")
    g.add_argument(
        "--vad-aggressiveness",
        type=int,
        choices=range(4),
        default=2,
        metavar="0-3",
        help="webrtcvad aggressiveness: 0 keeps the most audio, 3 the least (default 2)",
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
    sim.add_argument(
        "--seed", type=int, default=0, help="seed for the customer's choices (default 0)"
    )
    sim.add_argument(
        "--realtime",
        action="store_true",
        help="pace the virtual line at speaking speed, as a live drill runs (default: as fast as possible)",
    )
    sim.add_argument("--quiet", action="store_true", help="print only the scorecard")
    sim.add_argument("--json", action="store_true", help="print the scorecard as JSON at the end")
    _add_model_options(sim)
    sim.set_defaults(func=cmd_simulate)
    return parser


def cmd_simulate(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console

    from .persona.persona import find_persona, load_persona
    from .report.terminal import LivePrinter, print_scorecard
    from .rubric.rubric import load_rubric
    from .session.call import CallOptions
    from .session.script import find_script, load_script
    from .session.simulate import default_session_dir, simulate
    from .speech.transcriber import TranscriberOptions
    from .speech.vad import VadConfig

    rubric = load_rubric(args.rubric)
    persona = load_persona(find_persona(args.persona), set(rubric.library.detectors))
    script = load_script(find_script(args.trainee))
    out = Path(args.out) if args.out else default_session_dir(persona.id)
    if out.exists() and any(out.iterdir()):
        raise VoicesimError(f"{out} already holds files; choose an empty or new --out directory")
    options = CallOptions(
        seed=args.seed,
        vad=VadConfig(aggressiveness=args.vad_aggressiveness),
        transcriber=TranscriberOptions(
            model=args.model, device=args.device, compute_type=args.compute_type
        ),
    )
    console = Console(highlight=False, stderr=args.json)
    console.print(
        f"[bold]voicesim[/] simulated call: persona [bold]{persona.name}[/] ({persona.id}), "
        f"trainee script [bold]{script.name}[/]; session -> {out}"
    )
    listeners = [] if args.quiet else [LivePrinter(console)]
    try:
        result = simulate(
            persona, script, rubric, out, options, listeners=listeners, realtime=args.realtime
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


if __name__ == "__main__":
    sys.exit(main())
