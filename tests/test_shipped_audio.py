"""The audio the product ships (audio/): the demo session opens, the demo recording scores."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import soundfile as sf

from voicesim.report.session import load_session, read_session

ROOT = Path(__file__).resolve().parents[1]
AUDIO = ROOT / "audio"


def test_the_demo_session_reads_with_the_strict_reader():
    session = read_session(AUDIO / "demo-session")
    assert session.meta["status"] == "complete"
    assert session.meta["end_state"] == "resolved"
    assert session.scorecard  # stored, not recomputed
    kinds = {e.type for e in session.events}
    assert {"call_start", "customer_line_start"} <= kinds
    # Paths in meta.json are the repository's, not the machine's that made it.
    assert not Path(session.meta["persona"]["file"]).is_absolute()
    assert load_session(AUDIO / "demo-session").scorecard
    assert (AUDIO / "demo-session" / "call.wav").stat().st_size < 2_000_000


def test_the_shipped_wavs_are_what_the_readme_says():
    demo = sf.info(str(AUDIO / "demo-call.wav"))
    assert (demo.samplerate, demo.channels) == (16_000, 2)
    assert 20 <= demo.duration <= 40
    assert (AUDIO / "demo-call.wav").stat().st_size < 1_500_000
    for name in ("ring", "connect", "hangup"):
        info = sf.info(str(AUDIO / "sounds" / f"{name}.wav"))
        assert (info.samplerate, info.channels) == (16_000, 1)
        assert 0.1 < info.duration <= 6.0


def test_the_demo_recording_scores(tmp_path):
    """The README's `voicesim score` example, as written."""
    out = tmp_path / "scored"
    proc = subprocess.run(
        [sys.executable, "-m", "voicesim", "score", "audio/demo-call.wav"]
        + ["--customer-channel", "left", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    scored = read_session(out)
    assert scored.scorecard
    assert (out / "report.html").exists()
    # Left is the customer, right the agent: each side's words land on the right speaker.
    agent = " ".join(e["text"] for e in scored.events if e.type == "final").lower()
    customer = " ".join(e["text"] for e in scored.events if e.type == "customer_line_start")
    assert "new blender" in agent
    assert "cracked" in customer.lower() and "cracked" not in agent
