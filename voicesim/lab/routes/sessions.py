"""The API of sessions: a trainee uploads a session (stored at once, then heard and scored by
the server from its queue: ``uploads``, ``scoring_queue``); both roles list and read the
sessions they may see, and open a session's report."""

import anyio.to_thread
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from sqlalchemy import select

from ...errors import VoicesimError
from ..deps import DB, Anyone, Intake, LabLimits, LabStore, Scoring, Trainee, Trainer
from ..models import CommentIn, OverrideIn
from ..reviews import (
    add_comment,
    add_override,
    latest_overrides,
    machine_card,
    review_of,
    reviewed_card,
)
from ..service import (
    STATUS_NOTES,
    my_cohort_ids,
    owned_cohort,
    reviewable_upload,
    upload_dict,
    visible_upload,
)
from ..store import SCORED, TRAINEE, Membership, Upload, User
from ..uploads import MAX_ID, UPLOAD_TYPES, public_message, unpack_and_store

router = APIRouter(tags=["sessions"])


@router.post("/api/sessions")
async def api_upload(
    request: Request,
    user: Trainee,
    db: DB,
    store: LabStore,
    limits: LabLimits,
    intake: Intake,
    scoring: Scoring,
    drill: int | None = None,
) -> JSONResponse:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in UPLOAD_TYPES:
        raise HTTPException(415, f"upload a zip or tar of the session ({', '.join(UPLOAD_TYPES)})")
    max_upload = limits.max_upload
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_upload:
        raise HTTPException(413, f"upload larger than {max_upload} bytes")
    if drill is not None and not 0 < drill <= MAX_ID:
        raise HTTPException(404, "no such drill assigned to you")
    # One upload's turn covers receiving, unpacking, checking and the database work, off the
    # event loop and bounded: a burst of uploads queues (up to a point, its bytes unread), it
    # never starts a thread each. Scoring comes later, from the queue: a new session is
    # answered 202 (queued), one the lab has 200. The database connection that checked the
    # trainee goes back to the pool while the upload waits its turn: thirty waiting uploads
    # would hold them all, and every page would wait for one.
    await anyio.to_thread.run_sync(db.rollback)
    async with intake.admit():
        data = await intake.receive(request.stream(), max_upload)
        answer = await intake.run(
            unpack_and_store, store, db, user, data, drill, limits.max_unpacked, scoring
        )
    return JSONResponse(answer, status_code=200 if answer["duplicate"] else 202)


# -- both roles ---------------------------------------------------------------------------------
@router.get("/api/sessions")
def api_sessions(user: Anyone, db: DB, cohort: int | None = None, limit: int = 200) -> list:
    q = select(Upload, User.username).join(User, User.id == Upload.owner_id)
    if user.role == TRAINEE:
        q = q.where(Upload.owner_id == user.id)
    else:
        cohorts = [owned_cohort(db, cohort, user).id] if cohort is not None else my_cohort_ids(user)
        members = select(Membership.user_id).where(Membership.cohort_id.in_(cohorts))
        q = q.where(Upload.owner_id.in_(members))
    q = q.order_by(Upload.id.desc()).limit(max(1, min(limit, 1000)))
    return [upload_dict(u, name, user) for u, name in db.execute(q)]


@router.get("/api/sessions/{session_id}")
def api_session(session_id: int, user: Anyone, db: DB) -> dict:
    up = visible_upload(db, user, session_id)
    owner = db.get(User, up.owner_id)
    return upload_dict(up, owner.username if owner else "", user)


@router.get("/api/sessions/{session_id}/review")
def api_review(session_id: int, user: Anyone, db: DB, store: LabStore) -> dict:
    """The trainers' comments and overrides (the audit trail) and the reviewed result; the
    trainee sees the same as the trainers."""
    up = visible_upload(db, user, session_id)
    machine = machine_card(store.session_path(up))
    card = reviewed_card(machine, latest_overrides(db, [up.id]).get(up.id, {}))
    return {
        "session": session_id,
        **review_of(db, up, machine),
        "overall": card.get("overall"),
        "machine_overall": card.get("machine_overall", machine.get("overall")),
        "passed": card.get("passed"),
        "coaching": card.get("coaching") or {},
    }


@router.post("/api/sessions/{session_id}/comments")
def api_comment(session_id: int, body: CommentIn, user: Trainer, db: DB, store: LabStore) -> dict:
    up = reviewable_upload(db, user, session_id)
    add_comment(db, store, up, user, body.t, body.text)
    return api_review(session_id, user, db, store)


@router.post("/api/sessions/{session_id}/overrides")
def api_override(session_id: int, body: OverrideIn, user: Trainer, db: DB, store: LabStore) -> dict:
    up = reviewable_upload(db, user, session_id)
    add_override(db, store, up, user, body.criterion, body.points, body.reason)
    return api_review(session_id, user, db, store)


@router.get("/sessions/{session_id}/call.wav")
def session_audio(session_id: int, user: Anyone, db: DB, store: LabStore) -> FileResponse:
    """The call's audio, for the review page's player (the same rule as the report: who may
    see the session may hear it)."""
    path = store.session_path(visible_upload(db, user, session_id)) / "call.wav"
    if not path.is_file():
        raise HTTPException(404, "this session has no call audio")
    return FileResponse(path, media_type="audio/wav")


@router.get("/sessions/{session_id}/report", response_class=HTMLResponse)
def session_report(session_id: int, user: Anyone, db: DB, store: LabStore) -> HTMLResponse:
    """The session's report.html, with a policy that lets only the report's own script run
    (never one that came with the upload), sandboxed away from the lab's pages."""
    from ...report.html import render_report, report_csp
    from ...report.session import load_session

    up = visible_upload(db, user, session_id)
    if up.status != SCORED:  # the report is the scored session's: none yet, or none at all
        raise HTTPException(409, f"session #{up.id} has no report: {STATUS_NOTES[up.status]}")
    try:
        session = load_session(store.session_path(up))
        machine = session.scorecard
        session.scorecard = reviewed_card(machine, latest_overrides(db, [up.id]).get(up.id, {}))
        page = render_report(session, review_of(db, up, machine))
    except (VoicesimError, ValueError, TypeError, KeyError) as exc:
        raise HTTPException(
            500, f"cannot read this session: {public_message(store, str(exc))}"
        ) from None
    return HTMLResponse(page, headers={"Content-Security-Policy": report_csp()})
