"""User-facing errors: each becomes one clear line on stderr and exit code 2, never a traceback."""

from __future__ import annotations


class VoicesimError(Exception):
    """A problem the user can fix (bad file, unknown name, missing library)."""

    exit_code = 2


class ConfigError(VoicesimError):
    """A persona, rubric or trainee-script file that is unreadable or breaks its schema."""

    def __init__(self, path: str, message: str, line: int | None = None, field: str | None = None):
        self.path, self.line, self.field, self.message = str(path), line, field, message
        where = self.path if line is None else f"{self.path}:{line}"
        what = f"{field}: {message}" if field else message
        super().__init__(f"{where}: {what}")


class AudioFileError(VoicesimError):
    """An audio file that cannot be read or holds no usable audio."""


class MissingDependencyError(VoicesimError):
    """A library or system package that is not installed."""
