"""The platform's own voices through pyttsx3: SAPI5 on Windows, NSSpeechSynthesizer on macOS,
libespeak-ng on Linux. Optional (``pip install 'voicesim[system-voices]'``) and used only when
asked for: a persona's ``voice: {engine: system}`` or ``--voices system``.

Every line is spoken by a child process (``python -m voicesim.speech.system_voice``), as
espeak-ng's command line is. pyttsx3 drives the platform's engine on that engine's own thread;
in-process it crashed now and then (a segfault in espeak's synthesis callback) and, under load,
spoke a line at the previous line's pace. A child per line shares nothing with the call: a
crash there is one clear error here, never a lost session.

The platform engines take a pace (words per minute) and a volume; pitch and sentence endings
are theirs, so a persona's mood is heard in its pace and loudness only.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MissingDependencyError, VoicesimError

DEFAULT_VOICE = "default"  # the platform's own default voice
TIMEOUT_S = 60.0  # a line takes well under a second; more is a hung engine
INSTALL_HINT = "pip install 'voicesim[system-voices]'"


@dataclass(frozen=True)
class SystemVoice:
    id: str
    name: str
    languages: tuple[str, ...] = ()
    gender: str | None = None


def available() -> bool:
    return importlib.util.find_spec("pyttsx3") is not None


def _require() -> None:
    if not available():
        raise MissingDependencyError(
            f"the platform's voices need pyttsx3, an optional extra: {INSTALL_HINT}"
        )


def _child(request: dict) -> dict:
    """Run one request in a child process; its answer (JSON on its last stdout line)."""
    _require()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", __name__],
            input=json.dumps(request).encode("utf-8"),
            capture_output=True,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise VoicesimError(f"the platform's speech engine took over {TIMEOUT_S:g} s") from None
    if proc.returncode < 0:
        raise VoicesimError(
            f"the platform's speech engine crashed (signal {-proc.returncode}); "
            "choose another voice engine for this persona"
        )
    lines = proc.stdout.decode("utf-8", "replace").strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        answer = {}
    if proc.returncode != 0 or "error" in answer or not answer:
        why = (
            answer.get("error")
            or (proc.stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"])[-1]
        )
        raise VoicesimError(f"the platform's speech engine failed: {why}")
    return answer


def voices() -> list[SystemVoice]:
    """The voices the platform offers (a child process asks the engine)."""
    return [SystemVoice(**{**v, "languages": tuple(v["languages"])}) for v in _child({})["voices"]]


def render(text: str, voice: str, rate: float, volume: float) -> tuple[np.ndarray, int]:
    """``text`` spoken by the platform voice ``voice`` (its id, or a part of its name, or
    ``default``) at ``rate`` words per minute: mono float32 and its sample rate."""
    import soundfile as sf

    with tempfile.TemporaryDirectory(prefix="voicesim-system-") as tmp:
        # macOS writes AIFF whatever the name says; libsndfile reads either by its header.
        out = Path(tmp) / ("line.aiff" if sys.platform == "darwin" else "line.wav")
        _child({"text": text, "voice": voice, "rate": rate, "volume": volume, "out": str(out)})
        try:
            audio, sr = sf.read(str(out), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, OSError):
            raise VoicesimError(
                f"the platform's speech engine wrote no audio for the line {text[:60]!r}"
            ) from None
    audio = audio.mean(axis=1)
    if audio.size == 0:
        raise VoicesimError(
            f"the platform's speech engine wrote no audio for the line {text[:60]!r}"
        )
    return audio.astype(np.float32), int(sr)


# -- the child process ------------------------------------------------------------------------
def _pick(engine, wanted: str) -> str | None:  # noqa: ANN001 (a pyttsx3 engine)
    """The id of the platform voice ``wanted`` names (an id, or a part of a name)."""
    if wanted == DEFAULT_VOICE:
        return None
    listed = engine.getProperty("voices") or []
    low = wanted.lower()
    for match in (
        lambda v: v.id == wanted,
        lambda v: (v.name or "").lower() == low,
        lambda v: low in (v.name or "").lower() or low in v.id.lower(),
    ):
        hit = next((v for v in listed if match(v)), None)
        if hit is not None:
            return hit.id
    names = ", ".join(sorted({v.name for v in listed if v.name})[:12])
    raise LookupError(f"this platform has no voice {wanted!r} (some it has: {names})")


def _serve(request: dict) -> dict:
    import pyttsx3

    engine = pyttsx3.init()
    if "text" not in request:
        return {
            "voices": [
                {
                    "id": v.id,
                    "name": v.name or v.id,
                    "languages": [
                        x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x)
                        for x in (v.languages or [])
                    ],
                    "gender": v.gender,
                }
                for v in engine.getProperty("voices") or []
            ]
        }
    voice_id = _pick(engine, request["voice"])
    if voice_id is not None:
        engine.setProperty("voice", voice_id)
    engine.setProperty("rate", int(round(request["rate"])))
    engine.setProperty("volume", float(request["volume"]))
    engine.save_to_file(request["text"], request["out"])  # one file per run: see DESIGN's traps
    engine.runAndWait()
    return {"out": request["out"]}


def main() -> int:
    try:
        answer = _serve(json.loads(sys.stdin.read() or "{}"))
        code = 0
    except Exception as exc:  # noqa: BLE001 - the parent shows it as one line
        answer, code = {"error": f"{type(exc).__name__}: {exc}"}, 1
    print()  # pyttsx3 may print ("Audio saved to ..."): the answer is the last line
    print(json.dumps(answer))
    return code


if __name__ == "__main__":
    sys.exit(main())
