"""End of turn: while the trainee pauses, is their turn over, from what was said and how?

A fixed pause makes every customer reply wait a full second; a person answers a finished turn
in a few hundred milliseconds and waits out a pause inside a sentence. Two kinds of cue decide:

* words (Whisper tiny.en's partial transcript): a trailing conjunction, preposition, article,
  filler, comma or "..." holds the turn; a question, a closing ("thank you", "anything else?")
  or a complete sentence ends it. Whisper often writes a full stop where the speaker only
  paused, so a full stop alone is weak evidence;
* voice (the last half second before the pause): pitch falling to the speaker's floor and
  energy fading end a turn; level or rising pitch without a question holds it. Praat's pitch
  tracker (parselmouth), about 3 ms for a second of audio.

The cues are combined by a small logistic model whose weights (``WEIGHTS``) were fitted on the
training half of the pause set (``tests/data/turns/pauses.jsonl``) by ``scripts/fit_turns.py``;
the other half is held out for ``benchmarks/bench_turns.py`` and the tests.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from ..audio.formats import RATE

CUES = ("text+voice", "text", "voice")

# Words after which a speaker is not done: conjunctions, articles and determiners, fillers.
# "so" is here, but not in "I think so" (see _FINAL_SO).
HOLD_WORDS = frozenset(
    """and but or so because cause cos 'cause if whereas although unless than that which whose
    whether the a an your my our their his her its this these those some every each another
    um uh er erm uhm hmm mm ah eh""".split()
)
# Prepositions hold too, unless a sentence ends on one ("anything else I can help with?").
PREPOSITIONS = frozenset(
    """to for with of in on at from by about into onto over under after before through across
    between during without within via per like when while until then as""".split()
)
# Words that rarely end a turn but can: a subject or auxiliary left hanging ("I'll just...").
WEAK_HOLD_WORDS = frozenset(
    """i we you're we're i'm i'll we'll you'll i've we've i'd we'd it's is are was were be been
    will would can could should shall may might must have has had do does did just also really
    very going gonna want wanna need let let's get make mean know who where""".split()
)
_FINAL_SO = re.compile(r"\b(think|hope|guess|believe|said|say|be|do|did|so|and so on)\s+so\W*$")
_FINAL_LIKE = re.compile(r"\b(would|'d|you|we|i|they) like\W*$")
CLOSING = re.compile(
    r"(thank you|thanks|anything else|goodbye|bye|take care|have a (great|good|nice|lovely) "
    r"(day|one|evening|afternoon|weekend))\W*$"
)
QUESTION_START = frozenset(
    """what when where who whom whose why how which is are was were do does did can could will
    would should shall may have has am isn't aren't don't doesn't didn't can't won't what's
    where's who's how's when's why's""".split()
)
_WORD = re.compile(r"[a-z0-9']+")

# Fitted by scripts/fit_turns.py on the training half of tests/data/turns/pauses.jsonl
# (logistic regression; mid pauses weigh more than end pauses, as much as cross-validation on
# that half needs to keep cutting in on a pause for thought rare, so holding wins a close call).
# fmt: off
WEIGHTS: dict[str, dict[str, float]] = {
    "text+voice": {"bias": -1.68, "hold": -3.05, "weak_hold": -0.06, "question": 3.66, "closing": 0.0, "full_stop": -0.36, "no_punct": 0.52, "short": 3.1, "pitch_slope": 0.63, "pitch_final": -0.94, "pitch_floor": -0.75, "energy_drop": -0.7, "no_pitch": 0.0},
    "text": {"bias": -0.79, "hold": -2.12, "weak_hold": 0.01, "question": 2.97, "closing": 0.0, "full_stop": -0.13, "no_punct": 0.61, "short": 1.67},
    "voice": {"bias": -1.68, "pitch_slope": 0.45, "pitch_final": -0.98, "pitch_floor": -0.02, "energy_drop": -0.66, "no_pitch": 0.0},
}
# fmt: on

TEXT_FEATURES = ("hold", "weak_hold", "question", "closing", "full_stop", "no_punct", "short")
VOICE_FEATURES = ("pitch_slope", "pitch_final", "pitch_floor", "energy_drop", "no_pitch")

VOICE_WINDOW_S = 1.0  # pitch and energy are read from the last second before the pause
SLOPE_SPAN_S = 0.4  # the pitch movement is the slope over the last voiced 0.4 s
FRAME_S = 0.01


@dataclass
class TurnConfig:
    floor_s: float = 0.2  # never decide before this much silence
    threshold: float = 0.5  # P(turn over) at or above this: the turn is over
    fallback_s: float = 1.0  # the rubric's pause: after this much silence the turn is over anyway
    cues: str = "text+voice"  # or "text" / "voice" alone (for comparison in bench_turns)

    def validate(self) -> None:
        if self.cues not in CUES:
            raise ValueError(f"cues must be one of {', '.join(CUES)}")
        if not 0.0 <= self.floor_s <= self.fallback_s:
            raise ValueError("floor_s must be between 0 and fallback_s")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError("threshold must be between 0 and 1")


@dataclass
class TurnGuess:
    p_end: float  # 0..1, the chance that the turn is over
    reasons: list[str]  # short words, e.g. ["question", "falling pitch"], ["trailing 'and'"]
    features: dict[str, float] = field(default_factory=dict)  # what the model saw


def text_features(text: str) -> tuple[dict[str, float], list[str]]:
    """Cues from the end of a (partial, Whisper-written) transcript, and why."""
    t = (text or "").strip().lower().replace("\u2026", "...").replace("\u2019", "'")
    t = t.rstrip("\"')]} ")
    f = dict.fromkeys(TEXT_FEATURES, 0.0)
    words = _WORD.findall(t)
    if not words:
        return f, ["no words"]
    last = words[-1]
    mark = t[-1] if not t[-1].isalnum() else ""
    stop = mark in (".", "!", "?") and not t.endswith("..")
    reasons: list[str] = []
    if t.endswith("..") or mark == "-":
        f["hold"] = 1.0
        reasons.append("trailing '...'")
    elif mark in (",", ";", ":"):
        f["hold"] = 1.0
        reasons.append(f"trailing '{mark}'")
    elif (last in HOLD_WORDS and not (last == "so" and _FINAL_SO.search(t))) or (
        last in PREPOSITIONS and not stop and not (last == "like" and _FINAL_LIKE.search(t))
    ):
        f["hold"] = 1.0
        reasons.append(f"trailing '{last}'")
    elif last in WEAK_HOLD_WORDS or last in PREPOSITIONS:
        f["weak_hold"] = 1.0
        reasons.append(f"trailing '{last}'")
    if CLOSING.search(t):
        f["closing"] = 1.0
        reasons.append("closing")
    if mark == "?" or (
        not mark and words[0] in QUESTION_START and not f["hold"] and len(words) >= 3
    ):
        f["question"] = 1.0
        reasons.append("question")
    elif stop:
        f["full_stop"] = 1.0
        reasons.append("full stop")
    elif not mark:
        f["no_punct"] = 1.0
    if len(words) <= 2 and not f["hold"] and not f["weak_hold"]:
        f["short"] = 1.0
        reasons.append("short reply")
    return f, reasons


def _semitones(hz: np.ndarray) -> np.ndarray:
    return 12.0 * np.log2(hz / 100.0)


def voice_features(audio: np.ndarray, rate: int = RATE) -> tuple[dict[str, float], list[str]]:
    """Cues from the last second of speech: pitch movement and energy fading at the end."""
    f = dict.fromkeys(VOICE_FEATURES, 0.0)
    f["no_pitch"] = 1.0
    x = _clean(audio, rate)
    hop = max(1, int(FRAME_S * rate))
    if x.size < 10 * hop:
        return f, ["no voice"]
    n = x.size // hop
    frames = x[: n * hop].reshape(n, hop)
    db = 10.0 * np.log10(np.mean(np.square(frames, dtype=np.float64), axis=1) + 1e-12)
    loud = float(np.percentile(db, 95))
    voiced = np.flatnonzero(db > max(loud - 30.0, -70.0))
    if voiced.size < 10:
        return f, ["no voice"]
    end = int(voiced[-1]) + 1  # the last voiced frame: trailing silence is not speech
    start = max(0, end - int(VOICE_WINDOW_S / FRAME_S))
    seg_db = db[start:end]
    speech_db = seg_db[seg_db > loud - 30.0]
    tail_db = db[max(start, end - 10) : end]
    reasons: list[str] = []
    f["energy_drop"] = float(np.clip((np.mean(tail_db) - np.median(speech_db)) / 10.0, -2.0, 0.5))
    if f["energy_drop"] < -0.6:
        reasons.append("fading")
    t, hz = _pitch(x[start * hop : end * hop], rate)
    if hz.size >= 5:
        st = _semitones(hz)
        last_t = t[-1]
        near = t >= last_t - SLOPE_SPAN_S
        if near.sum() >= 4 and np.ptp(t[near]) > 0.05:
            slope = float(np.polyfit(t[near], st[near], 1)[0])  # semitones per second
        else:
            slope = 0.0
        final = float(np.mean(st[-3:]) - np.median(st))
        above_floor = float(np.mean(st[-3:]) - np.percentile(st, 10))
        f["no_pitch"] = 0.0
        f["pitch_slope"] = float(np.clip(slope / 20.0, -2.0, 2.0))
        f["pitch_final"] = float(np.clip(final / 4.0, -2.0, 2.0))
        f["pitch_floor"] = float(np.clip(above_floor / 4.0, 0.0, 2.0))
        if slope < -8.0 or final < -2.0:
            reasons.append("falling pitch")
        elif slope > 8.0 or final > 2.0:
            reasons.append("rising pitch")
        else:
            reasons.append("level pitch")
    else:
        reasons.append("no pitch")
    return f, reasons


def _clean(audio: np.ndarray | None, rate: int) -> np.ndarray:
    """Mono float64, finite, the last VOICE_WINDOW_S + 0.5 s: bad input becomes 'no voice'."""
    if audio is None or rate <= 0:
        return np.zeros(0)
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim > 1:
        x = x.mean(axis=tuple(range(1, x.ndim)))
    x = x.reshape(-1)[-int((VOICE_WINDOW_S + 0.5) * rate) :]
    return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)


def _pitch(x: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Voiced frame times (s) and F0 (Hz), Praat's autocorrelation tracker as in rubric.acoustic."""
    import parselmouth

    if x.size < int(0.1 * rate):
        return np.zeros(0), np.zeros(0)
    try:
        pitch = parselmouth.Sound(x, sampling_frequency=rate).to_pitch(
            time_step=FRAME_S, pitch_floor=75.0, pitch_ceiling=500.0
        )
    except parselmouth.PraatError:
        return np.zeros(0), np.zeros(0)
    hz = pitch.selected_array["frequency"]
    t = pitch.xs()
    keep = hz > 0
    return t[keep], hz[keep]


def combine(features: dict[str, float], cues: str = "text+voice") -> float:
    """P(turn over) from the features, with the fitted weights of this cue set."""
    w = WEIGHTS[cues]
    z = w["bias"] + sum(v * features.get(k, 0.0) for k, v in w.items() if k != "bias")
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


class TurnDetector:
    """Judge, during a pause, whether the trainee's turn is over (see the module docstring)."""

    def __init__(self, config: TurnConfig | None = None):
        self.config = config or TurnConfig()
        self.config.validate()

    def judge(self, text: str, audio: np.ndarray, rate: int = RATE) -> TurnGuess:
        """text: Whisper's transcript of the turn so far (any case, punctuation or none);
        audio: the trainee's audio up to the last voiced sample (at least its last ~1.5 s)."""
        cues = self.config.cues
        features: dict[str, float] = {}
        reasons: list[str] = []
        if cues != "voice":
            tf, tr = text_features(text if isinstance(text, str) else "")
            features.update(tf)
            reasons += tr
        if cues != "text":
            vf, vr = voice_features(audio, rate)
            features.update(vf)
            reasons += vr
        return TurnGuess(combine(features, cues), reasons, features)

    def over(self, guess: TurnGuess, silence_s: float) -> bool:
        """The turn is over: the floor has passed and the guess says so, or the fallback has."""
        c = self.config
        return silence_s >= c.fallback_s or (silence_s >= c.floor_s and guess.p_end >= c.threshold)
