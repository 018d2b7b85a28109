"""Child processes for the lab's CPU work (unpacking and checking uploads, hearing and scoring
them), so that it runs off the server's interpreter: in the server's own threads it held the
interpreter for long stretches, and the trainers' pages waited behind it.

A ``ChildPool`` starts its processes on first use with the ``spawn`` method (no copy of the
server's threads and database connections), optionally at a lower CPU priority (a higher nice
value: the operating system gives the server's requests their CPU first), and ``warm`` starts
them ahead of the first upload (a child takes seconds to import its modules and load its
models). A child ignores Ctrl-C: the lab process decides when to stop; and a child whose lab
process is gone (stopped, killed) exits by itself rather than live on as an orphan. A child
that dies (out of memory, a crash in a native library) fails only the call it was running
(``ChildDied``); the next call starts a new pool.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any


class ChildDied(RuntimeError):
    """The child process running a call stopped before answering."""


class ChildPool:
    """Up to ``workers`` child processes, at ``nice`` above the server's priority."""

    def __init__(self, name: str, workers: int, nice: int = 0) -> None:
        self.name, self.workers, self.nice = name, max(1, workers), nice
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in a child (``fn`` and the arguments must be picklable); blocks the
        calling thread, never the interpreter. Raises what ``fn`` raised, or ChildDied."""
        pool = self._get()
        try:
            return pool.submit(fn, *args).result()
        except BrokenProcessPool:
            self._discard(pool)
            raise ChildDied(f"the lab's {self.name} process stopped") from None

    def warm(self, fn: Callable[[], Any]) -> None:
        """Start the children now, each running ``fn`` (imports, models); returns at once."""
        pool = self._get()
        for _ in range(self.workers):
            pool.submit(fn)

    def close(self) -> None:
        """Stop the children (a call still running finishes first)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _get(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=self.workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_child_start,
                    initargs=(self.nice,),
                )
            return self._pool

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)


PARENT_CHECK_S = 1.0  # how often a child looks whether its lab process is still there


def _child_start(nice: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the lab process decides when to stop
    if nice:
        try:
            os.nice(nice)
        except (OSError, AttributeError):  # not allowed, or not on this platform: run as is
            pass
    parent = os.getppid()
    threading.Thread(target=_exit_with, args=(parent,), name="parent-watch", daemon=True).start()


def _exit_with(parent: int) -> None:
    """End this child when its lab process is gone (the child is handed to another parent):
    a lab stopped by a signal runs no clean-up, and its children would live on."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(0)
