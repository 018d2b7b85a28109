"""The ``voicesim drill`` command: a composition of the live drill and the training lab.

A station is a live drill (``voicesim.live``) with the lab around it (``voicesim.lab``): with
``--lab URL --user NAME`` it signs in and gets the assigned drill before any audio device is
opened, runs the call with that drill's persona and rubric, and uploads the session when the
call ends. It sits above both packages so that neither knows the other: the live drill runs
with whatever persona, rubric and after-call step it is given.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import VoicesimError
from .lab.commands import station_options
from .live.commands import add_drill_options, run_drill
from .session.cues import CUES
from .speech.options import add_model_options

if TYPE_CHECKING:
    from rich.console import Console

    from .lab.station import StationDrill

DESCRIPTION = (
    "The headset drill. The customer's voice plays in your headset and your "
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
    "that echo and never counts it as your speech."
)


def register(sub, epilog: str) -> None:  # noqa: ANN001
    """Add ``voicesim drill``: the live drill's options, the lab's, the transcription ones."""
    d = sub.add_parser(
        "drill",
        help="have a live call on your headset with a customer persona",
        description=DESCRIPTION,
        epilog=epilog + " Exit code 2 also when the audio device is missing or fails.",
    )
    add_drill_options(d)
    lab = station_options(d, required=False, outbox=True)
    lab.add_argument(
        "--drill",
        type=int,
        metavar="N",
        help="with --lab: the assigned drill to run (default: the only one with attempts left, "
        "or a choice on the terminal)",
    )
    add_model_options(d)
    d.set_defaults(func=cmd_drill)


def cmd_drill(args: argparse.Namespace) -> int:
    """A drill on its own, or with --lab the lab's assigned drill and the upload."""
    from .persona.persona import load_persona
    from .rubric.rubric import load_rubric

    if not args.lab:
        if args.persona is None:
            raise VoicesimError(
                "choose a customer with --persona ID, or run a lab drill with --lab URL"
            )
        if args.drill is not None or args.user:
            raise VoicesimError("--drill and --user go with --lab URL")
        return run_drill(args)
    from .lab.passmark import drill_rubric

    station = _lab_drill(args)
    # The drill's pass mark, not the rubric file's: the terminal shows the verdict the lab records.
    rubric = drill_rubric(load_rubric(station.rubric_file), station.drill["pass_mark"])
    # The lab's persona text (a trainer's may exist nowhere else), as the lab scores with it.
    persona = load_persona(station.persona_file, set(rubric.library.detectors))
    if station.drill.get("guidance") and args.guidance is None:
        args.guidance = CUES  # the trainer set this drill to show guidance
    return run_drill(args, persona, rubric, after=partial(_upload_to_lab, station))


def _lab_drill(args: argparse.Namespace) -> StationDrill:
    """Sign in to the lab and get the drill to run, before any audio device is opened."""
    from .lab.client import LabError
    from .lab.commands import password
    from .lab.station import ask_on_terminal, prepare

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
        f"{d['pass_mark']:g}{', with guidance' if d.get('guidance') else ''}; attempt {attempt} "
        f"of {d['attempts_allowed']} (the session goes to "
        "the lab when the call ends, Ctrl-C included)",
        file=sys.stderr,
    )
    return station


def _upload_to_lab(station: StationDrill, out: Path, rc: int, console: Console, quiet: bool) -> int:
    """Send the finished session to the lab. A call that failed on the audio device is not an
    attempt and is not sent; a session the lab cannot take now waits in the outbox."""
    from .lab.client import PENDING, result_line, wait_scored
    from .lab.station import upload

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
    if answer is not None and answer.get("status") in PENDING:
        say(f"the lab has it as session #{answer['id']}: scoring…")
        answer = wait_scored(station.client, answer)
    if answer is not None:
        if answer.get("status") in PENDING or answer.get("status") in ("refused", "failed"):
            say(f"session #{answer['id']}: {result_line(answer)}")
            return rc if answer.get("status") in PENDING else rc or 1
        if answer.get("scorable") is False:  # no score and no verdict: nothing to judge
            say(f"the lab has it as session #{answer['id']}: not scorable")
            return rc
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
