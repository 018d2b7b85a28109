"""An upload, from the bytes on the wire to a stored session waiting to be scored: unpacked and
checked with the session reader's rules and its source verified in an intake child process
(``inspect_upload``: CPU work kept off the server's interpreter, see ``processes``), then
compared with the calls the lab has, its attempt counted, written under DATA/sessions/ and
recorded in the database as ``queued``, or refused with nothing left behind. At most a few are
taken in at once (``UploadPool``). The lab hears and scores it afterwards, from its queue
(``scoring_queue``): the station's scorecard is never trusted."""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import anyio.to_thread
from fastapi import HTTPException
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..errors import SessionError, VoicesimError
from ..report.session import check_files, parse_events, parse_meta
from .archive import ArchiveError, read_archive, session_digest
from .library import check_persona
from .processes import ChildDied, ChildPool
from .provenance import (
    LIVE,
    SIMULATED,
    UNVERIFIED,
    Fingerprint,
    Provenance,
    audio_fingerprint,
    audio_key,
    copy_key,
    fingerprints_match,
    same_times,
    verify_source,
    words_key,
)
from .scoring_queue import ScoringQueue
from .service import attempts_used, my_drills, upload_dict
from .store import QUEUED, CopyFlag, Drill, Store, Upload, User

log = logging.getLogger("voicesim.lab")

MAX_UPLOAD = 64 * 1024 * 1024  # bytes on the wire
MAX_UNPACKED = 256 * 1024 * 1024
MAX_ID = 2**63 - 1  # the database's integers
# Sessions stored and waiting to be scored (in every lab process sharing the database) before
# the lab answers 503: they wait on disk, not in memory; this bounds how far behind the
# scores may fall (at about 1.5 s of a core per call minute, a few minutes of work).
SCORING_QUEUE = 1000
UNPACKING = 32  # uploads waiting for an unpacking thread before the lab answers 503
INTAKE_PROCESSES = max(1, min(4, os.cpu_count() or 1))  # uploads unpacked and checked at once
INTAKE_WORKERS = 2 * INTAKE_PROCESSES  # uploads taken in at once: received, checked, stored
UPLOAD_TYPES = ("application/zip", "application/x-tar", "application/gzip", "application/x-gzip")


RECEIVE_TIMEOUT_S = 120.0  # to receive one upload once admitted: 64 MiB at 0.5 MiB/s


class UploadPool:
    """At most ``workers`` uploads are received, unpacked and checked at once (CPU and
    memory: the body, the archive, the audio's fingerprint); up to ``queue`` more wait their
    turn, their bytes still unread on the wire (a burst of stations then costs the server
    nothing until each is taken in, and the trainers' pages keep their share of the CPU);
    beyond that the lab answers 503 with Retry-After, and the station's outbox tries again
    later. An admitted upload must arrive within ``RECEIVE_TIMEOUT_S`` (408 after), so a
    client sending slowly cannot hold a turn for long."""

    def __init__(self, workers: int, queue: int) -> None:
        self.limiter = anyio.CapacityLimiter(max(1, workers))
        self.queue, self.waiting = queue, 0

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        """This upload's turn: wait for it, or 503 when too many wait already."""
        if self.waiting >= self.limiter.total_tokens + self.queue:
            raise HTTPException(
                503,
                "the lab is busy scoring other uploads; try again shortly",
                headers={"Retry-After": "5"},
            )
        self.waiting += 1  # one event loop: no lock needed around the count
        try:
            async with self.limiter:
                yield
        finally:
            self.waiting -= 1

    async def receive(self, chunks: AsyncIterator[bytes], max_upload: int) -> bytes:
        """The body of an admitted upload (413 past ``max_upload``, 408 past the timeout)."""
        parts, size = [], 0
        with anyio.move_on_after(RECEIVE_TIMEOUT_S) as timer:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_upload:
                    raise HTTPException(413, f"upload larger than {max_upload} bytes")
                parts.append(chunk)
        if timer.cancelled_caught:
            raise HTTPException(408, "the upload arrived too slowly; send it again")
        return b"".join(parts)

    async def run(self, func, *args):  # noqa: ANN001, ANN002, ANN201
        """``func(*args)`` in a thread, for an upload admitted (``admit``)."""
        return await anyio.to_thread.run_sync(func, *args)


def unpack_and_store(
    store: Store,
    db: Session,
    user: User,
    data: bytes,
    drill_id: int | None,
    max_unpacked: int,
    queue: ScoringQueue,
) -> dict:
    """The upload ``data`` (a zip or tar) as a stored session of ``user``, queued to be
    scored: its API answer. Blocking (the intake child, the database): runs in the
    UploadPool's threads."""
    queue.check_room(db)
    try:
        got = _intake.run(inspect_upload, data, max_unpacked)
    except Unreadable as exc:
        raise HTTPException(400, public_message(store, str(exc))) from None
    except ChildDied:  # bounded unpacking cannot exhaust memory: the upload is at fault
        raise HTTPException(400, "this upload could not be read") from None
    answer = _store_upload(store, db, user, got, drill_id)
    if not answer["duplicate"]:
        queue.kick()
    return answer


INTAKE_NICE = 5  # the trainers' pages before the uploads' checks (and these before scoring)
_intake = ChildPool("intake", INTAKE_PROCESSES, INTAKE_NICE)


def warm_intake() -> None:
    """Start the intake children (imports) ahead of the first upload."""
    _intake.warm(_ready)


def _ready() -> None:
    """Nothing: a child that runs it has imported this module."""


class Unreadable(ValueError):
    """Not a session archive the lab takes (the message says why); raised in the child."""


@dataclass(frozen=True)
class Inspected:
    """An upload as the intake child found it: the files as the server would keep them
    (``_server_side``), its meta.json and what the lab knows of it (``Arrival``); ``unfit``
    says why the files cannot be stored as they are (refused after the copy checks, which
    come first)."""

    files: dict[str, bytes]
    meta: dict
    arrival: Arrival
    unfit: str | None = None


def inspect_upload(data: bytes, max_unpacked: int) -> Inspected:
    """Unpack ``data`` and check it with the session reader's rules, before anything is
    written; runs in an intake child. Raises Unreadable."""
    try:
        files = read_archive(data, max_unpacked)
        events = check_files(files)
        meta = parse_meta(files["meta.json"], "meta.json") if "meta.json" in files else {}
    except (ArchiveError, SessionError) as exc:
        raise Unreadable(str(exc)) from None
    arrival = Arrival.of(files, meta, events)
    try:
        return Inspected(_server_side(files), meta, arrival)
    except ValueError as exc:
        return Inspected({}, meta, arrival, str(exc))


def public_message(store: Store, message: str) -> str:
    """An error for the uploader: the server's own paths are not theirs to see."""
    return message.replace(str(store.sessions_dir), "upload").replace(str(store.data_dir), "lab")[
        :500
    ]


@dataclass(frozen=True)
class Arrival:
    """What the lab knows of an upload before scoring it: its identity for its owner
    (``digest``), its source as verified, and the keys of its call (None for a simulated
    one: anyone can run the same simulation, so two alike prove nothing)."""

    digest: str
    provenance: Provenance
    copy_key: str | None
    audio_key: str | None
    words_key: str | None = None
    fingerprint: Fingerprint | None = None
    events: tuple = ()
    has_events: bool = True

    @classmethod
    def of(cls, files: dict[str, bytes], meta: dict, events: list) -> Arrival:
        prov = verify_source(meta, events)
        if prov.source == SIMULATED:
            return cls(session_digest(files), prov, None, None, has_events=bool(events))
        wav = files.get("call.wav")
        return cls(
            session_digest(files),
            prov,
            copy_key(events),
            audio_key(wav),
            words_key(events),
            audio_fingerprint(wav),
            tuple(events),
            bool(events),
        )


ATTEMPT_RETRIES = 50  # inserts lost to a concurrent upload taking the same attempt number


def _store_upload(
    store: Store, db: Session, user: User, got: Inspected, drill_id: int | None
) -> dict:
    arrival = got.arrival
    known = _already_stored(db, store, user, arrival, drill_id)
    if known is not None:
        return known
    drill = None
    if drill_id is not None:
        drill = db.get(Drill, drill_id)
        if drill is None or drill not in my_drills(db, user):
            raise HTTPException(404, "no such drill assigned to you")
        if drill.retired is not None:
            raise HTTPException(
                409,
                f"drill #{drill.id} was retired by your trainer and takes no more uploads; "
                "upload the session without a drill as practice",
            )
        source = arrival.provenance.source
        if source != LIVE and not drill.allow_practice:
            # An honest simulated or recorded call is named as such; a claim that does not
            # hold is not explained (which check failed would guide the next forgery).
            what = (
                "this session could not be verified as a live call"
                if source == UNVERIFIED
                else f"this session is {source} ({arrival.provenance.note})"
            )
            raise HTTPException(
                422,
                f"drill #{drill.id} takes live calls only, and {what}; upload it without a "
                "drill as practice, or ask your trainer to allow practice uploads for this drill",
            )
        if attempts_used(db, user, drill) >= drill.attempts_allowed:
            raise HTTPException(409, "no attempts left for this drill")
    storage_id = uuid.uuid4().hex
    path = store.sessions_dir / storage_id
    try:
        persona = check_persona(got.meta, drill)
        if not arrival.has_events:
            raise ValueError("no readable events")
        if got.unfit:
            raise ValueError(got.unfit)
        path.mkdir()
        for name, content in got.files.items():
            (path / name).write_bytes(content)
        for _ in range(ATTEMPT_RETRIES):
            up = Upload(
                owner_id=user.id,
                digest=arrival.digest,
                storage_id=storage_id,
                drill_id=drill_id,
                persona=persona,
                source=arrival.provenance.source,
                source_note=arrival.provenance.note,
                copy_key=arrival.copy_key,
                audio_key=arrival.audio_key,
                words_key=arrival.words_key,
                fingerprint=arrival.fingerprint.bits if arrival.fingerprint else None,
                audio_seconds=arrival.fingerprint.seconds if arrival.fingerprint else None,
                status=QUEUED,  # heard and scored from the queue (scoring_queue)
            )
            try:
                if drill is not None:
                    up.attempt = _next_attempt(db, user, drill)
                db.add(up)
                db.commit()
                break
            except IntegrityError:
                # Another upload got there first: the same call (answered as such), or the
                # same attempt number (count again: the limit may be reached now).
                db.rollback()
                known = _already_stored(db, store, user, arrival, drill_id)
                if known is not None:
                    _discard(db, path)
                    return known
        else:
            raise HTTPException(503, "the lab is busy with this drill; try again shortly")
    except HTTPException:
        _discard(db, path)
        raise
    except (VoicesimError, ValueError, KeyError, TypeError) as exc:
        _discard(db, path)
        raise HTTPException(
            400, f"not a readable voicesim session: {public_message(store, str(exc))}"
        ) from None
    except OSError:  # disk full or read-only data folder
        _discard(db, path)
        raise HTTPException(507, "the lab cannot store this session now (disk)") from None
    except BaseException:  # a bug: answer 500, but leave no orphan folder behind
        _discard(db, path)
        raise
    return upload_dict(up, user.username, user) | {"duplicate": False}


def _next_attempt(db: Session, user: User, drill: Drill) -> int:
    """The attempt number this upload takes, or 409 when none is left (a refused or failed
    session has none: it uses no attempt). Both come from one
    statement (one snapshot: a count and a number read apart could straddle another upload's
    commit); the number is unique per trainee and drill in the database, so of two uploads
    that read at once only one stores it, and the other reads again."""
    used, last = db.execute(
        select(func.count(Upload.attempt), func.max(Upload.attempt)).where(
            Upload.owner_id == user.id, Upload.drill_id == drill.id
        )
    ).one()
    if used >= drill.attempts_allowed:
        raise HTTPException(409, "no attempts left for this drill")
    return (last or 0) + 1


COPIED = (
    "this call is already stored in the lab for another user, so it cannot be credited to "
    "you; your trainer sees this refusal"
)


def _already_stored(
    db: Session, store: Store, user: User, arrival: Arrival, drill_id: int | None
) -> dict | None:
    """The answer for a session the lab has: the owner's own (the same upload, or the same
    call re-packed) is answered as a duplicate; another user's call is refused (409) and the
    refusal recorded for the uploader's trainers."""
    own = db.scalar(
        select(Upload).where(Upload.owner_id == user.id, Upload.digest == arrival.digest)
    )
    keys = [
        col == key
        for col, key in ((Upload.copy_key, arrival.copy_key), (Upload.audio_key, arrival.audio_key))
        if key is not None
    ]
    same = own or (db.scalars(select(Upload).where(or_(*keys))).first() if keys else None)
    same = same or _alike(db, store, arrival)
    if same is None:
        return None
    if same.owner_id == user.id:
        return upload_dict(same, user.username, user) | {"duplicate": True}
    drill = db.get(Drill, drill_id) if drill_id is not None else None
    db.add(CopyFlag(user_id=user.id, original_id=same.id, drill_id=drill.id if drill else None))
    db.commit()
    log.warning(
        "refused a copied call: user %s uploaded session #%s of another user", user.id, same.id
    )
    raise HTTPException(409, COPIED)


FUZZY_CANDIDATES = 200  # stored calls of about the same length compared with a new one
LENGTH_TOLERANCE_S = 2.5


def _alike(db: Session, store: Store, arrival: Arrival) -> Upload | None:
    """A stored call that this one copies with small changes: the same words said at the same
    moments (within half a second), or audio whose fingerprint matches (a shift of up to about
    2 s, flipped bits)."""
    if arrival.words_key is not None:
        for up in db.scalars(
            select(Upload).where(Upload.words_key == arrival.words_key).limit(FUZZY_CANDIDATES)
        ):
            try:
                path = store.session_path(up) / "events.jsonl"
                events = parse_events(path.read_bytes(), "events.jsonl")
            except (OSError, ValueError, SessionError):
                continue
            if same_times(list(arrival.events), events):
                return up
    fp = arrival.fingerprint
    if fp is not None:
        near = select(Upload).where(
            Upload.fingerprint.is_not(None),
            Upload.audio_seconds.between(
                fp.seconds - LENGTH_TOLERANCE_S, fp.seconds + LENGTH_TOLERANCE_S
            ),
        )
        for up in db.scalars(near.order_by(Upload.id.desc()).limit(FUZZY_CANDIDATES)):
            if fingerprints_match(fp.bits, up.fingerprint):
                return up
    return None


def _discard(db: Session, path) -> None:  # noqa: ANN001
    db.rollback()
    shutil.rmtree(path, ignore_errors=True)


def _server_side(files: dict[str, bytes]) -> dict[str, bytes]:
    """The files as the server keeps them: meta.json without the uploader's file paths for
    the rubric and persona (the session reader would open them on this machine), and neither
    the uploaded report.html nor the uploaded scorecard.json (the server scores the session)."""
    out = {k: v for k, v in files.items() if k not in ("report.html", "scorecard.json")}
    if "meta.json" in out:
        try:
            meta = json.loads(out["meta.json"])
        except (ValueError, UnicodeDecodeError):
            raise ValueError("meta.json is not valid JSON") from None
        if not isinstance(meta, dict):
            raise ValueError("meta.json is not a JSON object")
        for key in ("rubric", "persona"):
            if isinstance(meta.get(key), dict):
                meta[key] = {k: v for k, v in meta[key].items() if k != "file"}
            elif key in meta:
                meta[key] = None
        out["meta.json"] = json.dumps(meta, ensure_ascii=False).encode()
    return out
