"""Checking and unpacking an uploaded session archive, and the session digest used for dedup.

An upload is a zip or tar (optionally gzip) of one session directory. Members may sit at the top
level or inside one folder; only the known session files are accepted, as regular files with
plain names (no absolute paths, no ``..``, no links or devices), within a size budget. Files are
written by the server under a folder it names itself; nothing of a member's path is used beyond
matching it against the known names.
"""

from __future__ import annotations

import hashlib
import io
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from ..errors import VoicesimError
from ..report.session import LIMITS, SESSION_FILES

REQUIRED = "events.jsonl"
MAX_MEMBERS = 16  # the five session files, and the folders that hold them


class ArchiveError(VoicesimError, ValueError):
    """The upload is not an acceptable session archive (the message says why)."""


def member_limits(max_total: int) -> dict[str, int]:
    """The most bytes each session file may unpack to: the session reader's own limits for the
    JSON files (a small zip must not inflate into a huge events.jsonl), ``max_total`` for audio."""
    return {
        "events.jsonl": LIMITS.events_bytes,
        "meta.json": LIMITS.meta_bytes,
        "scorecard.json": LIMITS.scorecard_bytes,
        "report.html": max_total,
        "call.wav": max_total,
    }


def _member_name(raw: str) -> str:
    if "\\" in raw or "\x00" in raw:
        raise ArchiveError(f"bad member name {raw!r}")
    path = PurePosixPath(raw)
    if path.is_absolute() or raw.startswith("/"):
        raise ArchiveError(f"absolute path in archive: {raw!r}")
    parts = [p for p in path.parts if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ArchiveError(f"'..' in archive path: {raw!r}")
    if not parts or len(parts) > 2:
        raise ArchiveError(f"unexpected path in archive: {raw!r}")
    if parts[-1] not in SESSION_FILES:
        raise ArchiveError(f"not a session file: {raw!r} (allowed: {', '.join(SESSION_FILES)})")
    return "/".join(parts)


def read_archive(data: bytes, max_total: int) -> dict[str, bytes]:
    """The session files in ``data`` (zip or tar) by name; raises ArchiveError."""
    entries: list[tuple[str, int, object]] = []
    if data[:4] == b"PK\x03\x04":
        _zip_member_count(data)
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
            raise ArchiveError(f"not a valid zip file ({exc})") from None
        for info in zf.infolist():
            if info.is_dir():
                _dir_ok(info.filename)
                continue
            mode = (info.external_attr >> 16) & 0o170000
            if mode and mode != 0o100000:
                raise ArchiveError(f"not a regular file: {info.filename!r}")
            entries.append((_member_name(info.filename), info.file_size, info))

        def reader(info, limit):  # noqa: ANN001, ANN202
            with zf.open(info) as fh:
                return fh.read(limit + 1)
    else:
        try:
            tf = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")
        except (tarfile.TarError, EOFError, OSError):
            raise ArchiveError("not a zip or tar archive") from None
        members = []
        walked = 0
        try:
            # One header at a time, each checked as it comes: reaching the next header of a
            # compressed tar means inflating the member before it, so a flood of members, or
            # of zeros, stops at the first one past a limit (a running total of the sizes)
            # rather than after inflating them all.
            for m in tf:
                members.append(m)
                if len(members) > MAX_MEMBERS:
                    raise ArchiveError(f"more than {MAX_MEMBERS} members in the archive")
                if m.isreg():
                    _member_name(m.name)
                    walked += m.size
                    if walked > max_total:
                        raise ArchiveError(f"archive unpacks to more than {max_total} bytes")
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise ArchiveError(f"damaged tar archive ({exc})") from None
        for m in members:
            if m.isdir():
                _dir_ok(m.name)
                continue
            if not m.isreg():
                raise ArchiveError(f"not a regular file: {m.name!r}")
            entries.append((_member_name(m.name), m.size, m))

        def reader(m, limit):  # noqa: ANN001, ANN202
            fh = tf.extractfile(m)
            if fh is None:
                raise ArchiveError(f"not a regular file: {m.name!r}")
            return fh.read(limit + 1)

    if sum(size for _, size, _ in entries) > max_total:
        raise ArchiveError(f"archive unpacks to more than {max_total} bytes")
    tops = {name.split("/")[0] for name, _, _ in entries if "/" in name}
    if len(tops) > 1 or (tops and any("/" not in name for name, _, _ in entries)):
        raise ArchiveError("archive must hold one session (files at the top or in one folder)")
    files: dict[str, bytes] = {}
    total = 0
    limits = member_limits(max_total)
    seen: set[str] = set()
    for name, declared, _ in entries:
        base = name.rsplit("/", 1)[-1]
        if base in seen:
            raise ArchiveError(f"duplicate member {base!r}")
        seen.add(base)
        if declared > limits[base]:
            raise ArchiveError(f"{base} larger than {limits[base]} bytes")
    for name, _, ref in entries:
        base = name.rsplit("/", 1)[-1]
        budget = min(limits[base], max_total - total)
        try:  # the declared sizes may lie: read no more than what is left, whatever they say
            content = reader(ref, budget)
        except ArchiveError:
            raise
        except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, OSError) as exc:
            raise ArchiveError(f"{base}: damaged archive member ({exc})") from None
        except (NotImplementedError, RuntimeError) as exc:  # unknown compression, encryption
            raise ArchiveError(f"{base}: cannot unpack ({exc})") from None
        if len(content) > limits[base]:
            raise ArchiveError(f"{base} larger than {limits[base]} bytes")
        total += len(content)
        if total > max_total:
            raise ArchiveError(f"archive unpacks to more than {max_total} bytes")
        files[base] = content
    if REQUIRED not in files:
        raise ArchiveError("not a voicesim session: no events.jsonl in the archive")
    return files


def _zip_member_count(data: bytes) -> None:
    """Refuse a zip whose directory lists more than MAX_MEMBERS entries before Python builds an
    object for each (a 64 MB directory of tiny entries would cost gigabytes)."""
    try:
        end = zipfile._EndRecData(
            io.BytesIO(data)
        )  # the end-of-directory record, as zipfile reads it
    except (OSError, ValueError, struct.error):
        end = None
    if end is None:
        raise ArchiveError("not a valid zip file (no end of central directory)")
    if end[zipfile._ECD_ENTRIES_TOTAL] > MAX_MEMBERS:
        raise ArchiveError(f"more than {MAX_MEMBERS} members in the archive")


def _dir_ok(raw: str) -> None:
    parts = [p for p in PurePosixPath(raw).parts if p not in ("", ".")]
    if raw.startswith("/") or ".." in parts or len(parts) > 1:
        raise ArchiveError(f"unexpected folder in archive: {raw!r}")


def session_digest(files: dict[str, bytes]) -> str:
    """The session's identity: a hash of its events and meta (a re-packed upload hashes alike)."""
    h = hashlib.sha256()
    for name in ("meta.json", "events.jsonl"):
        content = files.get(name, b"")
        h.update(name.encode() + b"\0" + str(len(content)).encode() + b"\0" + content)
    return h.hexdigest()


def directory_files(session_dir: str | Path) -> dict[str, bytes]:
    d = Path(session_dir)
    if not d.is_dir():
        raise ArchiveError(f"{d}: no such session directory")
    try:
        return {n: (d / n).read_bytes() for n in SESSION_FILES if (d / n).is_file()}
    except OSError as exc:
        raise ArchiveError(f"{exc.filename or d}: cannot read ({exc.strerror or exc})") from None


def pack_session(session_dir: str | Path) -> tuple[bytes, str]:
    """(zip bytes, digest) of a session directory's files, for upload."""
    files = directory_files(session_dir)
    if REQUIRED not in files:
        raise ArchiveError(f"{session_dir}: not a voicesim session (no events.jsonl)")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            if name == "report.html":
                continue  # the server renders its own
            zf.writestr(name, content)
    return buf.getvalue(), session_digest(files)
