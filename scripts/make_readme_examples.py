"""Write the command examples in README.md and docs/*.md from real runs of the commands.

    .venv/bin/python scripts/make_readme_examples.py           # run every example, rewrite the markdown
    .venv/bin/python scripts/make_readme_examples.py --check   # run them, exit 1 where the markdown differs
    .venv/bin/python scripts/make_readme_examples.py --only replay-demo-session

An example in the markdown is the text between two marker comments:

    <!-- example: simulate-late-order-bad -->
    ...written by this script: a fenced block with the command and what it printed...
    <!-- /example -->

Each name is one entry of EXAMPLES below: which run it shows and how it is abridged. RUNS are
the commands, run in order with bash in one fresh temporary folder (a copy of ``audio/``, the
shipped demo call and session, is in it), with the ``voicesim`` of this interpreter's
environment first on PATH and an 80-column terminal. What they print is normalised the same way
every time (dates and times in session names become ``YYYYMMDD-HHMMSS``, the folder's path is
dropped, trailing spaces go) and abridged by the example's ``keep`` ranges, each elided stretch
shown as one ``...`` line. The examples are deterministic: a simulated call runs on a virtual
clock and ``--seed 0`` fixes the customer's choices (without it every call draws a fresh seed).

``tests/test_docs.py`` runs ``--check`` (a slow test: about half a minute of commands), so the
README and the docs fail the tests until they are regenerated after a change in what a command
prints. To add an example: add its run (if new; ``files`` puts an input such as a transcript in
the folder) and its entry below, put the two marker lines where it belongs, and run this script.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ELIDED = "..."
TIMEOUT_S = 600  # a hang guard per command, far above any example's run time

MARKER = re.compile(
    r"(<!-- example: (?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)(<!-- /example -->)", re.DOTALL
)
OPEN_MARKER = re.compile(r"<!-- example: ([^>]*?) -->")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# What varies from run to run, and what it becomes.
VARYING = (
    (re.compile(r"\b\d{8}-\d{6}\b"), "YYYYMMDD-HHMMSS"),  # session folder names
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}\b"), "YYYY-MM-DD HH:MM:SS"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}\b"), "YYYY-MM-DD HH:MM"),
)


class ExampleError(Exception):
    """An example that cannot be made: a failed command, a keep range that matches nothing."""


@dataclass(frozen=True)
class Run:
    """A shell command line, as a reader would type it, and the exit code it must end with;
    ``files`` are (name in the folder, file in the repository) copied in before it runs, such
    as a transcript to score."""

    command: str
    exit_code: int = 0
    files: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Keep:
    """Lines kept: from the first line matching ``start`` (searched after the previous range)
    up to the first later line matching ``stop`` (not kept), or ``count`` lines, or the end."""

    start: str
    stop: str | None = None
    count: int | None = None


@dataclass(frozen=True)
class Example:
    """One run, as shown in one place: ``keep`` abridges it (nothing: all of it), ``width``
    cuts longer lines (for one-line JSON)."""

    run: str
    keep: tuple[Keep, ...] = ()
    width: int | None = None


RUNS: dict[str, Run] = {
    "simulate-late-order-bad": Run(
        "voicesim simulate --persona late-order --trainee late-order-bad --seed 0"
    ),
    "simulate-late-order-guidance": Run(
        "voicesim simulate --persona late-order --trainee late-order-bad --guidance --seed 0"
    ),
    "score-demo-call": Run("voicesim score audio/demo-call.wav --customer-channel left"),
    "score-text-empty-promise": Run(
        'echo "I\'m sure someone will be in touch about the repair at some point." '
        "| voicesim rubric score-text"
    ),
    "personas-list": Run("voicesim personas list"),
    "replay-demo-session": Run("voicesim replay audio/demo-session --no-audio --speed 10"),
}

EXAMPLES: dict[str, Example] = {
    # README: the call, the verdict, the first thing to work on, the lesson.
    "simulate-late-order-bad": Example(
        "simulate-late-order-bad",
        keep=(
            Keep(r"^voicesim simulated call", stop=r"^Scorecard"),
            Keep(r"^Scorecard", count=2),
            Keep(r"^Work on these first", stop=r"^ 2\. "),
            Keep(r"^Lesson:"),
        ),
    ),
    "simulate-late-order-bad-full": Example("simulate-late-order-bad"),
    # docs/guidance.md: the call with its cues, up to the scorecard.
    "simulate-late-order-guidance": Example(
        "simulate-late-order-guidance",
        keep=(Keep(r"^voicesim simulated call", stop=r"^Scorecard"),),
    ),
    "score-demo-call": Example("score-demo-call"),
    "score-text-empty-promise": Example("score-text-empty-promise"),
    "score-text-empty-promise-short": Example("score-text-empty-promise", width=240),
    "personas-list": Example("personas-list"),
    "replay-demo-session": Example("replay-demo-session"),
}


def normalise(output: str, workdir: Path) -> str:
    """What a terminal would show, less what varies between runs: colour codes, carriage-return
    redraws, the temporary folder's path, dates and times, trailing spaces."""
    text = ANSI.sub("", output).replace(str(workdir) + os.sep, "").replace(str(workdir), ".")
    lines = [line.rsplit("\r", 1)[-1].rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    text = "\n".join(lines).strip("\n")
    for pattern, replacement in VARYING:
        text = pattern.sub(replacement, text)
    return text


def abridge(text: str, keep: tuple[Keep, ...] = (), width: int | None = None) -> str:
    """The kept ranges of ``text``, each skipped stretch as one ``...`` line indented like its
    first line; lines longer than ``width`` end in `` ...``."""
    lines = text.split("\n")
    if keep:
        out: list[str] = []
        pos = 0
        for k in keep:
            begin = next((i for i in range(pos, len(lines)) if re.search(k.start, lines[i])), None)
            if begin is None:
                raise ExampleError(f"no line matches {k.start!r} after line {pos + 1}")
            if k.count is not None:
                end = min(begin + k.count, len(lines))
            elif k.stop is not None:
                end = next(
                    (i for i in range(begin + 1, len(lines)) if re.search(k.stop, lines[i])),
                    None,
                )
                if end is None:
                    raise ExampleError(f"no line matches {k.stop!r} after line {begin + 1}")
            else:
                end = len(lines)
            if begin > pos:
                out.append(_elided(lines[pos]))
            out.extend(lines[begin:end])
            pos = end
        if pos < len(lines):
            out.append(_elided(lines[pos]))
        lines = out
    if width is not None:
        lines = [
            ln if len(ln) <= width else ln[: width - 4].rstrip() + " " + ELIDED for ln in lines
        ]
    return "\n".join(lines)


def _elided(first_skipped: str) -> str:
    return first_skipped[: len(first_skipped) - len(first_skipped.lstrip())] + ELIDED


def render(run: Run, shown: str) -> str:
    """The markdown between an example's markers: the command and its output, fenced."""
    return f"\n```text\n$ {run.command}\n{shown}\n```\n\n"


def markdown_files(root: Path = ROOT) -> list[Path]:
    """The README and every docs page: the files that may hold examples."""
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def examples_in(text: str, where: str) -> list[str]:
    """The example names ``text`` holds, in order; an unknown or unclosed one is an error."""
    names = [m.group("name") for m in MARKER.finditer(text)]
    opened = OPEN_MARKER.findall(text)
    if len(opened) != len(names):
        raise ExampleError(f"{where}: an example marker is malformed or not closed")
    for name in names:
        if name not in EXAMPLES:
            raise ExampleError(f"{where}: unknown example {name!r} (see EXAMPLES in {__file__})")
    return names


def fill(text: str, blocks: dict[str, str]) -> str:
    """``text`` with each example's body replaced by its block (those not in ``blocks`` kept)."""

    def replace(m: re.Match[str]) -> str:
        body = blocks.get(m.group("name"), m.group("body"))
        return m.group(1) + body + m.group(4)

    return MARKER.sub(replace, text)


def command_env(workdir: Path) -> dict[str, str]:
    """The environment of the runs: this interpreter's voicesim first on PATH, a plain
    80-column terminal, no VOICESIM_* setting but the cache (the defaults are what is shown)."""
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "voicesim").exists():
        raise ExampleError(f"no voicesim next to {sys.executable}: run this with .venv/bin/python")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("VOICESIM_") or k == "VOICESIM_CACHE"
    }
    for key in ("FORCE_COLOR", "CLICOLOR_FORCE"):
        env.pop(key, None)
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        COLUMNS="80",
        LINES="50",
        TERM="dumb",
        NO_COLOR="1",
        PYTHONUNBUFFERED="1",  # stdout and stderr interleave as on a terminal
        PYTHONIOENCODING="utf-8",
        TZ="UTC",
    )
    return env


def run_commands(names: list[str]) -> dict[str, str]:
    """Run the named runs in order in one fresh folder; their normalised output by name."""
    outputs: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="voicesim-examples-") as tmp:
        workdir = Path(tmp).resolve()
        shutil.copytree(ROOT / "audio", workdir / "audio")
        env = command_env(workdir)
        for name in names:
            run = RUNS[name]
            for dest, source in run.files:
                (workdir / dest).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(ROOT / source, workdir / dest)
            proc = subprocess.run(
                ["bash", "-o", "pipefail", "-c", run.command],
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                encoding="utf-8",
                errors="replace",
                timeout=TIMEOUT_S,
            )
            if proc.returncode != run.exit_code:
                raise ExampleError(
                    f"run {name}: `{run.command}` exited {proc.returncode}, not {run.exit_code}:\n"
                    + proc.stdout[-3000:]
                )
            outputs[name] = normalise(proc.stdout, workdir)
    return outputs


def make_blocks(wanted: list[str]) -> dict[str, str]:
    """The rendered block of every wanted example, from one run of each command it needs."""
    runs = [r for r in RUNS if any(EXAMPLES[e].run == r for e in wanted)]
    outputs = run_commands(runs)
    blocks = {}
    for name in wanted:
        ex = EXAMPLES[name]
        try:
            shown = abridge(outputs[ex.run], ex.keep, ex.width)
        except ExampleError as e:
            raise ExampleError(f"example {name}: {e}") from None
        blocks[name] = render(RUNS[ex.run], shown)
    return blocks


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 on a difference")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="only these examples")
    args = ap.parse_args(argv)
    try:
        texts = {p: p.read_text(encoding="utf-8") for p in markdown_files()}
        used = {n for p, t in texts.items() for n in examples_in(t, str(p.relative_to(ROOT)))}
        wanted = [n for n in EXAMPLES if n in used and (not args.only or n in args.only)]
        if args.only and (unknown := set(args.only) - set(EXAMPLES)):
            raise ExampleError(f"unknown example(s): {', '.join(sorted(unknown))}")
        blocks = make_blocks(wanted)
    except ExampleError as e:
        print(f"make_readme_examples: error: {e}", file=sys.stderr)
        return 2
    stale = []
    for path, text in texts.items():
        new = fill(text, blocks)
        if new == text:
            continue
        rel = str(path.relative_to(ROOT))
        if args.check:
            stale.append(rel)
            sys.stdout.writelines(
                difflib.unified_diff(
                    text.splitlines(keepends=True),
                    new.splitlines(keepends=True),
                    f"{rel} (as written)",
                    f"{rel} (what the commands print now)",
                )
            )
        else:
            path.write_text(new, encoding="utf-8")
            print(f"wrote {rel}")
    if stale:
        print(
            f"\nThe examples in {', '.join(stale)} differ from what the commands print now. "
            "Run: .venv/bin/python scripts/make_readme_examples.py",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
