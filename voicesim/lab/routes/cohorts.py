"""The API of cohorts and drills: trainers make cohorts, add trainees (or invite existing users),
assign drills with a persona and rubric, add rubrics, and read and export their cohorts'
results, add personas; trainees see their assignments; both fetch a drill's rubric and persona."""

import csv
import io

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from ..deps import DB, Anyone, LabStore, Trainee, Trainer
from ..figures import session_details
from ..library import add_persona, add_rubric, persona_list, persona_text, rubric_list, rubric_text
from ..models import CohortIn, DrillEditIn, DrillIn, PasswordIn, PersonaIn, RubricIn, TraineeIn
from ..provenance import SOURCE_UNCHECKED
from ..reviews import latest_overrides
from ..roster import MAX_ROSTER_BYTES, import_roster, roster_counts
from ..service import (
    INVITED,
    accept_invitation,
    add_trainee,
    assign_drill,
    attempts_used,
    cohort_dict,
    cohort_of,
    cohort_overview,
    create_cohort,
    drill_dict,
    edit_drill,
    invitation_dict,
    invitation_for,
    invitations_for,
    my_cohorts,
    my_drills,
    owned_cohort,
    owned_drill,
    reset_password,
    retire_drill,
    trainee_history,
    upload_dict,
)
from ..store import SCORED, TRAINEE, Drill, Membership, Upload, User

router = APIRouter(tags=["cohorts"])


@router.post("/api/cohorts", status_code=201)
def api_create_cohort(body: CohortIn, user: Trainer, db: DB) -> dict:
    return cohort_dict(create_cohort(db, body.name, user))


@router.get("/api/cohorts")
def api_cohorts(user: Trainer, db: DB) -> list[dict]:
    return [cohort_dict(c) for c in my_cohorts(db, user)]


@router.post("/api/cohorts/{cohort_id}/trainees", status_code=201)
def api_add_trainee(cohort_id: int, body: TraineeIn, user: Trainer, db: DB):
    """A new name: a new trainee, with this password. A trainee of another cohort of
    yours: added. Any other existing name (whoever it is): 202, an invitation that the
    user accepts, and only they; the password is not used."""
    cohort = owned_cohort(db, cohort_id, user)
    u = add_trainee(db, cohort, body.username, body.password, user)
    if u is None:
        return JSONResponse(
            {"username": body.username, "status": "invited", "detail": INVITED},
            status_code=202,
        )
    return {"id": u.id, "username": u.username, "role": u.role, "status": "added"}


@router.post("/api/cohorts/{cohort_id}/roster")
async def api_import_roster(cohort_id: int, request: Request, user: Trainer, db: DB) -> dict:
    """A CSV roster (``name`` and optional ``email`` columns) into the cohort: one result per
    line (created with a one-time welcome link, added, invited, already, refused)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_ROSTER_BYTES:
        raise HTTPException(413, f"roster larger than {MAX_ROSTER_BYTES // 1024} KiB")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_ROSTER_BYTES:
            raise HTTPException(413, f"roster larger than {MAX_ROSTER_BYTES // 1024} KiB")
    cohort = await run_in_threadpool(owned_cohort, db, cohort_id, user)
    base = str(request.base_url)
    rows = await run_in_threadpool(import_roster, db, cohort, user, bytes(data), base, "roster")
    return {"counts": roster_counts(rows), "rows": [r.to_dict() for r in rows]}


@router.get("/api/invitations")
def api_invitations(user: Anyone, db: DB) -> list[dict]:
    """Invitations this user may accept or decline (to them, or to their trainees), and,
    for a trainer, the ones they sent that wait."""
    return [invitation_dict(db, i, user) for i in invitations_for(db, user)]


@router.post("/api/invitations/{invitation_id}/accept")
def api_accept(invitation_id: int, user: Anyone, db: DB) -> dict:
    accept_invitation(db, invitation_for(db, invitation_id, user, accept=True))
    return {"ok": True}


@router.post("/api/invitations/{invitation_id}/decline")
def api_decline(invitation_id: int, user: Anyone, db: DB) -> dict:
    db.delete(invitation_for(db, invitation_id, user, accept=False))
    db.commit()
    return {"ok": True}


@router.post("/api/cohorts/{cohort_id}/drills", status_code=201)
def api_assign(cohort_id: int, body: DrillIn, user: Trainer, db: DB) -> dict:
    return drill_dict(assign_drill(db, owned_cohort(db, cohort_id, user), body))


@router.patch("/api/drills/{drill_id}")
def api_edit_drill(drill_id: int, body: DrillEditIn, user: Trainer, db: DB) -> dict:
    """Change a drill's due date, attempts allowed, practice uploads, or (while it has no
    sessions) its pass mark."""
    return drill_dict(edit_drill(db, owned_drill(db, drill_id, user), body))


@router.post("/api/drills/{drill_id}/retire")
def api_retire_drill(drill_id: int, user: Trainer, db: DB) -> dict:
    """Out of the trainees' assignments, no more uploads; its sessions and results stay."""
    return drill_dict(retire_drill(db, owned_drill(db, drill_id, user)))


@router.get("/api/personas")
def api_personas(user: Trainer, db: DB) -> list[dict]:
    """The bundled personas and the trainers' (``source``: "built in" or the text's digest)."""
    return persona_list(db)


@router.post("/api/personas", status_code=201)
def api_add_persona(body: PersonaIn, user: Trainer, db: DB) -> dict:
    return add_persona(db, body.text, user, body.based_on)


@router.get("/api/rubrics")
def api_rubrics(user: Trainer, db: DB) -> list[dict]:
    return rubric_list(db)


@router.post("/api/rubrics", status_code=201)
def api_add_rubric(body: RubricIn, user: Trainer, db: DB) -> dict:
    return add_rubric(db, body.name, body.text, user)


@router.get("/api/cohorts/{cohort_id}/table")
def api_table(cohort_id: int, user: Trainer, db: DB) -> dict:
    return cohort_overview(db, owned_cohort(db, cohort_id, user))


@router.get("/api/cohorts/{cohort_id}/trainees/{username}")
def api_trainee_history(cohort_id: int, username: str, user: Trainer, db: DB) -> dict:
    return trainee_history(db, owned_cohort(db, cohort_id, user), username)


@router.post("/api/cohorts/{cohort_id}/trainees/{username}/password")
def api_reset_password(
    cohort_id: int, username: str, body: PasswordIn, user: Trainer, db: DB
) -> dict:
    reset_password(db, owned_cohort(db, cohort_id, user), username, body.password, user)
    return {"ok": True}


@router.get("/api/cohorts/{cohort_id}/export.csv")
def api_export(cohort_id: int, user: Trainer, db: DB) -> Response:
    """The cohort table: one row per trainee and drill."""
    cohort = owned_cohort(db, cohort_id, user)
    view = cohort_overview(db, cohort)
    cols = ["trainee", "drill", "persona", "pass_mark", "attempts", "attempts_allowed"]
    cols += ["best", "last", "passed", "due", "status"]
    return _csv(f"cohort-{cohort.id}.csv", cols, ([r[c] for c in cols] for r in view["table"]))


@router.get("/api/cohorts/{cohort_id}/sessions.csv")
def api_export_sessions(cohort_id: int, user: Trainer, db: DB, store: LabStore) -> Response:
    """Every session of the cohort's trainees, one row each, with every family's score."""
    cohort = owned_cohort(db, cohort_id, user)
    members = select(Membership.user_id).where(Membership.cohort_id == cohort.id)
    q = (
        select(Upload, User.username)
        .join(User, User.id == Upload.owner_id)
        .where(Upload.owner_id.in_(members), Upload.status == SCORED)  # scored ones only
        .order_by(Upload.id)
    )
    ups = list(db.execute(q))
    rows = [upload_dict(u, name) for u, name in ups]
    details = [session_details(store.session_path(u)) for u, _ in ups]
    reviews = latest_overrides(db, [u.id for u, _ in ups])
    for (u, _), d in zip(ups, details, strict=True):
        for cid, o in reviews.get(u.id, {}).items():
            d["criteria"][cid] = o["earned"]
    families = sorted({f for r in rows for f in (r["families"] or {})})
    criteria = list(dict.fromkeys(c for d in details for c in d["criteria"]))
    # source: as the lab verified it from the session's files (SOURCE_UNCHECKED for one stored
    # before it did); claimed_source: what meta.json says
    cols = ["session", "trainee", "uploaded", "recorded", "source", "claimed_source"]
    cols += ["source_note", "script", "drill", "attempt", "persona", "overall", "scorable"]
    cols += ["passed", "end_state", *families]
    cols += ["machine_overall", "overrides"] + [f"criterion:{c}" for c in criteria]
    return _csv(
        f"cohort-{cohort.id}-sessions.csv",
        cols,
        (
            [r["id"], r["owner"], r["created"], d["recorded"], r["source"] or SOURCE_UNCHECKED]
            + [d["source"], r["source_note"], d["script"], r["drill"], r["attempt"]]
            + [r["persona"], r["overall"], r["scorable"], r["passed"], r["end_state"]]
            + [(r["families"] or {}).get(f) for f in families]
            + [d["machine_overall"], _override_cell(reviews.get(r["id"], {}))]
            + [d["criteria"].get(c) for c in criteria]
            for r, d in zip(rows, details, strict=True)
        ),
    )


# -- trainees ----------------------------------------------------------------------------------
@router.get("/api/assignments")
def api_assignments(user: Trainee, db: DB) -> list[dict]:
    return [drill_dict(d, attempts_used(db, user, d)) for d in my_drills(db, user, retired=False)]


def _station_drill(db: DB, drill_id: int, user: User) -> Drill:
    """A drill its trainee (or its cohort's trainer) may run; 404 for anyone else."""
    drill = db.get(Drill, drill_id)
    allowed = drill is not None and (
        drill in my_drills(db, user)
        if user.role == TRAINEE
        else cohort_of(db, drill.cohort_id, user) is not None
    )
    if not allowed:
        raise HTTPException(404, "no such drill assigned to you")
    return drill


@router.get("/api/drills/{drill_id}/rubric")
def api_drill_rubric(drill_id: int, user: Anyone, db: DB) -> dict:
    """The rubric text a station runs this drill with (the server scores with the same)."""
    drill = _station_drill(db, drill_id, user)
    return {"drill": drill.id, "name": drill.rubric, "text": rubric_text(db, drill.rubric)}


@router.get("/api/drills/{drill_id}/persona")
def api_drill_persona(drill_id: int, user: Anyone, db: DB) -> dict:
    """The persona YAML a station runs this drill with (the server scores with the same)."""
    drill = _station_drill(db, drill_id, user)
    return {"drill": drill.id, "id": drill.persona, "text": persona_text(db, drill.persona)}


def csv_cell(value: object) -> object:
    """A cell a spreadsheet shows as text: one starting with = + - @ (or a tab or CR) would be
    run as a formula, so it gets a leading apostrophe. Numbers stay numbers."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _override_cell(overrides: dict[str, dict]) -> str:
    """A session's criterion overrides for the export: both values, who, when and why."""
    return "; ".join(
        f"{cid}: machine {o['machine']:g} -> {o['earned']:g} by {o['by']} at {o['at']} ({o['reason']})"
        for cid, o in overrides.items()
    )


def _csv(filename: str, header: list[str], rows) -> Response:  # noqa: ANN001
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([csv_cell(c) for c in header])
    w.writerows([csv_cell(c) for c in row] for row in rows)
    return Response(
        buf.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
