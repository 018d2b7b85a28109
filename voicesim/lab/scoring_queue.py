"""Uploads are scored from a queue held in the database: an upload is stored as ``queued`` and
answered at once; a few worker threads of the lab process claim queued sessions, have them
heard (``hearing``: the lab's own transcript of the trainee's side) and scored with their
drill's rubric in a scoring process at a lower CPU priority (``scoring_process``), and store the
result (``scored``), or refuse a graded session whose audio does not carry
its events' words (``refused``: its attempt is given back), or mark what could not be scored
(``failed``).

The queue is the table, so it survives a restart (``recover``: sessions left queued are picked
up again, and so are those a dead lab process was scoring), and two lab processes that share
one PostgreSQL never score the same session: a worker claims a session with
``UPDATE ... SET status='scoring' WHERE id=? AND status='queued'`` and owns it only when that
changed one row (PostgreSQL re-checks the condition after a concurrent update commits; SQLite
runs one write at a time); the result is stored only while the claim is still its own.

Workers run while there is work: ``kick`` (after each stored upload) starts one, up to
``workers``; a worker that finds nothing to claim ends. ``wait_idle`` is what tests and the
benchmark synchronise on.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import socket
import threading
import uuid

from fastapi import HTTPException
from sqlalchemy import func, select, update

from ..errors import VoicesimError
from .library import DrillRef, lab_persona, scoring_rubric
from .reviews import store_scores
from .scoring_process import score_upload
from .store import (
    FAILED,
    PENDING,
    QUEUED,
    REFUSED,
    SCORED,
    SCORING,
    Drill,
    Store,
    Upload,
    utcnow,
)

log = logging.getLogger("voicesim.lab")

# A claim older than this is taken to be lost (its process died on another machine); a call
# of an hour is heard and scored in a few minutes.
LEASE = _dt.timedelta(minutes=30)
CLAIM_BATCH = 16  # queued sessions looked at per claim


class ScoringQueue:
    """The lab process's scoring workers over the queue in ``store``'s database."""

    def __init__(self, store: Store, workers: int, limit: int) -> None:
        self.store, self.workers, self.limit = store, max(1, workers), max(1, limit)
        self.me = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._cond = threading.Condition()
        self._running = 0
        self._wanted = False
        self._closed = False

    # -- the request side -----------------------------------------------------------------------
    def check_room(self, db) -> None:  # noqa: ANN001
        """503 with Retry-After when too many sessions wait to be scored (in every lab process
        sharing the database): the station's outbox sends the upload again later."""
        waiting = db.scalar(select(func.count(Upload.id)).where(Upload.status.in_(PENDING)))
        if waiting >= self.limit:
            raise HTTPException(
                503,
                "the lab is busy scoring other uploads; try again shortly",
                headers={"Retry-After": str(min(300, 5 + waiting // self.workers))},
            )

    def kick(self) -> None:
        """There may be work: start a worker unless all are running (they look again)."""
        with self._cond:
            if self._closed:
                return
            self._wanted = True
            if self._running < self.workers:
                self._running += 1
                threading.Thread(target=self._work, name="lab-scoring", daemon=True).start()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no worker runs (everything this process was told of is done)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._running == 0, timeout)

    def close(self) -> None:
        """No new work; the sessions being scored finish (the rest stay queued)."""
        with self._cond:
            self._closed = True
        self.wait_idle()

    def recover(self) -> int:
        """Sessions left ``scoring`` by a lab process that is gone (on this machine: its
        process id is not running; elsewhere: its claim is older than ``LEASE``) go back to
        ``queued``; then the workers start on the queue. Returns how many were taken back."""
        host = socket.gethostname()
        stale = utcnow() - LEASE
        back = 0
        with self.store.Session() as db:
            rows = db.execute(
                select(Upload.id, Upload.claimed_by, Upload.claimed_at).where(
                    Upload.status == SCORING
                )
            ).all()
            for up_id, owner, at in rows:
                if _gone(owner, host) or at is None or at < stale:
                    done = db.execute(
                        update(Upload)
                        .where(Upload.id == up_id, Upload.status == SCORING)
                        .where(
                            Upload.claimed_by.is_(None)
                            if owner is None
                            else Upload.claimed_by == owner
                        )
                        .values(status=QUEUED, claimed_by=None, claimed_at=None)
                    )
                    back += done.rowcount
            db.commit()
        self.kick()
        return back

    # -- the workers ----------------------------------------------------------------------------
    def _work(self) -> None:
        try:
            while True:
                with self._cond:
                    self._wanted = False
                    if self._closed:
                        return
                up_id = self._claim()
                if up_id is None:
                    with self._cond:
                        if self._wanted and not self._closed:
                            continue
                        return
                self._score(up_id)
        except Exception:  # the database gone (the lab stopping): the queue keeps the rest
            log.exception("a scoring worker stopped")
        finally:
            with self._cond:
                self._running -= 1
                self._cond.notify_all()

    def _claim(self) -> int | None:
        with self.store.Session() as db:
            ids = db.scalars(
                select(Upload.id)
                .where(Upload.status == QUEUED)
                .order_by(Upload.id)
                .limit(CLAIM_BATCH)
            ).all()
            for up_id in ids:
                got = db.execute(
                    update(Upload)
                    .where(Upload.id == up_id, Upload.status == QUEUED)
                    .values(status=SCORING, claimed_by=self.me, claimed_at=utcnow())
                )
                db.commit()
                if got.rowcount == 1:
                    return up_id
        return None

    def _score(self, up_id: int) -> None:
        with self.store.Session() as db:
            up = db.get(Upload, up_id)
            drill = db.get(Drill, up.drill_id) if up.drill_id is not None else None
            path = self.store.session_path(up)
            try:
                rubric = scoring_rubric(db, drill)
                persona = lab_persona(db, up.persona or "")
                db.commit()  # no transaction stays open while the call is heard and scored
                card, heard = score_upload(path, DrillRef.of(drill), rubric, persona)
            except (VoicesimError, HTTPException, ValueError, KeyError, TypeError, OSError) as exc:
                log.warning("session #%s could not be scored: %s", up_id, exc)
                card, heard = None, None
            graded = drill is not None and not drill.allow_practice
            if card is None:
                status = FAILED
            elif graded and not heard.verified:
                status = REFUSED
            else:
                status = SCORED
            if not self._finish(db, up, status):
                db.rollback()
                log.warning("session #%s was taken back from this worker; not stored", up_id)
                return
            if heard is not None:
                up.transcript_wer = heard.wer
            if status == SCORED:
                (path / "scorecard.json").write_text(json.dumps(card))
                up.end_state = (card.get("outcome") or {}).get("end_state")
                store_scores(db, up, card, drill)
            else:
                up.attempt = None  # neither a refused nor a failed session uses an attempt
            db.commit()
            if status == REFUSED:
                log.warning(
                    "refused session #%s for drill #%s: its audio does not carry its events' "
                    "words (word error rate %s)",
                    up_id,
                    up.drill_id,
                    heard.wer,
                )

    def _finish(self, db, up: Upload, status: str) -> bool:  # noqa: ANN001
        """Whether this worker still holds ``up``'s claim (then its status is ``status``, in
        the transaction that stores the result)."""
        done = db.execute(
            update(Upload)
            .where(Upload.id == up.id, Upload.status == SCORING, Upload.claimed_by == self.me)
            .values(status=status, claimed_by=None, claimed_at=None)
        )
        if done.rowcount != 1:
            return False
        db.refresh(up)
        return True


def _gone(owner: str | None, host: str) -> bool:
    """Whether the lab process named by a claim (``host:pid:nonce``) is certainly not running."""
    if not owner:
        return True
    parts = owner.split(":")
    if len(parts) < 3:
        return True
    claim_host, pid = ":".join(parts[:-2]), parts[-2]
    if claim_host != host or not pid.isdigit():
        return False  # another machine's: its lease decides
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
