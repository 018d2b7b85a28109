"""Text-to-speech for customer and simulated trainee voices, cached on disk by content.

Four engines: ``kokoro`` (Kokoro-82M, neural; a voice per persona blended from the shipped
style vectors, see kokoro.py: the customers), ``hibari`` (a small neural voice, one shipped
speaker: the simulated trainee), ``espeak`` (espeak-ng's command line, optional, robotic; a
system package) and ``system`` (the platform's own voices through pyttsx3, optional; see
system_voice.py). A rendered line is cached under its content hash, so a persona's lines cost
nothing after the first call.

The fast voices (``--voices fast`` or ``VOICESIM_VOICES=fast``) speak every Kokoro persona with
hibari instead, at the persona's own register, pitch, pace and pauses: about a fiftieth of
Kokoro's render time, for slow machines and for the tests that are not about the voices. The
system voices (``--voices system``) speak every persona with the platform's default voice at the
persona's pace and loudness.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..audio.formats import RATE, resample, trim_silence
from ..errors import MissingDependencyError, VoicesimError
from .options import VOICE_MODES

ENGINES = ("kokoro", "hibari", "espeak", "system")
DEFAULT_WPM = 170  # espeak-ng's own default pace is close to this
ESPEAK_RATE = 22_050  # espeak-ng's own output rate
ESPEAK_TIMEOUT_S = 60.0  # a line takes well under a second; more is a hung process
DEFAULT_PAUSE_S = 0.3  # between two sentences of a line (Kokoro; the others pause on their own)
ENDINGS = ("", "!", "?")  # how statements end: as written, emphatic, rising
HIBARI_RATE = 24_000
HEART_F0_HZ = 193.5  # hibari heart's median F0, measured as kokoro.BASE_F0_HZ
# A fast voice far below or above heart's pitch also moves its formants this share of the way
# (a larger or smaller speaker), within FORMANT_LIMITS: a man's pitch on a woman's vocal tract
# alone sounds like neither.
FORMANT_SHARE = 0.25
FORMANT_LIMITS = (0.85, 1.1)
VOICES_ENV = "VOICESIM_VOICES"
Blend = tuple[tuple[str, float], ...]  # (base voice, weight) pairs, sorted: hashable, cacheable


@dataclass(frozen=True)
class VoiceSettings:
    """How a line is spoken. ``rate`` is words per minute, ``pitch`` 0-100 (50: the voice's
    own), ``volume`` 0-1. Kokoro only: ``timbre`` / ``intonation`` blend the base voices into
    each half of the style vector, ``accent`` picks the G2P (us, gb). The prosody of one line,
    set from the customer's mood: ``pause_s`` between sentences, ``ending`` of statements,
    ``hesitant`` (trailing off between sentences, rising at the end)."""

    engine: str = "espeak"
    voice: str = "en-us"
    rate: float = DEFAULT_WPM
    pitch: float = 50
    volume: float = 1.0
    timbre: Blend = ()
    intonation: Blend = ()
    accent: str = "us"
    pause_s: float = DEFAULT_PAUSE_S
    ending: str = ""
    hesitant: bool = False

    def with_changes(self, **kw: float | str | bool) -> VoiceSettings:
        return VoiceSettings(**{**self.__dict__, **kw})

    def prosody(self) -> dict:
        """What the session records of a line's delivery."""
        return {
            "rate": round(self.rate, 1),
            "pitch": round(self.pitch, 1),
            "volume": round(self.volume, 3),
            "pause_s": round(self.pause_s, 3),
            "ending": self.ending or ".",
            "hesitant": self.hesitant,
        }

    def label(self) -> str:
        """``engine:voice`` with the blends, for listings."""
        blends = [
            f"{part} " + "+".join(f"{n}*{w:g}" for n, w in mix)
            for part, mix in (("timbre", self.timbre), ("intonation", self.intonation))
            if mix
        ]
        return f"{self.engine}:{self.voice}" + (f" ({', '.join(blends)})" if blends else "")

    @classmethod
    def from_config(cls, v: dict, engine: str = "espeak", volume: float = 1.0) -> VoiceSettings:
        """From a validated `voice:` mapping of a persona or script (see VOICE_SCHEMA)."""
        engine = v.get("engine", engine)
        return cls(
            engine=engine,
            voice=v.get("voice", DEFAULT_VOICES[engine]),
            rate=v.get("rate", DEFAULT_WPM),
            pitch=v.get("pitch", 50),
            volume=v.get("volume", volume),
            timbre=tuple(sorted(v.get("timbre", {}).items())),
            intonation=tuple(sorted(v.get("intonation", {}).items())),
            accent=v.get("accent", "us"),
        )


DEFAULT_VOICES = {"espeak": "en-us", "hibari": "heart", "kokoro": "jf_alpha", "system": "default"}


def spoken_sentences(text: str, s: VoiceSettings) -> list[str]:
    """The line's sentences as the voice says them: statements end emphatic ("!") or rising
    ("?") with the mood; a hesitant speaker trails off ("...") between sentences."""
    from hibari import Hibari

    sentences = [x.strip() for x in Hibari.split_sentences(text)] or [text.strip()]
    out = []
    for i, sent in enumerate(sentences):
        last = i == len(sentences) - 1
        if sent.endswith(".") and not sent.endswith(".."):
            if s.hesitant:
                sent = sent[:-1] + ("?" if last else "\u2026")
            elif s.ending:
                sent = sent[:-1] + s.ending
        out.append(sent)
    return out


@lru_cache(maxsize=1)
def _espeak_voices() -> tuple[frozenset[str], frozenset[str]] | None:
    """(voices, variants) that espeak-ng knows, lower-case; None without espeak-ng."""
    exe = shutil.which("espeak-ng") or shutil.which("espeak")
    if exe is None:
        return None
    try:
        listings = [
            subprocess.run(
                [exe, arg], capture_output=True, text=True, timeout=20, check=True
            ).stdout.splitlines()[1:]
            for arg in ("--voices", "--voices=variant")
        ]
    except (OSError, subprocess.SubprocessError):
        return None
    voices, variants = set(), set()
    for line in listings[0]:  # Pty Language Age/Gender VoiceName File ...
        cols = line.split()
        if len(cols) >= 5:
            voices.update(c.lower() for c in (cols[1], cols[3], cols[4]))
    for line in listings[1]:
        cols = line.split()
        if len(cols) >= 5:
            variants.update((cols[3].lower(), cols[4].removeprefix("!v/").lower()))
    return frozenset(voices), frozenset(variants)


def voice_problem(s: VoiceSettings) -> str | None:
    """Why ``s.voice`` cannot be spoken as named, or None. espeak-ng quietly falls back to its
    default voice for a name it does not know, so a typo would otherwise go unnoticed."""
    if s.engine == "kokoro":
        from .kokoro import voice_problem as kokoro_problem

        return kokoro_problem(s)
    if s.engine == "system":
        return None  # the platform's voices are known on the platform: rendering names them
    if s.engine == "hibari":
        try:
            from hibari.voices import VOICES, voice_path
        except ImportError:
            return None  # rendering says what to install
        offline = [v for v in VOICES if VOICES[v].get("bundled")]
        try:
            voice_path(s.voice, download_missing=False)
        except (ValueError, FileNotFoundError, OSError):
            return f"hibari has no voice {s.voice!r} here (available: {', '.join(offline)})"
        return None
    known = _espeak_voices()
    if known is None:
        return None  # no espeak-ng: rendering says what to install
    voices, variants = known
    name, _, variant = s.voice.partition("+")
    if name.lower() not in voices:
        return f"espeak-ng has no voice {name!r} (list them: espeak-ng --voices=en)"
    if variant and variant.lower() not in variants:
        return (
            f"espeak-ng has no voice variant {variant!r} (f1-f5, m1-m7 and more: "
            "espeak-ng --voices=variant)"
        )
    return None


_BLEND = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1},
}
VOICE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "engine": {"enum": list(ENGINES)},
        "voice": {"type": "string"},
        "rate": {"type": "number", "minimum": 80, "maximum": 400},  # words per minute
        "pitch": {"type": "number", "minimum": 0, "maximum": 100},
        "volume": {"type": "number", "minimum": 0, "maximum": 1},
        # Kokoro only: base voice -> weight for each half of the style vector (see kokoro.py).
        "timbre": _BLEND,
        "intonation": _BLEND,
        "accent": {"enum": ["us", "gb"]},
    },
}


def voices_mode(choice: str | None = None) -> str:
    """The voices a call speaks with: ``choice`` (the --voices option), else VOICESIM_VOICES,
    else each persona's own."""
    mode = choice or os.environ.get(VOICES_ENV) or "persona"
    if mode not in VOICE_MODES:
        raise VoicesimError(
            f"{VOICES_ENV}={mode!r} is not a choice of voices (choose {', '.join(VOICE_MODES)})"
        )
    return mode


def cache_dir() -> Path:
    root = os.environ.get("VOICESIM_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "voicesim"
    )
    return Path(root) / "tts"


class _Espeak:
    """espeak-ng's command line, one process per line.

    The library driven in-process (pyttsx3) synthesised on espeak's own thread: it crashed the
    process now and then (a segfault in the synthesis callback) and, under load, spoke a line at
    a previous line's pace. A process per line is synchronous and shares nothing, and its audio
    is bit-identical to what the library gives with the same settings.
    """

    def __init__(self) -> None:
        exe = shutil.which("espeak-ng")
        if exe is None:
            raise MissingDependencyError(
                "espeak-ng is not installed; install it: sudo apt-get install espeak-ng"
            )
        self.exe = exe

    def render(self, text: str, s: VoiceSettings) -> tuple[np.ndarray, int]:
        import soundfile as sf

        cmd = [
            self.exe,
            "-v",
            s.voice,
            "-s",
            str(int(round(s.rate))),
            "-p",
            str(int(round(s.pitch))),
            "-a",
            str(int(round(s.volume * 100))),
            "-b",
            "1",  # the text is UTF-8
            "--stdin",
            "--stdout",
        ]
        try:
            proc = subprocess.run(
                cmd, input=text.encode("utf-8"), capture_output=True, timeout=ESPEAK_TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            raise VoicesimError(
                f"espeak-ng took over {ESPEAK_TIMEOUT_S:g} s for the line {text[:60]!r}"
            ) from None
        if proc.returncode != 0:
            why = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            if any("voice does not exist" in line for line in why):
                raise VoicesimError(
                    f"espeak-ng has no voice named {s.voice!r} (see: espeak-ng --voices=en)"
                )
            raise VoicesimError(
                f"espeak-ng failed on the line {text[:60]!r}: {why[-1] if why else 'no message'}"
            )
        try:
            audio, rate = sf.read(io.BytesIO(proc.stdout), dtype="float32")
        except (sf.LibsndfileError, RuntimeError):
            audio, rate = np.zeros(0, np.float32), ESPEAK_RATE
        if audio.size == 0:
            raise VoicesimError(f"espeak-ng produced no audio for the line {text[:60]!r}")
        return audio, rate


class _Hibari:
    """The hibari neural voice (24 kHz). Rate maps to its speed factor; pitch scales the pitch
    track its vocoder is handed (Kokoro's scale: 12.5 points a semitone)."""

    def __init__(self, voice: str) -> None:
        try:
            from hibari import Hibari
        except ImportError as exc:
            raise MissingDependencyError(
                f"hibari-tts is not installed ({exc}); run: make setup"
            ) from None
        try:
            self.tts = Hibari(voice=voice, threads=1)
        except RuntimeError as exc:
            raise VoicesimError(
                f"hibari voice {voice!r} is not available offline ({exc})"
            ) from None
        import hibari

        self.version = getattr(hibari, "__version__", "hibari")
        self._lock = threading.Lock()  # shared by the synthesizers; G2P is not for two threads

    def render(self, text: str, s: VoiceSettings) -> tuple[np.ndarray, int]:
        pace = s.rate / DEFAULT_WPM
        if s.pitch == 50:  # the voice as it comes (the simulated trainees)
            with self._lock:
                audio = self.tts(text, speed=float(np.clip(pace, 0.5, 2.0)), seed=0)
        else:
            from .kokoro import pitch_factor

            audio = self.vocode([text], pace, pitch_factor(s.pitch))
        return np.asarray(audio * float(s.volume), dtype=np.float32), HIBARI_RATE

    def vocode(
        self,
        sentences: list[str],
        pace: float,
        f0_factor: float,
        formant: float = 1.0,
        pause_s: float = 0.0,
    ) -> np.ndarray:
        """Sentences at ``f0_factor`` times the voice's pitch, ``pause_s`` apart. The vocoder is
        handed the scaled pitch track, so the formants stay; ``formant`` then moves them too,
        by a resample that the model's pace is set to undo (as kokoro.Kokoro.render). Each
        sentence is trimmed to its speech first: hibari leaves 0.2-0.5 s of quiet at either
        end, which would make every pause a second long whatever the mood."""
        from hibari import dsp

        speed = np.asarray([np.clip(pace / formant, 0.5, 2.0)], np.float32)
        gap = np.zeros(int(pause_s * HIBARI_RATE * formant), np.float32)
        rng = np.random.default_rng(0)  # the noise of the vocoder: the same line, the same audio
        out: list[np.ndarray] = []
        for sentence in sentences:
            said = []
            with self._lock:
                phoneme_chunks = self.tts.phonemize(sentence)
            for phonemes in phoneme_chunks:
                ids = self.tts.ids(phonemes)
                if len(ids) < 3:
                    continue
                feed = {"ids": np.asarray([ids], np.int64), "speed": speed}
                run = self.tts.sess.run(None, feed)  # safe from two threads
                lh, th, ln, lr, phi, f0 = (o[0] for o in run)
                said.append(dsp.synth(lh, th, ln, lr, phi, f0 * (f0_factor / formant), rng))
            if said:
                out += [trim_silence(np.concatenate(said), HIBARI_RATE), gap]
        if not out:
            raise VoicesimError(f"the hibari voice produced no audio for {' '.join(sentences)!r}")
        audio = np.concatenate(out[:-1])
        if formant != 1.0:
            audio = resample(audio, int(round(HIBARI_RATE * formant)), HIBARI_RATE)
        return audio


class _Fast:
    """A Kokoro persona's fast voice: hibari's heart at the register the persona's blend has
    (kokoro.register_hz), with its pace, pauses and mood's sentence endings. A line renders in
    about a fiftieth of its length (Kokoro: half to once its length)."""

    def __init__(self, hibari: _Hibari) -> None:
        self.hibari = hibari

    @staticmethod
    def shape(s: VoiceSettings) -> tuple[float, float]:
        """(pitch factor, formant factor) against heart's own voice."""
        from .kokoro import register_hz

        f0_factor = register_hz(s) / HEART_F0_HZ
        return f0_factor, float(np.clip(f0_factor**FORMANT_SHARE, *FORMANT_LIMITS))

    def render(self, text: str, s: VoiceSettings) -> tuple[np.ndarray, int]:
        f0_factor, formant = self.shape(s)
        sentences = spoken_sentences(text, s)
        audio = self.hibari.vocode(sentences, s.rate / DEFAULT_WPM, f0_factor, formant, s.pause_s)
        return audio * float(s.volume), HIBARI_RATE


class _System:
    """The platform's own voices: SAPI5 on Windows and macOS's voices through pyttsx3 in a child
    process per line (system_voice.py); on Linux the platform's voice is espeak-ng, spoken by its
    command line, because pyttsx3's espeak driver returns no audio for some longer lines
    (measured here: one in six lines of 16 words, none of 20 short ones). The engines take pace
    and loudness; the sentence endings of a mood are written into the text."""

    def __init__(self) -> None:
        from . import system_voice

        self.espeak = _Espeak() if sys.platform.startswith("linux") else None
        if self.espeak is None and not system_voice.available():
            raise MissingDependencyError(
                f"the platform's voices need pyttsx3, an optional extra: "
                f"{system_voice.INSTALL_HINT}"
            )
        self.voice = system_voice

    def render(self, text: str, s: VoiceSettings) -> tuple[np.ndarray, int]:
        text = " ".join(spoken_sentences(text, s))
        if self.espeak is not None:
            name = DEFAULT_VOICES["espeak"] if s.voice == DEFAULT_VOICES["system"] else s.voice
            return self.espeak.render(text, s.with_changes(engine="espeak", voice=name))
        return self.voice.render(text, s.voice, s.rate, s.volume)


class _Kokoro:
    """Kokoro-82M (24 kHz): one model for every persona's voice, sentence by sentence."""

    def __init__(self) -> None:
        self.model = kokoro_model()

    def render(self, text: str, s: VoiceSettings) -> tuple[np.ndarray, int]:
        return self.model.render(spoken_sentences(text, s), s, s.rate / DEFAULT_WPM)

    def render_piece(self, piece: Piece, s: VoiceSettings) -> tuple[np.ndarray, int]:
        return self.model.render(list(piece.sentences), s, s.rate / DEFAULT_WPM, piece.after_pause)


# One thread per render: the call's pipeline (VAD, Whisper) has the other core.
KOKORO_THREADS = 1


def kokoro_model():
    """The process's one Kokoro model, its file joined into the cache folder on first use."""
    from .kokoro import shared

    return shared(cache_dir().parent / "kokoro", KOKORO_THREADS)


@lru_cache(maxsize=4)
def shared_hibari(voice: str) -> _Hibari:
    """The process's one instance of a hibari voice: its model and G2P load take about a
    second, which every call (a synthesizer each) would pay again; the trainee and the fast
    voices share it too."""
    return _Hibari(voice)


_Engine = _Espeak | _Hibari | _Kokoro | _Fast | _System
# The first piece of a line rendered in pieces has at least this many words: "Hi." alone would
# be over before the next sentence is rendered.
FIRST_PIECE_WORDS = 5
STREAMED_ENGINES = ("kokoro",)  # the fast voices render a whole line in tens of ms


@dataclass(frozen=True)
class Piece:
    """Part of a line that is rendered, cached and played on its own: a Kokoro line of several
    sentences is said sentence by sentence, the first played while the rest renders. A line in
    one piece (``whole``) is the line as written, cached as it always was."""

    sentences: tuple[str, ...]  # as spoken (spoken_sentences); the line's text when whole
    after_pause: bool = False  # starts with the pause after the piece before it
    whole: bool = False


def loudest(audio: np.ndarray, peak: float = 0.0) -> float:
    """The larger of ``peak`` and the loudest sample of ``audio``."""
    return max(peak, float(np.max(np.abs(audio)))) if audio.size else peak


def line_pieces(sentences: list[str], min_words: int = FIRST_PIECE_WORDS) -> list[Piece]:
    """A line's spoken sentences as pieces: the first has ``min_words`` words or more (short
    openers join the sentence after them), then one sentence each."""
    first = 1
    while first < len(sentences) and len(" ".join(sentences[:first]).split()) < min_words:
        first += 1
    rest = [Piece((x,), after_pause=True) for x in sentences[first:]]
    return [Piece(tuple(sentences[:first])), *rest]


class Synthesizer:
    """Renders text with any engine; results are cached on disk and trimmed to the speech.
    ``voices`` picks each persona's own voice or the fast ones (see ``voices_mode``)."""

    def __init__(self, cache: Path | None = None, voices: str | None = None) -> None:
        self.cache = cache or cache_dir()
        self.voices = voices_mode(voices)
        self._engines: dict[tuple[str, str], _Engine] = {}
        self._lock = threading.Lock()
        self._rendering: dict[Path, threading.Event] = {}  # pieces a thread is rendering now

    def engine_name(self, s: VoiceSettings) -> str:
        """The engine that speaks ``s`` here: ``fast`` for a Kokoro voice when the fast voices
        are chosen, ``system`` for every persona voice when the platform's are, else its own."""
        if self.voices == "fast" and s.engine == "kokoro":
            return "fast"
        if self.voices == "system" and s.engine != "hibari":
            return "system"
        return s.engine

    def spoken(self, s: VoiceSettings) -> VoiceSettings:
        """``s`` as the engine that speaks it here takes it (the platform's default voice for a
        persona voice of another engine under ``--voices system``)."""
        if self.engine_name(s) == "system" and s.engine != "system":
            return s.with_changes(engine="system", voice=DEFAULT_VOICES["system"])
        return s

    def describe(self, s: VoiceSettings) -> dict:
        """A voice as the session records it: its settings, and what spoke it if not itself."""
        out = asdict(s)
        if self.engine_name(s) == "fast":
            f0_factor, formant = _Fast.shape(s)
            out["spoken_by"] = {
                "engine": "hibari",
                "voice": DEFAULT_VOICES["hibari"],
                "voices": "fast",
                "pitch_hz": round(f0_factor * HEART_F0_HZ, 1),
                "formant": round(formant, 3),
            }
        elif self.engine_name(s) != s.engine:
            out["spoken_by"] = {
                "engine": "system",
                "voice": DEFAULT_VOICES["system"],
                "voices": self.voices,
            }
        return out

    def _engine(self, s: VoiceSettings) -> _Engine:
        if s.engine not in ENGINES:
            raise VoicesimError(
                f"unknown voice engine {s.engine!r} (choose from {', '.join(ENGINES)})"
            )
        name = self.engine_name(s)
        key = (name, s.voice if name == "hibari" else "")
        if key not in self._engines:
            if name == "espeak":
                self._engines[key] = _Espeak()
            elif name == "kokoro":
                self._engines[key] = _Kokoro()
            elif name == "system":
                self._engines[key] = _System()
            elif name == "fast":
                self._engines[key] = _Fast(self._hibari(DEFAULT_VOICES["hibari"]))
            else:
                self._engines[key] = self._hibari(s.voice)
        return self._engines[key]

    @staticmethod
    def _hibari(voice: str) -> _Hibari:
        return shared_hibari(voice)

    def _path(self, s: VoiceSettings, what: object) -> Path:
        """Where the audio of ``what`` (a line's text, or a piece) in voice ``s`` is cached."""
        key = hashlib.sha256(json.dumps([asdict(s), what], sort_keys=True).encode()).hexdigest()
        return self.cache / self.engine_name(s) / f"{key[:32]}.wav"

    @staticmethod
    def _read(path: Path) -> tuple[np.ndarray, int] | None:
        import soundfile as sf

        if path.exists():
            try:
                audio, rate = sf.read(str(path), dtype="float32")
                return audio, rate
            except (sf.LibsndfileError, RuntimeError):
                path.unlink(missing_ok=True)  # a torn cache entry: render again
        return None

    def _store(self, path: Path, audio: np.ndarray, rate: int) -> tuple[np.ndarray, int]:
        import soundfile as sf

        path.parent.mkdir(parents=True, exist_ok=True)
        # A name of its own: the background renderer may store the same line at the same time.
        tmp = path.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp.wav")
        sf.write(str(tmp), audio, rate, subtype="PCM_16")
        os.replace(tmp, path)
        # Read back what was stored: a cold and a warm cache must give bit-identical calls.
        audio, rate = sf.read(str(path), dtype="float32")
        return audio, rate

    def render_native(self, text: str, s: VoiceSettings) -> tuple[np.ndarray, int]:
        """The line at the engine's own rate, for playback at full quality."""
        s = self.spoken(s)
        path = self._path(s, text)
        found = self._read(path)
        if found is not None:
            return found
        engine = self.engine(s)
        if not isinstance(engine, _Kokoro | _Fast | _System) and (s.ending or s.hesitant):
            text = " ".join(spoken_sentences(text, s))  # these two shape each sentence
        return self._store(path, *engine.render(text, s))

    def engine(self, s: VoiceSettings) -> _Engine:
        """The engine that speaks ``s`` here, loaded once (engines render from any thread)."""
        with self._lock:
            return self._engine(s)

    # -- a line in pieces --------------------------------------------------------------------
    def streams(self, s: VoiceSettings) -> bool:
        """Does ``s`` render slowly enough here to be streamed and rendered ahead (Kokoro)?"""
        return self.engine_name(self.spoken(s)) in STREAMED_ENGINES

    def pieces(self, text: str, s: VoiceSettings) -> list[Piece]:
        """How the line is rendered: sentence by sentence for a streamed engine (Kokoro),
        else whole."""
        if self.streams(s):
            s = self.spoken(s)
            sentences = spoken_sentences(text, s)
            if len(line_pieces(sentences)) > 1:
                return line_pieces(sentences)
        return [Piece((text,), whole=True)]

    def _piece_path(self, piece: Piece, s: VoiceSettings) -> Path:
        s = self.spoken(s)
        if piece.whole:
            return self._path(s, piece.sentences[0])  # the line's own entry, as ever
        return self._path(s, {"sentences": list(piece.sentences), "after_pause": piece.after_pause})

    def cached(self, piece: Piece, s: VoiceSettings) -> bool:
        """Is the piece in the cache (rendering it costs a file read)?"""
        return self._piece_path(piece, s).exists()

    def piece_native(
        self, piece: Piece, s: VoiceSettings, share: bool = True
    ) -> tuple[np.ndarray, int]:
        """A piece at the engine's own rate, from the cache or rendered into it. ``share``: a
        piece another thread is rendering with ``share`` is waited for, not rendered twice
        (the low-priority renderer neither waits nor is waited for)."""
        if piece.whole:
            return self.render_native(piece.sentences[0], s)
        path = self._piece_path(piece, s)
        found = self._read(path)
        if found is not None:
            return found
        owner = False
        if share:
            with self._lock:
                busy = self._rendering.get(path)
                if busy is None:
                    self._rendering[path] = busy = threading.Event()
                    owner = True
            if not owner:
                busy.wait()
                found = self._read(path)
                if found is not None:
                    return found
        try:
            s = self.spoken(s)
            engine = self.engine(s)
            assert isinstance(engine, _Kokoro)  # pieces() splits lines of streamed engines only
            return self._store(path, *engine.render_piece(piece, s))
        finally:
            if owner:
                with self._lock:
                    del self._rendering[path]
                busy.set()

    def piece_audio(
        self, piece: Piece, s: VoiceSettings, first: bool, last: bool, peak: float = 0.0
    ) -> np.ndarray:
        """A piece in the analysis format, trimmed where the line is: the first piece at its
        start, the last at its end against ``peak``, the loudest sample of the line before it,
        so that the pieces joined are the line as one render would trim it."""
        audio, rate = self.piece_native(piece, s)
        return trim_silence(resample(audio, rate, RATE), lead=first, trail=last, peak=peak)

    def render(self, text: str, s: VoiceSettings) -> np.ndarray:
        """The line in the analysis format (16 kHz mono), trimmed to where speech is audible:
        its pieces joined, exactly as a line streamed piece by piece is heard."""
        pieces = self.pieces(text, s)
        out: list[np.ndarray] = []
        peak = 0.0
        for i, piece in enumerate(pieces):
            audio = self.piece_audio(piece, s, i == 0, i == len(pieces) - 1, peak)
            peak = loudest(audio, peak)
            out.append(audio)
        return out[0] if len(out) == 1 else np.concatenate(out)
