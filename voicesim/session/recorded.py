"""Scoring an existing two-sided call recording through the same pipeline as a live call.

The recording becomes a source: its trainee side is the "microphone"; its customer side is
endpointed and transcribed first, and each customer utterance becomes a clip on the customer
Playout, so overtalk and dead air are measured exactly as in a drill.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..audio.echo import remove_bleed
from ..audio.formats import RATE, read_audio_file, resample, to_mono
from ..audio.playout import Playout
from ..audio.recorder import SessionRecorder, write_json
from ..audio.sources import Frame
from ..errors import AudioFileError, VoicesimError
from ..rubric.rubric import Rubric
from ..rubric.sides import check_sides
from ..speech.transcriber import DeferredTranscriber, Transcriber, Transcript
from ..speech.vad import Endpointer, Utterance
from .call import CallOptions, CallResult, Listener, run_call, session_meta_recorded

CHANNELS = {"left": 0, "right": 1}
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au", ".caf", ".w64", ".opus"}


@dataclass(eq=False)  # holds audio: compared by identity, never by value
class Recording:
    customer: np.ndarray  # 16 kHz mono float32
    trainee: np.ndarray
    files: list[str]
    customer_channel: str | None  # for a stereo file
    split: dict | None = None  # a mono recording split by voice: how (mono.py)
    warnings: list[str] = field(default_factory=list)  # doubts found while loading

    @property
    def duration_s(self) -> float:
        return max(self.customer.size, self.trainee.size) / RATE


def _two_sides_hint() -> str:
    return (
        "voicesim needs the customer and the trainee apart: give a stereo recording with one "
        "side per channel (and --customer-channel left|right), or two mono files: "
        "voicesim score --customer CUSTOMER.wav --trainee TRAINEE.wav"
    )


def load_recording(
    path: str | Path | None = None,
    customer_channel: str = "left",
    customer_file: str | Path | None = None,
    trainee_file: str | Path | None = None,
    agent: str | None = None,
    transcriber: Transcriber | None = None,
) -> Recording:
    """A stereo file (one side per channel), two mono files, or a mono file split by voice
    (``agent``: which voice is the agent, "first" or "second"; None: decided from the words),
    at any rate, as 16 kHz sides."""
    if customer_channel not in CHANNELS:
        raise VoicesimError(f"unknown channel {customer_channel!r}: use left or right")
    if customer_file or trainee_file:
        if not (customer_file and trainee_file):
            raise VoicesimError("give both --customer and --trainee files, or one stereo recording")
        sides = []
        for f in (customer_file, trainee_file):
            data, rate = read_audio_file(f)
            if data.shape[1] > 1:
                data = to_mono(data)[:, None]  # a stereo side file: both channels are that side
            sides.append(resample(data[:, 0], rate))
        n = max(s.size for s in sides)
        customer, trainee = (np.pad(s, (0, n - s.size)) for s in sides)
        return Recording(customer, trainee, [str(customer_file), str(trainee_file)], None)
    data, rate = read_audio_file(path)
    if data.shape[1] == 1:
        return _split(resample(data[:, 0], rate), path, "mono", agent, transcriber, [])
    if data.shape[1] != 2:
        raise AudioFileError(
            f"{path} has {data.shape[1]} channels; expected 2 (one per side). {_two_sides_hint()}"
        )
    c = CHANNELS[customer_channel]
    customer, trainee = resample(data[:, c], rate), resample(data[:, 1 - c], rate)
    if same_voice(customer, trainee):
        said = (
            "both channels carry the same voice: this looks like a mono recording copied to "
            "stereo; scored as a mono recording"
        )
        mixed = resample(to_mono(data), rate)
        return _split(mixed, path, "mono (copied to stereo)", agent, transcriber, [said])
    return Recording(customer, trainee, [str(path)], customer_channel)


def _split(
    audio: np.ndarray,
    path: str | Path,
    what: str,
    agent: str | None,
    transcriber: Transcriber | None,
    warnings: list[str],
) -> Recording:
    """A mono recording as two sides, one voice each (see mono.py)."""
    from .mono import split_mono

    if audio.size < RATE // 2:
        raise AudioFileError(f"{path}: too short to be a call ({audio.size / RATE:.2f} s)")
    split = split_mono(audio, transcriber or Transcriber(), agent, what, str(path))
    return Recording(
        split.customer, split.trainee, [str(path)], None, split.info, warnings + split.warnings
    )


class RecordedLine:
    """A recording as a call source: frames until the audio runs out."""

    def __init__(self, recording: Recording):
        n = max(recording.customer.size, recording.trainee.size)
        self.customer = np.pad(recording.customer, (0, n - recording.customer.size))
        self.trainee = np.pad(recording.trainee, (0, n - recording.trainee.size))
        self.position = 0

    @property
    def exhausted(self) -> bool:
        return self.position >= self.trainee.size

    def read(self, n: int) -> Frame:
        a, b = self.position, self.position + n
        cust, mic = self.customer[a:b], self.trainee[a:b]
        if cust.size < n:  # the last frame: pad with silence
            cust, mic = np.pad(cust, (0, n - cust.size)), np.pad(mic, (0, n - mic.size))
        self.position = b
        return Frame(start=a, customer=cust, mic=mic)

    def play_floor(self) -> int:
        return self.position


def transcribe_side(
    side: np.ndarray, transcriber: Transcriber, options: CallOptions | None = None
) -> list[tuple[Utterance, Transcript]]:
    """One side of a call endpointed and transcribed, utterance by utterance (call-clock word
    times): how a recording's customer side is heard, and how the lab hears an upload's
    trainee side to check the words its events claim."""
    options = options or CallOptions()
    ep = Endpointer(options.vad)
    hop = RATE * options.frame_ms // 1000
    utterances = []
    for i in range(0, side.size, hop):
        utterances += [e.utterance for e in ep.process(side[i : i + hop]) if e.utterance]
    utterances += [e.utterance for e in ep.flush() if e.utterance]
    transcripts = transcriber.transcribe_many([(u.audio, u.audio_start / RATE) for u in utterances])
    return list(zip(utterances, transcripts, strict=True))


def customer_playout(
    customer: np.ndarray, transcriber: Transcriber, options: CallOptions
) -> Playout:
    """Endpoint and transcribe the customer side; each utterance is a clip on the timeline."""
    playout = Playout()
    for n, (u, tr) in enumerate(transcribe_side(customer, transcriber, options)):
        playout.schedule(
            u.start,
            customer[u.start : u.end],
            line=n,
            text=tr.text,
            reason="recorded",
            words=[w.to_dict() for w in tr.words],
        )
    return playout


SILENT_DBFS = -45.0  # a 30 ms frame quieter than this holds no voice
SILENT_MIN_S = 0.5  # a side with less voice than this is silent


FRAME = 480  # 30 ms at 16 kHz
SAME_VOICE_CORR = 0.9  # level envelopes of two channels that rise and fall together ...
SAME_VOICE_SPREAD_DB = 3.0  # ... a constant gain apart: one voice, not two people taking turns


def frame_db(side: np.ndarray, frame: int = FRAME) -> np.ndarray:
    """The level of each 30 ms frame, dBFS."""
    n = side.size // frame
    frames = side[: n * frame].astype(np.float64).reshape(n, frame)
    return 10 * np.log10(np.mean(frames * frames, axis=1) + 1e-12)


def voiced_seconds(side: np.ndarray, frame: int = FRAME) -> float:
    """Seconds of frames loud enough to hold a voice."""
    return float(np.sum(frame_db(side, frame) > SILENT_DBFS)) * frame / RATE


def same_voice(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two channels carry the same voice (a mono recording copied to stereo, maybe with
    another gain or filter): their levels rise and fall together, a constant number of dB apart.
    Two people on their own channels take turns, so the level difference swings with who talks,
    and bleed from the other side is far fainter than the voice itself."""
    n = min(a.size, b.size)
    ea, eb = frame_db(a[:n]), frame_db(b[:n])
    both = (ea > SILENT_DBFS) & (eb > SILENT_DBFS)
    if both.sum() * FRAME / RATE < SILENT_MIN_S:
        return False
    either = (ea > SILENT_DBFS) | (eb > SILENT_DBFS)
    if min(np.std(ea[either]), np.std(eb[either])) < SAME_VOICE_SPREAD_DB:
        return False  # a steady level (a tone, noise) neither rises nor falls: no voice to match
    corr = float(np.corrcoef(ea[either], eb[either])[0, 1])
    return corr >= SAME_VOICE_CORR and float(np.std(ea[both] - eb[both])) < SAME_VOICE_SPREAD_DB


def side_names(recording: Recording) -> tuple[str, str]:
    """How the user named the customer and the trainee side, for warnings."""
    if recording.split is not None:
        return "the customer's voice", "the agent's voice"
    if recording.customer_channel is None:
        return f"--customer {recording.files[0]}", f"--trainee {recording.files[-1]}"
    other = "right" if recording.customer_channel == "left" else "left"
    return (
        f"the customer channel ({recording.customer_channel})",
        f"the trainee channel ({other})",
    )


def clean_bleed(recording: Recording) -> tuple[Recording, dict]:
    """Each side with the other side's bleed removed (crosstalk, open headsets, echo), by the
    live drill's echo guard; and what was found, for ``meta.json``."""
    trainee, t_guard = remove_bleed(recording.trainee, recording.customer)
    customer, c_guard = remove_bleed(recording.customer, recording.trainee)

    def found(g) -> dict:  # noqa: ANN001
        return {
            "detected": g.detected_at is not None,
            "delay_ms": None if g.delay is None else round(g.delay * 1000 / RATE, 1),
            "suppressed_s": round(g.suppressed_s, 2),
        }

    cleaned = Recording(customer, trainee, recording.files, recording.customer_channel)
    return cleaned, {"customer_in_trainee": found(t_guard), "trainee_in_customer": found(c_guard)}


def score_recording(
    recording: Recording,
    rubric: Rubric,
    out_dir: str | Path,
    options: CallOptions | None = None,
    transcriber: Transcriber | None = None,
    listeners: list[Listener] = (),
) -> CallResult:
    """Score a recording and write its session directory (call.wav, events, scorecard)."""
    options = options or CallOptions()
    if transcriber is not None:  # meta.json names the model that transcribed the call
        options = replace(options, transcriber=transcriber.options)
    transcriber = transcriber or Transcriber(options.transcriber)
    if recording.duration_s < 0.5:
        raise AudioFileError(
            f"{', '.join(recording.files)}: too short to be a call ({recording.duration_s:.2f} s)"
        )
    cust_name, trainee_name = side_names(recording)
    warnings = recording.warnings + [
        f"{name} is silent: nothing on it sounds like a voice"
        for name, side in ((cust_name, recording.customer), (trainee_name, recording.trainee))
        if voiced_seconds(side) < SILENT_MIN_S
    ]
    if recording.split is None:
        recording, bleed = clean_bleed(recording)
    else:  # one voice per side by construction: no bleed to remove
        bleed = None
    playout = customer_playout(recording.customer, transcriber, options)
    worker = DeferredTranscriber(transcriber)  # no one answers the trainee: transcribe at the end
    recorder = SessionRecorder(out_dir)
    meta = session_meta_recorded(rubric, options, recording.files, recording.customer_channel)
    meta["source"]["bleed"] = bleed
    if recording.split is not None:
        meta["source"]["diarisation"] = recording.split
    try:
        result = run_call(
            RecordedLine(recording),
            playout,
            None,
            rubric,
            worker,
            None,
            recorder,
            meta,
            options,
            listeners=list(listeners),
            wait=None,
            start={"overlap": False} if recording.split is not None else None,
        )
    finally:
        worker.close()
    sides = check_sides(result.events, rubric.library)
    if sides.swapped:
        warnings.append(
            f"the sides look swapped: {trainee_name} talks like the customer (says 'my' "
            f"{sides.trainee_my} times, {sides.trainee_agent_lines} agent moves) and "
            f"{cust_name} like the agent ({sides.customer_agent_lines} lines with agent moves); "
            + (
                "try --agent-first or --agent-second"
                if recording.split
                else "check --customer-channel"
            )
        )
    result.scorecard.warnings = warnings
    # The call's own files are final once run_call returns; add what the checks found.
    final_meta = json.loads((result.session_dir / "meta.json").read_text(encoding="utf-8"))
    final_meta["source"]["sides"] = sides.to_dict()
    final_meta["warnings"] = warnings
    write_json(result.session_dir / "meta.json", final_meta)
    write_json(result.session_dir / "scorecard.json", result.scorecard.to_dict())
    return result


def find_recordings(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
    )
