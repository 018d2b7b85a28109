"""What the API and the pages do alike: the lab's rules on cohorts, trainees, invitations,
drills and who sees which session, and the views both show (the cohort table, a trainee's
history). Every function takes the database session and the acting user; a refusal is an
HTTPException that the API returns as it is and a page shows as its error line."""

import datetime as _dt

from fastapi import HTTPException
from sqlalchemy import Select, case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .library import lab_persona, lab_rubric, persona_list, persona_problem
from .models import DrillEditIn, DrillIn
from .provenance import UNVERIFIED
from .store import (
    FAILED,
    QUEUED,
    REFUSED,
    SCORED,
    SCORING,
    TRAINEE,
    TRAINER,
    Cohort,
    CopyFlag,
    Drill,
    Invitation,
    Membership,
    NameTaken,
    SessionScore,
    Upload,
    User,
    WeakPassword,
    change_password,
    create_user,
    find_user,
    name_key,
    utcnow,
)


def cohort_of(db: Session, cohort_id: int, trainer: User) -> Cohort | None:
    """The cohort if ``trainer`` created it: trainers manage their own cohorts only."""
    c = db.get(Cohort, cohort_id)
    return c if c is not None and c.created_by == trainer.id else None


def owned_cohort(db: Session, cohort_id: int, trainer: User) -> Cohort:
    c = cohort_of(db, cohort_id, trainer)
    if c is None:
        raise HTTPException(404, "no such cohort of yours")
    return c


def visible_upload(db: Session, user: User, session_id: int) -> Upload:
    """The session if ``user`` may see it: a trainee their own, a trainer those of the
    trainees in their own cohorts; 404 otherwise (the same answer: no probing)."""
    up = db.get(Upload, session_id)
    if up is None:
        raise HTTPException(404, "no such session")
    if user.role == TRAINEE:
        visible = up.owner_id == user.id
    else:
        visible = db.scalar(
            select(Membership.id).where(
                Membership.user_id == up.owner_id,
                Membership.cohort_id.in_(my_cohort_ids(user)),
            )
        )
    if not visible:
        raise HTTPException(404, "no such session")
    return up


def owning_trainer(db: Session, trainee: User) -> int | None:
    """The id of the trainer a trainee belongs to: the one whose cohort they were first added
    to (a later cohort is another trainer's only by the trainee's own consent)."""
    return db.scalar(
        select(Cohort.created_by)
        .join(Membership, Membership.cohort_id == Cohort.id)
        .where(Membership.user_id == trainee.id)
        .order_by(Membership.id)
        .limit(1)
    )


def reviewable_upload(db: Session, trainer: User, session_id: int) -> Upload:
    """The session if ``trainer`` may comment on it and change its results: a drill's session
    is reviewed by the trainer whose drill it is, a practice session by the trainee's own
    trainer. Another trainer who shares the trainee may read it (403 to review it)."""
    up = visible_upload(db, trainer, session_id)
    drill = db.get(Drill, up.drill_id) if up.drill_id is not None else None
    if drill is not None:
        allowed = cohort_of(db, drill.cohort_id, trainer) is not None
    else:
        owner = db.get(User, up.owner_id)
        allowed = owner is not None and owning_trainer(db, owner) == trainer.id
    if not allowed:
        raise HTTPException(
            403,
            "only the trainer whose drill this session is for (for practice, the trainee's own "
            "trainer) may comment on it or change its results",
        )
    return up


def my_cohort_ids(trainer: User) -> Select:
    return select(Cohort.id).where(Cohort.created_by == trainer.id)


def my_cohorts(db: Session, trainer: User) -> list[Cohort]:
    return list(
        db.scalars(select(Cohort).where(Cohort.created_by == trainer.id).order_by(Cohort.name))
    )


def create_cohort(db: Session, name: str, user: User) -> Cohort:
    c = Cohort(name=name.strip(), created_by=user.id)
    db.add(c)
    try:
        db.commit()
    except IntegrityError:  # names are unique per trainer: this says nothing about others
        db.rollback()
        raise HTTPException(409, f"a cohort of yours named {name!r} exists") from None
    return c


INVITED = (
    "if this user exists, they join the cohort once they accept (on their lab page); the "
    "password given is not used"
)


def manages(db: Session, trainer: User, user: User) -> bool:
    """Whether ``user`` is a trainee in one of ``trainer``'s cohorts."""
    return user.role == TRAINEE and (
        db.scalar(
            select(Membership.id)
            .join(Cohort, Cohort.id == Membership.cohort_id)
            .where(Membership.user_id == user.id, Cohort.created_by == trainer.id)
            .limit(1)
        )
        is not None
    )


def add_trainee(
    db: Session, cohort: Cohort, username: str, password: str | None, trainer: User
) -> User | None:
    """Add a trainee to ``trainer``'s cohort. A new name becomes a trainee with ``password``
    (None: none yet, as a roster import's trainee before their welcome link);
    a trainee the trainer already has is added; any other existing user (another trainer's
    trainee, a trainer) only gets an invitation, whoever they are: returns None then."""
    user = find_user(db, username)
    if user is None:
        try:
            user = create_user(db, username, password, TRAINEE)
        except WeakPassword as exc:
            raise HTTPException(422, f"password: {exc}") from None
        except NameTaken as exc:
            raise HTTPException(422, f"username: {exc}") from None
    elif not manages(db, trainer, user):
        if user.role == TRAINEE and not is_member(db, cohort, user):
            if (
                db.scalar(
                    select(Invitation.id).where(
                        Invitation.cohort_id == cohort.id, Invitation.user_id == user.id
                    )
                )
                is None
            ):
                db.add(Invitation(cohort_id=cohort.id, user_id=user.id, invited_by=trainer.id))
                db.commit()
        return None
    if is_member(db, cohort, user):
        raise HTTPException(409, f"{username!r} is already in this cohort")
    db.add(Membership(cohort_id=cohort.id, user_id=user.id))
    db.commit()
    return user


def is_member(db: Session, cohort: Cohort, user: User) -> bool:
    return (
        db.scalar(
            select(Membership.id).where(
                Membership.cohort_id == cohort.id, Membership.user_id == user.id
            )
        )
        is not None
    )


def invitations_for(db: Session, user: User) -> list[Invitation]:
    """For a trainee: the invitations to them. For a trainer: those to trainees of theirs
    (theirs to see, and to decline) and those they sent."""
    q = select(Invitation).order_by(Invitation.id)
    if user.role == TRAINEE:
        return list(db.scalars(q.where(Invitation.user_id == user.id)))
    mine = (
        select(Membership.user_id)
        .join(Cohort, Cohort.id == Membership.cohort_id)
        .where(Cohort.created_by == user.id)
    )
    return list(
        db.scalars(q.where((Invitation.user_id.in_(mine)) | (Invitation.invited_by == user.id)))
    )


def invitation_for(db: Session, invitation_id: int, user: User, *, accept: bool) -> Invitation:
    """The invitation if ``user`` may act on it: only the invited user accepts (no trainer,
    not even one who shares them, joins a trainee to a cohort for them); the invited user, a
    trainer who has them in a cohort, or the trainer who sent it may decline it."""
    inv = db.get(Invitation, invitation_id)
    invitee = db.get(User, inv.user_id) if inv is not None else None
    allowed = invitee is not None and (
        user.id == invitee.id
        or (
            not accept
            and (user.id == inv.invited_by or (user.role == TRAINER and manages(db, user, invitee)))
        )
    )
    if not allowed:
        raise HTTPException(404, "no such invitation for you")
    return inv


def accept_invitation(db: Session, inv: Invitation) -> None:
    cohort = db.get(Cohort, inv.cohort_id)
    user = db.get(User, inv.user_id)
    if cohort is not None and user is not None and not is_member(db, cohort, user):
        db.add(Membership(cohort_id=cohort.id, user_id=user.id))
    db.delete(inv)
    db.commit()


def invitation_dict(db: Session, inv: Invitation, viewer: User) -> dict:
    cohort = db.get(Cohort, inv.cohort_id)
    names = {
        u.id: u.username
        for u in db.scalars(select(User).where(User.id.in_([inv.user_id, inv.invited_by])))
    }
    return {
        "id": inv.id,
        "user": names.get(inv.user_id),
        "cohort": cohort.name if cohort else None,
        "cohort_id": inv.cohort_id,
        "invited_by": names.get(inv.invited_by),
        "sent_by_me": inv.invited_by == viewer.id,
    }


def assign_drill(db: Session, cohort: Cohort, body: DrillIn) -> Drill:
    """Assign a drill; its persona and rubric must exist here, so that stations can run it."""
    if lab_persona(db, body.persona) is None:
        known = ", ".join(p["id"] for p in persona_list(db))
        raise HTTPException(422, f"unknown persona {body.persona!r}; available: {known}")
    try:
        rubric = lab_rubric(db, body.rubric)
    except HTTPException as exc:
        raise HTTPException(422, exc.detail) from None
    problem = persona_problem(db, body.persona, rubric)
    if problem:  # the station would stop at this when the call starts
        raise HTTPException(422, f"persona {body.persona!r} with rubric {body.rubric!r}: {problem}")
    due = _dt.datetime.combine(body.due, _dt.time()) if body.due else None
    d = Drill(
        cohort_id=cohort.id,
        persona=body.persona,
        rubric=body.rubric,
        pass_mark=body.pass_mark,
        due=due,
        attempts_allowed=body.attempts_allowed,
        allow_practice=body.allow_practice,
        guidance=body.guidance,
    )
    db.add(d)
    db.commit()
    return d


def owned_drill(db: Session, drill_id: int, trainer: User) -> Drill:
    """The drill if it belongs to one of ``trainer``'s cohorts; 404 otherwise."""
    drill = db.get(Drill, drill_id)
    if drill is None or cohort_of(db, drill.cohort_id, trainer) is None:
        raise HTTPException(404, "no such drill of yours")
    return drill


def edit_drill(db: Session, drill: Drill, body: DrillEditIn) -> Drill:
    """Change what ``body`` sends of a drill (see DrillEditIn for what may change)."""
    sent = body.model_fields_set
    if "pass_mark" in sent and body.pass_mark is not None and body.pass_mark != drill.pass_mark:
        stored = db.scalar(select(func.count(Upload.id)).where(Upload.drill_id == drill.id))
        if stored:
            raise HTTPException(
                409,
                f"pass_mark: {stored} session(s) of drill #{drill.id} were scored with pass mark "
                f"{drill.pass_mark:g}; retire it and assign a new drill to change it",
            )
        drill.pass_mark = body.pass_mark
    if "due" in sent:
        drill.due = _dt.datetime.combine(body.due, _dt.time()) if body.due else None
    if "attempts_allowed" in sent and body.attempts_allowed is not None:
        drill.attempts_allowed = body.attempts_allowed
    if "allow_practice" in sent and body.allow_practice is not None:
        drill.allow_practice = body.allow_practice
    if "guidance" in sent and body.guidance is not None:
        drill.guidance = body.guidance
    db.commit()
    return drill


def retire_drill(db: Session, drill: Drill) -> Drill:
    """Take a drill out of its trainees' assignments; it takes no more uploads, and its
    sessions and results stay (retiring twice keeps the first time)."""
    if drill.retired is None:
        drill.retired = utcnow()
        db.commit()
    return drill


def my_drills(db: Session, user: User, *, retired: bool = True) -> list[Drill]:
    """The drills of ``user``'s cohorts (the retired ones too unless ``retired`` is false)."""
    cohorts = select(Membership.cohort_id).where(Membership.user_id == user.id)
    q = select(Drill).where(Drill.cohort_id.in_(cohorts))
    if not retired:
        q = q.where(Drill.retired.is_(None))
    return list(db.scalars(q.order_by(Drill.id)))


def attempts_used(db: Session, user: User, drill: Drill) -> int:
    """Sessions that hold an attempt: queued, being scored or scored (a refused or failed one
    gives its attempt back)."""
    return db.scalar(
        select(func.count(Upload.attempt)).where(
            Upload.owner_id == user.id, Upload.drill_id == drill.id
        )
    )


def cohort_dict(c: Cohort) -> dict:
    return {"id": c.id, "name": c.name}


def drill_dict(d: Drill, attempts: int | None = None) -> dict:
    out = {
        "id": d.id,
        "cohort": d.cohort_id,
        "persona": d.persona,
        "rubric": d.rubric,
        "pass_mark": d.pass_mark,
        "due": d.due.date().isoformat() if d.due else None,
        "attempts_allowed": d.attempts_allowed,
        "allow_practice": bool(d.allow_practice),
        "guidance": bool(d.guidance),
        "retired": d.retired.isoformat(timespec="seconds") + "Z" if d.retired else None,
    }
    if attempts is not None:
        out["attempts"] = attempts
        out["attempts_left"] = max(0, d.attempts_allowed - attempts)
    return out


# What a trainee reads of their own session that the lab could not verify: which check failed
# would tell a forger what to fix next (their trainers see it).
NOT_VERIFIED = "this session could not be verified"
# What each status means to whoever uploaded the session (no list of the checks).
STATUS_NOTES = {
    QUEUED: "stored; waiting to be scored",
    SCORING: "being scored",
    REFUSED: NOT_VERIFIED + "; it does not count as an attempt",
    FAILED: "the lab could not score this session; it does not count as an attempt",
}


def upload_dict(u: Upload, owner: str, viewer: User | None = None) -> dict:
    """A session for the API and the pages; ``viewer``, when a trainee, never reads why their
    session could not be verified (``NOT_VERIFIED`` instead)."""
    note = u.source_note
    if viewer is not None and viewer.role == TRAINEE and u.source == UNVERIFIED:
        note = NOT_VERIFIED
    out = {
        "id": u.id,
        "owner": owner,
        "drill": u.drill_id,
        "persona": u.persona,
        "overall": u.overall,
        "families": u.families,
        "passed": u.passed,
        # None: stored before the lab recorded it (such a call counted as scorable)
        "scorable": u.scorable,
        # live, simulated, recorded (verified from the session's files), unverified (a claim
        # they do not bear out, or none); None: stored before the lab verified sources
        "source": u.source,
        "source_note": note,
        "attempt": u.attempt,
        "end_state": u.end_state,
        "created": u.created.isoformat() + "Z" if u.created else None,
        "report": f"/sessions/{u.id}/report",
        # queued, scoring (the scores are None until then), scored, refused, failed
        "status": u.status,
        "status_note": STATUS_NOTES.get(u.status),
        "url": f"/api/sessions/{u.id}",
    }
    if viewer is not None and viewer.role != TRAINEE:
        # how far the events' words are from what the lab heard (trainers only: the
        # trainee reads that the session could not be verified, not why)
        out["transcript_wer"] = u.transcript_wer
    return out


def cohort_overview(db: Session, cohort: Cohort) -> dict:
    """The cohort table, each trainee's progress per rubric family, and the weakest skills."""
    members = list(
        db.scalars(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.cohort_id == cohort.id)
            .order_by(User.username)
        )
    )
    drills = list(db.scalars(select(Drill).where(Drill.cohort_id == cohort.id).order_by(Drill.id)))
    ids = [m.id for m in members]
    # Aggregates in SQL, so that the page stays quick with thousands of stored sessions; only
    # scored sessions count (one waiting in the queue, refused or failed has no scores).
    stats: dict[tuple[int, int | None], tuple[int, float, int, bool]] = {}
    # A drill is passed by an attempt the lab recorded as a pass (``Upload.passed``: the one
    # pass decision, so a call that was not scorable never passes whatever the mark).
    any_pass = func.max(case((Upload.passed.is_(True), 1), else_=0))
    firsts_lasts: dict[int, tuple[int, int, int]] = {}
    totals: dict[str, tuple[float, int]] = {}
    if ids:
        q = (
            select(
                Upload.owner_id,
                Upload.drill_id,
                func.count(Upload.id),
                func.max(Upload.overall),
                func.max(Upload.id),
                any_pass,
            )
            .where(Upload.owner_id.in_(ids), Upload.status == SCORED)
            .group_by(Upload.owner_id, Upload.drill_id)
        )
        for owner, drill_id, n, best, last_id, passed in db.execute(q):
            stats[(owner, drill_id)] = (n, best, last_id, bool(passed))
        q = (
            select(Upload.owner_id, func.count(Upload.id), func.min(Upload.id), func.max(Upload.id))
            .where(Upload.owner_id.in_(ids), Upload.status == SCORED)
            .group_by(Upload.owner_id)
        )
        for owner, n, first_id, last_id in db.execute(q):
            firsts_lasts[owner] = (n, first_id, last_id)
        q = (
            select(SessionScore.family, func.avg(SessionScore.score), func.count(SessionScore.id))
            .where(SessionScore.owner_id.in_(ids))
            .group_by(SessionScore.family)
        )
        for fam, mean, n in db.execute(q):
            totals[fam] = (float(mean), int(n))
    wanted = {v[2] for v in stats.values()} | {
        i for v in firsts_lasts.values() for i in (v[1], v[2])
    }
    rows = (
        {
            u_id: (overall, fams)
            for u_id, overall, fams in db.execute(
                select(Upload.id, Upload.overall, Upload.families).where(Upload.id.in_(wanted))
            )
        }
        if wanted
        else {}
    )
    # The best score made by each drill's due date (the end of that day, UTC), per trainee.
    today = utcnow()
    on_time: dict[tuple[int, int], bool] = {}
    for d in drills:
        if d.due is not None and ids:
            q = (
                select(Upload.owner_id, any_pass)
                .where(
                    Upload.drill_id == d.id,
                    Upload.owner_id.in_(ids),
                    Upload.created < day_after(d.due),
                )
                .group_by(Upload.owner_id)
            )
            on_time.update(((owner, d.id), bool(ok)) for owner, ok in db.execute(q))
    table = []
    for m in members:
        for d in drills:
            n, best, last_id, passed = stats.get((m.id, d.id), (0, None, None, None))
            due_over = d.due is not None and today >= day_after(d.due)
            if d.due is not None and passed:
                status = "passed" if on_time.get((m.id, d.id)) else "late"
            elif due_over:
                status = "overdue"
            else:
                status = {True: "passed", False: "failed", None: "open"}[passed]
            table.append(
                {
                    "trainee": m.username,
                    "drill": d.id,
                    "persona": d.persona,
                    "pass_mark": d.pass_mark,
                    "due": d.due.date().isoformat() if d.due else None,
                    "attempts": n,
                    "attempts_allowed": d.attempts_allowed,
                    "best": best,
                    "last": rows[last_id][0] if last_id else None,
                    "last_session": last_id,
                    "passed": passed,
                    # passed, late (passed after the due date), failed (so far), overdue (due
                    # date gone, not passed), open (no attempt yet, not due)
                    "status": status,
                }
            )
    progress = []
    for m in members:
        if m.id not in firsts_lasts:
            continue
        n, first_id, last_id = firsts_lasts[m.id]
        first, last = rows[first_id][1] or {}, rows[last_id][1] or {}
        progress.append(
            {
                "trainee": m.username,
                "sessions": n,
                "families": {
                    f: {"first": first.get(f), "latest": last.get(f)}
                    for f in sorted(set(first) | set(last))
                },
            }
        )
    weakest = sorted(
        ({"family": f, "mean": round(mean, 1), "n": n} for f, (mean, n) in totals.items()),
        key=lambda r: (r["mean"], r["family"]),
    )
    return {
        "cohort": cohort_dict(cohort),
        "trainees": [m.username for m in members],
        "drills": [drill_dict(d) for d in drills],
        "table": table,
        "progress": progress,
        "weakest": weakest,
        "copies": copied_calls(db, members),
    }


def day_after(due: _dt.datetime) -> _dt.datetime:
    """The end of a due date (UTC). A drill stored before dates were checked may be due on the
    last day a datetime holds: it is never overdue, rather than an OverflowError."""
    try:
        return due + _dt.timedelta(days=1)
    except OverflowError:
        return _dt.datetime.max


def copied_calls(db: Session, members: list[User]) -> list[dict]:
    """The refused uploads of these trainees that copied a call stored for another user,
    latest first: who, when, for which drill, and the original (its owner named only when
    they are one of ``members``: other trainers' trainees stay theirs)."""
    names = {m.id: m.username for m in members}
    if not names:
        return []
    q = (
        select(CopyFlag, Upload.owner_id)
        .join(Upload, Upload.id == CopyFlag.original_id)
        .where(CopyFlag.user_id.in_(list(names)))
        .order_by(CopyFlag.id.desc())
        .limit(HISTORY_LIMIT)
    )
    return [
        {
            "trainee": names[f.user_id],
            "drill": f.drill_id,
            "original": f.original_id,
            "original_owner": names.get(owner),
            "created": f.created.isoformat() + "Z" if f.created else None,
        }
        for f, owner in db.execute(q)
    ]


HISTORY_LIMIT = 500  # sessions shown on a trainee's page, the latest ones


def trainee_history(db: Session, cohort: Cohort, username: str) -> dict:
    """One trainee of a cohort, session by session: the overall and per-family scores over
    time, for the trainee's page. 404 when the cohort has no such trainee."""
    member = trainee_in(db, cohort, username)
    return {"cohort": cohort_dict(cohort)} | session_history(db, member)


def session_history(db: Session, member: User, viewer: User | None = None) -> dict:
    """A trainee's latest sessions, oldest first, with the rubric families they were scored on."""
    ups = list(
        db.scalars(
            select(Upload)
            .where(Upload.owner_id == member.id)
            .order_by(Upload.id.desc())
            .limit(HISTORY_LIMIT)
        )
    )[::-1]
    return {
        "trainee": member.username,
        "sessions": [upload_dict(u, member.username, viewer) for u in ups],
        "families": sorted({f for u in ups for f in (u.families or {})}),
    }


def trainee_in(db: Session, cohort: Cohort, username: str) -> User:
    member = db.scalar(
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.cohort_id == cohort.id, User.name_key == name_key(username))
    )
    if member is None:
        raise HTTPException(404, "no such trainee in this cohort")
    return member


def reset_password(
    db: Session, cohort: Cohort, username: str, password: str, trainer: User
) -> None:
    """The trainee's own trainer (``owning_trainer``) sets a new password for them (a
    forgotten one); the trainee's tokens are revoked, so every station signs in again. A
    trainer who only shares the trainee may not: with the password they could act as them.
    On the lab machine, ``voicesim lab set-password`` (the admin's way) sets anyone's."""
    member = trainee_in(db, cohort, username)
    if owning_trainer(db, member) != trainer.id:
        raise HTTPException(
            403,
            f"only {member.username}'s own trainer (whose cohort they joined first) may set "
            "their password; on the lab machine: voicesim lab set-password",
        )
    try:
        change_password(db, member, password)
    except WeakPassword as exc:
        raise HTTPException(422, f"password: {exc}") from None
    db.commit()
