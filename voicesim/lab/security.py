"""HTTP-level protection of the lab: the sign-in throttle, the security headers of every answer,
and the form tokens of the pages (CSRF)."""

import hashlib
import hmac
import math
import threading
import time
from collections import OrderedDict

from fastapi import HTTPException, Request
from sqlalchemy.orm import Session
from starlette.datastructures import MutableHeaders

from .store import User, authenticate


class LoginThrottle:
    """Slows password guessing without handing anyone a way to lock others out.

    Failed sign-ins are counted per (user name, client address) and per client address. After
    ``attempts`` free failures for a name from one address, that address must wait before its
    next try for the name: ``window`` seconds, doubling with every further failure, up to
    ``max_delay``; an address that fails ``address_attempts`` times over any names waits the
    same way for every name. A correct password from an address that has not been failing
    always gets in, so nobody can lock a trainer out by guessing at her name. Each address may
    have ``address_inflight`` sign-ins being checked at once (more are refused at once, before
    any hashing), and the store hashes at most a few passwords at a time: a flood of sign-ins
    costs bounded memory and CPU. Kept in memory, per server process."""

    LIMIT = 10_000  # entries kept per table: a flood of made-up names cannot grow it forever

    def __init__(
        self,
        attempts: int = 5,
        window: float = 1.0,
        *,
        max_delay: float = 900.0,
        address_attempts: int = 30,
        address_inflight: int = 4,
        clock=time.monotonic,  # noqa: ANN001
    ) -> None:
        self.attempts, self.window, self.max_delay = attempts, window, max_delay
        self.address_attempts, self.address_inflight = address_attempts, address_inflight
        self.clock = clock
        self._pairs: OrderedDict[tuple[str, str], tuple[int, float]] = OrderedDict()
        self._addresses: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._inflight: dict[str, int] = {}
        self._lock = threading.Lock()

    def _wait(self, table: OrderedDict, key: object, free: int, now: float) -> float:
        """Seconds ``key`` must still wait (0: may try); forgets a long-quiet entry."""
        failures, last = table.get(key, (0, 0.0))
        if failures and now - last > 2 * self.max_delay:
            table.pop(key, None)
            return 0.0
        if failures < free:
            return 0.0
        delay = min(self.max_delay, self.window * 2 ** (failures - free))
        return max(0.0, last + delay - now)

    def _fail(self, table: OrderedDict, key: object, now: float) -> None:
        failures, _ = table.pop(key, (0, 0.0))
        table[key] = (failures + 1, now)
        while len(table) > self.LIMIT:
            table.popitem(last=False)

    def check(self, username: str, address: str) -> None:
        """429 while this name (or any name) from this address must wait."""
        with self._lock:
            self._check(username, address, self.clock())

    def _check(self, username: str, address: str, now: float) -> None:
        wait = max(
            self._wait(self._pairs, (username, address), self.attempts, now),
            self._wait(self._addresses, address, self.address_attempts, now),
        )
        if wait > 0:
            secs = math.ceil(wait)
            raise HTTPException(
                429,
                f"too many failed sign-ins for {username!r} from this address; "
                f"try again in {secs} s",
                headers={"Retry-After": str(secs)},
            )

    def begin(self, username: str, address: str) -> None:
        """Before a sign-in is checked: 429 while this name (or any name) from this address
        must wait, or while this address has too many sign-ins being checked."""
        now = self.clock()
        with self._lock:
            self._check(username, address, now)
            if self._inflight.get(address, 0) >= self.address_inflight:
                raise HTTPException(
                    429,
                    "too many sign-ins from this address at once; try again in 1 s",
                    headers={"Retry-After": "1"},
                )
            self._inflight[address] = self._inflight.get(address, 0) + 1

    def end(self, username: str, address: str, ok: bool) -> None:
        now = self.clock()
        with self._lock:
            left = self._inflight.get(address, 1) - 1
            if left > 0:
                self._inflight[address] = left
            else:
                self._inflight.pop(address, None)
            if ok:
                self._pairs.pop((username, address), None)
            else:
                self._fail(self._pairs, (username, address), now)
                self._fail(self._addresses, address, now)

    def sign_in(self, db: Session, username: str, password: str, address: str) -> User | None:
        """``authenticate`` behind the throttle: 429 while this name from this address waits."""
        self.begin(username, address)
        user = None
        try:
            user = authenticate(db, username, password)
        finally:
            self.end(username, address, user is not None)
        return user


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class SecurityHeaders:
    """Headers for every answer: no MIME sniffing, no framing, a strict Content-Security-Policy
    unless the route set its own (pages and reports do), no referrer, and HSTS under TLS."""

    def __init__(self, app) -> None:  # noqa: ANN001
        self.app = app

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"

        async def send_with_headers(message) -> None:  # noqa: ANN001
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault(
                    "Content-Security-Policy",
                    "default-src 'none'; base-uri 'none'; form-action 'none'; "
                    "frame-ancestors 'none'",
                )
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "no-referrer"
                if https:
                    headers["Strict-Transport-Security"] = "max-age=31536000"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def csrf_token(session_token: str, secret: bytes) -> str:
    """The form token for a signed-in browser: an HMAC under the lab's secret of its (HttpOnly)
    session cookie, so a page on another site can neither read nor make it. Every form that
    changes something carries it, on top of the SameSite=Strict cookie."""
    return _mac(secret, b"voicesim-lab-csrf:", session_token)


def login_token(browser: str, secret: bytes) -> str:
    """The sign-in form's token, an HMAC under the lab's secret of the browser's own sign-in
    cookie: another site cannot sign a browser in to an account of its choosing (login CSRF),
    even one that plants the cookie, since it cannot make the token without the secret."""
    return _mac(secret, b"voicesim-lab-login:", browser)


def _mac(secret: bytes, purpose: bytes, value: str) -> str:
    return hmac.new(secret, purpose + value.encode(), hashlib.sha256).hexdigest()
