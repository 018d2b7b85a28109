"""Which side of a recording sounds like the agent: a check that the channels were not swapped.

A recording names its sides by channel (``--customer-channel``); given the wrong one, the
customer is graded as the trainee. Who speaks first or who talks more cannot tell them apart (a
real agent answers the phone first, a simulated customer opens the call; either may talk more).
What does tell them apart is what each side says, by two independent cues:

* the customer talks about *their* things: "my order", "my broadband", "my bill". An agent
  hardly ever says "my" (measured on the shipped scripts' calls: customers 1-12 % of their
  words, agents 0 % in 30 of 33 calls);
* the agent makes agent moves (the move recogniser's apology, reflecting back, a fix, a time
  frame, a follow-up, a close). The recogniser reads customers too loosely to trust alone
  ("I'll take my business elsewhere" reads as ownership), and a poor trainee makes few.

The sides are called swapped only when both cues point the other way and each has some weight
(``MIN_EVIDENCE``): a bad trainee with no agent moves, or one "it's not my fault", trips neither.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..events import CUSTOMER_LINE_START, FINAL, Event
from .detectors import DetectorLibrary

# Moves an agent makes and a complaining customer hardly does (not greetings or thanks, which
# both sides say, nor refusals or blame, which both sides may voice).
AGENT_MOVES = frozenset(
    {
        "apology",
        "empathy",
        "reflect",
        "open_question",
        "ownership",
        "solution",
        "timeframe",
        "alternative",
        "policy",
        "summary",
        "follow_up",
        "closing",
        "hold",
    }
)
MIN_EVIDENCE = 2
_MY = re.compile(r"\b(?:my|mine)\b", re.IGNORECASE)


@dataclass
class SideCheck:
    trainee_agent_lines: int  # the trainee side's lines with an agent move
    customer_agent_lines: int  # ... and the customer side's
    trainee_my: int  # times the trainee side says "my"
    customer_my: int  # ... and the customer side

    @property
    def swapped(self) -> bool:
        """Both cues say the side given as the trainee is the customer."""
        moves = self.customer_agent_lines - self.trainee_agent_lines
        mine = self.trainee_my - self.customer_my
        return moves >= MIN_EVIDENCE and mine >= MIN_EVIDENCE

    def to_dict(self) -> dict:
        return {
            "trainee_agent_lines": self.trainee_agent_lines,
            "customer_agent_lines": self.customer_agent_lines,
            "trainee_my": self.trainee_my,
            "customer_my": self.customer_my,
            "swapped": self.swapped,
        }


def check_sides(events: list[Event], library: DetectorLibrary) -> SideCheck:
    """Count agent moves on each side of a transcribed call."""

    def agent_like(text: str) -> bool:
        return bool(text.strip()) and bool(library.moves(text) & AGENT_MOVES)

    customer = [
        e.get("text", "")
        for e in events
        if e.type == CUSTOMER_LINE_START or (e.type == FINAL and e.get("who") == "customer")
    ]
    trainee = [
        e.get("text", "")
        for e in events
        if e.type == FINAL and e.get("who", "trainee") == "trainee"
    ]
    return SideCheck(
        sum(map(agent_like, trainee)),
        sum(map(agent_like, customer)),
        sum(len(_MY.findall(t)) for t in trainee),
        sum(len(_MY.findall(t)) for t in customer),
    )
