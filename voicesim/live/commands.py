"""The live commands: ``voicesim drill``, ``voicesim devices`` and ``voicesim mic-check``.

``register(sub, epilog)`` adds them to the main parser (one line in ``voicesim/cli.py``).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from ..errors import VoicesimError

LATENCY_HELP = (
    "device buffering: 'high' (default; safest against dropouts), 'low', or seconds (e.g. 0.05)"
)


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


def register(sub, epilog: str) -> None:
    from ..cli import _add_model_options
    from ..lab.commands import station_options

    d = sub.add_parser(
        "drill",
        help="have a live call on your headset with a customer persona",
        description="The headset drill. The customer's voice plays in your headset and your "
        "microphone is captured in one full-duplex stream (one sample clock, so overtalk is "
        "measured from what was actually played). While the call runs the terminal shows who is "
        "speaking, your microphone level, your words as they are recognised, the customer's "
        "lines and mood, and overtalk. The call ends when the customer ends it (resolved, hung "
        "up, escalated), at the persona's time limit, or on Ctrl-C; in every case, and when the "
        "headset is unplugged, the session directory is finalised and the scorecard printed. "
        "In a training lab, --lab URL --user NAME signs in, runs the drill your trainer "
        "assigned (its persona and rubric) and uploads the session when the call ends; a "
        "session the lab cannot take now waits in the outbox and is sent by the next drill or "
        "`voicesim lab upload`. Use a headset: with speakers the microphone hears the customer; voicesim warns about "
        "that echo and never counts it as your speech.",
        epilog=epilog + " Exit code 2 also when the audio device is missing or fails.",
    )
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
    d.add_argument("--seed", type=int, default=0, help="seed for the customer's choices")
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
        "--no-partials",
        action="store_true",
        help="no partial transcripts while you speak (saves CPU; finals are unchanged)",
    )
    d.add_argument("--quiet", action="store_true", help="print only the scorecard")
    d.add_argument("--json", action="store_true", help="print the scorecard as JSON at the end")
    lab = station_options(d, required=False, outbox=True)
    lab.add_argument(
        "--drill",
        type=int,
        metavar="N",
        help="with --lab: the assigned drill to run (default: the only one with attempts left, "
        "or a choice on the terminal)",
    )
    _add_model_options(d)
    d.set_defaults(func=cmd_drill)

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
    _add_model_options(mc)
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
def cmd_drill(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ..persona.persona import find_persona, load_persona
    from ..rubric.rubric import load_rubric
    from ..session.call import CallOptions
    from ..session.simulate import default_session_dir
    from ..speech.transcriber import TranscriberOptions
    from ..speech.vad import VadConfig
    from .drill import DrillOptions
    from .source import CallStopped
    from .view import LiveView

    station = None
    if args.lab:
        station = _lab_drill(args)
        rubric = load_rubric(station.rubric_file)
        persona = load_persona(find_persona(station.persona), set(rubric.library.detectors))
    else:
        if args.persona is None:
            raise VoicesimError(
                "choose a customer with --persona ID, or run a lab drill with --lab URL"
            )
        if args.drill is not None or args.user:
            raise VoicesimError("--drill and --user go with --lab URL")
        rubric = load_rubric(args.rubric)
        persona = load_persona(find_persona(args.persona), set(rubric.library.detectors))
    out = Path(args.out) if args.out else default_session_dir(persona.id)
    if out.exists() and any(out.iterdir()):
        raise VoicesimError(f"{out} already holds files; choose an empty or new --out directory")
    if args.max_seconds is not None and args.max_seconds <= 0:
        raise VoicesimError("--max-seconds must be positive")
    options = CallOptions(
        seed=args.seed,
        vad=VadConfig(aggressiveness=args.vad_aggressiveness),
        transcriber=TranscriberOptions(
            model=args.model, device=args.device, compute_type=args.compute_type
        ),
    )
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
        # SIGTERM (kill, logout) and SIGHUP (terminal closed) end the call like Ctrl-C: the
        # session is finalised. Without a terminal, nothing more is printed.
        name = signal.Signals(signum).name
        if signum == signal.SIGHUP and state.get("view") is not None:
            state["view"].silence()
            state["hangup"] = True
        state["signal"] = signum
        raise CallStopped("signal", f"stopped by {name}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        state.setdefault("old_handlers", {})[sig] = signal.signal(sig, stop_on)

    def ready(source, worker):
        state["source"] = source
        d = source.describe()
        console.print(
            f"[bold]voicesim[/] live drill: persona [bold]{persona.name}[/] ({persona.id}); "
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

    rc = _run(persona, rubric, out, options, drill_options, ready, args, console, state)
    if station is not None and (out / "meta.json").exists():
        rc = _upload_to_lab(station, out, rc, console, quiet=bool(state.get("hangup")))
    return rc


def _run(persona, rubric, out, options, drill_options, ready, args, console, state) -> int:  # noqa: ANN001
    """Run the call; the exit code says how it ended (the session is saved in every case)."""
    from ..report.terminal import print_scorecard
    from .drill import drill
    from .source import CallStopped

    try:
        result = drill(persona, rubric, out, options, drill_options, on_ready=ready)
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


def _lab_drill(args: argparse.Namespace):  # noqa: ANN202
    """Sign in to the lab and get the drill to run, before any audio device is opened."""
    from ..lab.client import LabError
    from ..lab.commands import password
    from ..lab.station import ask_on_terminal, prepare

    if args.persona or args.rubric:
        raise VoicesimError(
            "with --lab the drill's persona and rubric come from the lab; leave out "
            "--persona and --rubric"
        )
    if not args.user:
        raise VoicesimError("--lab needs --user NAME (your lab user name)")
    if args.out and Path(args.out).exists() and any(Path(args.out).iterdir()):
        raise VoicesimError(f"{args.out} already holds files; choose an empty or new --out")
    try:
        station = prepare(
            args.lab,
            args.user,
            password(args),
            args.drill,
            args.outbox,
            ask=ask_on_terminal if sys.stdin.isatty() else None,
            say=lambda text: print(text, file=sys.stderr),
        )
    except LabError as exc:
        if "cannot reach" not in str(exc):
            raise
        raise LabError(
            f"{exc}. To practise meanwhile: voicesim drill --persona ID, and later "
            f"voicesim lab upload SESSION --drill N --lab {args.lab} --user {args.user}"
        ) from None
    d = station.drill
    attempt = d["attempts_allowed"] - d.get("attempts_left", d["attempts_allowed"]) + 1
    print(
        f"lab drill #{d['id']}: {d['persona']}, rubric {d['rubric']}, pass mark "
        f"{d['pass_mark']:g}; attempt {attempt} of {d['attempts_allowed']} (the session goes to "
        "the lab when the call ends, Ctrl-C included)",
        file=sys.stderr,
    )
    return station


def _upload_to_lab(station, out: Path, rc: int, console, quiet: bool) -> int:  # noqa: ANN001
    """Send the finished session to the lab. A call that failed on the audio device is not an
    attempt and is not sent; a session the lab cannot take now waits in the outbox."""
    from ..lab.station import upload

    def say(text: str) -> None:
        if not quiet:  # the terminal is gone after SIGHUP: upload without a word
            console.print(text)

    d = station.drill
    retry = f"voicesim lab upload --lab {station.client.base_url} --user {station.user}"
    if rc == 2:
        say(
            "not sent to the lab: the call failed on the audio device, so it does not use an "
            f"attempt. To send it anyway: {retry} --drill {d['id']} {out}"
        )
        return rc
    say(f"sending the session to the lab (drill #{d['id']}) ...")
    try:
        outcome, path = upload(station, out)
    except KeyboardInterrupt:
        say(f"upload interrupted; the session waits in {station.outbox}. Send it with: {retry}")
        return 130
    answer = outcome.arrived.get(path)
    if answer is not None:
        verdict = "PASS" if answer.get("passed") else "FAIL"
        say(
            f"the lab has it as session #{answer['id']}: score [bold]{answer['overall']:.1f}[/]"
            f"/100, {verdict} (pass mark {d['pass_mark']:g})"
        )
        return rc
    for rejected, why in outcome.rejected:
        if rejected == path:
            say(f"[red]the lab refused the session: {why}[/] (kept in {out})")
            return rc or 1
    say(
        f"[yellow]the lab could not take the session now[/]; it waits in {station.outbox} and "
        f"goes with your next lab drill, or send it with: {retry}"
    )
    return rc or 1


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

    from ..speech.transcriber import TranscriberOptions
    from .miccheck import mic_check

    if not 0.5 <= args.seconds <= 60:
        raise VoicesimError("--seconds must be between 0.5 and 60")
    console = Console(highlight=False, stderr=args.json)
    result = mic_check(
        args.input_device,
        args.seconds,
        samplerate=args.samplerate,
        transcriber_options=TranscriberOptions(
            model=args.model, device=args.device, compute_type=args.compute_type
        ),
        vad_aggressiveness=args.vad_aggressiveness,
        console=console,
        save=args.save,
    )
    if args.json:
        print(json.dumps(result, indent=2))
    return 1 if result["warnings"] else 0
