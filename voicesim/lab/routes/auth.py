"""The API's sign-in: a bearer token for a user name and password (behind the throttle), sign-out,
and who the token belongs to."""

from fastapi import APIRouter, HTTPException, Request

from ..deps import DB, Anyone, LabLimits, Throttle, request_token
from ..models import LoginIn
from ..security import client_address
from ..store import issue_token, revoke_token

router = APIRouter(tags=["auth"])


@router.post("/api/login")
def api_login(
    request: Request, body: LoginIn, db: DB, throttle: Throttle, limits: LabLimits
) -> dict:
    user = throttle.sign_in(db, body.username, body.password, client_address(request))
    if user is None:
        raise HTTPException(401, "wrong user name or password")
    token, expires = issue_token(db, user, limits.token_ttl)
    db.commit()
    return {"token": token, "role": user.role, "expires": expires.isoformat() + "Z"}


@router.post("/api/logout")
def api_logout(request: Request, user: Anyone, db: DB) -> dict:
    revoke_token(db, request_token(request) or "")
    db.commit()
    return {"ok": True}


@router.get("/api/me")
def api_me(user: Anyone) -> dict:
    return {"username": user.username, "role": user.role}
