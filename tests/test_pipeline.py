"""Turn-taking measurements on scripted timelines: real speech on a virtual clock.

Each test schedules customer and trainee clips at known samples on a SimulatedLine and runs the
source-agnostic Pipeline over it, then checks the overtalk, dead-air and transcript events
against the schedule. No wall clock is involved, so the expected times are exact.
"""

from __future__ import annotations

import numpy as np
import pytest

from voicesim.audio.formats import RATE, load_audio, read_audio_file, resample, trim_silence
from voicesim.audio.playout import Playout
from voicesim.audio.sources import SimulatedLine
from voicesim.session.pipeline import Pipeline
from voicesim.speech.transcriber import TranscriberWorker

HOP = 480  # 30 ms frames, as the call loop uses


@pytest.fixture(scope="module")
def voices(shared_data):
    """Real speech clips: a long one for the customer, shorter ones for the trainee."""
    stereo, sr = read_audio_file(shared_data / "speech" / "stereo_diarization.wav")
    return {
        "customer_long": trim_silence(load_audio(shared_data / "speech" / "jfk.flac")),  # 10.9 s
        "left": trim_silence(resample(stereo[:, 0], sr)),  # 4.9 s
        "right": trim_silence(resample(stereo[:, 1], sr)),  # 2.2 s
    }


@pytest.fixture(scope="module")
def worker(transcriber):
    w = TranscriberWorker(transcriber)
    yield w
    w.close()


def run(worker, customer_clips, trainee_clips, seconds):
    """Play the schedule through the pipeline; return every event, transcripts included."""
    customer, trainee = Playout(), Playout()
    for at, audio in customer_clips:
        customer.schedule(int(at * RATE), audio, line=len(customer.clips))
    for at, audio in trainee_clips:
        trainee.schedule(int(at * RATE), audio)
    line = SimulatedLine(customer, trainee, seed=1)
    pipe = Pipeline(customer, worker, overtalk_min_s=0.5, dead_air_s=3.0, turn_gap_s=1.0)
    events = []
    while line.position < seconds * RATE:
        events += pipe.process(line.read(HOP))
    events += pipe.flush(line.position)
    worker.wait_idle(60)
    events += pipe.collect()
    return events


def of(events, kind):
    return [e for e in events if e.type == kind]


def test_trainee_interruption_is_one_overtalk_with_exact_onset(worker, voices):
    cust, tr = voices["customer_long"], voices["right"]
    events = run(worker, [(0.5, cust)], [(0.5 + 1.2, tr)], 14)
    ot = of(events, "overtalk")
    assert len(ot) == 1 and ot[0]["by"] == "trainee"
    assert abs(ot[0].t - 1.7) <= 0.1
    expected_end = 1.7 + tr.size / RATE  # the trainee stops before the customer does
    assert abs(ot[0]["end"] - expected_end) <= 0.15
    assert [e.t for e in of(events, "overtalk_start")] == [ot[0].t]


def test_reply_after_the_customer_is_neither_overtalk_nor_dead_air(worker, voices):
    cust, tr = voices["left"], voices["right"]
    end = 0.5 + cust.size / RATE
    events = run(worker, [(0.5, cust)], [(end + 0.4, tr)], end + 4)
    assert not of(events, "overtalk") and not of(events, "silence")
    finals = of(events, "final")
    assert finals and "horizon" in " ".join(f["text"].lower() for f in finals)


def test_late_reply_is_dead_air_of_the_right_length(worker, voices):
    cust, tr = voices["left"], voices["right"]
    end = 0.5 + cust.size / RATE
    events = run(worker, [(0.5, cust)], [(end + 4.0, tr)], end + 7.5)
    (silence,) = of(events, "silence")
    assert abs(silence.t - end) < 0.01  # starts exactly where the customer's audio ended
    assert abs(silence["duration"] - 4.0) <= 0.1


def test_customer_starting_over_the_trainee_is_overtalk_by_the_customer(worker, voices):
    tr, cust = voices["left"], voices["right"]
    events = run(worker, [(2.0, cust)], [(0.5, tr)], 7)
    (ot,) = of(events, "overtalk")
    assert ot["by"] == "customer"
    assert abs(ot.t - 2.0) < 1 / 100  # the customer's start is known to the sample


def test_brief_overlap_is_not_overtalk(worker, voices):
    cust = voices["customer_long"]
    blip = voices["right"][: int(0.3 * RATE)]
    events = run(worker, [(0.5, cust)], [(3.0, blip)], 12)
    assert not of(events, "overtalk") and not of(events, "overtalk_start")


def test_a_pause_inside_an_interruption_does_not_split_it(worker, voices):
    cust, tr = voices["customer_long"], voices["right"]
    second = 1.0 + tr.size / RATE + 0.6  # resume after a 0.6 s breath
    events = run(worker, [(0.5, cust)], [(1.0, tr), (second, tr)], 12)
    (ot,) = of(events, "overtalk")
    assert abs(ot.t - 1.0) <= 0.1
    assert ot["end"] >= second + tr.size / RATE - 0.15


def test_transcript_words_sit_on_the_call_clock(worker, voices):
    tr = voices["right"]
    events = run(worker, [], [(5.0, tr)], 8.5)
    (final,) = of(events, "final")
    starts = [w["start"] for w in final["words"]]
    assert starts == sorted(starts)
    assert 4.7 <= starts[0] <= 5.3 and final["words"][-1]["end"] <= 5.0 + tr.size / RATE + 0.3
    assert abs(final.t - 5.0) <= 0.1


def test_the_same_timeline_gives_the_same_events(worker, voices):
    cust, tr = voices["left"], voices["right"]
    a = run(worker, [(0.5, cust)], [(1.5, tr)], 7)
    b = run(worker, [(0.5, cust)], [(1.5, tr)], 7)
    assert [e.to_dict() for e in a] == [e.to_dict() for e in b]


def test_silence_only_gives_no_speech_events(worker):
    events = run(worker, [], [(1.0, np.zeros(RATE, dtype=np.float32))], 3)
    assert not of(events, "speech_start") and not of(events, "final")


def test_a_call_sound_is_heard_but_never_the_customer_talking(worker, voices):
    """The ring before the first line is on the customer channel (the trainee hears it), but
    speaking over it is no overtalk, and it starts no customer line and no dead air."""
    from voicesim.audio.callsounds import load_call_sounds
    from voicesim.events import CALL_SOUND

    sounds = load_call_sounds()
    customer, trainee = Playout(), Playout()
    ring = customer.schedule(int(0.5 * RATE), sounds.ring, sound="ring")
    customer.schedule(ring.end, voices["left"], line=0)
    trainee.schedule(int(0.8 * RATE), voices["right"][: int(1.5 * RATE)])  # "hello?" on the ring
    line = SimulatedLine(customer, trainee, seed=1)
    pipe = Pipeline(customer, worker, overtalk_min_s=0.5, dead_air_s=3.0, turn_gap_s=1.0)
    events = []
    while line.position < 10 * RATE:
        events += pipe.process(line.read(HOP))
    events += pipe.flush(line.position)
    worker.wait_idle(60)
    events += pipe.collect()
    (sound,) = of(events, CALL_SOUND)
    assert sound["sound"] == "ring" and (sound.t, sound["end"]) == (0.5, ring.end / RATE)
    assert [e["line"] for e in of(events, "customer_line_start")] == [0]
    assert of(events, "customer_line_start")[0].t == ring.end / RATE
    assert of(events, "speech_start") and of(events, "final")  # the trainee was heard ...
    assert not of(events, "overtalk") and not of(events, "overtalk_start")  # ... over no one
    assert customer.playing_at(int(1.0 * RATE)) is None  # the ring is not a line to barge in on
