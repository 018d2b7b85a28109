"""The lab's CPU work runs in child processes (voicesim/lab/processes.py): off the server's
interpreter, at the priority asked for, deaf to Ctrl-C, and a child that dies fails only the
call it ran."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from voicesim.lab import scoring_process, uploads
from voicesim.lab.processes import ChildDied, ChildPool


@pytest.fixture(scope="module")
def pool():
    p = ChildPool("test", workers=1, nice=5)
    yield p
    p.close()


def test_work_runs_in_another_process_at_a_lower_priority(pool):
    assert pool.run(os.getpid) != os.getpid()
    assert pool.run(os.nice, 0) == min(19, os.nice(0) + 5)


def test_a_child_ignores_ctrl_c(pool):
    assert pool.run(signal.getsignal, signal.SIGINT) == signal.SIG_IGN


def test_a_child_that_dies_fails_only_its_call(pool):
    with pytest.raises(ChildDied, match="test process stopped"):
        pool.run(os._exit, 3)
    assert pool.run(os.getpid) != os.getpid()  # a new child takes the next call


def test_scoring_runs_below_the_pages_and_intake_between():
    assert scoring_process._pool.nice > uploads._intake.nice > 0


def test_a_child_ends_when_its_lab_process_is_gone(tmp_path):
    """A lab killed by a signal runs no clean-up: its children exit by themselves."""
    import subprocess
    import sys

    from voicesim.lab.processes import PARENT_CHECK_S

    code = (
        "import os, sys\n"
        "from voicesim.lab.processes import ChildPool\n"
        "pool = ChildPool('orphan', 1)\n"
        "print(pool.run(os.getpid), flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    lab = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    child = int(lab.stdout.split()[0])
    gone = threading.Event()
    for _ in range(int(60 / PARENT_CHECK_S)):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            gone.set()
            break
        gone.wait(PARENT_CHECK_S)
    assert gone.is_set(), f"child {child} outlived its lab process"


def test_a_broken_upload_is_refused_by_the_intake_child_with_one_line():
    with pytest.raises(uploads.Unreadable) as err:
        uploads._intake.run(uploads.inspect_upload, b"PK not a zip", 1 << 20)
    assert "\n" not in str(err.value) and str(err.value)
