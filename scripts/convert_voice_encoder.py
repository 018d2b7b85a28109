"""Convert Resemblyzer's speaker encoder (Apache-2.0) to the NumPy weights voicesim ships.

Resemblyzer's wheel on the package index carries its trained weights (resemblyzer/pretrained.pt,
a PyTorch file in the legacy format), but the package requires torch and librosa at run time.
voicesim runs the same network (a 3-layer LSTM on 40 mel bands, then a linear layer) in NumPy
(voicesim/speech/speakers.py), so this script reads the file without torch and writes the
model's weights as float16 to voicesim/speech/models/voice_encoder.npz:

    pip download --no-deps --only-binary=:all: resemblyzer==0.1.4 -d /tmp/rz
    python scripts/convert_voice_encoder.py /tmp/rz/Resemblyzer-0.1.4-py3-none-any.whl
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import sys
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "voicesim" / "speech" / "models" / "voice_encoder.npz"
DTYPES = {"FloatStorage": np.float32, "LongStorage": np.int64, "IntStorage": np.int32}


class _Storage:
    def __init__(self, kind: str, key: str, numel: int):
        self.kind, self.key, self.numel = kind, key, numel
        self.data: np.ndarray | None = None


def _rebuild(storage: _Storage, offset: int, size: tuple, stride: tuple, *_: object) -> tuple:
    return (storage, offset, tuple(size), tuple(stride))


class _Unpickler(pickle.Unpickler):
    """Only what a legacy state dict holds: tensors, their storages, ordered dicts."""

    def find_class(self, module: str, name: str):  # noqa: ANN201
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return _rebuild
        if module == "torch" and name in DTYPES:
            return name
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        raise pickle.UnpicklingError(f"unexpected {module}.{name} in the weights file")

    def persistent_load(self, pid: tuple) -> _Storage:
        _, kind, key, _location, numel, *_ = pid
        return self.storages.setdefault(key, _Storage(kind, key, numel))


def read_legacy(fh: io.BufferedIOBase) -> dict:
    for _ in range(3):  # magic number, protocol version, system info
        pickle.load(fh)
    un = _Unpickler(fh)
    un.storages = {}
    obj = un.load()
    for key in pickle.load(fh):
        st = un.storages[key]
        numel = int(np.frombuffer(fh.read(8), "<i8")[0])
        dtype = np.dtype(DTYPES[st.kind]).newbyteorder("<")
        st.data = np.frombuffer(fh.read(numel * dtype.itemsize), dtype)
    return obj


def tensor(t: tuple) -> np.ndarray:
    storage, offset, size, stride = t
    item = storage.data.itemsize
    return np.lib.stride_tricks.as_strided(
        storage.data[offset:], shape=size, strides=[s * item for s in stride]
    ).copy()


def main() -> None:
    wheel = Path(sys.argv[1])
    with zipfile.ZipFile(wheel) as z:
        raw = z.read("resemblyzer/pretrained.pt")
        licence = next(n for n in z.namelist() if n.endswith("dist-info/LICENSE"))
        (OUT.parent / "LICENSE-resemblyzer.txt").write_bytes(z.read(licence))
    state = read_legacy(io.BytesIO(raw))["model_state"]
    weights = {
        k.replace(".", "_"): tensor(v).astype(np.float16)
        for k, v in state.items()
        if k.startswith(("lstm.", "linear."))  # not the training loss's similarity scale
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **weights)
    provenance = {
        "model": OUT.name,
        "sha256": hashlib.sha256(OUT.read_bytes()).hexdigest(),
        "bytes": OUT.stat().st_size,
        "made_by": "scripts/convert_voice_encoder.py",
        "source": {
            "package": "resemblyzer",
            "wheel": wheel.name,
            "wheel_sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
            "file": "resemblyzer/pretrained.pt",
            "file_sha256": hashlib.sha256(raw).hexdigest(),
            "model": "GE2E speaker encoder (3-layer LSTM, 256 units, 40 mel bands)",
            "licence": "Apache-2.0 (Copyright 2019 Resemble.AI; LICENSE-resemblyzer.txt)",
        },
        "conversion": "float32 -> float16; run in NumPy by voicesim/speech/speakers.py",
    }
    OUT.with_suffix(".json").write_text(json.dumps(provenance, indent=2) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.1f} MB, {len(weights)} arrays)")


if __name__ == "__main__":
    main()
