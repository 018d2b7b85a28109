"""The source-agnostic pipeline: frames in, timeline events out.

Given each frame (customer as played, microphone as captured) and the customer Playout, it
endpoints the trainee's speech, sends utterances to the transcriber worker, and measures overtalk
and dead air against the exact customer playback timeline. It never sleeps, never reads the
wall clock and never knows whether the call is live, simulated or recorded.
"""

from __future__ import annotations

import itertools
import queue
from dataclasses import dataclass, field, replace

import numpy as np

from ..audio.formats import RATE
from ..audio.playout import Clip, Playout
from ..audio.sources import Frame
from ..events import (
    CALL_SOUND,
    CUSTOMER_LINE_END,
    CUSTOMER_LINE_START,
    FINAL,
    OVERTALK,
    OVERTALK_START,
    SILENCE,
    SPEECH_END,
    SPEECH_START,
    Event,
)
from ..speech.transcriber import DeferredTranscriber, JobResult, TranscriberWorker
from ..speech.vad import Endpointer, Utterance, VadConfig


def sec(sample: int) -> float:
    return sample / RATE


@dataclass(eq=False)  # holds audio: compared by identity, never by value
class _Overlap:
    clip: Clip
    start: int
    by: str  # who started talking second: "trainee" (interruption) or "customer"
    announced: bool = False
    paused_at: int | None = None  # the trainee paused here; a quick resume continues the overlap


@dataclass(eq=False)
class Guess:
    """A speculative decode of the utterance under way, made while the trainee pauses."""

    key: int  # the worker's job key (negative)
    utterance: Utterance  # the utterance as it ends if no more speech comes (Endpointer.peek)
    result: JobResult | None = None

    @property
    def voiced_end(self) -> int:
        """Kept only if the utterance ends here: no more speech came."""
        return self.utterance.end


@dataclass(eq=False)  # holds audio (the last utterance's voice): compared by identity
class PipelineState:
    """What turn-taking needs to know, derived from the timeline."""

    last_customer_end: int = 0
    last_trainee_end: int = 0
    turn_utterances: list[int] = field(default_factory=list)  # utterance keys since last line
    turn_interrupted: bool = False
    turn_started: int | None = None  # onset of the trainee's first speech in this turn
    finals: dict[int, dict] = field(default_factory=dict)  # utterance key -> final event data
    answered: set[int] = field(default_factory=set)  # answered before their endpoint: not a turn
    last_voice: np.ndarray | None = None  # the last utterance's speech, for the end-of-turn cues


class Pipeline:
    def __init__(
        self,
        customer: Playout,
        worker: TranscriberWorker | DeferredTranscriber,
        vad: VadConfig | None = None,
        overtalk_min_s: float = 0.5,
        dead_air_s: float = 3.0,
        turn_gap_s: float = 1.0,
        speculate_s: float | None = None,
    ):
        self.customer = customer
        self.worker = worker
        self.endpointer = Endpointer(vad)
        self.overtalk_min = int(overtalk_min_s * RATE)
        self.dead_air = int(dead_air_s * RATE)
        self.turn_gap = int(turn_gap_s * RATE)  # a shorter pause does not end a trainee's overtalk
        self.state = PipelineState()
        self._onset: int | None = None
        self._overlaps: list[_Overlap] = []
        self._silence_from: int | None = None  # customer stopped here and nobody spoke since
        self._utterances: dict[int, Utterance] = {}
        # Decode the utterance under way once the trainee has paused this long, and keep the
        # transcript when the pause turns out to end it: the final comes as soon as the
        # endpointer's hangover has passed, not a decode later. None: no guesses (simulated
        # and recorded calls, whose clock waits for Whisper anyway).
        self.speculate = None if speculate_s is None else int(speculate_s * RATE)
        self._guess: Guess | None = None
        self._kept: dict[int, int] = {}  # guess key -> utterance index, result still to come
        self._guess_keys = itertools.count(-1, -1)
        self.guesses = {"made": 0, "kept": 0}
        self._playing: list[Clip] = []  # customer clips started and not yet ended
        self._sounded: list[Clip] = []  # call sounds already announced
        # Streamed lines started and still rendering: announced once their length is known.
        self._unannounced: list[Clip] = []
        self.position = 0

    # -- per frame ----------------------------------------------------------------------------
    def process(self, frame: Frame) -> list[Event]:
        events: list[Event] = []
        for clip in sorted(self.customer.clips, key=lambda c: c.start):
            if not frame.start <= clip.start < frame.end:
                continue
            if clip.sound is not None:  # heard and recorded, but not the customer talking
                if clip not in self._sounded:
                    self._sounded.append(clip)
                    events.append(Event(CALL_SOUND, sec(clip.start), self._sound_data(clip)))
            elif clip not in self._playing:
                self._playing.append(clip)
                events += self._customer_starts(clip)
        for vad_event in self.endpointer.process(frame.mic):
            if vad_event.kind == "start":
                events += self._speech_starts(vad_event.sample)
            else:
                events += self._speech_ends(vad_event.sample, vad_event.utterance)
        self._speculate()
        events += self._track_overlaps(frame.end)
        ending = [c for c in self._playing if c.end <= frame.end]
        for clip in [c for c in self._unannounced if c.more is None or c in ending]:
            self._unannounced.remove(clip)
            events.append(self._line_start(clip))
        for clip in ending:
            self._playing.remove(clip)  # a clip cut short (barge-in) ends here too
            events += self._customer_ends(clip)
        self.position = frame.end
        events += self.collect()
        return events

    @staticmethod
    def _sound_data(clip: Clip) -> dict:
        return {"sound": clip.sound, "end": round(sec(clip.start + clip.audio.size), 4)}

    def _customer_starts(self, clip: Clip) -> list[Event]:
        events = self._end_silence(clip.start)
        st = self.state
        if not clip.label.get("keeps_turn"):  # a cut-in does not end the trainee's turn
            st.turn_utterances = []
            st.turn_interrupted = False
            st.turn_started = None
        if self._onset is not None:  # the customer starts while the trainee is talking
            self._overlaps.append(_Overlap(clip, clip.start, "customer"))
        if clip.more is not None:  # still rendering (live): the start says where it ends
            self._unannounced.append(clip)
        else:
            events.append(self._line_start(clip))
        return events

    @staticmethod
    def _line_start(clip: Clip) -> Event:
        end = round(sec(clip.start + clip.audio.size), 4)
        return Event(CUSTOMER_LINE_START, sec(clip.start), {**clip.label, "end": end})

    def _customer_ends(self, clip: Clip) -> list[Event]:
        events = self._close_for_clip(clip)
        self.state.last_customer_end = clip.end
        if self._onset is None and self.customer.playing_at(clip.end) is None:
            self._silence_from = clip.end
        events.append(
            Event(
                CUSTOMER_LINE_END,
                sec(clip.end),
                {"line": clip.label.get("line"), "cut": clip.stop is not None},
            )
        )
        return events

    def _speech_starts(self, onset: int) -> list[Event]:
        events = self._end_silence(onset)
        self._onset = onset
        if self.state.turn_started is None:
            self.state.turn_started = onset
        clip = self.customer.playing_at(onset)
        if clip is not None:
            same = [ov for ov in self._overlaps if ov.clip is clip]
            resumed = [
                ov
                for ov in same
                if ov.paused_at is not None and onset - ov.paused_at <= self.turn_gap
            ]
            for ov in resumed:
                ov.paused_at = None  # one interruption, with a breath in it
            if not same:
                self._overlaps.append(_Overlap(clip, onset, "trainee"))
        events.append(Event(SPEECH_START, sec(onset), {"who": "trainee"}))
        return events

    def _speech_ends(self, end: int, utt: Utterance | None) -> list[Event]:
        for ov in self._overlaps:
            if ov.paused_at is None:
                ov.paused_at = min(end, ov.clip.end)
        self._onset = None
        st = self.state
        st.last_trainee_end = end
        data: dict = {"who": "trainee"}
        guess, self._guess = self._guess, None
        if utt is None:
            data["dropped"] = "too short"
            return [Event(SPEECH_END, sec(end), data)]
        self._utterances[utt.index] = utt
        if utt.index not in st.answered:
            st.turn_utterances.append(utt.index)
        st.last_voice = utt.voice
        data.update(utterance=utt.index, start=round(sec(utt.start), 4))
        events = [Event(SPEECH_END, sec(end), data)]
        if guess is not None and (guess.utterance.index, guess.voiced_end) == (utt.index, utt.end):
            self.guesses["kept"] += 1  # the trainee stayed silent: the guess is the final
            if guess.result is not None:
                events.append(self._final(replace(guess.result, key=utt.index)))
            else:
                self._kept[guess.key] = utt.index
        else:
            self.worker.submit(utt.index, utt.audio, sec(utt.audio_start))
        return events

    def _speculate(self) -> None:
        """Start a guess when the trainee has paused long enough (once per pause)."""
        ep = self.endpointer
        if self.speculate is None or not ep.in_speech:
            return
        voiced_end = ep.last_voiced_end
        if ep.position - voiced_end < self.speculate:
            return
        if self._guess is not None and self._guess.voiced_end == voiced_end:
            return  # this pause already has its guess
        utt = ep.peek()
        if utt is None:
            return
        self._guess = Guess(next(self._guess_keys), utt)
        self.guesses["made"] += 1
        self.worker.submit_speculative(self._guess.key, utt.audio, sec(utt.audio_start))

    # -- overtalk -----------------------------------------------------------------------------
    def _voiced_to(self, ov: _Overlap) -> int:
        return ov.paused_at if ov.paused_at is not None else self.endpointer.last_voiced_end

    def _track_overlaps(self, now: int) -> list[Event]:
        """Announce an overlap once both sides have talked together long enough; close an
        overlap once the trainee has paused for longer than a turn gap."""
        events: list[Event] = []
        for ov in self._overlaps:
            if (
                not ov.announced
                and min(self._voiced_to(ov), ov.clip.end, now) - ov.start >= self.overtalk_min
            ):
                events += self._announce(ov)
        done = [
            ov
            for ov in self._overlaps
            if ov.paused_at is not None and now - ov.paused_at > self.turn_gap
        ]
        for ov in done:
            events += self._close(ov, ov.paused_at)
        return events

    def _announce(self, ov: _Overlap) -> list[Event]:
        ov.announced = True
        if ov.by == "trainee":
            self.state.turn_interrupted = True
        return [Event(OVERTALK_START, sec(ov.start), {"by": ov.by})]

    def _close(self, ov: _Overlap, end: int) -> list[Event]:
        self._overlaps.remove(ov)
        if end - ov.start < self.overtalk_min:
            return []  # a brief overlap ("mm-hmm"): not overtalk
        events = [] if ov.announced else self._announce(ov)
        events.append(
            Event(
                OVERTALK,
                sec(ov.start),
                {
                    "by": ov.by,
                    "end": round(sec(end), 4),
                    "duration": round(sec(end - ov.start), 4),
                    "line": ov.clip.label.get("line"),
                },
            )
        )
        return events

    def _close_for_clip(self, clip: Clip) -> list[Event]:
        events: list[Event] = []
        for ov in [o for o in self._overlaps if o.clip is clip]:
            end = (
                ov.paused_at
                if ov.paused_at is not None
                else max(ov.start, min(clip.end, self.endpointer.last_voiced_end))
            )
            events += self._close(ov, end)
        return events

    # -- dead air -----------------------------------------------------------------------------
    def _end_silence(self, at: int) -> list[Event]:
        start, self._silence_from = self._silence_from, None
        if start is None or at - start < self.dead_air:
            return []
        return [
            Event(
                SILENCE,
                sec(start),
                {
                    "end": round(sec(at), 4),
                    "duration": round(sec(at - start), 4),
                    "after": "customer",
                },
            )
        ]

    # -- transcripts --------------------------------------------------------------------------
    def collect(self) -> list[Event]:
        """Turn finished transcriptions into final events (never waits)."""
        events: list[Event] = []
        while True:
            try:
                result = self.worker.results.get_nowait()
            except queue.Empty:
                return events
            if result.key >= 0:
                events.append(self._final(result))
            elif result.key in self._kept:  # a guess the endpoint proved right
                events.append(self._final(replace(result, key=self._kept.pop(result.key))))
            elif self._guess is not None and result.key == self._guess.key:
                self._guess.result = result  # the pause goes on: kept for when it ends
            # else: a guess the trainee's next words proved wrong; dropped

    def _final(self, result: JobResult) -> Event:
        utt = self._utterances.pop(result.key)
        data: dict = {"who": "trainee", "utterance": result.key, "end": round(sec(utt.end), 4)}
        if result.transcript is None:
            data.update(text="", words=[], error=result.error)
        else:
            # Whisper guesses word edges inside the padding; the VAD knows where speech was.
            lo, hi = sec(utt.start), sec(utt.end)
            words = []
            for w in result.transcript.words:
                start = min(max(w.start, lo), hi)
                words.append(
                    {
                        **w.to_dict(),
                        "start": round(start, 3),
                        "end": round(max(start, min(w.end, hi)), 3),
                    }
                )
            data.update(text=result.transcript.text, words=words)
        self.state.finals[result.key] = data
        return Event(FINAL, sec(utt.start), data)

    @property
    def trainee_onset(self) -> int | None:
        """Onset of the trainee speech under way, if any."""
        return self._onset

    @property
    def guess(self) -> Guess | None:
        """The decoded guess at the utterance under way, while the trainee's pause may still
        end it (the conductor may choose its reply from it as the hangover passes), else None."""
        g = self._guess
        if g is None or g.result is None or g.voiced_end != self.endpointer.last_voiced_end:
            return None
        return g

    @property
    def awaiting(self) -> int:
        """Utterances endpointed but not yet transcribed."""
        return len(self._utterances)

    def flush(self, at: int) -> list[Event]:
        """End of call: close open speech, overlaps and silence at sample ``at``."""
        events = [self._line_start(c) for c in self._unannounced]  # cut off mid-render
        self._unannounced = []
        for vad_event in self.endpointer.flush():
            events += self._speech_ends(vad_event.sample, vad_event.utterance)
        for ov in list(self._overlaps):
            events += self._close(ov, min(self._voiced_to(ov), ov.clip.end, at))
        events += self._end_silence(at)
        return events
