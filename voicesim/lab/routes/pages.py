"""The lab's pages: sign-in, the trainer's and the trainee's home, a cohort, a trainee, a session
(with the trainer's review forms). Server-rendered from templates (``pages.page``); every form
that changes something carries the browser's form token (``deps.Checked``)."""

import hmac
import secrets
import urllib.parse
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from ...report.numbers import call_numbers
from .. import persona_editor
from ..deps import (
    COOKIE,
    DB,
    Checked,
    Csrf,
    Intake,
    LabLimits,
    LabStore,
    PageTrainer,
    PageUser,
    Throttle,
)
from ..editor import RubricForm, edited, form_of, preview, simulated_calls
from ..figures import drill_summary, weakest_criteria
from ..library import (
    DEFAULT_RUBRIC_NAME,
    add_persona,
    add_rubric,
    lab_rubric,
    persona_list,
    persona_text,
    personas,
    rubric_list,
    rubric_text,
)
from ..models import (
    MAX_PERSONA,
    MAX_RUBRIC,
    DrillEditIn,
    DrillIn,
    PasswordIn,
    PersonaIn,
    RubricIn,
    TraineeIn,
)
from ..pages import (
    LOGIN_COOKIE,
    WEAKEST_SHOWN,
    back,
    checked,
    latest_coaching,
    page,
    path_segment,
    persona_charts,
    progress_chart,
)
from ..reviews import (
    add_comment,
    add_override,
    latest_overrides,
    machine_card,
    review_of,
    reviewed_card,
    transcript,
)
from ..roster import MAX_ROSTER_BYTES, import_roster, roster_counts
from ..security import client_address, login_token
from ..service import (
    INVITED,
    accept_invitation,
    add_trainee,
    assign_drill,
    attempts_used,
    cohort_overview,
    create_cohort,
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
    reviewable_upload,
    session_history,
    trainee_history,
    trainee_in,
    upload_dict,
    visible_upload,
)
from ..store import (
    TRAINER,
    Drill,
    Membership,
    Upload,
    User,
    WeakPassword,
    change_password,
    issue_token,
    revoke_token,
    utcnow,
    welcome_link,
)

router = APIRouter(tags=["pages"])


def cookie(resp, request: Request, name: str, value: str, max_age: int) -> None:  # noqa: ANN001
    """HttpOnly, SameSite=Strict, and Secure when the lab is served over HTTPS."""
    resp.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, error: str = "") -> HTMLResponse:
    browser = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    secret = request.app.state.store.secret
    resp = page("login.html", "Sign in", csrf=login_token(browser, secret), error=error)
    cookie(resp, request, LOGIN_COOKIE, browser, 3600)
    return resp


@router.post("/login")
def login_post(
    request: Request,
    db: DB,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    throttle: Throttle,
    limits: LabLimits,
    csrf: Annotated[str, Form()] = "",
) -> RedirectResponse:
    address, token_ttl = client_address(request), limits.token_ttl
    try:  # a name that must wait says so first: a stale form does not hide that
        throttle.check(username[:64], address)
    except HTTPException as exc:
        return back("/login", exc)
    browser = request.cookies.get(LOGIN_COOKIE, "")
    expected = login_token(browser, request.app.state.store.secret)
    if not browser or not hmac.compare_digest(csrf, expected):
        return back("/login", HTTPException(403, "the sign-in form is stale; sign in again"))
    try:
        user = throttle.sign_in(db, username[:64], password[:1024], address)
    except HTTPException as exc:
        return back("/login", exc)
    if user is None:
        return RedirectResponse("/login?error=wrong+user+name+or+password", status_code=303)
    return signed_in(request, db, user, token_ttl)


def signed_in(request: Request, db: DB, user: User, token_ttl: timedelta) -> RedirectResponse:
    """Home, with a new token in the dashboard's cookie (and the sign-in form's cookie gone)."""
    token, _ = issue_token(db, user, token_ttl)
    db.commit()
    resp = RedirectResponse("/", status_code=303)
    cookie(resp, request, COOKIE, token, int(token_ttl.total_seconds()))
    resp.delete_cookie(LOGIN_COOKIE, path="/")
    return resp


@router.post("/logout")
def logout(request: Request, db: DB, _: Checked) -> RedirectResponse:
    revoke_token(db, request.cookies.get(COOKIE, ""))
    db.commit()
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(COOKIE, path="/")
    return resp


@router.get("/", response_class=HTMLResponse)
def home(
    request: Request,
    user: PageUser,
    db: DB,
    store: LabStore,
    csrf: Csrf,
    error: str = "",
    notice: str = "",
) -> HTMLResponse:
    invitations = [invitation_dict(db, i, user) for i in invitations_for(db, user)]
    if user.role == TRAINER:
        return page(
            "trainer_home.html",
            "Trainer",
            user,
            csrf,
            error,
            notice=notice,
            approvals=[i for i in invitations if not i["sent_by_me"]],
            cohorts=my_cohorts(db, user),
            rubrics=rubric_list(db),
            personas=persona_list(db),
        )
    drills = [
        {
            "id": d.id,
            "persona": d.persona,
            "rubric": d.rubric,
            "pass_mark": d.pass_mark,
            "due": d.due.date().isoformat() if d.due else "",
            "attempts": attempts_used(db, user, d),
            "attempts_allowed": d.attempts_allowed,
            "allow_practice": d.allow_practice,
            "guidance": d.guidance,
        }
        for d in my_drills(db, user, retired=False)
    ]
    view = session_history(db, user, user)
    return page(
        "trainee_home.html",
        "Trainee",
        user,
        csrf,
        error,
        notice=notice,
        invitations=invitations,
        drills=drills,
        sessions=list(reversed(view["sessions"])),
        charts=persona_charts(view["sessions"], view["families"]),
        coaching=latest_coaching(store, db, view["sessions"]),
        lab=str(request.base_url).rstrip("/"),
    )


@router.post("/invitations/{invitation_id}/{action}")
def invitation_post(
    invitation_id: int, action: str, user: PageUser, db: DB, _: Checked
) -> RedirectResponse:
    if action not in ("accept", "decline"):
        raise HTTPException(404, "no such action")
    try:
        inv = invitation_for(db, invitation_id, user, accept=action == "accept")
    except HTTPException as exc:
        return back("/", exc)
    here = f"/cohorts/{inv.cohort_id}" if inv.invited_by == user.id else "/"
    if action == "accept":
        accept_invitation(db, inv)
    else:
        db.delete(inv)
        db.commit()
    return RedirectResponse(here, status_code=303)


@router.post("/cohorts")
def cohort_post(
    user: PageTrainer, db: DB, _: Checked, name: Annotated[str, Form(max_length=120)]
) -> RedirectResponse:
    try:
        c = create_cohort(db, name, user)
    except HTTPException as exc:
        return back("/", exc)
    return RedirectResponse(f"/cohorts/{c.id}", status_code=303)


@router.post("/rubrics")
def rubric_post(
    user: PageTrainer,
    db: DB,
    _: Checked,
    name: Annotated[str, Form()],
    file: Annotated[UploadFile, File()],
) -> RedirectResponse:
    raw = file.file.read(MAX_RUBRIC * 4 + 1)  # a worker thread: this route is not async
    try:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise HTTPException(422, f"{file.filename}: not UTF-8 text") from None
        body = checked(RubricIn, name=name, text=text)
        add_rubric(db, body.name, body.text, user)
    except HTTPException as exc:
        return back("/", exc)
    return RedirectResponse("/", status_code=303)


@router.get("/rubrics/edit", response_class=HTMLResponse)
def rubric_edit_form(
    user: PageTrainer, db: DB, csrf: Csrf, source: str = DEFAULT_RUBRIC_NAME
) -> HTMLResponse:
    """A form over a lab rubric's fields, to store an edited copy under a new name."""
    try:
        text = rubric_text(db, source[:64])
    except HTTPException as exc:
        return back("/", exc)
    return _editor_page(user, csrf, source, "", form_of(text), None, db)


def _editor_page(  # noqa: PLR0913
    user: User,
    csrf: str,
    source: str,
    lab_name: str,
    form: RubricForm,
    previewed: dict | None,
    db: DB,
    notice: str = "",
    status: int = 200,
) -> HTMLResponse:
    return page(
        "rubric_edit.html",
        f"Edit a copy of rubric {source}",
        user,
        csrf,
        notice=notice,
        status=status,
        source=source,
        lab_name=lab_name,
        form=form,
        previewed=previewed,
        personas=personas(),
        rubrics=rubric_list(db),
    )


@router.post("/rubrics/edit", response_class=HTMLResponse, response_model=None)
async def rubric_edit_post(
    request: Request, user: PageTrainer, db: DB, csrf: Csrf, _: Checked, intake: Intake
) -> HTMLResponse | RedirectResponse:
    """check: the mistakes on their fields; preview: the persona's good and bad scripted
    calls scored with the edit; save: stored under the new name, as an upload is."""
    fields = {k: v for k, v in (await request.form(max_fields=3000)).items() if isinstance(v, str)}
    source, action = fields.get("source", DEFAULT_RUBRIC_NAME)[:64], fields.get("action", "")
    lab_name = fields.get("lab_name", "").strip()[:64]
    text = await run_in_threadpool(rubric_text, db, source)
    new_text, rubric, form = edited(text, fields, f"{lab_name or 'edited'}.yaml")
    if action == "save" and rubric is not None:
        try:
            body = checked(RubricIn, name=lab_name, text=new_text)
            await run_in_threadpool(add_rubric, db, body.name, body.text, user)
        except HTTPException as exc:
            detail = str(exc.detail)
            taken = exc.status_code == 409 or detail.startswith("name:")
            form.errors["lab_name" if taken else "id" if "id:" in detail else ""] = detail
        else:
            note = urllib.parse.quote(f"rubric {body.name} added")
            return RedirectResponse(f"/?notice={note}", status_code=303)
    previewed = None
    if action == "preview" and rubric is not None:
        persona = fields.get("persona", "")
        if persona not in {p.id for p in personas()}:
            form.errors["persona"] = "choose a persona"
        else:
            previewed = {"persona": persona, "calls": await intake.run(preview, rubric, persona)}
    notice = "no mistakes found" if action == "check" and not form.errors else ""
    status = 422 if form.errors else 200
    return _editor_page(user, csrf, source, lab_name, form, previewed, db, notice, status)


@router.post("/personas")
def persona_post(
    user: PageTrainer, db: DB, _: Checked, file: Annotated[UploadFile, File()]
) -> RedirectResponse:
    """A persona's YAML file, added under the id it gives itself."""
    raw = file.file.read(MAX_PERSONA * 4 + 1)  # a worker thread: this route is not async
    name = (file.filename or "").replace("\\", "/").rsplit("/", 1)[-1][:64] or "persona.yaml"
    try:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise HTTPException(422, f"{name}: not UTF-8 text") from None
        body = checked(PersonaIn, text=text)
        added = add_persona(db, body.text, user, filename=name)
    except HTTPException as exc:
        return back("/", exc)
    note = urllib.parse.quote(f"persona {added['id']} added")
    return RedirectResponse(f"/?notice={note}", status_code=303)


OPEN_GROUPS = ("voice", "situation", "mood")  # shown open; the long lists of lines folded


@router.get("/personas/edit", response_class=HTMLResponse)
def persona_edit_form(
    user: PageTrainer, db: DB, csrf: Csrf, source: str = "damaged-blender"
) -> HTMLResponse:
    """A form over a persona's fields (bundled or a trainer's), to store an edited copy."""
    try:
        text = persona_text(db, source[:64])
    except HTTPException as exc:
        return back("/", exc)
    listed = persona_list(db)
    base = _based_on(listed, source)
    return _persona_page(user, csrf, db, source, persona_editor.form_of(text), base, listed=listed)


def _based_on(listed: list[dict], source: str) -> str | None:
    """The bundled persona whose scripted trainees fit a copy of ``source``."""
    return next((p["based_on"] for p in listed if p["id"] == source), None)


def _persona_page(  # noqa: PLR0913
    user: User,
    csrf: str,
    db: DB,
    source: str,
    form: persona_editor.PersonaForm,
    trainees: str | None,
    preview_rubric: str = DEFAULT_RUBRIC_NAME,
    previewed: dict | None = None,
    notice: str = "",
    listed: list[dict] | None = None,
) -> HTMLResponse:
    in_error = {str(f.keys[0]) for f in form.fields.values() if f.name in form.errors}
    return page(
        "persona_edit.html",
        f"Edit a copy of persona {source}",
        user,
        csrf,
        notice=notice,
        status=422 if form.errors else 200,
        source=source,
        form=form,
        open_groups={*OPEN_GROUPS, *in_error},
        trainees=trainees,
        preview_rubric=preview_rubric,
        previewed=previewed,
        personas=listed if listed is not None else persona_list(db),
        bundled=personas(),
        rubrics=rubric_list(db),
    )


@router.post("/personas/edit", response_class=HTMLResponse, response_model=None)
async def persona_edit_post(
    request: Request, user: PageTrainer, db: DB, csrf: Csrf, _: Checked, intake: Intake
) -> HTMLResponse | RedirectResponse:
    """check: the mistakes on their fields; preview: the edited customer in simulated calls
    with scripted trainees; save: stored under the new id, as an upload is."""
    fields = {k: v for k, v in (await request.form(max_fields=3000)).items() if isinstance(v, str)}
    source, action = fields.get("source", "")[:64], fields.get("action", "")
    rubric_name = fields.get("preview_rubric", "")[:64]
    text = await run_in_threadpool(persona_text, db, source)
    trainees = fields.get("trainees") or _based_on(
        await run_in_threadpool(persona_list, db), source
    )
    try:
        rubric = await run_in_threadpool(lab_rubric, db, rubric_name or DEFAULT_RUBRIC_NAME)
    except HTTPException:
        rubric, rubric_name = await run_in_threadpool(lab_rubric, db, DEFAULT_RUBRIC_NAME), ""
    new_id = fields.get("id", "").strip()[:64]
    new_text, persona, form = await run_in_threadpool(  # YAML in and out: off the event loop
        persona_editor.edited,
        text,
        fields,
        f"{new_id or 'edited'}.yaml",
        set(rubric.library.detectors),
    )
    if len(new_text) > MAX_PERSONA:
        form.errors[""] = f"the persona's YAML is longer than {MAX_PERSONA} characters"
        persona = None
    bundled = {p.id for p in personas()}
    if action == "save" and persona is not None:
        try:
            body = checked(PersonaIn, text=new_text, based_on=trainees or None)
            await run_in_threadpool(
                add_persona, db, body.text, user, body.based_on, f"{new_id}.yaml"
            )
        except HTTPException as exc:
            form.errors["id" if "id:" in str(exc.detail) else ""] = str(exc.detail)
        else:
            note = urllib.parse.quote(f"persona {new_id} added")
            return RedirectResponse(f"/?notice={note}", status_code=303)
    previewed = None
    if action == "preview" and persona is not None:
        if not rubric_name:
            form.errors["preview_rubric"] = "choose a rubric"
        elif trainees not in bundled:
            form.errors["trainees"] = "choose a persona whose scripted trainees to use"
        else:
            calls = await intake.run(simulated_calls, persona, rubric, trainees)
            previewed = {"persona": new_id, "trainees": trainees, "rubric": rubric_name}
            previewed["calls"] = calls
    notice = "no mistakes found" if action == "check" and not form.errors else ""
    return _persona_page(user, csrf, db, source, form, trainees, rubric_name, previewed, notice)


@router.post("/cohorts/{cohort_id}/trainees")
def trainee_post(
    cohort_id: int,
    user: PageTrainer,
    db: DB,
    _: Checked,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
) -> RedirectResponse:
    cohort = owned_cohort(db, cohort_id, user)
    here = f"/cohorts/{cohort_id}"
    try:
        body = checked(TraineeIn, username=username, password=password)
        added = add_trainee(db, cohort, body.username, body.password, user)
    except HTTPException as exc:
        return back(here, exc)
    if added is None:
        note = urllib.parse.quote(f"{body.username}: {INVITED}")
        return RedirectResponse(f"{here}?notice={note}", status_code=303)
    return RedirectResponse(here, status_code=303)


@router.post("/cohorts/{cohort_id}/roster", response_class=HTMLResponse, response_model=None)
def roster_post(
    cohort_id: int,
    request: Request,
    user: PageTrainer,
    db: DB,
    csrf: Csrf,
    _: Checked,
    file: Annotated[UploadFile, File()],
) -> HTMLResponse | RedirectResponse:
    """A roster's report is shown once: the welcome links in it are not stored (only their
    digests), so the trainer copies them from here."""
    cohort = owned_cohort(db, cohort_id, user)
    raw = file.file.read(MAX_ROSTER_BYTES + 1)  # a worker thread: this route is not async
    name = file.filename or "roster.csv"
    try:
        rows = import_roster(db, cohort, user, raw, str(request.base_url), name)
    except HTTPException as exc:
        return back(f"/cohorts/{cohort_id}", exc)
    title = f"Roster import into {cohort.name}"
    counts = roster_counts(rows)
    return page("roster.html", title, user, csrf, cohort=cohort, rows=rows, counts=counts)


WELCOME_GONE = (
    "This welcome link does not open any more: it was used, it expired, or a password was set "
    "already. Sign in, or ask your trainer to set a new password."
)


@router.get("/welcome/{token}", response_class=HTMLResponse)
def welcome_form(request: Request, db: DB, token: str, error: str = "") -> HTMLResponse:
    link = welcome_link(db, token[:100])
    if link is None:
        return page("welcome.html", "Welcome", error=WELCOME_GONE, status=404, invitee=None)
    invitee = db.get(User, link.user_id)
    browser = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    secret = request.app.state.store.secret
    resp = page(
        "welcome.html",
        "Welcome",
        csrf=login_token(browser, secret),
        error=error,
        invitee=invitee,
        token=token,
    )
    cookie(resp, request, LOGIN_COOKIE, browser, 3600)
    return resp


@router.post("/welcome/{token}", response_model=None)
def welcome_post(
    request: Request,
    db: DB,
    token: str,
    limits: LabLimits,
    password: Annotated[str, Form()],
    csrf: Annotated[str, Form()] = "",
) -> RedirectResponse | HTMLResponse:
    """The trainee chooses their password; the link is spent and they are signed in."""
    link = welcome_link(db, token[:100])
    if link is None:
        return page("welcome.html", "Welcome", error=WELCOME_GONE, status=404, invitee=None)
    here = f"/welcome/{urllib.parse.quote(token, safe='')}"
    browser = request.cookies.get(LOGIN_COOKIE, "")
    if not browser or not hmac.compare_digest(
        csrf, login_token(browser, request.app.state.store.secret)
    ):
        return back(here, HTTPException(403, "the form is stale; open the link again"))
    invitee = db.get(User, link.user_id)
    try:
        change_password(db, invitee, password[:1024])
    except WeakPassword as exc:
        return back(here, HTTPException(422, f"password: {exc}"))
    link.used = utcnow()
    return signed_in(request, db, invitee, limits.token_ttl)


@router.post("/cohorts/{cohort_id}/drills")
def drill_post(
    cohort_id: int,
    user: PageTrainer,
    db: DB,
    _: Checked,
    persona: Annotated[str, Form()],
    rubric: Annotated[str, Form()] = "default",
    pass_mark: Annotated[float, Form()] = 70,
    due: Annotated[str, Form()] = "",
    attempts_allowed: Annotated[int, Form()] = 3,
    allow_practice: Annotated[bool, Form()] = False,
    guidance: Annotated[bool, Form()] = False,
) -> RedirectResponse:
    cohort = owned_cohort(db, cohort_id, user)
    try:
        body = checked(
            DrillIn,
            persona=persona,
            rubric=rubric or "default",
            pass_mark=pass_mark,
            due=due or None,
            attempts_allowed=attempts_allowed,
            allow_practice=allow_practice,
            guidance=guidance,
        )
        assign_drill(db, cohort, body)
    except HTTPException as exc:
        return back(f"/cohorts/{cohort_id}", exc)
    return RedirectResponse(f"/cohorts/{cohort_id}", status_code=303)


@router.post("/drills/{drill_id}/edit")
def drill_edit_post(
    drill_id: int,
    user: PageTrainer,
    db: DB,
    _: Checked,
    due: Annotated[str, Form()] = "",
    attempts_allowed: Annotated[int, Form()] = 3,
    allow_practice: Annotated[bool, Form()] = False,
    guidance: Annotated[bool, Form()] = False,
) -> RedirectResponse:
    """The cohort page's form over ``PATCH /api/drills/{id}`` (the same rules)."""
    drill = owned_drill(db, drill_id, user)
    here = f"/cohorts/{drill.cohort_id}"
    try:
        body = checked(
            DrillEditIn,
            due=due or None,
            attempts_allowed=attempts_allowed,
            allow_practice=allow_practice,
            guidance=guidance,
        )
        edit_drill(db, drill, body)
    except HTTPException as exc:
        return back(here, exc)
    return RedirectResponse(f"{here}?notice=drill+%23{drill.id}+changed", status_code=303)


@router.post("/drills/{drill_id}/retire")
def drill_retire_post(drill_id: int, user: PageTrainer, db: DB, _: Checked) -> RedirectResponse:
    drill = retire_drill(db, owned_drill(db, drill_id, user))
    return RedirectResponse(
        f"/cohorts/{drill.cohort_id}?notice=drill+%23{drill.id}+retired", status_code=303
    )


@router.get("/cohorts/{cohort_id}", response_class=HTMLResponse)
def cohort_page(
    cohort_id: int,
    user: PageTrainer,
    db: DB,
    store: LabStore,
    csrf: Csrf,
    error: str = "",
    notice: str = "",
) -> HTMLResponse:
    cohort = owned_cohort(db, cohort_id, user)
    view = cohort_overview(db, cohort)
    members = select(Membership.user_id).where(Membership.cohort_id == cohort.id)
    recent = db.scalars(
        select(Upload).where(Upload.owner_id.in_(members)).order_by(Upload.id.desc()).limit(50)
    )
    names = {u.id: u.username for u in db.scalars(select(User).where(User.id.in_(members)))}
    invited = [
        invitation_dict(db, i, user)
        for i in invitations_for(db, user)
        if i.cohort_id == cohort.id and i.invited_by == user.id
    ]
    return page(
        "cohort.html",
        f"Cohort {cohort.name}",
        user,
        csrf,
        error,
        notice=notice,
        cohort=cohort,
        view=view,
        recent=list(recent),
        names=names,
        progress=[p | {"chart": progress_chart(p["families"])} for p in view["progress"]],
        drill_figures=drill_summary(db, view),
        weakest_criteria=weakest_criteria(store, db, members)[:WEAKEST_SHOWN],
        invited=invited,
        personas=persona_list(db),
        rubrics=rubric_list(db),
    )


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
def session_page(
    session_id: int,
    user: PageUser,
    db: DB,
    store: LabStore,
    csrf: Csrf,
    error: str = "",
    notice: str = "",
) -> HTMLResponse:
    """A session's trainer review: comments at moments of the call and changed results,
    with the forms for trainers; the trainee sees the same, without the forms."""
    up = visible_upload(db, user, session_id)
    machine = machine_card(store.session_path(up))
    card = reviewed_card(machine, latest_overrides(db, [up.id]).get(up.id, {}))
    owner = db.get(User, up.owner_id)
    drill = db.get(Drill, up.drill_id) if up.drill_id else None
    criteria = [
        {
            "id": c["id"],
            "label": c.get("label") or c["id"],
            "earned": c["earned"],
            "points": c["points"],
        }
        for f in card.get("families") or []
        for c in f.get("criteria") or []
        if c.get("applies", True) and c.get("points")
    ]
    return page(
        "session.html",
        f"Session #{up.id}",
        user,
        csrf,
        error,
        notice=notice,
        s=upload_dict(up, owner.username if owner else "", user),
        owner=owner.username if owner else "",
        card=card,
        numbers=call_numbers(card),
        review=review_of(db, up, machine),
        criteria=criteria,
        pass_mark=drill.pass_mark if drill is not None else card.get("pass_mark"),
        can_review=user.role == TRAINER and _may_review(db, user, up.id),
        lines=transcript(store.session_path(up)),
        has_audio=(store.session_path(up) / "call.wav").is_file(),
    )


def _may_review(db: DB, user: User, session_id: int) -> bool:
    try:
        reviewable_upload(db, user, session_id)
    except HTTPException:
        return False
    return True


@router.post("/sessions/{session_id}/comments")
def comment_post(
    session_id: int,
    user: PageTrainer,
    db: DB,
    store: LabStore,
    _: Checked,
    text: Annotated[str, Form()],
    t: Annotated[str, Form()] = "",
) -> RedirectResponse:
    visible_upload(db, user, session_id)  # 404 for a session this trainer cannot see
    try:
        up = reviewable_upload(db, user, session_id)
        add_comment(db, store, up, user, t, text)
    except HTTPException as exc:
        return back(f"/sessions/{session_id}", exc)
    return RedirectResponse(f"/sessions/{session_id}?notice=comment+added", status_code=303)


@router.post("/sessions/{session_id}/overrides")
def override_post(
    session_id: int,
    user: PageTrainer,
    db: DB,
    store: LabStore,
    _: Checked,
    criterion: Annotated[str, Form()],
    points: Annotated[float, Form()],
    reason: Annotated[str, Form()],
) -> RedirectResponse:
    visible_upload(db, user, session_id)
    try:
        up = reviewable_upload(db, user, session_id)
        add_override(db, store, up, user, criterion, points, reason)
    except HTTPException as exc:
        return back(f"/sessions/{session_id}", exc)
    return RedirectResponse(f"/sessions/{session_id}?notice=result+changed", status_code=303)


@router.get("/cohorts/{cohort_id}/trainees/{username}", response_class=HTMLResponse)
def trainee_page(
    cohort_id: int,
    username: str,
    user: PageTrainer,
    db: DB,
    store: LabStore,
    csrf: Csrf,
    error: str = "",
    notice: str = "",
):
    cohort = owned_cohort(db, cohort_id, user)
    view = trainee_history(db, cohort, username)
    sessions = view["sessions"]
    member = trainee_in(db, cohort, username)
    return page(
        "trainee.html",
        f"Trainee {view['trainee']}",
        user,
        csrf,
        error,
        notice=notice,
        cohort_id=cohort_id,
        view=view,
        charts=persona_charts(sessions, view["families"]),
        weakest_criteria=weakest_criteria(store, db, [member.id])[:WEAKEST_SHOWN],
    )


@router.post("/cohorts/{cohort_id}/trainees/{username}/password")
def password_post(
    cohort_id: int,
    username: str,
    user: PageTrainer,
    db: DB,
    _: Checked,
    password: Annotated[str, Form()],
) -> RedirectResponse:
    cohort = owned_cohort(db, cohort_id, user)
    here = f"/cohorts/{cohort_id}/trainees/{path_segment(username)}"
    try:
        body = checked(PasswordIn, password=password)
        reset_password(db, cohort, username, body.password, user)
    except HTTPException as exc:
        return back(here, exc)
    note = urllib.parse.quote(f"{username}'s password is changed; their stations sign in again")
    return RedirectResponse(f"{here}?notice={note}", status_code=303)
