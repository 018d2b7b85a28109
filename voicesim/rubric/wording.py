"""Better wording for a coaching tip: about this customer and this call, never another's.

A suggestion comes from, in this order: the trainee's own words rewritten without their mistake
(a penalised sentence replaced, the rest kept), the persona's own model lines for the move the
tip is about (``model_lines`` in the persona file), lines built from this call (the customer's
complaint reflected back, the trainee's own offer summarised), and plain templates filled with
the persona's facts (its product, its order number). Nothing comes from a shared list of other
scenarios' lines, so a broadband call is never told about a replacement by express delivery.
A move the persona does not accept as a fix (a refund where policy forbids one) is never
suggested, and nor is a move the persona's lesson warns against (open questions to a talkative
customer): the suggestion shows the move that does help.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from .moves import MOVES, NEGATIVE
from .rubric import Criterion
from .scorer import CallView, Persona, Utterance
from .text import stem

# What to say instead of a penalised move (the first that fits this persona wins).
INSTEAD: dict[str, tuple[str, ...]] = {
    "blame": ("ownership", "apology"),
    "dismissal": ("empathy", "ownership"),
    "condescension": ("reflect", "ownership"),
    "defensiveness": ("ownership", "apology"),
    "sarcasm": ("empathy",),
    "profanity": ("empathy",),
    "empty_promise": ("follow_up", "timeframe"),
    "refusal": ("alternative", "escalation"),
}
# What a timeline event's criterion wants said (talk_ratio and pace are handled on their own).
EVENT_MOVES: dict[str, tuple[str, ...]] = {
    "trainee_overtalk": ("reflect",),
    "cutoff": ("reflect",),
    "backchannel": ("backchannel",),
    "dead_air": ("hold",),
    "long_monologue": ("solution", "alternative", "escalation"),
    "unanswered_question": ("timeframe", "solution", "alternative", "escalation"),
    "raised_voice": ("empathy",),
    "agitated_pitch": ("empathy",),
    "flat_pitch": ("ownership",),
    "filler_cluster": ("hold",),
    "pace": ("reflect", "solution", "alternative", "escalation"),
}
# How to do it, for the criteria about the voice and the timing: said before the words.
HOW: dict[str, str] = {
    "trainee_overtalk": "Wait until the customer has finished, then reflect back.",
    "cutoff": "Let the customer finish; say mm-hmm while they talk, then answer.",
    "backchannel": "While the customer talks, a short listening signal now and then.",
    "dead_air": "Say what you are doing before you go quiet.",
    "long_monologue": "Say it in two short sentences, then let the customer answer.",
    "raised_voice": "Lower your volume when the customer gets louder.",
    "agitated_pitch": "Take a breath and keep your voice low and even.",
    "flat_pitch": "Let your voice rise and fall: stress the words that matter.",
    "filler_cluster": "Pause silently instead of saying um or you know.",
}
FIXES = ("solution", "alternative", "escalation")  # moves that resolve a customer's problem
# The persona's facts that name the customer's reference, as a trainee would say it.
REFERENCES = (
    ("order_number", "order {}", "the order number"),
    ("case_number", "case {}", "the case number"),
    ("booking", "booking {}", "the booking number"),
    ("account", "account {}", "your account number"),
)
_FIRST_PERSON = {
    "i": "you",
    "i'm": "you're",
    "i've": "you've",
    "i'd": "you'd",
    "i'll": "you'll",
    "my": "your",
    "me": "you",
    "mine": "yours",
    "myself": "yourself",
    "am": "are",
    "was": "were",
}
_OPENERS = re.compile(
    r"^(?:hi|hello|hey|look|listen|right|okay|ok|well|yes|yeah|no|so|oh|um|uh|honestly|"
    r"frankly|sorry)\b[,.!]?\s*",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"[^.!?]+[.!?]*")
_RECAP = re.compile(r"^(?:so,?\s+)?(?:just\s+)?to\s+(?:confirm|recap|summari[sz]e),?\s*", re.I)
# A customer's sentence about the agent or asking them for something is no complaint to reflect.
_ABOUT_AGENT = frozenset({"you", "your", "you're", "yours", "you've", "you'll", "me", "us"})
_ASKING = frozenset({"please", "don't", "just", "sort", "get", "give", "tell", "let", "stop"})


@dataclass
class Suggestion:
    """Lines to try, best first, and where each came from: ``your words`` (the trainee's own,
    rewritten), ``persona`` (its model lines), ``this call`` (built from what was said) or
    ``the situation`` (a template with the persona's facts)."""

    lines: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # where each line came from

    def add(self, line: str | None, source: str) -> None:
        line = _tidy(line or "")
        if line and line.lower() not in {x.lower() for x in self.lines}:
            self.lines.append(line)
            self.sources.append(source)


@dataclass
class Situation:
    """What the suggestions may name: this persona's facts, never another's."""

    thing: str | None = None  # "your standing desk"
    reference: str | None = None  # "order 8812"
    ask_reference: str | None = None  # "the order number"
    policy: str | None = None
    accept: tuple[str, ...] = FIXES  # the moves that resolve this customer's problem
    lines: dict[str, list[str]] = field(default_factory=dict)
    against: frozenset[str] = frozenset()  # moves the lesson warns against
    terms: frozenset[str] = frozenset()  # the complaint's words (stems), to reflect it back

    @classmethod
    def of(
        cls, persona: Persona | None, against: set[str] | frozenset[str] = frozenset()
    ) -> Situation:
        if persona is None:
            return cls(against=frozenset(against))
        facts = {str(k): str(v) for k, v in (persona.facts or {}).items()}
        thing = next((facts[k] for k in ("product", "service") if facts.get(k)), None)
        ref = next(((fmt, ask, facts[k]) for k, fmt, ask in REFERENCES if facts.get(k)), None)
        return cls(
            thing=f"your {thing}" if thing else None,
            reference=ref[0].format(ref[2]) if ref else None,
            ask_reference=ref[1] if ref else None,
            policy=facts.get("policy"),
            accept=tuple(persona.accept or FIXES),
            lines={k: list(v) for k, v in (persona.model_lines or {}).items()},
            against=frozenset(against),
            terms=frozenset(
                stem(w)
                for t in [*persona.complaint_terms, thing or ""]
                for w in re.findall(r"[a-z]+", t.lower())
            ),
        )

    def fixes(self, wanted: tuple[str, ...] = FIXES) -> tuple[str, ...]:
        """Of ``wanted``, the moves that resolve this customer's problem (an alternative where
        policy forbids the solution asked for); the persona's own fixes when none is."""
        fit = tuple(m for m in wanted if m in self.accept)
        return fit or tuple(m for m in self.accept if m in FIXES) or wanted


# What answers a customer's question, by its kind (``answers.question_kind``).
ANSWER_MOVES: dict[str, tuple[str, ...]] = {
    "when": ("timeframe",),
    "manager": ("escalation",),
    "why": ("apology", "ownership"),
    "who": ("ownership", "follow_up"),
    "where": ("hold", "follow_up"),
}


@dataclass
class Moment:
    """What a suggestion answers: the customer's line, the trainee's utterance there (to
    rewrite), the penalised words in it, the customer's unanswered question (text, kind) and
    the talk share (percent, range low, range high)."""

    customer: str = ""
    said: Utterance | None = None
    turn: list[Utterance] = field(default_factory=list)  # the whole turn ``said`` is part of
    lost_words: list[str] = field(default_factory=list)
    question: tuple[str, str] | None = None
    talk: tuple[int, int, int] | None = None
    wpm_range: tuple[float, float] = (110.0, 190.0)

    @property
    def talks_too_much(self) -> bool:
        return bool(self.talk) and self.talk[0] > self.talk[2]


def target_moves(c: Criterion, s: Situation, m: Moment) -> tuple[str, ...]:
    """The moves a better line for ``c`` makes, for this persona, lesson allowing."""
    if c.kind == "penalty" and c.detectors:
        wanted: tuple[str, ...] = tuple(x for d in c.detectors for x in INSTEAD.get(d, ()))
    elif c.event == "unanswered_question" and m.question:
        wanted = ANSWER_MOVES.get(m.question[1], FIXES)
    elif c.event:
        wanted = EVENT_MOVES.get(c.event, ())
    elif c.metric == "talk_ratio":
        wanted = ("open_question", "reflect") if m.talks_too_much else ("reflect", "summary")
    elif c.order:
        wanted = (*c.before[:1], *c.first)
    else:
        wanted = tuple(c.detectors)
    if set(wanted) & set(FIXES):
        fixes = s.fixes(tuple(m for m in wanted if m in FIXES))
        wanted = tuple(dict.fromkeys([*(m for m in wanted if m not in FIXES), *fixes]))
    return tuple(m for m in wanted if m not in s.against)


# -- this call's words ------------------------------------------------------------------------
def sentences(text: str) -> list[str]:
    return [x.strip() for x in _SENTENCE.findall(text) if x.strip()]


def _tidy(line: str) -> str:
    line = re.sub(r"\s+", " ", line).strip()
    if line and not line.startswith("("):
        line = line[0].upper() + line[1:]
    return line


def reflect_back(
    customer_line: str,
    terms: frozenset[str] = frozenset(),
    clean: Callable[[str], str] | None = None,
    limit: int = 26,
) -> str | None:
    """The customer's complaint in the trainee's words: their first-person sentences about
    the problem (naming one of ``terms``, when given) with the pronouns turned ("I ordered a
    desk" -> "so you ordered a desk"), as a check-back. ``clean`` takes swearing out."""
    picked: list[str] = []
    for sent in sentences(customer_line):
        body = _OPENERS.sub("", clean(sent) if clean else sent).strip().rstrip(".!?,").strip()
        words = body.split()
        low = [w.lower().strip(",;:") for w in words]
        if "?" in sent or len(words) < 4 or set(low) & _ABOUT_AGENT or low[0] in _ASKING:
            continue  # a question, a fragment, a demand or words about the agent
        if not any(w in _FIRST_PERSON or w == "it" for w in low):
            continue
        if terms and not {stem(w) for w in low} & terms:
            continue  # not about the problem ("I hope I've rung the right number")
        if sum(len(p.split()) for p in picked) + len(words) > limit:
            break
        kept = [w for w in words if w.lower().strip(",") != "please"]
        picked.append(" ".join(_swap(w, kept[i - 1] if i else "") for i, w in enumerate(kept)))
    if not picked:
        return None
    picked = [p[0].lower() + p[1:] for p in picked]
    body = picked[0] if len(picked) == 1 else ", and ".join([", ".join(picked[:-1]), picked[-1]])
    return f"So {body}; is that right?"


def _swap(word: str, before: str) -> str:
    """``word`` said by the customer, as the trainee says it back ("am" only after "I")."""
    core = word.strip(",;:")
    low = core.lower().replace("\u2019", "'")
    if low not in _FIRST_PERSON or (low in ("am", "was") and before.lower() != "i"):
        return word
    return word.replace(core, _FIRST_PERSON[low])


def _tokens(u: Utterance) -> list[str]:
    words = u.event.get("words") or []
    return [w["w"] for w in words] if words else u.text.split()


def clean_sentences(u: Utterance, drop: set[str] = frozenset(NEGATIVE)) -> list[tuple[str, bool]]:
    """The utterance's sentences, each with whether it made one of the ``drop`` moves (or
    started with an accusing "you"); a sentence is cut at the word that ends it."""
    tokens = _tokens(u)
    bad_words: set[int] = set()
    for h in u.hits:
        if h.move in drop or h.move == "you_start":
            bad_words.update(range(h.first_word, h.last_word + 1))
    out, start = [], 0
    for i, tok in enumerate(tokens):
        if re.search(r"[.!?]$", tok) or i == len(tokens) - 1:
            text = " ".join(tokens[start : i + 1])
            out.append((text, any(k in bad_words for k in range(start, i + 1))))
            start = i + 1
    return out


def kept_words(u: Utterance) -> list[str]:
    """The trainee's sentences worth keeping in a rewrite: those that did something for the
    customer (a move: an apology, a fix, a question ...) with no mistake in them; fillers
    ("Yeah.", "Look,") and bare statements are left out, so that nothing the customer might
    hear as a brush-off is kept."""
    good_words: set[int] = set()
    for h in u.hits:
        if h.move in MOVES and h.move not in NEGATIVE and h.move != "backchannel":
            good_words.update(range(h.first_word, h.last_word + 1))
    kept, start = [], 0
    for text, bad in clean_sentences(u):
        n = len(text.split())
        span = range(start, start + n)
        start += n
        body = _OPENERS.sub("", text).strip()
        if not bad and len(body.split()) >= 3 and any(k in good_words for k in span):
            kept.append(body)
    return kept


def own_offer(view: CallView, s: Situation) -> str | None:
    """The trainee's own offer that would resolve this customer's problem (a move the persona
    accepts, made with no mistake in the same sentence), if they made one in the call."""
    for u in view.utterances:
        fix = [h for h in u.hits if h.move in s.accept and h.move in FIXES]
        if not fix:
            continue
        for text, bad in clean_sentences(u):
            words = {w.lower().strip(".,!?") for w in text.split()}
            if not bad and words & {w.lower().strip(".,!?") for w in fix[0].words.split()}:
                return _RECAP.sub("", _OPENERS.sub("", text)).strip() or None
    return None


def paced(text: str) -> str:
    """The trainee's own turn in short sentences: a break at every clause (a question keeps
    its question mark)."""
    out = []
    for piece in re.findall(r"[^.!?;,]+[.!?;,]*", text):
        for part in re.split(r"\s+(?=(?:and|but|so|because)\b)", piece):
            body = part.strip().rstrip(".!?;,").strip()
            if body:
                out.append(_tidy(body) + ("?" if part.strip().endswith("?") else "."))
    return " ".join(out)


def _unsworn(view: CallView) -> Callable[[str], str]:
    """A function taking the rubric's banned words out of a customer's sentence."""
    lib = view.rubric.library

    def clean(text: str) -> str:
        words = text.split()
        hits = lib.detect(words, None, only=["profanity"]) if "profanity" in lib.detectors else []
        drop = {i for h in hits for i in range(h.first_word, h.last_word + 1)}
        return " ".join(w for i, w in enumerate(words) if i not in drop)

    return clean


# -- templates over the persona's facts -----------------------------------------------------------
def template(move: str, s: Situation, offer: str | None) -> str | None:
    """A plain line making ``move`` that names only this persona's facts (or nothing at all)."""
    thing = s.thing or "this"
    about = f" about {s.thing}" if s.thing else ""
    ref = s.reference or s.thing or "this"
    fix_ok = "solution" in s.accept
    lines = {
        "greeting": f"Thank you for calling. I'm sorry to hear{about or ' about this'}; let's sort it out.",
        "gratitude": "Thank you for bearing with me, and for explaining it so clearly.",
        "please": f"Could you please confirm {s.ask_reference}?"
        if s.ask_reference
        else "Could you please tell me a little more about what happened?",
        "apology": f"I'm really sorry{about}, and for all the trouble it has caused you.",
        "empathy": f"I'm so sorry{about}. I can hear how frustrating this has been.",
        "ownership": f"I'm going to take care of {thing} for you myself, starting now.",
        "open_question": f"Can you tell me what happened with {thing}?",
        "reflect": f"So if I've understood, {s.thing} needs sorting, and you'd like it put right "
        "today; is that right?"
        if s.thing
        else None,
        "solution": f"Here's what I'll do: I'll put {thing} right today and confirm it to you "
        "in writing by five o'clock."
        if fix_ok
        else None,
        "alternative": (
            f"I can't do that, because our policy is {s.policy}; but I can look at what it "
            f"does allow for {thing} and set that up for you today."
            if s.policy
            else f"I'm not able to do that, but I can look at the other options for {thing} "
            "and set one up for you today."
        ),
        "policy": f"Our policy is {s.policy}, so I'll explain what I can do within it."
        if s.policy
        else None,
        "timeframe": f"{offer.rstrip('.!')}, and it will be done by Thursday."
        if offer
        else f"You'll have an answer about {thing} from me by five o'clock today.",
        "summary": f"So to recap: {offer[0].lower() + offer[1:].rstrip('.!')}, and I'll confirm "
        "it by email today."
        if offer
        else f"So to recap: I've noted everything about {ref}, and I'll email you what happens "
        "next today.",
        "follow_up": f"I'll call you myself by four o'clock today about {ref}, and email you a "
        "reference now.",
        "hold": f"Let me pull up {s.reference or 'your details'} now; it'll take about a minute.",
        "boundary": f"I want to help you with {thing}, and I can do that if we keep the "
        "language respectful.",
        "escalation": f"I'll ask my team leader to call you about {ref} by three o'clock today.",
        "closing": "Is there anything else I can help you with today?",
        "backchannel": "Mm-hmm.",
    }
    return lines.get(move)


def lines_for(move: str, s: Situation, view: CallView, customer_line: str) -> list[tuple[str, str]]:
    """Lines that make ``move`` for this customer, best first, each with its source."""
    out: list[tuple[str, str]] = [(x, "persona") for x in s.lines.get(move, [])]
    offer = own_offer(view, s) if move in ("summary", "timeframe") else None
    if move == "reflect":
        line = reflect_back(customer_line, s.terms, _unsworn(view))
        if line is None:  # the customer's lines, the latest first, then a plain check-back
            said = [ev.get("text") or "" for ev, _ in reversed(view.customer)]
            line = next(
                (x for x in map(lambda t: reflect_back(t, s.terms, _unsworn(view)), said) if x),
                None,
            )
        out.append((line or "", "this call"))
    elif offer:
        out.append((template(move, s, offer) or "", "your words"))
    made = template(move, s, None)
    if made:
        out.append((made, "the situation"))
    return [(x, src) for x, src in out if x]


def suggest(c: Criterion, view: CallView, s: Situation, m: Moment) -> Suggestion:
    """Better wording for criterion ``c`` at moment ``m``, rewriting the trainee's own words
    there where that is possible: the penalised words are replaced, the rest kept."""
    out = Suggestion()
    customer_line = m.customer or ((view.customer[0][0].get("text") or "") if view.customer else "")
    moves = target_moves(c, s, m)
    options = [pair for x in moves for pair in lines_for(x, s, view, customer_line)]
    how = HOW.get(c.event or "", "")
    if c.event == "unanswered_question" and m.question:
        how = f'Answer what was asked first: "{m.question[0]}"'
    elif c.metric == "talk_ratio":
        how = (
            "Ask, then listen: let the customer do more of the talking."
            if m.talks_too_much
            else "Say a little more: reflect back what you heard, then lead with a plan."
        )
    said = m.said if m.said is not None and m.said.text else None
    turn = [u for u in m.turn if u.text] or ([said] if said is not None else [])
    if c.event == "pace":
        lo, hi = m.wpm_range
        how = f"About {round((lo + hi) / 2)} words a minute, a short pause after each sentence."
        keep = [k for u in turn for k in kept_words(u)]
        if keep:
            out.add(f"({how}) {paced(' '.join(keep))}", "your words")
    elif said is not None and (c.kind == "penalty" or c.event):
        keep = kept_words(said) if c.detectors else [k for u in turn for k in kept_words(u)]
        if c.detectors:  # a mistake in words: replace it, keep what helped
            lost = [w.lower() for w in m.lost_words if w]
            keep = [k for k in keep if not any(w in k.lower() for w in lost)]
            if options and keep:
                out.add(" ".join([options[0][0], *keep]), "your words")
        elif c.event == "long_monologue" and keep:
            out.add(f"({how}) {' '.join(keep[:2])} Does that work for you?", "your words")
        elif c.event in ("raised_voice", "agitated_pitch", "flat_pitch", "filler_cluster") and keep:
            out.add(f"({how}) {' '.join(keep[:2])}", "your words")
    for line, src in options:
        out.add(f"({how}) {line}" if how else line, src)
    return out
