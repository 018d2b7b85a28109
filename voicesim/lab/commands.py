"""``voicesim lab``: serve the lab, add a trainer, set a password, upload sessions, list drills."""

from __future__ import annotations

import argparse
import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import VoicesimError
from .station import DEFAULT_OUTBOX


def register(sub: argparse._SubParsersAction, epilog: str) -> None:
    lab = sub.add_parser(
        "lab",
        help="the training lab: a server for a room of stations and a trainer dashboard",
        description="Run the lab server (trainers create cohorts, add rubrics, assign drills "
        "and follow progress on its web dashboard), add a trainer, set a password or put a "
        "trainee in a cohort on the lab machine, or, at a station, list your drills and upload sessions. A station runs its "
        "assigned drill with `voicesim drill --lab URL --user NAME`, which uploads by itself.",
        epilog=epilog,
    )
    lab_sub = lab.add_subparsers(dest="lab_command", metavar="ACTION", required=True)
    sv = lab_sub.add_parser(
        "serve",
        help="start the lab server (default: this machine only, 127.0.0.1:8765)",
        description="Start the lab server. It listens on 127.0.0.1 unless --host says "
        "otherwise: use --host 0.0.0.0 (or the room's interface address) to serve a room.",
    )
    sv.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    sv.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    sv.add_argument(
        "--ssl-certfile",
        metavar="PEM",
        help="serve HTTPS with this certificate (with --ssl-keyfile); advised when serving a "
        "room, so that passwords do not cross the network in clear text",
    )
    sv.add_argument("--ssl-keyfile", metavar="PEM", help="the certificate's private key")
    sv.add_argument(
        "--trusted-proxy",
        metavar="ADDRS",
        help="the address(es) of a reverse proxy in front of the lab (comma-separated): only "
        "then is its X-Forwarded-For header read for the client's address; by default the lab "
        "keys its sign-in throttle on the connection's own address and ignores that header",
    )
    _store_args(sv)
    sv.set_defaults(func=cmd_serve)

    at = lab_sub.add_parser("add-trainer", help="create a trainer account (the first one too)")
    at.add_argument("name", metavar="NAME")
    at.add_argument("--password", help="password (default: prompt, or VOICESIM_LAB_PASSWORD)")
    _store_args(at)
    at.set_defaults(func=cmd_add_trainer)

    sp = lab_sub.add_parser(
        "set-password",
        help="set a new password for any lab user, on the lab machine (a forgotten one)",
        description="Set a new password for a trainer or trainee, straight in the lab's store "
        "(trainers can also do it for their trainees on a trainee's page). The user's "
        "sign-ins so far stop working.",
    )
    sp.add_argument("name", metavar="NAME")
    sp.add_argument("--password", help="password (default: prompt, or VOICESIM_LAB_PASSWORD)")
    _store_args(sp)
    sp.set_defaults(func=cmd_set_password)

    ac = lab_sub.add_parser(
        "add-to-cohort",
        help="put an existing trainee in a cohort, on the lab machine (no invitation needed)",
        description="Add an existing trainee to a cohort straight in the lab's store. On the "
        "dashboard, a trainer who names another trainer's trainee only sends an invitation, "
        "which the trainee (or a trainer of theirs) accepts; this command is the lab "
        "machine's own way.",
    )
    ac.add_argument("name", metavar="NAME", help="the trainee's user name")
    ac.add_argument("cohort", metavar="COHORT", type=int, help="the cohort's number")
    _store_args(ac)
    ac.set_defaults(func=cmd_add_to_cohort)

    up = lab_sub.add_parser(
        "upload",
        help="upload a finished session to a lab (kept in an outbox and retried on failure)",
    )
    up.add_argument(
        "session",
        nargs="*",
        metavar="SESSION",
        help="session directories (none: send what waits in the outbox)",
    )
    station_options(up, required=True, outbox=True)
    up.add_argument(
        "--drill", type=int, metavar="N", help="the assigned drill these sessions are for"
    )
    up.set_defaults(func=cmd_upload)

    dr = lab_sub.add_parser("drills", help="list the drills assigned to you")
    station_options(dr, required=True, outbox=False)
    dr.set_defaults(func=cmd_drills)


def _store_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="lab-data", help="data folder (default lab-data/)")
    p.add_argument(
        "--database",
        metavar="URL",
        help="SQLAlchemy database URL, e.g. postgresql://user@host/db "
        "(default: an SQLite file DATA/lab.db)",
    )


def station_options(
    p: argparse.ArgumentParser, *, required: bool, outbox: bool
) -> argparse._ArgumentGroup:
    """--lab, --user, --password (and --outbox): how a station reaches its lab."""
    g = p.add_argument_group("training lab")
    g.add_argument(
        "--lab", required=required, metavar="URL", help="the lab server, e.g. http://host:8765"
    )
    g.add_argument("--user", required=required, help="your lab user name")
    g.add_argument("--password", help="password (default: VOICESIM_LAB_PASSWORD, or a prompt)")
    if outbox:
        g.add_argument(
            "--outbox",
            default=str(DEFAULT_OUTBOX),
            help=f"where sessions wait until the lab has them (default {DEFAULT_OUTBOX})",
        )
    return g


def password(args: argparse.Namespace) -> str:
    pw = args.password or os.environ.get("VOICESIM_LAB_PASSWORD")
    return pw or getpass.getpass(f"password for {getattr(args, 'user', None) or args.name}: ")


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app
    from .store import Store

    tls = {}
    if args.ssl_certfile or args.ssl_keyfile:
        if not (args.ssl_certfile and args.ssl_keyfile):
            raise VoicesimError("HTTPS needs both --ssl-certfile and --ssl-keyfile")
        for f in (args.ssl_certfile, args.ssl_keyfile):
            if not Path(f).is_file():
                raise VoicesimError(f"{f}: no such file")
        tls = {"ssl_certfile": args.ssl_certfile, "ssl_keyfile": args.ssl_keyfile}
        _check_tls(args.ssl_certfile, args.ssl_keyfile)
    store = Store(args.data, args.database)
    scheme = "https" if tls else "http"
    print(f"voicesim lab on {scheme}://{args.host}:{args.port}/ (data in {store.data_dir})")
    uvicorn.run(
        create_app(store),
        host=args.host,
        port=args.port,
        timeout_graceful_shutdown=5,  # Ctrl-C is not held up by an idle browser connection
        **server_options(args.trusted_proxy),
        **tls,
    )
    return 0


def server_options(trusted_proxy: str | None = None) -> dict:
    """uvicorn's options for the lab: the client's address is the connection's own, unless a
    trusted proxy is named. (uvicorn reads X-Forwarded-For from 127.0.0.1 by default, so any
    program on the lab machine, or a request relayed through it, chose the address the
    sign-in throttle counted: a new one per guess.)"""
    proxies = [a.strip() for a in (trusted_proxy or "").split(",") if a.strip()]
    return {
        "log_level": "warning",
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": proxies or [],
    }


def _check_tls(certfile: str, keyfile: str) -> None:
    """A certificate and key that do not load (or do not match) are a usage error up front,
    not a traceback from the server."""
    import ssl

    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except (ssl.SSLError, OSError) as exc:
        raise VoicesimError(f"cannot use {certfile} with {keyfile} for HTTPS: {exc}") from None


def _new_password(args: argparse.Namespace) -> str:
    from .store import password_problem

    pw = password(args)
    problem = password_problem(pw, args.name)
    if problem:
        raise VoicesimError(problem)
    return pw


@contextmanager
def _lab_db(args: argparse.Namespace) -> Iterator:
    """A database session on the store named by --data / --database, closed after."""
    from .store import Store

    store = Store(args.data, args.database)
    try:
        with store.Session() as db:
            yield db
    finally:
        store.close()


def cmd_add_trainer(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import IntegrityError

    from .store import TRAINER, NameTaken, create_user

    pw = _new_password(args)
    try:
        with _lab_db(args) as db:
            create_user(db, args.name, pw, TRAINER)
            db.commit()
    except IntegrityError:
        raise VoicesimError(f"user {args.name!r} exists") from None
    except NameTaken as exc:
        raise VoicesimError(str(exc)) from None
    print(f"trainer {args.name} added")
    return 0


def cmd_set_password(args: argparse.Namespace) -> int:
    from .store import change_password, find_user

    pw = _new_password(args)
    with _lab_db(args) as db:
        user = find_user(db, args.name)
        if user is None:
            raise VoicesimError(f"no lab user named {args.name!r}")
        change_password(db, user, pw)
        db.commit()
    print(f"new password set for {args.name} ({user.role})")
    return 0


def cmd_add_to_cohort(args: argparse.Namespace) -> int:
    from sqlalchemy import delete, select

    from .store import TRAINEE, Cohort, Invitation, Membership, find_user

    with _lab_db(args) as db:
        user = find_user(db, args.name)
        if user is None or user.role != TRAINEE:
            raise VoicesimError(f"no trainee named {args.name!r}")
        cohort = db.get(Cohort, args.cohort)
        if cohort is None:
            raise VoicesimError(f"no cohort number {args.cohort}")
        member = select(Membership.id).where(
            Membership.cohort_id == cohort.id, Membership.user_id == user.id
        )
        if db.scalar(member) is None:
            db.add(Membership(cohort_id=cohort.id, user_id=user.id))
        db.execute(
            delete(Invitation).where(
                Invitation.cohort_id == cohort.id, Invitation.user_id == user.id
            )
        )
        db.commit()
        print(f"{user.username} is in cohort #{cohort.id} {cohort.name}")
    return 0


def cmd_upload(args: argparse.Namespace) -> int:
    from .client import LabClient, LabError, enqueue, flush_outbox, result_line, wait_scored

    for s in args.session:  # queue first: nothing is lost if the lab is unreachable
        enqueue(s, args.outbox, args.drill)
    client = LabClient(args.lab)
    try:
        client.login(args.user, password(args))
    except LabError as exc:
        kept = len(list(Path(args.outbox).glob("*.zip")))
        raise VoicesimError(
            f"{exc}; {kept} upload(s) kept in {args.outbox}, run again to retry"
        ) from None
    out = flush_outbox(client, args.outbox)
    for a in out.sent:  # the lab scores each from its queue: wait a while for the result
        dup = " (already there)" if a.get("duplicate") else ""
        print(f"uploaded session #{a['id']}: {result_line(wait_scored(client, a))}{dup}")
    for path, why in out.rejected:
        print(f"refused {path.name}: {why}")
    if out.pending:
        print(f"{len(out.pending)} upload(s) kept in {args.outbox}; run again to retry")
    return 0 if not out.pending and not out.rejected else 1


def cmd_drills(args: argparse.Namespace) -> int:
    from .client import LabClient
    from .station import describe

    client = LabClient(args.lab)
    client.login(args.user, password(args))
    drills = client.assignments()
    for d in drills:
        print(describe(d))
    if not drills:
        print("no drills are assigned to you")
    else:
        print(f"run one with: voicesim drill --lab {args.lab} --user {args.user} --drill N")
    return 0
