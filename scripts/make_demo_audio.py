"""Make the audio the product ships in ``audio/``: the demo call and the call sounds.

    .venv/bin/python scripts/make_demo_audio.py          # writes audio/*.wav

* ``audio/demo-call.wav``: a short two-channel call (16 kHz, 16-bit, left the customer, right
  the agent) spoken by the project's own TTS (``voicesim.speech.tts``): espeak-ng for the
  customer, the hibari neural voice for the agent. The README's ``voicesim score`` example runs
  on it. Lines are laid end to end with short gaps, on one clock, with one backchannel of the
  agent over the customer so the scorer has an overlap to find.
* ``audio/demo-session/``: a finished simulated session, as
  ``voicesim simulate --persona damaged-blender --trainee scripts/demo-agent.yaml --seed 0``
  writes it, then ``voicesim report`` (report.html). The trainee is a two-turn version of the
  model agent so call.wav stays under 2 MB (model-agent's call is 63 s, 4 MB). The persona,
  rubric and script paths in meta.json are written relative to the repository, not this
  machine's checkout.
* ``voicesim/audio/sounds/{ring,connect,hangup}.wav`` (``audio/sounds`` links there, so an
  installed package has them): the call sounds the live drill plays (North American ringback
  440+480 Hz, a connect chirp, a disconnect tone), synthesised with numpy.

Everything here is made by this project (MIT). Rendering is deterministic for one TTS version:
hibari is seeded, espeak-ng is rule-based.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from voicesim.audio.formats import RATE, write_audio_file  # noqa: E402
from voicesim.speech.tts import Synthesizer, VoiceSettings  # noqa: E402

AUDIO = ROOT / "audio"
CUSTOMER = VoiceSettings(engine="espeak", voice="en-us+f3", rate=165, pitch=60, volume=0.9)
AGENT = VoiceSettings(engine="hibari", voice="heart", rate=170)
# (speaker, words, gap in seconds before the line). "~" lines overlap the previous line.
DIALOGUE = [
    ("agent", "Hello, thank you for calling. How can I help?", 0.3),
    ("customer", "Hi. My blender arrived today and the jug is cracked.", 0.5),
    ("agent", "I'm so sorry, that's really frustrating.", 0.5),
    ("agent", "I will send you a new blender today, and it arrives within two days.", 0.3),
    ("customer", "Okay, thank you.", 0.5),
    ("agent", "You're welcome. Is there anything else I can help with?", 0.4),
    ("customer", "No, that's all. Bye.", 0.5),
]
BACKCHANNEL = ("agent", "Right.", 1.5)  # said 1.5 s into the customer's first line
MAX_SECONDS = 23.0  # 16 kHz stereo 16-bit: 64 kB/s, so under 1.5 MB
PEAK = 0.89


def demo_call(synth: Synthesizer) -> np.ndarray:
    """(samples, 2) float32: left the customer, right the agent."""
    voices = {"customer": CUSTOMER, "agent": AGENT}
    clips: list[tuple[int, int, np.ndarray]] = []  # (channel, start sample, audio)
    t = 0
    first_customer = None
    for who, words, gap in DIALOGUE:
        audio = synth.render(words, voices[who])
        t += int(gap * RATE)
        clips.append((0 if who == "customer" else 1, t, audio))
        if who == "customer" and first_customer is None:
            first_customer = t
        t += len(audio)
    who, words, at = BACKCHANNEL
    clips.append((1, first_customer + int(at * RATE), synth.render(words, voices[who])))
    total = t + int(0.5 * RATE)
    if total > MAX_SECONDS * RATE:
        raise SystemExit(f"make_demo_audio: the call is {total / RATE:.1f} s, over {MAX_SECONDS}")
    out = np.zeros((total, 2), dtype=np.float32)
    for ch, start, audio in clips:
        out[start : start + len(audio), ch] += audio
    return np.clip(out * (PEAK / max(float(np.abs(out).max()), 1e-9)), -1, 1)


def tone(freqs: tuple[float, ...], seconds: float, level: float = 0.3) -> np.ndarray:
    """A sum of sines with 10 ms fades (no clicks)."""
    t = np.arange(int(seconds * RATE)) / RATE
    wave = sum(np.sin(2 * np.pi * f * t) for f in freqs) / len(freqs)
    ramp = min(len(t) // 2, int(0.01 * RATE))
    env = np.ones_like(t)
    env[:ramp] = np.linspace(0, 1, ramp)
    env[len(t) - ramp :] = np.linspace(1, 0, ramp)
    return (level * wave * env).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.float32)


def call_sounds() -> dict[str, np.ndarray]:
    """Ring (one ringback cadence: 2 s on, 4 s off), connect (a rising two-note chirp),
    hang-up (three bursts of the 480+620 Hz disconnect tone)."""
    return {
        "ring": np.concatenate([tone((440, 480), 2.0), silence(4.0)]),
        "connect": np.concatenate([tone((660,), 0.08), silence(0.04), tone((880,), 0.12)]),
        "hangup": np.concatenate([np.concatenate([tone((480, 620), 0.25), silence(0.25)])] * 3),
    }


def demo_session(out: Path) -> None:
    """Simulate the demo call into ``out`` and write its report."""
    if out.exists():
        shutil.rmtree(out)
    voicesim = [sys.executable, "-m", "voicesim"]
    trainee = "scripts/demo-agent.yaml"
    sim = ["simulate", "--persona", "damaged-blender", "--trainee", trainee, "--seed", "0"]
    subprocess.run([*voicesim, *sim, "--out", str(out)], cwd=ROOT, check=True)
    meta_file = out / "meta.json"
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    for section, key in (("persona", "file"), ("rubric", "file"), ("source", "script_file")):
        path = (meta.get(section) or {}).get(key)
        if path and Path(path).is_absolute() and Path(path).is_relative_to(ROOT):
            meta[section][key] = Path(path).relative_to(ROOT).as_posix()
    meta_file.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    subprocess.run([*voicesim, "report", str(out)], cwd=ROOT, check=True)


def main() -> None:
    synth = Synthesizer()
    call = demo_call(synth)
    write_audio_file(AUDIO / "demo-call.wav", call, RATE, subtype="PCM_16")
    print(f"audio/demo-call.wav: {len(call) / RATE:.1f} s stereo")
    sounds = ROOT / "voicesim" / "audio" / "sounds"
    sounds.mkdir(parents=True, exist_ok=True)
    for name, audio in call_sounds().items():
        write_audio_file(sounds / f"{name}.wav", audio, RATE, subtype="PCM_16")
        print(f"voicesim/audio/sounds/{name}.wav: {len(audio) / RATE:.2f} s")
    demo_session(AUDIO / "demo-session")


if __name__ == "__main__":
    main()
