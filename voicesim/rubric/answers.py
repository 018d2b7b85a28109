"""Did the trainee answer the customer's question?

The customer asks "When will my refund come through?"; "Refunds are handled by our finance
team" is on topic and polite, and answers nothing. An answer is recognised from what kind of
question was asked and what the reply does: a *when* question wants a time (the recogniser's
``timeframe``), a *why* question an explanation, a yes/no question a yes or a no, a request for
a manager an escalation or a clear no, a *what now* question an action (``solution``,
``follow_up``...). A reply that only asks something back ("Can I take the order number?") or
puts the customer on hold leaves the question open until the trainee's next turn; a reply that
empathises, thanks, explains the company or makes an empty promise does not answer it.

The persona engine and the rubric both read questions through ``QuestionTracker``, so the
customer who is left unanswered and the scorecard's penalty come from one judgement.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .text import Hit, Token, tokenize

ANSWERED, ASKED_BACK, UNANSWERED = "answered", "asked_back", "unanswered"

_FILLERS = frozenset({"so", "and", "but", "okay", "ok", "well", "right", "um", "uh", "oh", "then"})
_AUX = frozenset(
    "is are am was were can could will would do does did have has should shall may might "
    "isn't aren't can't won't don't doesn't didn't haven't hasn't".split()
)
_PRONOUNS = frozenset({"i", "you", "we", "it", "they", "he", "she", "there", "that", "this"})
_HOW = frozenset({"long", "much", "many", "soon", "often", "about"})
_WH_ASK = frozenset({"what", "when", "where", "which", "who", "how", "why", "what's"})
# Questions a customer does not want answered in words: venting, not asking.
_RHETORICAL = re.compile(
    r"\b(?:do you (?:even )?know what|are you (?:being|serious|kidding|joking|even)|"
    r"can you (?:just )?(?:stop|imagine|believe)|can i (?:just )?finish|is that too much|"
    r"how hard (?:is|can)|what kind of|who do you think|seriously|are you still there|"
    r"are we clear|is that clear|do you understand|do you hear me|understood|got it|"
    r"hello)\b"
)
# A tag question wants agreement, not an answer: "they don't make them like that, do they?"
_TAG = re.compile(
    r",\s*(?:do|does|did|is|isn't|are|aren't|don't|doesn't|won't|wouldn't|can't|haven't|"
    r"wasn't|weren't)\s+(?:they|it|you|i|we|he|she|there)\b(?:,?\s*\w+)?\s*\?$"
)
_KINDS = (  # (kind, pattern on the question's words), first match wins
    ("manager", r"\b(?:manager|supervisor|someone senior|team leader|someone else|your boss)\b"),
    ("when", r"\b(?:when|how long|what time|how soon|by when|how many (?:days|hours|weeks))\b"),
    ("cost", r"\b(?:how much|cost|charge me|price|pay for)\b"),
    ("why", r"\b(?:why|how come|what happened|what went wrong)\b"),
    ("who", r"^(?:\w+ )?who\b|\bwho (?:is|will|'s)\b"),
    ("where", r"\bwhere\b"),
    (
        "action",
        r"\b(?:what happens|what (?:are|will|can) you (?:going to )?do|what now|what next|"
        r"how (?:do|can|will|are) (?:i|we|you)|what do i do|what should i do|"
        r"what (?:are|is) (?:you|anyone) going to)\b",
    ),
)
_ACTION_MOVES = frozenset({"solution", "alternative", "follow_up", "escalation", "summary"})
_HOLLOW = frozenset({"empty_promise", "dismissal", "sarcasm", "condescension", "defensiveness"})
_POLAR_LEADS = (
    "yes",
    "yeah",
    "yep",
    "yup",
    "no",
    "nope",
    "of course",
    "absolutely",
    "certainly",
    "definitely",
    "sure",
    "not",
    "i am",
    "i'm afraid",
    "i'm listening",
    "unfortunately",
    "i can",
    "i cannot",
    "we can",
    "we cannot",
    "you will",
    "you will not",
    "you do",
    "you don't",
    "you do not",
    "you can",
    "you won't",
    "it is",
    "it isn't",
    "it's not",
    "it will",
    "it won't",
    "it was",
    "it wasn't",
    "it depends",
    "that's right",
    "they will",
    "they won't",
)
_EXPLAIN = re.compile(
    r"\b(?:because|cause|due to|the reason|reason is|mistake|fault|error|glitch|on us|"
    r"our side|our end|which (?:is|was)|there's an?|there was an?|was held|got (?:lost|stuck)|"
    r"went wrong|happened|caused|don't know why|no idea why)\b"
)
_NUMBER = re.compile(
    r"\b(?:\d[\d.,:]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"fifteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|half)"
)
_MONEY = re.compile(
    r"\b(?:pounds?|dollars?|euros?|quid|fee|free|nothing|no charge|no cost|at no cost|"
    r"covered|waive|refund|credit)\b"
)
_INSTRUCTION = frozenset(
    "just simply pop fill send keep throw bring take go click call reply use leave put "
    "return pack".split()
)
_PLACE = re.compile(
    r"\b(?:depot|warehouse|customs|van|courier|out for delivery|on its way|with you|"
    r"in transit|dispatched|shipped|held|stuck|lost|delivered|at the|on the)\b"
)
_NOW = re.compile(r"\b(?:right now|just now|straight away|immediately|already|now|today)\b")
_ROLE = re.compile(
    r"\b(?:by (?:your|our|my|the|a)|i'm going to|i am going to|i'll|i will|i'm|myself|engineer|technician|manager|"
    r"supervisor|team leader|specialist|colleague|courier)\b"
)


@dataclass(frozen=True)
class Question:
    """The customer's question the trainee should answer, and what kind of answer it wants."""

    text: str
    kind: str  # manager, when, cost, why, who, where, action, polar, open


@dataclass(frozen=True)
class Reply:
    """How one trainee turn met the open question, and the words that decided it."""

    question: Question
    verdict: str  # answered, asked_back, unanswered
    words: str  # the sentence that answered (or, when unanswered, the whole reply)
    first_word: int  # indices into the turn's word list
    last_word: int
    reason: str


def customer_question(line: str) -> Question | None:
    """The last real question in one customer line (not "Seriously?", not venting)."""
    found = None
    for sentence in re.split(r"(?<=[.!?])\s+", line.strip()):
        words = re.findall(r"[\w']+", sentence.lower().replace("\u2019", "'"))
        while words and words[0] in _FILLERS:
            words = words[1:]
        if len(words) < (2 if words and words[0] in _WH_ASK else 3):
            continue  # "When, exactly?" asks; "Seriously?" does not
        asked = sentence.rstrip().endswith("?") or words[0] in _AUX or words[0].startswith("wh")
        if not asked or words[0] in ("sorry", "thank", "thanks"):
            continue
        text = " ".join(words)
        if _RHETORICAL.search(text) or _TAG.search(sentence.strip().lower()):
            continue
        found = Question(sentence.strip(), question_kind(text))
    return found


def question_kind(text: str) -> str:
    """What kind of answer a question (lower-case words) wants."""
    first = text.split()[0] if text else ""
    lead = {"why": "why", "who": "who", "where": "where", "when": "when"}.get(first)
    if lead and not re.search(_KINDS[0][1], text):
        return lead  # "Why does it say ninety when ..." asks why, whatever follows
    for kind, pattern in _KINDS:
        if re.search(pattern, text):
            return kind
    return "polar" if first in _AUX else "open"


def judge(question: Question, words: Sequence[str], hits: Sequence[Hit]) -> Reply:
    """Whether the trainee's turn (``words``, with the moves recognised in it) answers."""
    text, tokens = tokenize(list(words))
    sentences = _sentences(tokens)
    asked_back = False
    for sent in sentences:
        first, last = sent[0].source, sent[-1].source
        moves = {h.move for h in hits if h.first_word <= last and first <= h.last_word}
        said = text[sent[0].start : sent[-1].end]
        if moves & _HOLLOW:
            continue
        if "hold" in moves:
            asked_back = True  # "one moment while I check": the answer is still to come
            continue
        reason = _answers(question.kind, said, sent, moves)
        if reason:
            return Reply(question, ANSWERED, " ".join(words[first : last + 1]), first, last, reason)
        if _asks(sent) or "open_question" in moves:
            asked_back = True
    verdict = ASKED_BACK if asked_back else UNANSWERED
    why = (
        "asked something back first"
        if asked_back
        else f"the reply does not answer the {question.kind} question"
    )
    return Reply(question, verdict, " ".join(words), 0, max(len(words) - 1, 0), why)


def _sentences(tokens: Sequence[Token]) -> list[list[Token]]:
    out: list[list[Token]] = []
    for t in tokens:
        if t.foreign:
            continue
        if not out or out[-1][-1].sentence != t.sentence:
            out.append([])
        out[-1].append(t)
    return out


def _asks(sent: Sequence[Token]) -> bool:
    """A question: its mark, or (Whisper may drop it) the word order of one."""
    if sent[-1].sentence_question:
        return True
    words = _lead(sent).split(" ")
    if len(words) < 2:
        return False
    return (
        (words[0] in _AUX and words[1] in _PRONOUNS)
        or (words[0] in _WH_ASK and words[1] in _AUX | _HOW)
        or words[0] in ("what's", "where's", "when's", "who's", "how's")
    )


def _committed(lead: str) -> bool:
    """The trainee commits to act ("I can cancel it", "I'll send", "I've unlocked")."""
    return bool(re.match(r"(?:i|we) (?:can|will|have|am)\b|(?:i|we)'(?:ll|ve)\b|i'm\b", lead))


def _lead(sent: Sequence[Token]) -> str:
    words = [t.text.strip(".,;:!?") for t in sent]
    while words and words[0] in _FILLERS:
        words = words[1:]
    return " ".join(words[:3])


def _answers(kind: str, said: str, sent: Sequence[Token], moves: set[str]) -> str:
    """The reason this sentence answers a question of ``kind``, or "" when it does not."""
    said = said.lower()
    lead = _lead(sent)
    polar = any(lead == p or lead.startswith(p + " ") for p in _POLAR_LEADS)
    if _asks(sent):
        return ""  # a question back is no answer
    if kind == "when":
        if "timeframe" in moves:
            return "gives a time"
        if _NOW.search(said) and (moves & _ACTION_MOVES or _committed(lead)):
            return "has done it already"
        if "follow_up" in moves and _NUMBER.search(said):
            return "says when they will hear"
        return ""
    if kind == "cost":
        if _MONEY.search(said) and (_NUMBER.search(said) or "free" in said or "nothing" in said):
            return "says what it costs"
        return "says what it costs" if re.search(r"\b(?:nothing|free|no charge)\b", said) else ""
    if kind == "why":
        if _EXPLAIN.search(said):
            return "explains why"
        return ""
    if kind == "manager":
        if moves & {"escalation", "boundary", "refusal", "alternative"} or polar:
            return "answers the request for a manager"
        return "answers the request for a manager" if re.search(r"\bi'm the\b", said) else ""
    if kind == "who":
        if moves & {"ownership", "escalation", "follow_up"} or _ROLE.search(said):
            return "says who"
        return ""
    if kind == "where":
        if "timeframe" in moves or _PLACE.search(said) or _EXPLAIN.search(said):
            return "says where it is"
        return ""
    if moves & _ACTION_MOVES or "refusal" in moves:
        return "says what will be done"
    if kind == "action" and _committed(lead) and (_NOW.search(said) or "timeframe" in moves):
        return "says what will be done"
    if kind == "polar" and polar:
        return "answers yes or no"
    if kind in ("action", "open") and lead.split(" ")[0] in _INSTRUCTION:
        return "says what to do"
    if kind in ("action", "open") and re.match(r"you (?:can|don't|do not|need|'ll need)", lead):
        return "says what to do"
    return ""


class QuestionTracker:
    """The customer's open question through a call: set when the customer asks, closed when
    the trainee answers or moves on without answering, kept while the trainee asks back."""

    def __init__(self) -> None:
        self.open: Question | None = None

    def customer_said(self, line: str) -> None:
        asked = customer_question(line)
        if asked is not None:
            self.open = asked

    def trainee_said(self, words: Sequence[str], hits: Sequence[Hit]) -> Reply | None:
        """The verdict on the open question for this trainee turn, if one was open."""
        if self.open is None or not any(w.strip() for w in words):
            return None
        reply = judge(self.open, words, hits)
        if reply.verdict != ASKED_BACK:
            self.open = None
        return reply
