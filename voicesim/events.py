"""The one event model shared by live, simulated and recorded calls.

Every event sits on the call clock: seconds since the call started, derived from audio sample
counts. ``events.jsonl`` holds one ``Event.to_json()`` per line, appended as the call happens.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CALL_START = "call_start"
CALL_END = "call_end"
CUSTOMER_LINE_START = "customer_line_start"
CUSTOMER_LINE_END = "customer_line_end"
SPEECH_START = "speech_start"  # trainee voice activity starts (VAD)
SPEECH_END = "speech_end"
PARTIAL = "partial"  # transcript of an utterance still being spoken
FINAL = "final"  # final transcript of one endpointed utterance, with word times
OVERTALK_START = "overtalk_start"  # both sides talking for at least the minimum overlap
OVERTALK = "overtalk"  # one finished overtalk, with its start, end and who started it
SILENCE = "silence"  # dead air: nobody spoke for at least the threshold after the customer
MOOD = "mood"  # customer's mood after a trainee turn
SCORE = "score"  # the final scorecard summary
CALL_SOUND = "call_sound"  # a call sound the trainee heard (ring, connect, hangup), with its end
SCRIPTED = "scripted"  # a simulated trainee's line as played (the ground truth of a simulation)
GUIDANCE = "guidance"  # an in-call cue shown to the trainee, with its reason and evidence

TIME_DECIMALS = 4


@dataclass
class Event:
    """One thing that happened at ``t`` seconds on the call clock."""

    type: str
    t: float
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "t": round(self.t, TIME_DECIMALS), **self.data}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> Event:
        data = {k: v for k, v in obj.items() if k not in ("type", "t")}
        return cls(type=obj["type"], t=float(obj["t"]), data=data)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)


def read_events(path: str | Path) -> Iterator[Event]:
    """Read events.jsonl; a last line cut short by a crash is skipped, not fatal."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn write at a crash: everything before it still replays
            if isinstance(obj, dict) and "type" in obj and "t" in obj:
                yield Event.from_dict(obj)
