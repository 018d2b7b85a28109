"""The lab's store: SQLAlchemy 2 models, the database, migrations, passwords and tokens.

Migrations are a small versioned schema table of our own (``lab_schema``, one row holding the
version) rather than Alembic: each entry of ``MIGRATIONS`` upgrades the schema by one version
inside a transaction, and ``migrate`` applies the missing ones in order. The same code runs on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import secrets
from collections.abc import Callable
from pathlib import Path

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
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

TRAINER, TRAINEE = "trainer", "trainee"
TOKEN_TTL = _dt.timedelta(hours=12)


def utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC).replace(tzinfo=None)  # stored naive, always UTC


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "lab_users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    created: Mapped[_dt.datetime] = mapped_column(DateTime, default=utcnow)


class Cohort(Base):
    __tablename__ = "lab_cohorts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
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
    created: Mapped[_dt.datetime] = mapped_column(DateTime, default=utcnow)


class Upload(Base):
    """An uploaded session, stored under DATA/sessions/<storage_id>."""

    __tablename__ = "lab_sessions"
    __table_args__ = (UniqueConstraint("owner_id", "digest"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("lab_users.id"), index=True)
    drill_id: Mapped[int | None] = mapped_column(
        ForeignKey("lab_drills.id"), nullable=True, index=True
    )
    digest: Mapped[str] = mapped_column(String(64))
    storage_id: Mapped[str] = mapped_column(String(32), unique=True)
    persona: Mapped[str] = mapped_column(String(120), default="")
    overall: Mapped[float] = mapped_column(Float)
    families: Mapped[dict] = mapped_column(JSON)
    passed: Mapped[bool] = mapped_column(Boolean)
    end_state: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created: Mapped[_dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)


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


class Token(Base):
    __tablename__ = "lab_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("lab_users.id"), index=True)
    expires: Mapped[_dt.datetime] = mapped_column(DateTime)


# -- migrations ---------------------------------------------------------------------------------
def _v1(conn: Connection) -> None:
    tables = [User, Cohort, Membership, Drill, Upload, Token]
    Base.metadata.create_all(conn, tables=[t.__table__ for t in tables])


def _v2(conn: Connection) -> None:
    """Per-family scores in their own table, filled in for the sessions already stored."""
    SessionScore.__table__.create(conn)
    rows = [
        {"upload_id": uid, "owner_id": owner, "family": fam, "score": float(score)}
        for uid, owner, fams in conn.execute(select(Upload.id, Upload.owner_id, Upload.families))
        for fam, score in (fams or {}).items()
    ]
    if rows:
        conn.execute(SessionScore.__table__.insert(), rows)


def _v3(conn: Connection) -> None:
    """Rubrics that trainers add, for their drills."""
    LabRubric.__table__.create(conn)


MIGRATIONS: list[Callable[[Connection], None]] = [_v1, _v2, _v3]
SCHEMA_VERSION = len(MIGRATIONS)

_schema = Table("lab_schema", MetaData(), Column("version", Integer))


def schema_version(engine: Engine) -> int:
    with engine.connect() as conn:
        _schema.create(conn, checkfirst=True)
        conn.commit()
        return conn.execute(select(_schema.c.version)).scalar() or 0


def migrate(engine: Engine) -> int:
    """Bring the schema up to SCHEMA_VERSION; returns the version now in the database."""
    current = schema_version(engine)
    for number in range(current, SCHEMA_VERSION):
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":  # one migrator at a time
                conn.execute(text("LOCK TABLE lab_schema IN EXCLUSIVE MODE"))
            have = conn.execute(select(_schema.c.version)).scalar() or 0
            if have > number:
                continue
            MIGRATIONS[number](conn)
            conn.execute(_schema.delete())
            conn.execute(_schema.insert().values(version=number + 1))
    return schema_version(engine)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


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


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(db: Session, username: str, password: str, role: str) -> User:
    if role not in (TRAINER, TRAINEE):
        raise ValueError(f"unknown role {role!r}")
    user = User(username=username, role=role, password_hash=hash_password(password))
    db.add(user)
    db.flush()
    return user


def change_password(db: Session, user: User, password: str) -> None:
    """A new password; every token the user holds stops working."""
    user.password_hash = hash_password(password)
    for token in db.scalars(select(Token).where(Token.user_id == user.id)):
        db.delete(token)
    db.flush()


def authenticate(db: Session, username: str, password: str) -> User | None:
    user = db.scalar(select(User).where(User.username == username))
    if user is None:
        _hasher.hash(password)  # same work either way
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


def user_for_token(db: Session, token: str) -> User | None:
    row = db.scalar(select(Token).where(Token.token_hash == _token_digest(token)))
    if row is None or row.expires <= utcnow():
        return None
    return db.get(User, row.user_id)


def revoke_token(db: Session, token: str) -> None:
    row = db.scalar(select(Token).where(Token.token_hash == _token_digest(token)))
    if row is not None:
        db.delete(row)
