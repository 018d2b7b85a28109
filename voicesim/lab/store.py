"""The lab's store: SQLAlchemy 2 models, the database, migrations, passwords and tokens.

The schema's history is a list of Alembic revisions shipped in the package (``migrations/``);
``migrate`` applies the missing ones whenever a store opens, in one transaction that one
process at a time holds, with a configuration built here (no alembic.ini). The same code runs
on SQLite and PostgreSQL. A database from before Alembic (a ``lab_schema`` table holding its
version, 1-5) is stamped at the revision that matches its version and upgraded from there.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import secrets
import threading
import unicodedata
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    false,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.pool import NullPool

from ..errors import VoicesimError

TRAINER, TRAINEE = "trainer", "trainee"
TOKEN_TTL = _dt.timedelta(hours=12)


# Where an upload is (revision 0012): stored and waiting, being scored, and the three ends.
QUEUED, SCORING, SCORED, REFUSED, FAILED = "queued", "scoring", "scored", "refused", "failed"
PENDING = (QUEUED, SCORING)


def utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC).replace(tzinfo=None)  # stored naive, always UTC


class Base(DeclarativeBase):
    pass


def name_key(username: str) -> str:
    """What tells user names apart: 'amy', 'Amy', 'AMY' and 'amy.' are one name (case-folded,
    NFKC-normalised, without the dots, dashes, underscores and spaces around it), so nobody can
    make an account that reads as someone else's."""
    return unicodedata.normalize("NFKC", username).casefold().strip(" ._-")


class User(Base):
    """A trainer or trainee. ``name_key`` (revision 0008) is the name as compared: unique, so
    names that differ only in case or trailing dots cannot both exist; a name is found by it."""

    __tablename__ = "lab_users"
    __table_args__ = (UniqueConstraint("name_key", name="uq_lab_users_name_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name_key: Mapped[str] = mapped_column(
        String(80), default=lambda ctx: name_key(ctx.get_current_parameters()["username"])
    )
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    created: Mapped[_dt.datetime] = mapped_column(DateTime, default=utcnow)


class Cohort(Base):
    """A trainer's group of trainees. Names are unique per trainer (schema version 4), so that
    a taken name tells nothing about other trainers' cohorts."""

    __tablename__ = "lab_cohorts"
    __table_args__ = (UniqueConstraint("created_by", "name", name="uq_lab_cohorts_owner_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    created_by: Mapped[int] = mapped_column(ForeignKey("lab_users.id"))
    created: Mapped[_dt.datetime] = mapped_column(DateTime, default=utcnow)


class Membership(Base):
    __tablename__ = "lab_memberships"
    __table_args__ = (UniqueConstraint("cohort_id", "user_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("lab_cohorts.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("lab_users.id"), index=True)


class Drill(Base):
    """An assignment of one persona + rubric to a cohort."""

    __tablename__ = "lab_drills"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("lab_cohorts.id"), index=True)
    persona: Mapped[str] = mapped_column(String(120))
    rubric: Mapped[str] = mapped_column(String(120))
    pass_mark: Mapped[float] = mapped_column(Float)
    due: Mapped[_dt.datetime | None] = mapped_column(DateTime, nullable=True)
    attempts_allowed: Mapped[int] = mapped_column(Integer)
    # Whether the drill also takes simulated and recorded sessions (revision 0006); by default
    # it takes live calls only.
    allow_practice: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Whether the station's drill shows in-call guidance cues (revision 0009).
    guidance: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created: Mapped[_dt.datetime] = mapped_column(DateTime, default=utcnow)
    # When the trainer retired it (revision 0007): out of the assignments, no more uploads;
    # its sessions stay. None: open.
    retired: Mapped[_dt.datetime | None] = mapped_column(DateTime, nullable=True)


class Upload(Base):
    """An uploaded session, stored under DATA/sessions/<storage_id>.

    Revision 0006 adds what makes a drill's result trustworthy: the ``source`` the lab verified
    from the session's own files (live, simulated, recorded, unverified) and why
    (``source_note``); the content keys of a call (``copy_key`` of its transcript,
    ``audio_key`` of its audio), unique lab-wide, so a call stored for one user is never
    credited to another; the ``attempt`` number within a drill, unique per trainee and drill,
    so concurrent uploads cannot all take the last attempt; whether the call was
    ``scorable``.

    Revision 0012 stores an upload first and scores it later, from a queue: ``status`` says
    where it is (``QUEUED`` -> ``SCORING`` -> ``SCORED``, or ``REFUSED`` when its audio does not
    carry the words of its events, or ``FAILED``); the scores are None until it is scored;
    ``claimed_by``/``claimed_at`` name the lab process scoring it; ``transcript_wer`` is how
    far the events' trainee words are from the lab's own transcript of the call's audio."""

    __tablename__ = "lab_sessions"
    __table_args__ = (
        UniqueConstraint("owner_id", "digest"),
        UniqueConstraint("owner_id", "drill_id", "attempt", name="uq_lab_sessions_attempt"),
        UniqueConstraint("copy_key", name="uq_lab_sessions_copy_key"),
        UniqueConstraint("audio_key", name="uq_lab_sessions_audio_key"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("lab_users.id"), index=True)
    drill_id: Mapped[int | None] = mapped_column(
        ForeignKey("lab_drills.id"), nullable=True, index=True
    )
    digest: Mapped[str] = mapped_column(String(64))
    storage_id: Mapped[str] = mapped_column(String(32), unique=True)
    persona: Mapped[str] = mapped_column(String(120), default="")
    overall: Mapped[float | None] = mapped_column(Float, nullable=True)  # None: not scored
    families: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    passed: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    end_state: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created: Mapped[_dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    source: Mapped[str | None] = mapped_column(String(16), nullable=True)  # None: before 0006
    source_note: Mapped[str | None] = mapped_column(String(200), nullable=True)
    copy_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    audio_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # A copy changed a little (revision 0011): the words without their times, and the audio's
    # fingerprint with its length (``provenance.audio_fingerprint``).
    words_key: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    fingerprint: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    audio_seconds: Mapped[float | None] = mapped_column(Float, nullable=True, index=True)
    attempt: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: no drill
    scorable: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    status: Mapped[str] = mapped_column(
        String(16), default=QUEUED, server_default=SCORED, index=True
    )
    claimed_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    claimed_at: Mapped[_dt.datetime | None] = mapped_column(DateTime, nullable=True)
    transcript_wer: Mapped[float | None] = mapped_column(Float, nullable=True)


class CopyFlag(Base):
    """A refused upload of a call already stored for another user (revision 0006): the
    trainers of the uploader see it; ``original_id`` is the stored session it copies."""

    __tablename__ = "lab_copy_flags"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("lab_users.id"), index=True)
    original_id: Mapped[int] = mapped_column(ForeignKey("lab_sessions.id"))
    drill_id: Mapped[int | None] = mapped_column(ForeignKey("lab_drills.id"), nullable=True)
    created: Mapped[_dt.datetime] = mapped_column(DateTime, default=utcnow)


class SessionScore(Base):
    """One rubric family's score of one uploaded session (schema version 2): lets the database
    aggregate family scores (the weakest skills) without reading every session's JSON."""

    __tablename__ = "lab_session_scores"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    upload_id: Mapped[int] = mapped_column(ForeignKey("lab_sessions.id"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("lab_users.id"), index=True)
    family: Mapped[str] = mapped_column(String(64))
    score: Mapped[float] = mapped_column(Float)


class LabRubric(Base):
    """A rubric a trainer added (schema version 3). Immutable once added: a drill's sessions are
    scored on the station and on the server with exactly this text. ``default`` is the built-in
    rubric and is not stored."""

    __tablename__ = "lab_rubrics"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[int] = mapped_column(ForeignKey("lab_users.id"))
    created: Mapped[_dt.datetime] = mapped_column(DateTime, default=utcnow)


class LabPersona(Base):
    """A persona a trainer added (revision 0013): its YAML text, immutable once added, as a
    rubric is (a drill's calls run on the station and are scored on the server with exactly
    this text). ``persona_id`` is the YAML's own ``id``, the name drills and sessions use: it
    is unique here and never one of the bundled personas'. ``based_on`` is the bundled persona
    it was copied from, whose scripted trainees preview it."""

    __tablename__ = "lab_personas"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    persona_id: Mapped[str] = mapped_column(String(64), unique=True)
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    based_on: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("lab_users.id"))
    created: Mapped[_dt.datetime] = mapped_column(DateTime, default=utcnow)


class Invitation(Base):
    """A trainer asked for an existing user to join a cohort (schema version 4). The user joins
    only when they accept, and nobody else may for them: a trainer cannot
    take over another trainer's trainee by naming her."""

    __tablename__ = "lab_invitations"
    __table_args__ = (UniqueConstraint("cohort_id", "user_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("lab_cohorts.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("lab_users.id"), index=True)
    invited_by: Mapped[int] = mapped_column(ForeignKey("lab_users.id"))
    created: Mapped[_dt.datetime] = mapped_column(DateTime, default=utcnow)


class Review(Base):
    """A trainer's word on a session (schema version 5): a ``comment`` at a moment of its
    timeline, or an ``override`` of one criterion's points with a reason. Rows are only ever
    added: the machine's result (``machine``), each override, who and when stay as the audit
    trail; the latest override of a criterion is the one that counts."""

    __tablename__ = "lab_reviews"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    upload_id: Mapped[int] = mapped_column(ForeignKey("lab_sessions.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("lab_users.id"))
    kind: Mapped[str] = mapped_column(String(16))  # comment, override
    t: Mapped[float | None] = mapped_column(Float, nullable=True)  # seconds into the call
    criterion: Mapped[str | None] = mapped_column(String(64), nullable=True)
    machine: Mapped[float | None] = mapped_column(Float, nullable=True)  # the scorer's points
    earned: Mapped[float | None] = mapped_column(Float, nullable=True)  # the trainer's points
    text: Mapped[str] = mapped_column(Text)  # the comment, or the override's reason
    created: Mapped[_dt.datetime] = mapped_column(DateTime, default=utcnow)


class Token(Base):
    __tablename__ = "lab_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("lab_users.id"), index=True)
    expires: Mapped[_dt.datetime] = mapped_column(DateTime)


class WelcomeLink(Base):
    """A one-time link with which a trainee made from a roster chooses their own password (the
    trainer hands the links out: the lab sends no e-mail). Only the link's digest is kept."""

    __tablename__ = "lab_welcome_links"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("lab_users.id"), index=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("lab_users.id"))
    created: Mapped[_dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires: Mapped[_dt.datetime] = mapped_column(DateTime)
    used: Mapped[_dt.datetime | None] = mapped_column(DateTime, nullable=True)


# -- migrations ---------------------------------------------------------------------------------
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# The hand-rolled schema's versions (its ``lab_schema`` table) and the revisions that made the
# same schema: a database of that time is stamped at its version's revision.
LEGACY_REVISIONS = {
    1: "0001_initial",
    2: "0002_session_scores",
    3: "0003_rubrics",
    4: "0004_invitations",
    5: "0005_reviews",
}  # 0006_integrity and later came with Alembic
_legacy_schema = Table("lab_schema", MetaData(), Column("version", Integer))
_PG_LOCK = 0x766F6963  # pg_advisory_xact_lock key: one migrating server at a time


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, built in code: the package's migrations, on ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision this voicesim knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def schema_version(engine: Engine) -> str | None:
    """The revision the database is at (None: an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine) -> str | None:
    """Bring the schema up to the newest revision; returns the revision now in the database.

    All in one transaction: on PostgreSQL behind an advisory lock, on SQLite one that takes the
    write lock at once (BEGIN IMMEDIATE), so two servers starting together migrate one after
    the other. SQLite runs it with foreign keys off (a table rebuild must not cascade into the
    tables that refer to it) and checks every reference before committing."""
    migrator = _migration_engine(engine)
    try:
        with migrator.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
            config = alembic_config(conn)
            _adopt_legacy(conn, config)
            try:
                command.upgrade(config, "head")
            except CommandError as exc:  # e.g. a revision from a newer voicesim
                raise VoicesimError(
                    f"cannot upgrade the lab database: {exc} (was it made by a newer voicesim?)"
                ) from None
            if conn.dialect.name == "sqlite":
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").first()
                if broken:
                    raise RuntimeError(f"the schema upgrade broke a reference: {tuple(broken)}")
    finally:
        if migrator is not engine:
            migrator.dispose()
    return schema_version(engine)


def _adopt_legacy(conn: Connection, config: Config) -> None:
    """A database of the hand-rolled schema: stamp the revision of its version, drop its table."""
    tables = inspect(conn)
    if not tables.has_table(_legacy_schema.name):
        return
    version = conn.execute(select(_legacy_schema.c.version)).scalar() or 0
    if not tables.has_table("alembic_version") and version:
        if version not in LEGACY_REVISIONS:
            raise VoicesimError(
                f"the lab database has schema version {version}, newer than this voicesim knows"
            )
        command.stamp(config, LEGACY_REVISIONS[version])
    _legacy_schema.drop(conn)


def _migration_engine(engine: Engine) -> Engine:
    """An engine for migrating ``engine``'s database. For an SQLite file, its own connections:
    foreign keys off and transactions that begin with the write lock."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return engine
    migrator = create_engine(url, connect_args={"timeout": 30}, poolclass=NullPool)

    @event.listens_for(migrator, "connect")
    def _pragmas(dbapi_conn, _record):  # noqa: ANN001
        dbapi_conn.isolation_level = None  # transactions begin where "begin" below says
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=30000")
        # WAL before any lock is held: the server's own connections (which ask for WAL too)
        # then find it set, and never wait for a lock that a migration holds while a reader
        # waits for them ("database is locked" with two servers starting at once).
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=OFF")
        cur.close()

    @event.listens_for(migrator, "begin")
    def _begin(conn):  # noqa: ANN001
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return migrator


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


SECRET_FILE = "lab-secret"  # in the data folder, readable by the lab's user only


def server_secret(data_dir: Path) -> bytes:
    """The lab's own secret, made once per data folder (32 random bytes, kept across restarts
    so that open forms stay valid): it keys the form tokens, so no one who lacks it can make
    one, whatever cookie they manage to plant."""
    path = data_dir / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    try:
        text = path.read_text(encoding="ascii").strip()
        secret = bytes.fromhex(text)
    except (OSError, ValueError) as exc:
        raise VoicesimError(f"{path}: cannot read the lab's secret ({exc})") from None
    if len(secret) < 16:
        raise VoicesimError(f"{path}: the lab's secret is too short; delete the file to renew it")
    return secret


class Store:
    """The database plus the data folder where uploaded sessions are kept."""

    def __init__(self, data_dir: str | Path, database_url: str | None = None):
        self.data_dir = Path(data_dir).resolve()
        self.sessions_dir = self.data_dir / "sessions"
        self.sessions_dir.mkdir(parents=True, exist_ok=True)
        self.url = database_url or f"sqlite:///{self.data_dir / 'lab.db'}"
        self.engine = make_engine(self.url)
        migrate(self.engine)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        self.secret = server_secret(self.data_dir)

    def session_path(self, upload: Upload) -> Path:
        # storage_id is generated by the server (uuid4 hex) and checked again here.
        sid = upload.storage_id
        if not (len(sid) == 32 and all(c in "0123456789abcdef" for c in sid)):
            raise ValueError("bad storage id")
        return self.sessions_dir / sid

    def close(self) -> None:
        self.engine.dispose()


# -- passwords and tokens -----------------------------------------------------------------------
_hasher = PasswordHasher()
# Each hash takes tens of MiB and a core for a moment: at most this many run at once, however
# many sign-ins arrive together (the rest wait their turn), so memory stays bounded.
MAX_HASHING = max(1, min(4, os.cpu_count() or 1))
_hashing = threading.BoundedSemaphore(MAX_HASHING)

MIN_PASSWORD = 8
# The most used passwords of 8+ characters (public breach lists): refused outright.
COMMON_PASSWORDS = frozenset(
    """password password1 password12 password123 password1234 passw0rd p@ssw0rd p@ssword
    iloveyou iloveyou1 sunshine sunshine1 princess princess1 football football1 baseball
    welcome welcome1 welcome123 qwertyuiop qwerty123 qwerty1234 1q2w3e4r 1q2w3e4r5t 1qaz2wsx
    zaq12wsx abc12345 abcd1234 abcdefgh letmein1 trustno1 superman batman123 dragon123
    monkey123 master123 shadow123 michael1 jennifer charlie1 computer internet whatever
    starwars mustang1 liverpool chelsea1 arsenal1 changeme changeme1 administrator admin123
    admin1234 secret123 default1 training trainee1 trainer1 voicesim letmein123 asdfghjkl
    asdfasdf zxcvbnm1 zxcvbnm123 q1w2e3r4 qazwsxedc 11111111 12341234 87654321 123123123
    passwort motdepasse contrasena""".split()
)
_SEQUENCES = ("abcdefghijklmnopqrstuvwxyz", "0123456789", "qwertyuiop", "asdfghjkl", "zxcvbnm")


class WeakPassword(ValueError):
    """A new password that the lab refuses (too short, too common, the user's name...)."""


class NameTaken(ValueError):
    """A new user name that is, or reads as, an existing one (see ``name_key``)."""


def find_user(db: Session, username: str) -> User | None:
    """The user a name means, whatever its case or trailing dots (the exact name first: of
    names that read alike from before revision 0008, each still finds its own account)."""
    exact = db.scalar(select(User).where(User.username == username))
    return exact or db.scalar(select(User).where(User.name_key == name_key(username)))


def password_problem(password: str, username: str = "") -> str | None:
    """Why ``password`` is too weak for a lab account, or None. The one rule for every place
    that sets a password: the API, the pages and the ``lab`` commands."""
    low = password.lower()
    if len(password) < MIN_PASSWORD:
        return f"a password needs at least {MIN_PASSWORD} characters"
    if password.isdigit():
        return "a password of digits only is guessed quickly; use words or mixed characters"
    if len(set(low)) < 4:
        return "a password needs at least 4 different characters"
    if low in COMMON_PASSWORDS or any(low in s or low in s[::-1] for s in _SEQUENCES):
        return "that password is one of the most common ones; choose another"
    if len(username) >= 3 and username.lower() in low:
        return "a password must not contain the user name"
    return None


def check_password(password: str, username: str = "") -> None:
    problem = password_problem(password, username)
    if problem:
        raise WeakPassword(problem)


def hash_password(password: str) -> str:
    with _hashing:
        return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    with _hashing:
        try:
            return _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# The stored hash of an account whose password is not chosen yet (a roster import's trainee
# before their welcome link): no password verifies against it.
NO_PASSWORD = "!no password yet"


def create_user(db: Session, username: str, password: str | None, role: str) -> User:
    """A new user; ``password`` None: none yet (nothing signs in until one is set)."""
    if role not in (TRAINER, TRAINEE):
        raise ValueError(f"unknown role {role!r}")
    key = name_key(username)
    if not key:
        raise NameTaken(f"user name {username!r} needs a letter or a digit")
    taken = find_user(db, username)
    if taken is not None:
        raise NameTaken(
            f"user name {username!r} is taken: it reads as the existing {taken.username!r} "
            "(names are compared ignoring case and the dots, dashes and underscores around them)"
        )
    if password is not None:
        check_password(password, username)
    stored = NO_PASSWORD if password is None else hash_password(password)
    user = User(username=username, name_key=key, role=role, password_hash=stored)
    db.add(user)
    db.flush()
    return user


def change_password(db: Session, user: User, password: str) -> None:
    """A new password; every token the user holds stops working."""
    check_password(password, user.username)
    user.password_hash = hash_password(password)
    for token in db.scalars(select(Token).where(Token.user_id == user.id)):
        db.delete(token)
    db.flush()


def authenticate(db: Session, username: str, password: str) -> User | None:
    user = find_user(db, username)
    if user is None or user.password_hash == NO_PASSWORD:
        hash_password(password)  # same work either way
        return None
    return user if verify_password(user.password_hash, password) else None


def issue_token(
    db: Session, user: User, ttl: _dt.timedelta = TOKEN_TTL
) -> tuple[str, _dt.datetime]:
    token = secrets.token_urlsafe(32)
    expires = utcnow() + ttl
    db.add(Token(token_hash=_token_digest(token), user_id=user.id, expires=expires))
    db.flush()
    return token, expires


def issue_welcome_link(
    db: Session, user: User, trainer: User, email: str | None, ttl: _dt.timedelta
) -> str:
    """A new one-time welcome link's secret for ``user`` (only its digest is stored)."""
    token = secrets.token_urlsafe(32)
    db.add(
        WelcomeLink(
            token_hash=_token_digest(token),
            user_id=user.id,
            email=email,
            created_by=trainer.id,
            expires=utcnow() + ttl,
        )
    )
    db.flush()
    return token


def welcome_link(db: Session, token: str) -> WelcomeLink | None:
    """The unused, unexpired welcome link this secret opens, while its user still has no
    password; None otherwise."""
    row = db.scalar(select(WelcomeLink).where(WelcomeLink.token_hash == _token_digest(token)))
    if row is None or row.used is not None or row.expires <= utcnow():
        return None
    user = db.get(User, row.user_id)
    # Once a password is set (by this link, another, or the trainer), the links are spent.
    return row if user is not None and user.password_hash == NO_PASSWORD else None


def user_for_token(db: Session, token: str) -> User | None:
    row = db.scalar(select(Token).where(Token.token_hash == _token_digest(token)))
    if row is None or row.expires <= utcnow():
        return None
    return db.get(User, row.user_id)


def revoke_token(db: Session, token: str) -> None:
    row = db.scalar(select(Token).where(Token.token_hash == _token_digest(token)))
    if row is not None:
        db.delete(row)
