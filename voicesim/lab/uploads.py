"""An upload, from the bytes on the wire to a scored, stored session: unpacked and checked with
the session reader's rules, scored by the server with the drill's rubric (a station's scorecard
is never trusted), written under DATA/sessions/ and recorded in the database, or refused with
nothing left behind. At most a few are scored at once (``ScoringPool``)."""

import json
import os
import shutil
import uuid

import anyio
import anyio.to_thread
from fastapi import HTTPException
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..errors import SessionError, VoicesimError
from ..report.session import check_files
from .archive import ArchiveError, read_archive, session_digest
from .library import score_upload
from .service import attempts_used, my_drills, upload_dict
from .store import Drill, SessionScore, Store, Upload, User

MAX_UPLOAD = 64 * 1024 * 1024  # bytes on the wire
MAX_UNPACKED = 256 * 1024 * 1024
MAX_ID = 2**63 - 1  # the database's integers
SCORING_WORKERS = max(1, min(4, (os.cpu_count() or 2) // 2))  # uploads scored at once
SCORING_QUEUE = 32  # uploads waiting for a scoring worker before the lab answers 503
UPLOAD_TYPES = ("application/zip", "application/x-tar", "application/gzip", "application/x-gzip")


class ScoringPool:
    """At most ``workers`` uploads are unpacked and scored at once (scoring is CPU and memory
    heavy); up to ``queue`` more wait their turn; beyond that the lab answers 503 with
    Retry-After, and the station's outbox tries again later."""

    def __init__(self, workers: int, queue: int) -> None:
        self.limiter = anyio.CapacityLimiter(max(1, workers))
        self.queue, self.waiting = queue, 0

    async def run(self, func, *args):  # noqa: ANN001, ANN002, ANN201
        if self.waiting >= self.limiter.total_tokens + self.queue:
            raise HTTPException(
                503,
                "the lab is busy scoring other uploads; try again shortly",
                headers={"Retry-After": "5"},
            )
        self.waiting += 1  # one event loop: no lock needed around the count
        try:
            return await anyio.to_thread.run_sync(func, *args, limiter=self.limiter)
        finally:
            self.waiting -= 1


def unpack_and_store(
    store: Store, db: Session, user: User, data: bytes, drill_id: int | None, max_unpacked: int
) -> dict:
    """The upload ``data`` (a zip or tar) as a stored, scored session of ``user``: its API
    answer. Blocking (unpacking, scoring): runs in the ScoringPool's threads."""
    try:
        files = read_archive(data, max_unpacked)
        check_files(files)  # the session reader's checks, before anything is written
    except (ArchiveError, SessionError) as exc:
        raise HTTPException(400, public_message(store, str(exc))) from None
    return _store_upload(store, db, user, files, drill_id)


def public_message(store: Store, message: str) -> str:
    """An error for the uploader: the server's own paths are not theirs to see."""
    return message.replace(str(store.sessions_dir), "upload").replace(str(store.data_dir), "lab")[
        :500
    ]


def _store_upload(
    store: Store, db: Session, user: User, files: dict[str, bytes], drill_id: int | None
) -> dict:
    digest = session_digest(files)
    existing = db.scalar(select(Upload).where(Upload.owner_id == user.id, Upload.digest == digest))
    if existing is not None:
        return upload_dict(existing, user.username) | {"duplicate": True}
    drill = None
    if drill_id is not None:
        drill = db.get(Drill, drill_id)
        if drill is None or drill not in my_drills(db, user):
            raise HTTPException(404, "no such drill assigned to you")
        if attempts_used(db, user, drill) >= drill.attempts_allowed:
            raise HTTPException(409, "no attempts left for this drill")
    storage_id = uuid.uuid4().hex
    up = Upload(owner_id=user.id, digest=digest, storage_id=storage_id, drill_id=drill_id)
    path = store.session_path(up)
    try:
        path.mkdir()
        for name, content in _server_side(files).items():
            (path / name).write_bytes(content)
        # The server scores the session itself, with the drill's rubric: a station's
        # scorecard is never trusted (and a session cut short has none).
        card, up.persona = score_upload(db, path, drill)
        (path / "scorecard.json").write_text(json.dumps(card))
        overall = float(card.get("overall") or 0.0)
        up.overall = overall
        up.families = {f["id"]: f["score"] for f in card.get("families", [])}
        up.passed = overall >= drill.pass_mark if drill else bool(card.get("passed"))
        up.end_state = (card.get("outcome") or {}).get("end_state")
        db.add(up)
        db.flush()
        db.add_all(
            SessionScore(upload_id=up.id, owner_id=user.id, family=f, score=float(v))
            for f, v in up.families.items()
        )
        db.commit()
    except (VoicesimError, ValueError, KeyError, TypeError) as exc:
        _discard(db, path)
        raise HTTPException(
            400, f"not a readable voicesim session: {public_message(store, str(exc))}"
        ) from None
    except IntegrityError:  # the same session raced in twice: keep the first
        _discard(db, path)
        existing = db.scalar(
            select(Upload).where(Upload.owner_id == user.id, Upload.digest == digest)
        )
        return upload_dict(existing, user.username) | {"duplicate": True}
    except OSError:  # disk full or read-only data folder
        _discard(db, path)
        raise HTTPException(507, "the lab cannot store this session now (disk)") from None
    except BaseException:  # a bug: answer 500, but leave no orphan folder behind
        _discard(db, path)
        raise
    return upload_dict(up, user.username) | {"duplicate": False}


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
