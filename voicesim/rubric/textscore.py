"""Text-only scoring for rubric authors: which criteria does one agent utterance hit, and why?"""

from __future__ import annotations

from .answers import UNANSWERED, customer_question, judge
from .rubric import Rubric
from .text import Context
from .tone import politeness_score


def score_text(text: str, rubric: Rubric, customer: str = "") -> dict:
    """Every detector hit in ``text`` and the word-based criteria it counts toward."""
    hits = rubric.library.detect(
        text.split(), None, Context.from_text(customer) if customer else None
    )
    moves = sorted({h.move for h in hits})
    criteria: dict[str, list[dict]] = {}
    for fam in rubric.families:
        for c in fam.criteria:
            wanted = set(c.detectors) | set(c.before) | set(c.first)
            found = [h for h in hits if h.move in wanted]
            if c.detectors and c.unless and any(h.move in c.unless for h in hits):
                found = []  # excused in the same turn (e.g. a refusal with an alternative)
            if found:
                criteria[c.id] = [{"family": fam.id, "kind": c.kind, **h.to_dict()} for h in found]
    question = customer_question(customer) if customer else None
    answer = None
    if question is not None:
        reply = judge(question, text.split(), hits)
        answer = {
            "question": question.text,
            "kind": question.kind,
            "verdict": reply.verdict,
            "words": reply.words,
            "reason": reply.reason,
        }
        for fam in rubric.families:
            for c in fam.criteria:
                if c.event == "unanswered_question" and reply.verdict == UNANSWERED:
                    criteria[c.id] = [
                        {
                            "family": fam.id,
                            "kind": c.kind,
                            "words": reply.words,
                            "rule": reply.reason,
                        }
                    ]

    out = {
        "text": text,
        "moves": moves,
        "criteria": criteria,
        "politeness": round(politeness_score(text, rubric.library, hits), 3),
        "hits": [h.to_dict() for h in hits],
    }
    if answer is not None:
        out["answer"] = answer  # only when ``customer`` asked a question
    return out
