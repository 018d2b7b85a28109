"""A customer line starts before it is rendered whole: streamed sentence by sentence, and the
likely next lines rendered ahead into the cache (speech/streaming.py).

The Kokoro voice is stood in for by a voice that renders each sentence as a tone of its own and
waits at a gate when told to, so that a test decides when each piece is rendered. The lines
and the moods come from a shipped persona; everything runs on the virtual clock."""

from __future__ import annotations

import threading
import zlib

import numpy as np
import pytest

from voicesim.audio.formats import RATE, resample, trim_silence
from voicesim.audio.playout import OPEN_END, Playout
from voicesim.audio.sources import SimulatedLine
from voicesim.events import CUSTOMER_LINE_END, CUSTOMER_LINE_START
from voicesim.persona.engine import DialogueEngine, TraineeTurn
from voicesim.persona.persona import find_persona, load_persona
from voicesim.rubric.rubric import load_rubric
from voicesim.session.call import Conductor
from voicesim.session.pipeline import Pipeline
from voicesim.speech import tts
from voicesim.speech.streaming import LineRenderer, Planned, Prerenderer
from voicesim.speech.transcriber import DeferredTranscriber
from voicesim.speech.tts import Synthesizer, VoiceSettings, line_pieces

SR = 24_000
VOICE = VoiceSettings("kokoro", "jf_alpha", 170, 50, 0.9)
LINE = "Hi. My blender came today. The jug is cracked down the side. I want it sorted out now."


class GatedVoice(tts._Kokoro):
    """A stand-in for Kokoro: each sentence a tone of its own (a quarter second a word), the
    line's pause between sentences. A sentence in ``hold`` waits for ``gate``; ``said`` lists
    every sentence rendered, ``entered`` is set when a held one starts."""

    def __init__(self) -> None:  # no model
        self.said: list[str] = []
        self.hold: set[str] = set()
        self.gate = threading.Event()
        self.entered = threading.Event()

    def _sentence(self, text: str) -> np.ndarray:
        if text in self.hold:
            self.entered.set()
            self.gate.wait()
        self.said.append(text)
        n = int(0.25 * SR * len(text.split()))
        f = 150 + zlib.crc32(text.encode()) % 300
        return (0.3 * np.sin(2 * np.pi * f * np.arange(n) / SR)).astype(np.float32)

    def _join(self, sentences, s: VoiceSettings, after_pause: bool) -> tuple[np.ndarray, int]:
        gap = np.zeros(int(s.pause_s * SR), np.float32)
        out = [gap] if after_pause else []
        for i, sentence in enumerate(sentences):
            out += ([gap] if i else []) + [self._sentence(sentence)]
        return np.concatenate(out) * s.volume, SR

    def render(self, text: str, s: VoiceSettings) -> tuple[np.ndarray, int]:
        return self._join(tts.spoken_sentences(text, s), s, False)

    def render_piece(self, piece: tts.Piece, s: VoiceSettings) -> tuple[np.ndarray, int]:
        return self._join(piece.sentences, s, piece.after_pause)


@pytest.fixture
def voice():
    return GatedVoice()


@pytest.fixture
def synth(tmp_path, voice):
    s = Synthesizer(cache=tmp_path / "cache", voices="persona")
    s._engines[("kokoro", "")] = voice
    return s


@pytest.fixture(scope="module")
def rubric():
    return load_rubric()


def test_a_line_is_cut_into_pieces_with_a_first_piece_long_enough_to_render_the_next():
    sentences = tts.spoken_sentences(LINE, VOICE)
    pieces = line_pieces(sentences)
    assert [p.sentences for p in pieces] == [
        ("Hi.", "My blender came today."),  # "Hi." alone is over before the next is ready
        ("The jug is cracked down the side.",),
        ("I want it sorted out now.",),
    ]
    assert [p.after_pause for p in pieces] == [False, True, True]
    assert line_pieces(["Hello there, I have a problem."]) == [
        tts.Piece(("Hello there, I have a problem.",))
    ]


def test_a_cache_miss_plays_its_first_piece_before_the_rest_is_rendered(synth, voice):
    voice.hold = {"The jug is cracked down the side."}
    renderer = LineRenderer(synth)
    customer = Playout()
    line = SimulatedLine(customer, Playout(), await_renders=False)  # plays as a device would
    r = renderer.stream(LINE, VOICE)
    first = r.first()
    clip = customer.schedule(0, first, more=r.more, line=0)
    assert not r.cached and clip.end == OPEN_END  # open: the rest of the line is to come
    heard = [line.read(480).customer for _ in range(first.size // 480)]
    assert voice.entered.wait(timeout=60) and voice.said == ["Hi.", "My blender came today."]
    played = np.concatenate(heard)
    assert np.array_equal(played, first[: played.size])  # the first piece, while the rest waits
    voice.gate.set()
    r.done.wait()
    while customer.streaming:
        line.read(480)
    # the rest followed seamlessly, and the line is the line as a whole render says it
    assert clip.end == clip.audio.size
    assert np.array_equal(clip.audio, synth.render(LINE, VOICE))
    assert voice.said[2:] == ["The jug is cracked down the side.", "I want it sorted out now."]


def test_the_pieces_joined_are_the_line_rendered_whole_but_at_the_joins(synth, voice):
    s = VOICE.with_changes(pitch=50, pause_s=0.3)
    joined = synth.render(LINE, s)
    native, rate = synth.render_native(LINE, s)  # the line in one piece, as before
    whole = trim_silence(resample(native, rate, RATE))
    assert abs(joined.size - whole.size) <= 2
    n = min(joined.size, whole.size)
    diff = np.abs(joined[:n] - whole[:n]) > 1e-3
    # where the pieces meet: the end of the first piece's sentence and the pauses
    first_end = int(0.25 * 4 * RATE)  # "Hi. My blender came today." without its pause
    assert not diff[: first_end - RATE // 100].any()  # the first piece: the same samples
    assert diff.mean() < 0.01  # all but a few ms around the joins


def test_a_prerendered_line_is_taken_from_the_cache_without_rendering(synth, voice):
    pre = Prerenderer(synth)
    try:
        pre.plan([Planned(LINE, VOICE)])
        assert pre.wait_idle()
    finally:
        pre.close()
    rendered = len(voice.said)
    assert rendered == 4 and pre.rendered == 3  # every sentence, in three pieces
    r = LineRenderer(synth).stream(LINE, VOICE)
    assert r.cached and r.done.is_set() and r.rendered == 0
    assert r.first_audio_s is not None and r.first_audio_s < 1.0  # a file read, not a render
    pieces, finished = r.more.take()
    assert finished and len(voice.said) == rendered  # nothing rendered again
    assert np.array_equal(np.concatenate([r.first(), *pieces]), synth.render(LINE, VOICE))


def test_the_first_pieces_of_every_likely_line_come_before_the_rest(synth, voice):
    other = "Thanks. That is all I needed to hear today. Goodbye now."
    done: list[tuple[str, int, bool]] = []
    pre = Prerenderer(synth, on_piece=lambda x, p, new: done.append((x.text, p.after_pause, new)))
    try:
        pre.plan([Planned(LINE, VOICE), Planned(other, VOICE), Planned(LINE, VOICE)])
        assert pre.wait_idle()
        first = [(LINE, False, True), (other, False, True)]
        assert done[:2] == first and all(after for _, after, _ in done[2:])
        assert len(done) == 5 and all(new for *_, new in done)  # the same line once
        pre.plan([Planned(other, VOICE)])  # planned again: in the cache already
        assert pre.wait_idle()
        assert done[5:] == [(other, False, False), (other, True, False)]
    finally:
        pre.close()


def _conductor(synth, rubric, turn: str, prerender: bool = False):
    """A conductor for damaged-blender (the stand-in voice) after its opening, and the reply
    ``turn`` would get (found on a copy of the engine)."""
    persona = load_persona(find_persona("damaged-blender"), set(rubric.library.detectors))
    persona.voice = VOICE
    engine = DialogueEngine(persona, rubric.library, seed=0)
    engine.opening()
    playout = Playout()
    pipe = Pipeline(playout, DeferredTranscriber(transcriber=None))  # no speech: never used
    conductor = Conductor(lambda: 0, engine, synth, playout, pipe, 1.0, prerender=prerender)
    probe = DialogueEngine(persona, rubric.library, seed=0)
    probe.restore(engine.snapshot())
    return engine, conductor, probe.respond(TraineeTurn(turn))


def test_cancelling_a_prepared_reply_cancels_its_pending_render(synth, voice, rubric):
    turn = "I'm so sorry, that must be really frustrating."
    engine, conductor, reply = _conductor(synth, rubric, turn)
    before = engine.snapshot()
    pieces = synth.pieces(reply.text, reply.voice)
    assert len(pieces) > 1, reply.text  # a line of several pieces
    voice.hold = {pieces[0].sentences[-1]}
    p = conductor._prepare(turn)
    assert p.line.text == reply.text
    assert voice.entered.wait(timeout=60)  # the first piece is rendering ...
    conductor._drop_prepared()  # ... when the trainee goes on
    voice.gate.set()
    assert p.rendering.done.wait(timeout=60)
    assert p.rendering.cancelled and p.rendering.rendered == 1  # the piece under way, no more
    assert voice.said == list(pieces[0].sentences)
    assert p.rendering.more.take() == ([], True)
    assert engine.mood == before["mood"] and engine.said == before["said"]
    conductor.close()


def test_the_next_reply_is_among_the_lines_the_engine_predicts(rubric):
    """The engine's prediction names the reply's very wording and voice (the seed's choice, the
    mood it leaves) for the turns a trainee who handles the call takes."""
    persona = load_persona(find_persona("damaged-blender"), set(rubric.library.detectors))
    engine = DialogueEngine(persona, rubric.library, seed=5)
    assert [(x.text, x.voice) for x in engine.likely_lines()][0][0] in persona.opening
    engine.opening()
    turns = [
        "I'm so sorry about the cracked jug, that must be really frustrating.",
        "Can you tell me what happened when you opened the box?",
        "I'll send you a new blender today and it will arrive within two days.",
        "Is there anything else I can help you with today?",
    ]
    for turn in turns:
        likely = [(x.text, x.voice) for x in engine.likely_lines()]
        said = engine.respond(TraineeTurn(turn))
        assert (said.text, said.voice) in likely[:6], (turn, said.text)  # of some 70
    assert engine.end_state == "resolved"
    assert engine.likely_lines() == []  # nothing after the goodbye


def test_a_streamed_line_is_announced_once_with_its_whole_length(synth, voice):
    """Live, the line starts while its rest renders: the session still has one line, whose
    start says where it ends."""
    voice.hold = {"I want it sorted out now."}
    customer = Playout()
    line = SimulatedLine(customer, Playout(), await_renders=False)
    pipe = Pipeline(customer, DeferredTranscriber(transcriber=None))
    r = LineRenderer(synth).stream(LINE, VOICE)
    customer.schedule(480, r.first(), more=r.more, line=0, text=LINE)
    events = []
    for _ in range(200):
        events += pipe.process(line.read(480))
    assert not [e for e in events if e.type == CUSTOMER_LINE_START]  # its end is not known yet
    voice.gate.set()
    r.done.wait()
    while not any(e.type == CUSTOMER_LINE_END for e in events):
        events += pipe.process(line.read(480))
    starts = [e for e in events if e.type == CUSTOMER_LINE_START]
    ends = [e for e in events if e.type == CUSTOMER_LINE_END]
    assert len(starts) == len(ends) == 1
    assert starts[0].t == 480 / RATE and starts[0]["end"] == ends[0].t
    assert events.index(starts[0]) < events.index(ends[0])


def test_a_streamed_voice_gives_the_same_call_from_a_cold_or_a_warm_cache(
    synth, voice, rubric, transcriber, tmp_path
):
    """The same seed, the same call and the same audio, whether the customer's lines were
    rendered during the call (streamed, and rendered ahead) or read from the cache."""
    import json

    import soundfile as sf

    from voicesim.events import read_events
    from voicesim.session.call import CallOptions
    from voicesim.session.script import find_script, load_script
    from voicesim.session.simulate import simulate

    persona = load_persona(find_persona("damaged-blender"), set(rubric.library.detectors))
    persona.voice = VOICE
    script = load_script(find_script("model-agent"))
    runs = []
    for name in ("cold", "warm"):
        options = CallOptions(seed=4, prerender=True)
        simulate(
            persona, script, rubric, tmp_path / name, options, transcriber=transcriber, synth=synth
        )
        events = [e.to_dict() for e in read_events(tmp_path / name / "events.jsonl")]
        audio, _ = sf.read(str(tmp_path / name / "call.wav"), dtype="float32")
        lines = json.loads((tmp_path / name / "meta.json").read_text())["turn_taking"]["lines"]
        runs.append((events, audio, lines))
    (cold, cold_audio, cold_lines), (warm, warm_audio, warm_lines) = runs
    assert cold == warm and np.array_equal(cold_audio, warm_audio)
    assert len(cold_lines) >= 4 and not cold_lines[0]["cached"]  # the opening: rendered then
    assert all(x["cached"] for x in warm_lines)
    starts = [e for e in cold if e["type"] == CUSTOMER_LINE_START]
    assert len(starts) == len(cold_lines) and any(x["pieces"] > 1 for x in cold_lines)


def test_personas_prerender_fills_the_cache_with_the_lines_of_each_mood(capsys, rubric):
    from voicesim.cli import main

    argv = ["personas", "prerender", "damaged-blender", "--voices", "fast"]
    assert main([*argv, "--moods", "0.5-0.7"]) == 0
    out = capsys.readouterr().out
    assert "lines at moods 0.5-0.7" in out and "pieces rendered" in out
    persona = load_persona(find_persona("damaged-blender"), set(rubric.library.detectors))
    synth = Synthesizer(voices="fast")
    engine = DialogueEngine(persona, rubric.library, seed=2)
    opening = engine.opening()  # at the start mood, 0.65
    empathy = engine.respond(TraineeTurn("I'm so sorry, that must be so frustrating."))
    for line in (opening, empathy):
        assert all(synth.cached(p, line.voice) for p in synth.pieces(line.text, line.voice))
    assert main([*argv, "--moods", "0.5-0.7"]) == 0  # again: nothing left to render
    assert "0 pieces rendered" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--moods", "0.9-0.2"])
    assert exc.value.code == 2
    assert "--moods: '0.9-0.2': expected LOW-HIGH" in capsys.readouterr().err


def test_a_partial_transcript_has_its_reply_rendered_ahead_first(synth, voice, rubric):
    """Live, the trainee's words so far (a partial transcript) name the reply they would get:
    its first piece renders at once, the call left as it was; asked for while it renders, the
    reply waits for that render instead of rendering it again."""
    turn = "I'm so sorry about the jug, that must be really frustrating"
    engine, conductor, reply = _conductor(synth, rubric, turn, prerender=True)
    conductor.prerenderer.close()  # only the guess renders here
    before = engine.snapshot()
    first = synth.pieces(reply.text, reply.voice)[0]
    voice.hold = {first.sentences[-1]}
    conductor.heard(turn)
    assert voice.entered.wait(timeout=60)  # the guess is rendering ...
    assert engine.snapshot()["mood"] == before["mood"] and engine.said == before["said"]
    r = conductor.renderer.stream(reply.text, reply.voice)  # ... when the reply is chosen
    assert not r.cached
    voice.gate.set()
    r.first()
    assert conductor.renderer.wait_warm(timeout=60)
    assert voice.said.count(first.sentences[-1]) == 1  # rendered once, by the guess
    assert conductor.renderer.stream(reply.text, reply.voice).cached
    conductor.close()
    conductor.join()
