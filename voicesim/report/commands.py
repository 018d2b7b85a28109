"""Commands for reviewing calls: report, replay, score (recordings, transcripts), sessions."""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as _dt
import io
import json
import sys
from pathlib import Path

from ..errors import OutputError, VoicesimError
from ..speech.options import add_model_option


def register(sub: argparse._SubParsersAction, epilog: str) -> None:
    rep = sub.add_parser(
        "report",
        help="write a session's report.html (self-contained, works offline)",
        description="Write report.html for a session: a timeline with waveforms, overtalk, dead "
        "air, backchannels, the customer's mood and the rubric's evidence; the transcript with "
        "evidence highlighted; the scorecard; and the call audio. Works for sessions cut short "
        "by a crash (up to the last saved second).",
        epilog=epilog,
    )
    rep.add_argument("session", metavar="SESSION", help="session directory")
    rep.add_argument("--out", metavar="FILE", help="where to write (default: SESSION/report.html)")
    rep.set_defaults(func=cmd_report)

    rp = sub.add_parser(
        "replay",
        help="play a session in the terminal with captions in time",
        description="Play the call audio with the captions, mood and events as they happened. "
        "Keys: space pause/resume, n next event, b back 5 s, q quit.",
        epilog=epilog,
    )
    rp.add_argument("session", metavar="SESSION", help="session directory")
    rp.add_argument(
        "--no-audio", action="store_true", help="captions only (no sound device needed)"
    )
    rp.add_argument(
        "--speed", type=float, default=1.0, help="playback speed for --no-audio (default 1)"
    )
    rp.add_argument("--device", help="output device (name or index; see `voicesim devices`)")
    rp.set_defaults(func=cmd_replay)

    sc = sub.add_parser(
        "score",
        help="score existing calls: recordings (stereo, or two mono files) or transcripts",
        description="Score an existing call the same way as a drill. A recording: the "
        "customer's side is transcribed too, so the rubric knows the complaint; a stereo file "
        "holds one side per channel (--customer-channel); two mono files go with --customer and "
        "--trainee; a mono recording (or one voice copied to both channels) is split into its "
        "two voices, the agent found by its greeting or named with --agent-first/--agent-second, "
        "and overtalk is left out; any common format and rate (8 kHz telephone audio included). "
        "A transcript: "
        "plain text with speaker labels ('Agent: ...', 'Customer: ...', optionally after a time "
        "such as [00:01:23]), WebVTT or SRT (speakers from <v Name> voice tags or a 'Name:' "
        'prefix), or a JSON list of turns [{"speaker": "agent", "text": "...", '
        '"start": 1.2, "end": 3.4}] (times optional). A transcript has no audio, so '
        "overtalk, cut-offs, listening noises, dead air and tone of voice are left out (and pace, "
        "talk ratio and turn length when it has no times), and the scorecard says so. A folder "
        "(recordings and transcripts mixed) is scored on Ray (a local one, or a cluster with "
        "--ray-address) by a pool of actors, with a progress bar, summary.csv and "
        "summary.parquet; run it again to skip the calls already scored and retry the failed "
        "ones. Each call gets a session directory with report.html.",
        epilog=epilog,
    )
    sc.add_argument(
        "recordings",
        nargs="*",
        metavar="CALL",
        help="recordings, transcripts (.txt, .vtt, .srt, .json) or folders of them",
    )
    sc.add_argument("--customer-channel", default="left", help="left (default) or right")
    who = sc.add_mutually_exclusive_group()
    who.add_argument(
        "--agent-first",
        dest="agent",
        action="store_const",
        const="first",
        help="a mono recording: the agent is the voice heard first (default: guessed from the "
        "greeting, then who speaks first)",
    )
    who.add_argument(
        "--agent-second",
        dest="agent",
        action="store_const",
        const="second",
        help="a mono recording: the agent is the voice heard second",
    )
    sc.add_argument("--customer", metavar="FILE", help="the customer's side, a mono file")
    sc.add_argument("--trainee", metavar="FILE", help="the trainee's side, a mono file")
    sc.add_argument(
        "--agent-label",
        action="append",
        metavar="NAME",
        help="the agent's speaker label in transcripts (default Agent; repeat for several)",
    )
    sc.add_argument(
        "--customer-label",
        action="append",
        metavar="NAME",
        help="the customer's speaker label in transcripts (default Customer; repeat for several)",
    )
    sc.add_argument(
        "--persona",
        metavar="NAME",
        help="the persona a transcript's call was with (a role-play): its situation informs "
        "the judgement and the coaching (transcripts only)",
    )
    sc.add_argument("--rubric", metavar="FILE", help="rubric YAML (default: built-in)")
    sc.add_argument(
        "--out",
        metavar="DIR",
        help="session directory (one call) or the folder "
        "for the sessions (several); default under sessions/",
    )
    sc.add_argument(
        "--csv",
        metavar="FILE",
        help="summary CSV for several calls (default: OUT/summary.csv)",
    )
    sc.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="several calls: Ray actors scoring at once, one CPU each (default: every CPU)",
    )
    sc.add_argument(
        "--ray-address",
        metavar="ADDRESS",
        help="several calls: join this Ray cluster (also RAY_ADDRESS; default: a local Ray "
        "with this machine's cores)",
    )
    add_model_option(sc)
    sc.add_argument("--quiet", action="store_true", help="no transcript, only the scorecard")
    sc.set_defaults(func=cmd_score)

    se = sub.add_parser(
        "sessions",
        help="list recorded sessions, or export them as JSON or CSV",
        description="List sessions under a folder (default: sessions/) with persona, date, score "
        "and pass/fail; `export` writes one or many sessions' scorecards as JSON or CSV.",
        epilog=epilog,
    )
    se_sub = se.add_subparsers(dest="sessions_command", metavar="ACTION")
    se.set_defaults(func=cmd_sessions_list, root="sessions")
    ls = se_sub.add_parser("list", help="list sessions (what `voicesim sessions` alone does)")
    ls.add_argument(
        "root", nargs="?", default="sessions", help="folder to search (default sessions/)"
    )
    ls.set_defaults(func=cmd_sessions_list)
    ex = se_sub.add_parser("export", help="export sessions as JSON or CSV")
    ex.add_argument(
        "paths", nargs="+", metavar="PATH", help="session directories or folders of them"
    )
    ex.add_argument("--format", choices=["json", "csv"], default="json")
    ex.add_argument("--out", metavar="FILE", help="file to write (default: standard output)")
    ex.set_defaults(func=cmd_sessions_export)


def cmd_report(args: argparse.Namespace) -> int:
    from .html import write_report

    target = Path(args.out) if args.out else Path(args.session) / "report.html"
    try:
        path = write_report(args.session, args.out)
    except OSError as exc:  # disk full, read-only, no such folder: no half-written file left
        with contextlib.suppress(OSError):
            target.with_suffix(".tmp").unlink(missing_ok=True)
        raise OutputError.from_os(exc, target) from None
    print(f"wrote {path}")
    return 0


# -- score ------------------------------------------------------------------------------------
def _warn(files: list[str], warnings: list[str]) -> None:
    """One line on standard error per doubt about a call (swapped or silent sides)."""
    for w in warnings:
        print(f"voicesim: warning: {', '.join(files)}: {w}", file=sys.stderr)


def left_out_lines(card: dict) -> list[str]:
    """The criteria a call's source could not show, grouped by why: one line each."""
    why: dict[str, list[str]] = {}
    for x in card.get("left_out") or []:
        why.setdefault(x.get("why") or "", []).append(x.get("label") or x.get("criterion"))
    return [f"Left out ({reason}): {'; '.join(labels)}." for reason, labels in why.items()]


def _regular_file(p: Path) -> Path:
    """``p`` if it is a file to read; a FIFO waits for a writer for ever, a device never ends."""
    if not p.exists():
        raise VoicesimError(f"{p}: no such file or folder")
    if not p.is_file():
        raise VoicesimError(
            f"{p}: not a regular file (a FIFO, device or socket); score reads files and folders"
        )
    return p


def cmd_score(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ..report.terminal import print_scorecard
    from ..session.recorded import load_recording, score_recording
    from ..session.written import find_calls
    from ..speech.models import require_model
    from .html import write_report
    from .replay import print_transcript
    from .scoring import CallScorer, ScoreSettings, fresh

    if args.workers is not None and args.workers < 1:
        raise VoicesimError(f"--workers {args.workers}: give 1 or more")
    settings = ScoreSettings(
        customer_channel=args.customer_channel,
        rubric=args.rubric,
        agent_labels=tuple(args.agent_label or ()),
        customer_labels=tuple(args.customer_label or ()),
        persona=args.persona,
        agent=args.agent,
        model=args.model,
    )
    require_model(args.model)  # a missing extra: one line now, not one failed row per call
    scorer = CallScorer(settings)  # checks the channel, rubric and persona before any work
    console = Console(highlight=False)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")

    def show(result, files: list[str]) -> int:  # noqa: ANN001
        card = result.scorecard.to_dict()
        if not args.quiet:
            print_transcript(result.events, console)
        lines = left_out_lines(card)
        if lines:  # before the scorecard: what it cannot show, and why
            console.print()
        for line in lines:
            console.print(f"[dim]{line}[/]")
        print_scorecard(result.scorecard, console)
        _warn(files, result.scorecard.warnings)
        console.print(f"session and report in [bold]{result.session_dir}[/]")
        return 0

    if args.customer or args.trainee:
        if args.recordings:
            raise VoicesimError("give either CALL files or --customer/--trainee, not both")
        if scorer.persona is not None:
            raise VoicesimError("--persona is for transcripts; a recording is scored without one")
        for f in (args.customer, args.trainee):
            if f:
                _regular_file(Path(f))
        rec = load_recording(customer_file=args.customer, trainee_file=args.trainee)
        out = fresh(Path(args.out or f"sessions/{stamp}-{Path(args.trainee).stem}"))
        with console.status("scoring the recording..."):
            result = score_recording(rec, scorer.rubric, out, transcriber=scorer.transcriber)
            write_report(out)
        return show(result, rec.files)
    if not args.recordings:
        raise VoicesimError(
            "nothing to score: give a recording, a transcript, a folder, or --customer and "
            "--trainee"
        )
    files: list[Path] = []
    for r in args.recordings:
        p = Path(r)
        if p.is_dir():
            found = find_calls(p)
            if not found:
                raise VoicesimError(f"{p}: no recordings or transcripts in this folder")
            files += found
        else:
            files.append(_regular_file(p))
    if len(files) == 1 and not Path(args.recordings[0]).is_dir():
        out = Path(args.out or f"sessions/{stamp}-{files[0].stem}")
        with console.status(f"scoring {files[0].name}..."):
            result, sources, _ = scorer.score(files[0], out)
            write_report(out)
        return show(result, sources)
    return _score_archive(args, files, settings, console, stamp)


def _score_archive(args, files: list[Path], settings, console, stamp: str) -> int:  # noqa: ANN001
    """Several calls: on Ray, resumable, a summary row per call (see archive.py)."""
    import dataclasses
    import os

    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from .archive import Job, append_journal, plan, score_on_ray, write_summary

    root = Path(args.out or f"sessions/{stamp}-batch")
    root.mkdir(parents=True, exist_ok=True)
    settings = dataclasses.replace(settings, cpu_threads=1)  # one CPU per actor
    planned, reused = plan(files, root)
    jobs = [j for j in planned if isinstance(j, Job)]
    rows: dict[str, dict] = {}
    for j in planned:
        if not isinstance(j, Job):
            rows[j["file"]] = j
    summary = Path(args.csv) if args.csv else root / "summary.csv"

    def done() -> list[dict]:  # the rows so far, in the files' order
        return [rows[str(f)] for f in files if str(f) in rows]

    address = args.ray_address or os.environ.get("RAY_ADDRESS") or None
    if reused:
        console.print(f"{reused} of {len(files)} calls already scored in {root}: skipped")
    size = 0
    if jobs:
        with Progress(
            TextColumn("[bold]scoring[/] {task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeRemainingColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("starting Ray...", total=len(jobs))

            def on_row(row: dict) -> None:
                append_journal(root, row)
                rows[row["file"]] = row
                name = Path(row["file"]).name
                if row["error"]:
                    progress.console.print(f"[red]not scored[/] {row['error']}")
                elif row["warnings"]:
                    _warn([row["file"]], [row["warnings"]])
                progress.update(task, description=name, advance=1)

            try:
                size = score_on_ray(jobs, settings, on_row, args.workers, address)
            except KeyboardInterrupt:  # what is done stays done: summarise it, then stop
                write_summary(done(), summary)
                console.print(
                    f"stopped with {len(done())} of {len(files)} calls scored; run the same "
                    "command again to go on"
                )
                return 130
    ordered = done()
    parquet = write_summary(ordered, summary)
    failed = sum(1 for r in ordered if r["error"])
    where = f"Ray at {address}" if address else "a local Ray"
    console.print(
        f"scored {len(ordered) - failed} of {len(files)} calls"
        + (f" ({len(jobs)} now, {size} workers on {where})" if jobs else " (nothing to do)")
        + f"; sessions in [bold]{root}[/], summary in [bold]{summary}[/] and [bold]{parquet.name}[/]"
    )
    if failed:
        console.print(f"{failed} could not be scored (their rows say why); run again to retry them")
    return 2 if failed else 0


# -- sessions ---------------------------------------------------------------------------------
def _session_row(path: Path) -> dict:
    from .session import load_session

    s = load_session(path)
    card = s.scorecard
    persona = (s.meta.get("persona") or {}).get("id") or (s.meta.get("source") or {}).get(
        "kind", ""
    )
    row = {
        "session": str(path),
        "persona": persona,
        "created": s.meta.get("created", ""),
        "source": (s.meta.get("source") or {}).get("kind", ""),
        "status": s.meta.get("status", ""),
        "duration_s": round(s.duration_s, 2),
        "end_state": (card.get("outcome") or {}).get("end_state"),
        "overall": card.get("overall"),
        "passed": card.get("passed"),
        "scorable": card.get("scorable", True) is not False,
    }
    for fam in card.get("families", []):
        row[fam["id"]] = fam["score"] if fam.get("applies", True) else None
    return row


def _collect(paths: list[str]) -> list[Path]:
    from .session import find_sessions

    found: list[Path] = []
    for p in paths:
        if not Path(p).exists():
            raise VoicesimError(f"{p}: no such session or folder")
        found += find_sessions(p)
    return found


def cmd_sessions_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    root = Path(args.root)
    if not root.exists():
        print(f"no sessions yet ({root} does not exist)")
        return 0
    table = Table(show_header=True, header_style="bold")
    table.add_column("session", overflow="fold", min_width=24)
    for col in ("persona", "date", "score", "result", "ended"):
        table.add_column(col, no_wrap=True)
    n = 0
    unreadable: list[str] = []
    for path in _collect([str(root)]):
        try:
            r = _session_row(path)
        except VoicesimError as exc:  # one damaged session must not hide the others
            table.add_row(str(path), "", "", "", "[red]unreadable[/]", "")
            unreadable.append(str(exc))
            continue
        n += 1
        verdict = (  # a call that is not scorable has no verdict
            "-"
            if r["passed"] is None or not r["scorable"]
            else ("[green]pass[/]" if r["passed"] else "[red]fail[/]")
        )
        table.add_row(
            path.name,
            r["persona"] or "",
            (r["created"] or "")[:16].replace("T", " "),
            "n/s" if not r["scorable"] else "-" if r["overall"] is None else f"{r['overall']:.0f}",
            verdict,
            r["end_state"] or r["status"],
        )
    Console(highlight=False).print(table)
    print(
        f"{n} session(s) under {root}" + (f", {len(unreadable)} unreadable" if unreadable else "")
    )
    for problem in unreadable:
        print(f"voicesim: error: {problem}", file=sys.stderr)
    return 2 if unreadable else 0


def cmd_sessions_export(args: argparse.Namespace) -> int:
    from .session import load_session

    paths = _collect(args.paths)
    if not paths:
        raise VoicesimError("no sessions found in " + ", ".join(args.paths))
    # Every session is read (and checked) before a byte is written: a damaged one stops the
    # export with its own error, and never leaves half a file behind.
    if args.format == "json":
        docs = []
        for p in paths:
            s = load_session(p)
            docs.append({"session": str(p), "meta": s.meta, "scorecard": s.scorecard})
        text = json.dumps(docs, indent=2, ensure_ascii=False) + "\n"
    else:
        rows = [_session_row(p) for p in paths]
        fields = list(dict.fromkeys(k for r in rows for k in r))
        buf = io.StringIO(newline="")
        writer = csv.DictWriter(buf, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
        text = buf.getvalue()
    if not args.out:
        sys.stdout.write(text)
        return 0
    out = Path(args.out)
    tmp = out.with_name(out.name + ".tmp")
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            fh.write(text)
        tmp.replace(out)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OutputError.from_os(exc, out) from None
    if args.out:
        print(f"wrote {len(paths)} session(s) to {args.out}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from .replay import replay

    return replay(args.session, audio=not args.no_audio, speed=args.speed, device=args.device)
