"""The station side: sign in, list assigned drills, and upload finished sessions.

An upload is first written to an outbox folder (``<digest>.zip`` plus ``<digest>.json`` with the
drill id), then sent; it leaves the outbox only when the server has answered that it holds the
session. A failed upload (no network, server down, connection cut) stays there and is retried by
the next ``upload_session`` or ``flush_outbox``. The server deduplicates by the session's digest,
so an upload retried after its answer was lost still arrives once.
"""

from __future__ import annotations

import datetime as _dt
import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import VoicesimError
from .archive import pack_session


class LabError(VoicesimError):
    pass


@dataclass
class LabClient:
    base_url: str
    token: str | None = None
    timeout: float = 30.0

    def _request(self, method: str, path: str, body: bytes | None = None, ctype: str = ""):
        url = self.base_url.rstrip("/") + path
        req = urllib.request.Request(url, data=body, method=method)
        if ctype:
            req.add_header("Content-Type", ctype)
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
            return json.loads(resp.read() or b"null")

    def _ask(self, what: str, method: str, path: str, body: bytes | None = None, ctype: str = ""):
        """``_request`` with every failure as one LabError line that says what was asked: a
        refusal, a lab out of reach, or an answer that is not the lab's (a wrong port, a web
        server, a proxy's error page)."""
        try:
            return self._request(method, path, body, ctype)
        except urllib.error.HTTPError as exc:
            raise LabError(" ".join(f"{what} failed: {_detail(exc)}".split())) from None
        except (urllib.error.URLError, OSError) as exc:
            hint = ""
            if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                hint = (
                    " (a lab with its own certificate: point SSL_CERT_FILE at that "
                    "certificate, e.g. SSL_CERT_FILE=lab-cert.pem voicesim ...)"
                )
            reason = " ".join(str(getattr(exc, "reason", None) or exc).split())
            raise LabError(f"cannot reach the lab at {self.base_url}: {reason}{hint}") from None
        except (http.client.HTTPException, ValueError) as exc:
            raise LabError(self.odd(what, f"{type(exc).__name__}: {exc}")) from None

    def odd(self, what: str, why: str) -> str:
        why = " ".join(why.split())[:120]  # one line, whatever the other end sent
        return (
            f"{what}: the answer from {self.base_url} is not the lab's ({why}); is that the "
            "lab's address and port (voicesim lab serve prints them)?"
        )

    def login(self, username: str, password: str) -> str:
        payload = json.dumps({"username": username, "password": password}).encode()
        out = self._ask("lab sign-in", "POST", "/api/login", payload, "application/json")
        if not isinstance(out, dict) or not isinstance(out.get("token"), str):
            raise LabError(self.odd("lab sign-in", "no token in it"))
        self.token = out["token"]
        return self.token

    def assignments(self) -> list[dict]:
        out = self._ask("listing your drills", "GET", "/api/assignments")
        if not isinstance(out, list) or not all(_drill_ok(d) for d in out):
            raise LabError(self.odd("listing your drills", "not a list of drills"))
        return out

    def drill_rubric(self, drill: int) -> dict:
        """``{"name", "text"}``: the rubric the lab scores this drill with."""
        what = f"fetching drill #{int(drill)}'s rubric"
        out = self._ask(what, "GET", f"/api/drills/{int(drill)}/rubric")
        if not isinstance(out, dict) or not isinstance(out.get("text"), str):
            raise LabError(self.odd(what, "no rubric text in it"))
        return out

    def drill_persona(self, drill: int) -> dict:
        """``{"id", "text"}``: the persona YAML the lab runs and scores this drill with."""
        what = f"fetching drill #{int(drill)}'s persona"
        out = self._ask(what, "GET", f"/api/drills/{int(drill)}/persona")
        if not isinstance(out, dict) or not isinstance(out.get("text"), str):
            raise LabError(self.odd(what, "no persona text in it"))
        return out

    def session(self, session_id: int) -> dict:
        """The lab's record of one of this user's sessions (its status, and its scores once
        scored)."""
        what = f"reading session #{int(session_id)}"
        out = self._ask(what, "GET", f"/api/sessions/{int(session_id)}")
        if not isinstance(out, dict) or not isinstance(out.get("id"), int):
            raise LabError(self.odd(what, "not a session"))
        return out

    def send(self, archive: bytes, drill: int | None = None) -> dict:
        """The lab's answer for an upload; raises what ``_request`` raises (the outbox decides
        what to retry), and ValueError for an answer that is not the lab's."""
        q = f"?drill={int(drill)}" if drill is not None else ""
        out = self._request("POST", "/api/sessions" + q, archive, "application/zip")
        if not isinstance(out, dict) or not isinstance(out.get("id"), int):
            raise ValueError("the answer to an upload is not the lab's")
        return out


PENDING = ("queued", "scoring")  # the lab has the session and has not scored it yet
SCORE_WAIT_S = 120.0  # how long a station waits for the lab's score before it moves on


def wait_scored(
    client: LabClient, answer: dict, *, timeout: float = SCORE_WAIT_S, poll: float = 1.0
) -> dict:
    """An upload's ``answer`` read again until the lab has scored (or refused) the session, or
    ``timeout`` seconds have passed: the lab answers an upload at once and scores it from its
    queue. A lab that cannot be asked leaves the answer as it was."""
    deadline = time.monotonic() + timeout
    while answer.get("status") in PENDING and time.monotonic() < deadline:
        time.sleep(min(poll, max(0.0, deadline - time.monotonic())))
        try:
            answer = client.session(answer["id"]) | {"duplicate": answer.get("duplicate")}
        except LabError:
            break
    return answer


def result_line(answer: dict) -> str:
    """What the lab made of an upload, in words: its score, or why there is none (yet)."""
    status = answer.get("status")
    if status in PENDING:
        return "scoring… (the lab shows the result when it is ready)"
    if status in ("refused", "failed"):
        return f"not scored: {answer.get('status_note') or status}"
    if answer.get("scorable") is False:
        return "not scorable"
    overall = answer.get("overall")
    return f"score {overall:.1f}" if isinstance(overall, int | float) else "no score"


def _drill_ok(d: object) -> bool:
    """Whether an assignment has what a station reads of it."""
    if not isinstance(d, dict):
        return False
    typed = (("id", int), ("persona", str), ("attempts_allowed", int))
    if not all(isinstance(d.get(k), t) and not isinstance(d.get(k), bool) for k, t in typed):
        return False
    due = d.get("due")
    if due is None:
        return True
    try:
        _dt.date.fromisoformat(due)
    except (TypeError, ValueError):
        return False
    return True


def _detail(exc: urllib.error.HTTPError) -> str:
    try:
        return f"{exc.code} {json.loads(exc.read()).get('detail')}"
    except (ValueError, AttributeError, OSError, http.client.HTTPException):
        return f"{exc.code} {exc.reason}"


@dataclass
class Outcome:
    sent: list[dict] = field(default_factory=list)  # server answers, one per session that arrived
    arrived: dict[Path, dict] = field(default_factory=dict)  # outbox file -> the server's answer
    pending: list[Path] = field(default_factory=list)  # still in the outbox
    rejected: list[tuple[Path, str]] = field(default_factory=list)  # refused for good (4xx)


def enqueue(session_dir: str | Path, outbox: str | Path, drill: int | None = None) -> Path:
    """Pack a session into the outbox (idempotent: the same session is queued once)."""
    data, digest = pack_session(session_dir)
    box = Path(outbox)
    box.mkdir(parents=True, exist_ok=True)
    path = box / f"{digest}.zip"
    if not path.exists():
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        (box / f"{digest}.json").write_text(
            json.dumps({"drill": drill, "source": str(session_dir)})
        )
        tmp.replace(path)
    return path


def flush_outbox(
    client: LabClient, outbox: str | Path, *, retries: int = 3, backoff: float = 0.5
) -> Outcome:
    """Send everything in the outbox; what cannot be sent now stays for the next time."""
    out = Outcome()
    box = Path(outbox)
    for path in sorted(box.glob("*.zip")) if box.is_dir() else []:
        info_path = path.with_suffix(".json")
        try:
            drill = json.loads(info_path.read_text()).get("drill")
        except (OSError, ValueError):
            drill = None
        for attempt in range(retries):
            try:
                answer = client.send(path.read_bytes(), drill)
            except urllib.error.HTTPError as exc:
                if exc.code in (401, 408, 429) or exc.code >= 500:  # worth trying again later
                    if attempt + 1 < retries:
                        time.sleep(backoff * 2**attempt)
                        continue
                    out.pending.append(path)
                    break
                out.rejected.append((path, _detail(exc)))
                path.rename(path.with_suffix(".rejected"))
                break
            except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException):
                # refused, reset, timed out, or an answer that is not the lab's
                if attempt + 1 < retries:
                    time.sleep(backoff * 2**attempt)
                    continue
                out.pending.append(path)
                break
            else:
                out.sent.append(answer)
                out.arrived[path] = answer
                path.unlink(missing_ok=True)
                info_path.unlink(missing_ok=True)
                break
    return out


def upload_session(
    client: LabClient,
    session_dir: str | Path,
    outbox: str | Path,
    drill: int | None = None,
    **kw,
) -> Outcome:
    """Queue one session and send the whole outbox (earlier failures included)."""
    enqueue(session_dir, outbox, drill)
    return flush_outbox(client, outbox, **kw)
