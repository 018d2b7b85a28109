"""User-facing errors: each becomes one clear line on stderr and exit code 2, never a traceback."""

from __future__ import annotations


class VoicesimError(Exception):
    """A problem the user can fix (bad file, unknown name, missing library)."""

    exit_code = 2


class FileProblem(VoicesimError):
    """A file that is unreadable or breaks its format: ``FILE:LINE: field: what is wrong``."""

    def __init__(self, path: str, message: str, line: int | None = None, field: str | None = None):
        self.path, self.line, self.field, self.message = str(path), line, field, message
        where = self.path if line is None else f"{self.path}:{line}"
        what = f"{field}: {message}" if field else message
        super().__init__(f"{where}: {what}")


class ConfigError(FileProblem):
    """A persona, rubric or trainee-script file that is unreadable or breaks its schema."""


class SessionError(FileProblem):
    """A session file (events.jsonl, meta.json, scorecard.json) that is damaged, too large or
    of the wrong shape; the session reader refuses it rather than guessing."""


class TranscriptError(FileProblem):
    """A written call (plain text, WebVTT, SRT or JSON turns) that cannot be read or scored:
    not text, too large, an unknown speaker, a time that goes backwards, no agent turns."""


class AudioFileError(VoicesimError):
    """An audio file that cannot be read or holds no usable audio."""


class OutputError(VoicesimError):
    """A file that cannot be written: disk full, read-only, missing folder, no permission."""

    @classmethod
    def from_os(
        cls, exc: OSError, path: object = None, action: str = "cannot write"
    ) -> OutputError:
        """One line from an OSError: the file it concerns and the system's reason."""
        where = path or exc.filename
        reason = exc.strerror or str(exc) or type(exc).__name__
        if not where:
            return cls(f"{action} a file ({reason})" if action else f"a file: {reason}")
        return cls(f"{where}: {action} ({reason})" if action else f"{where}: {reason}")


class MissingDependencyError(VoicesimError):
    """A library or system package that is not installed."""
