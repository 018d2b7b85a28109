"""Build the people-labelled development set (tests/data/people) from fetched public corpora.

    python scripts/build_people_set.py --mirror /work/.mirror --out tests/data/people
    python scripts/build_people_set.py --mirror /work/.mirror --out tests/data/people --only swda

Why: the move recogniser was only ever checked on sentences the project wrote itself. This
converts helper / agent / therapist / system turns from public dialogue corpora whose turns were
labelled by PEOPLE into our move vocabulary, so the recogniser can be measured per source on
real dialogue. Every move on a row comes from an annotator's label through the fixed MAPPING of
its source; nothing is labelled by rule or keyword here.

Reads the snapshots the `fetch` tool brought to MIRROR (bare git directories, read at HEAD with
`git`; no work tree is needed) and writes, under OUT:

- <source>.jsonl: one row per helper unit {id, source, text, customer, moves, labels}
- sources.json: provenance per source (repository, commit, sha256 of every file read, licence
  and its evidence, use, covered moves, mapping, rows, prevalence, notes)

Sources with more than MAX_ROWS helper units are sampled with a seeded RNG: up to CAP positives
per covered move (shared between the original labels that give it), up to HARD_CAP "covered
negatives" of special interest per move (e.g. closed questions for open_question), the rest
filled with units carrying none of the covered moves.
Smaller sources are kept whole, in their natural proportions. The same snapshots and seed give
byte-identical files.

Standard library only (plus the `git` command).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import random
import re
import subprocess
import sys
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

SEED = 13
MAX_ROWS = 4000
CAP = 400  # positives per covered move when a source is sampled
HARD_CAP = 200  # covered negatives of special interest per move when sampled
CONTEXT_WORDS = 60  # the "customer" field keeps at most this many words
SHORT_WORDS = 3  # a unit this short (a backchannel) does not end / make up the customer's turn
LOOK_BACK = 30  # units searched for the customer's words

MOVES = (
    "greeting gratitude apology empathy reflect open_question ownership solution timeframe "
    "alternative policy boundary escalation summary follow_up closing hold backchannel blame "
    "dismissal condescension defensiveness refusal profanity sarcasm empty_promise"
).split()


class SourceError(Exception):
    """A source cannot be read (not fetched, or a file missing from its snapshot)."""


# --------------------------------------------------------------------------------------------
# Reading snapshots


class Snapshot:
    """A fetched repository snapshot, read at HEAD through `git cat-file` (no work tree).

    Every file read is hashed, so sources.json records exactly what the set was built from.
    """

    def __init__(self, mirror: Path, repo: str) -> None:
        base = mirror / repo.replace("/", "+") / "repo"
        self.git_dir = base / ".git" if (base / ".git").is_dir() else base
        if not (self.git_dir / "HEAD").is_file():
            raise SourceError(f"no snapshot at {base} (fetch github:{repo})")
        self.repo = repo
        self.commit = self._git("rev-parse", "HEAD").strip()
        listing = self._git("ls-tree", "-r", "-z", "HEAD")
        self.blobs: dict[str, str] = {}
        for entry in listing.split("\0"):
            if entry:
                meta, path = entry.split("\t", 1)
                self.blobs[path] = meta.split()[2]
        self.read_files: dict[str, str] = {}  # path -> sha256 of its content
        self._cat = subprocess.Popen(
            ["git", f"--git-dir={self.git_dir}", "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def _git(self, *args: str) -> str:
        out = subprocess.run(
            ["git", f"--git-dir={self.git_dir}", *args], capture_output=True, check=False
        )
        if out.returncode:
            raise SourceError(f"git {' '.join(args)} failed in {self.git_dir}")
        return out.stdout.decode("utf-8")

    def paths(self, pattern: str) -> list[str]:
        """Paths at HEAD that fully match the regular expression, sorted."""
        rx = re.compile(pattern)
        return sorted(p for p in self.blobs if rx.fullmatch(p))

    def read(self, path: str) -> bytes:
        """The file's bytes at HEAD; a file absent from the snapshot is a SourceError."""
        blob = self.blobs.get(path)
        if blob is None:
            raise SourceError(f"{self.repo}: no file {path} at {self.commit[:12]}")
        assert self._cat.stdin is not None and self._cat.stdout is not None
        self._cat.stdin.write(blob.encode() + b"\n")
        self._cat.stdin.flush()
        header = self._cat.stdout.readline().split()
        if len(header) != 3:  # "<sha> missing": the snapshot left the file out (>= 4 MiB)
            raise SourceError(
                f"{self.repo}: {path} is listed but its content is not in the snapshot"
            )
        data = self._cat.stdout.read(int(header[2]))
        self._cat.stdout.read(1)
        self.read_files[path] = hashlib.sha256(data).hexdigest()
        return data

    def text(self, path: str) -> str:
        return self.read(path).decode("utf-8", errors="replace")

    def close(self) -> None:
        if self._cat.stdin:
            self._cat.stdin.close()
        self._cat.wait()


# --------------------------------------------------------------------------------------------
# Units and cleaning


@dataclass
class Unit:
    """One utterance of a dialogue. Only `labelled` helper units become rows; the rest are
    context for the `customer` field."""

    dialogue: str
    turn: str
    speaker: str
    text: str
    labelled: bool = False
    labels: list[str] = field(default_factory=list)
    moves: set[str] = field(default_factory=set)
    drop: str = ""  # why a labelled unit is left out (its label is ambiguous for a covered move)
    customer: str = ""


def squash(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+([.,?!;:])", r"\1", text)
    return re.sub(r"([.,?!])\1+", r"\1", text)


def clean_annomi(text: str) -> str:
    """Drops [laughs] / [unintelligible 00:01:02] notes and the -- / leading - cut marks."""
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\s*--+\s*", " ", text)
    text = re.sub(r"(^|\s)-(?=\w)", r"\1", text)  # "-and you usually" (continues a cut turn)
    text = re.sub(r"(?<=\w)-(\s|$)", r"\1", text)  # "on average-" (cut off)
    return squash(text)


def clean_mrda(text: str) -> str:
    """Drops the MRDA transcript marks: == (cut off), " - " (restart), @ and word fragments."""
    text = text.replace("==", " ").replace("@", " ")
    text = re.sub(r"\b\w+-(?=\s|$)", " ", text)  # "wh-" fragments before a restart
    text = re.sub(r"(^|\s)-(?=\s|$)", " ", text)
    return squash(text)


def clean_swda(text: str) -> str:
    """Drops the transcribers' '*' notes ('*typo tying', '*listen', '*spelling: they're')."""
    text = re.sub(r"\*\s*(typo|spelling|sp|LISTEN|listen\s*[;:]).*$", " ", text)
    text = re.sub(r"\*\s*(two utts\??|slash error|\S*)", " ", text)
    return squash(text)


def clean_plain(text: str) -> str:
    return squash(text)


def has_words(text: str) -> bool:
    return bool(re.search(r"[A-Za-z0-9]", text))


def add_context(dialogue: list[Unit]) -> None:
    """Fills each labelled unit's `customer`: the other speakers' words just before it.

    Walks back past the helper's own units (one turn can be several units) and past the
    helper's short backchannels, collecting other speakers' words until the helper's previous
    substantive unit or CONTEXT_WORDS words; when all the other said since then is a listening
    token ("Mm-hmm."), it goes on to their turn before. Context only: it never sets a label.
    """
    for i, unit in enumerate(dialogue):
        if not unit.labelled:
            continue
        parts: list[str] = []
        words = 0
        for prev in reversed(dialogue[max(0, i - LOOK_BACK) : i]):
            if prev.speaker == unit.speaker:
                if words > SHORT_WORDS and len(prev.text.split()) > SHORT_WORDS:
                    break
                continue
            parts.append(prev.text)
            words += len(prev.text.split())
            if words >= CONTEXT_WORDS:
                break
        tokens = " ".join(reversed(parts)).split()
        if len(tokens) > CONTEXT_WORDS:
            tokens = ["...", *tokens[-CONTEXT_WORDS:]]
        unit.customer = " ".join(tokens)


# --------------------------------------------------------------------------------------------
# Sources


@dataclass
class Source:
    """One corpus: where it is, how its labels map to our moves, and what we may do with it."""

    name: str
    title: str
    repository: str
    read: Callable[[Snapshot, Source], list[list[Unit]]]
    mapping: dict[str, str]  # original label -> move
    covers: list[str]
    covered_negatives: dict[str, list[str]]  # move -> original labels that explicitly lack it
    hard_negatives: dict[str, list[str]]  # move -> labels oversampled as negatives when sampling
    licence: str
    licence_evidence: str
    use: str
    notes: str
    label_notes: dict[str, str] = field(default_factory=dict)  # unmapped / dropped labels

    def moves_of(self, tags: list[str]) -> set[str]:
        return {self.mapping[t] for t in tags if t in self.mapping}


def read_annomi(snap: Snapshot, src: Source) -> list[list[Unit]]:
    """AnnoMI-full: one row per (transcript, utterance, annotator). 428 utterances carry ten
    annotators' rows (the agreement subset); a label holds there when most annotators gave it."""
    rows = list(csv.DictReader(io.StringIO(snap.text("AnnoMI-full.csv"))))
    grouped: dict[tuple[int, int], list[dict[str, str]]] = {}
    for r in rows:
        grouped.setdefault((int(r["transcript_id"]), int(r["utterance_id"])), []).append(r)
    dialogues: dict[int, list[Unit]] = {}
    for (tid, uid), group in sorted(grouped.items()):
        first = group[0]
        unit = Unit(
            str(tid), str(uid), first["interlocutor"], clean_annomi(first["utterance_text"])
        )
        dialogues.setdefault(tid, []).append(unit)
        if first["interlocutor"] != "therapist":
            continue
        n = len(group)
        votes: Counter[str] = Counter()
        for r in group:
            if r["reflection_exists"] == "True":
                votes[f"reflection:{r['reflection_subtype']}"] += 1
            if r["question_exists"] == "True":
                votes[f"question:{r['question_subtype']}"] += 1
            if r["therapist_input_exists"] == "True":
                votes[f"input:{r['therapist_input_subtype']}"] += 1
        for r in group:
            votes[f"main:{r['main_therapist_behaviour']}"] += 1
        held = {label for label, k in votes.items() if 2 * k > n}
        # With ten annotators a kind (say, a question) can have a majority while no subtype
        # has: the most-voted subtype is taken, and a tie between subtypes that map to
        # different moves (open 4, closed 4) makes the row ambiguous.
        for kind in ("reflection", "question", "input", "main"):
            subtypes = [(k, lab) for lab, k in votes.items() if lab.startswith(kind + ":")]
            if 2 * sum(k for k, _ in subtypes) <= n or any(h.startswith(kind + ":") for h in held):
                continue
            top = max(k for k, _ in subtypes)
            tied = sorted(lab for k, lab in subtypes if k == top)
            held.add(tied[0])
            if len({src.mapping.get(lab) for lab in tied}) > 1:
                unit.drop = f"{kind} subtype tie among ten annotators"
        unit.labelled = True
        unit.labels = (
            sorted(held) if n == 1 else [f"{lab} ({votes[lab]}/{n})" for lab in sorted(held)]
        )
        unit.moves = src.moves_of(sorted(held))
        if "input:negotiation" in held:
            unit.drop = "input:negotiation"
    return [dialogues[k] for k in sorted(dialogues)]


SWDA_FILES = r"swda_data/(train|test|val)/\d+\.txt"


def read_swda(snap: Snapshot, src: Source) -> list[list[Unit]]:
    """Duran's plain-text SwDA: `speaker|text|tag` per utterance, one file per conversation."""
    paths = sorted(snap.paths(SWDA_FILES), key=lambda p: int(Path(p).stem))
    if not paths:
        raise SourceError(f"{snap.repo}: no files match {SWDA_FILES}")
    out = []
    for path in paths:
        conv = Path(path).stem
        units = []
        for n, line in enumerate(snap.text(path).splitlines()):
            speaker, text, tag = line.split("|")
            unit = Unit(conv, str(n), speaker, clean_swda(text), labelled=True, labels=[tag])
            unit.moves = src.moves_of([tag])
            units.append(unit)
        out.append(units)
    return out


MRDA_DB = r"mrda_archive/database/B\w+\.dadb"


def mrda_tags(label: str) -> list[str]:
    """'qy^bu^d^rt.%--' -> ['qy', 'bu', 'd', 'rt'] (the '.' part marks a disruption)."""
    return [t for t in re.split(r"[\^:]", label.split(".")[0]) if t]


def read_mrda(snap: Snapshot, src: Source) -> list[list[Unit]]:
    """MRDA as first released (.dadb + .trans): all specific tags of each dialogue act, so one
    act can be e.g. a question AND an understanding check. A segment holding several acts
    splits at '|' in both its label and its text."""
    paths = snap.paths(MRDA_DB)
    if not paths:
        raise SourceError(f"{snap.repo}: no files match {MRDA_DB}")
    out = []
    for path in paths:
        meeting = Path(path).stem
        trans: dict[str, str] = {}
        for line in snap.text(f"mrda_archive/transcripts/{meeting}.trans").splitlines():
            seg, _, rest = line.partition(",")
            trans[seg] = rest.rsplit(",", 1)[0] if rest.count(",") else rest
        units = []
        for n, row in enumerate(csv.reader(io.StringIO(snap.text(path)))):
            seg, label, speaker = row[2], row[5], row[7]
            labels = label.split("|")
            texts = trans.get(seg, "").split("|")
            if len(labels) != len(texts):
                unit = Unit(meeting, str(n), speaker, clean_mrda(" ".join(texts)), labelled=True)
                unit.labels, unit.drop = [label], "act/text segmentation mismatch"
                units.append(unit)
                continue
            for k, (lab, text) in enumerate(zip(labels, texts, strict=True)):
                turn = str(n) if len(labels) == 1 else f"{n}.{k + 1}"
                tags = mrda_tags(lab)
                unit = Unit(meeting, turn, speaker, clean_mrda(text), labels=[lab])
                # x: non-verbal, z: not labelled by the annotators; neither is a labelled act.
                unit.labelled = bool(tags) and tags[0] not in ("x", "z")
                unit.moves = src.moves_of(tags)
                units.append(unit)
        out.append(units)
    return out


EI_MANUAL = r"datasets/manual_annotations/\w+\.txt"
# Intents whose rows are left out: neither clearly empathy nor clearly not (see label_notes).
EI_AMBIGUOUS = ("acknowledging", "encouraging", "expressing_care_concern", "expressing_relief")
EI_DIALOGUES = r"datasets/empatheticdialogues_unannotated/\w+\.csv"


def norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def read_empathetic_intents(snap: Snapshot, src: Source) -> list[list[Unit]]:
    """The hand-labelled listener segments (manual_annotations/<intent>.txt; the annotators
    labelled sentences, so one listener turn can give several rows). Each is looked up in the
    EmpatheticDialogues conversations shipped alongside (same normalised text, else the listener
    turn containing it) to recover the speaker's turn before it; unfound ones keep an empty
    `customer`. The look-up only finds context: the label is always the file's intent."""
    convs: dict[str, list[tuple[str, str]]] = {}
    for path in snap.paths(EI_DIALOGUES):
        for r in csv.DictReader(io.StringIO(snap.text(path))):
            if r["Type"] == "utterance":
                convs.setdefault(r["Dialog_ID"], []).append((r["Actor"], r["Text"]))
    listener = [
        (norm(text), cid, i)
        for cid, turns in convs.items()
        for i, (actor, text) in enumerate(turns)
        if actor == "listener"
    ]
    used: set[tuple[str, int, str]] = set()
    found: dict[tuple[str, int], list[tuple[int, Unit]]] = {}
    out = []
    for path in snap.paths(EI_MANUAL):
        intent = Path(path).stem
        for n, line in enumerate(snap.text(path).splitlines(), 1):
            if not line.strip():
                continue
            key = norm(line)
            exact = [(0, cid, i) for text, cid, i in listener if text == key]
            inside = [(text.find(key), cid, i) for text, cid, i in listener if key in text]
            candidates = exact + inside if len(key) >= 8 else exact
            hit = next((c for c in candidates if (c[1], c[2], key) not in used), None)
            unit = Unit(f"manual-{intent}", str(n), "listener", clean_plain(line), labelled=True)
            unit.labels = [intent]
            unit.moves = src.moves_of([intent])
            if intent in EI_AMBIGUOUS:
                unit.drop = intent
            if hit is None:
                out.append([unit])
                continue
            offset, cid, i = hit
            used.add((cid, i, key))
            found.setdefault((cid, i), []).append((offset, unit))
            unit.dialogue, unit.turn = cid.replace(":", "_"), str(i)
            context = [
                Unit(cid, str(j), a, clean_plain(t)) for j, (a, t) in enumerate(convs[cid][:i])
            ]
            out.append([*context, unit])
    for (_, i), segments in found.items():  # several labelled sentences of one turn: i.1, i.2
        if len(segments) > 1:
            for k, (_, unit) in enumerate(sorted(segments, key=lambda s: s[0]), 1):
                unit.turn = f"{i}.{k}"
    return out


SGD_FILES = [f"dev/dialogues_{k:03d}.json" for k in range(1, 11)]


def read_sgd(snap: Snapshot, src: Source) -> list[list[Unit]]:
    """SGD dev dialogues 001-010: every SYSTEM turn with the acts of all its frames."""
    out = []
    for path in SGD_FILES:
        for dialogue in json.loads(snap.read(path)):
            units = []
            for n, turn in enumerate(dialogue["turns"]):
                unit = Unit(
                    dialogue["dialogue_id"], str(n), turn["speaker"], clean_plain(turn["utterance"])
                )
                if turn["speaker"] == "SYSTEM":
                    acts = [a["act"] for f in turn["frames"] for a in f["actions"]]
                    unit.labelled = True
                    unit.labels = sorted(set(acts))
                    unit.moves = src.moves_of(acts)
                units.append(unit)
            out.append(units)
    return out


SOURCES: list[Source] = [
    Source(
        name="annomi",
        title="AnnoMI: expert-annotated motivational-interviewing dialogues (full version)",
        repository="uccollab/AnnoMI",
        read=read_annomi,
        mapping={
            "reflection:simple": "reflect",
            "reflection:complex": "reflect",
            "question:open": "open_question",
            "input:advice": "solution",
            "input:options": "solution",
        },
        covers=["reflect", "open_question", "solution"],
        covered_negatives={
            "reflect": ["every therapist utterance without reflection_exists=True"],
            "open_question": ["question:closed", "every therapist utterance without a question"],
            "solution": ["input:information", "every therapist utterance without input"],
        },
        hard_negatives={"open_question": ["question:closed"], "solution": ["input:information"]},
        label_notes={
            "input:information": "covered negative for solution (giving information is not an offer)",
            "input:negotiation": "DROPPED: goal-setting negotiation mixes suggestions with "
            "questions, so a row carrying it is neither a clean positive nor a clean negative "
            "for solution",
        },
        licence="none stated",
        licence_evidence="uccollab/AnnoMI at the recorded commit has no LICENSE file and its "
        "README.md states no licence (it only asks users to cite the ICASSP 2022 and Future "
        "Internet 2023 papers); the transcripts are of third-party YouTube demonstration videos.",
        use="measure",
        notes="Therapist utterances of 133 MI demonstration sessions transcribed from YouTube; "
        "each therapist utterance was annotated by MI experts for reflection (simple/complex), "
        "question (open/closed) and therapist input (information/advice/negotiation/options). "
        "Utterances of the ten-annotator agreement subset get a label when a majority gave "
        "it (labels show the votes, e.g. 'question:open (7/10)'). 23 of the 133 sessions "
        "demonstrate LOW-quality MI (more advice and closed questions). 'options' and 'advice' are "
        "health-behaviour advice and menus of options, wider than a contact-centre remedy. "
        "Annotators called some permission questions open ('Is it okay if I take a look?').",
    ),
    Source(
        name="swda",
        title="Switchboard Dialog Act Corpus (SwDA), 42-class SWBD-DAMSL tags, Duran's text release",
        repository="NathanDuran/Switchboard-Corpus",
        read=read_swda,
        mapping={
            "bf": "reflect",
            "qo": "open_question",
            "qw": "open_question",
            "qw^d": "open_question",
            "fa": "apology",
            "ft": "gratitude",
            "fp": "greeting",
            "fc": "closing",
            "b": "backchannel",
            "bk": "backchannel",
        },
        covers=[
            "reflect",
            "open_question",
            "apology",
            "gratitude",
            "greeting",
            "closing",
            "backchannel",
        ],
        covered_negatives={
            "reflect": ["b^m (repeat-phrase)", "^2 (collaborative completion)", "all other tags"],
            "open_question": ["qy", "qy^d", "^g", "qrr", "bh", "qh", "all other tags"],
            "backchannel": [
                "aa (agree/accept, often a bare 'yeah'/'right')",
                "ny",
                "all other tags",
            ],
        },
        hard_negatives={"open_question": ["qy", "qy^d", "^g", "qrr"], "reflect": ["b^m"]},
        label_notes={
            "oo_co_cc": "NOT mapped: the 42-class release merges open-option/offer with "
            "commit ('I'll have to try that'), so it does not clearly mean solution; solution "
            "is not covered",
            'fo_o_fw_"_by_bc': "NOT mapped: merges 'by' (sympathy) with other/forward/"
            "thanks-welcome tags, so empathy is not covered",
            "ba": "NOT mapped: appreciation ('that's great', 'I can imagine') is not clearly empathy",
            "ad": "NOT mapped: action-directive",
        },
        licence="CC BY-NC-SA 3.0 (corpus); GPL-3.0 (repository)",
        licence_evidence="The SwDA dataset cards huggingface.co/datasets/swda and "
        "huggingface.co/datasets/cgpotts/swda (README.md, naming NathanDuran/Switchboard-Corpus "
        "as repository and C. Potts as point of contact) declare 'licenses: cc-by-nc-sa-3-0'; "
        "the repository's LICENSE file is the GNU GPL v3 (it covers the processing code); the "
        "transcripts derive from LDC's Switchboard-1 Release 2.",
        use="measure",
        notes="Telephone conversations between two strangers on an assigned topic: PEERS, not "
        "a helper and a customer, so both speakers' utterances are rows and `customer` is the "
        "other speaker's preceding talk. Units are SWBD-DAMSL utterances (often part of a "
        "turn); Duran's release already removed disfluency markup and joined '+' "
        "continuations. 'qw' (wh-question) includes data questions ('how old are you?'); "
        "rows keep the tag, so qo alone can be scored. Reformulations phrased as a "
        "declarative question are often tagged qy^d, a covered negative for reflect by the "
        "annotators but reflect by our GUIDE. 'fa' apologies are mostly etiquette ('excuse me, "
        "I'm sorry'). 'b' and 'bk' are listening tokens, but a bare 'yeah'/'right' tagged aa "
        "(agreement) is a negative for the annotators: our form-based backchannel will "
        "disagree there by design.",
    ),
    Source(
        name="mrda",
        title="ICSI Meeting Recorder Dialog Act corpus (MRDA), original .dadb release",
        repository="NathanDuran/MRDA-Corpus",
        read=read_mrda,
        mapping={
            "bs": "reflect",
            "bu": "reflect",
            "qo": "open_question",
            "qw": "open_question",
            "cs": "solution",
            "by": "empathy",
            "fa": "apology",
            "ft": "gratitude",
            "b": "backchannel",
            "bk": "backchannel",
        },
        covers=[
            "reflect",
            "open_question",
            "solution",
            "empathy",
            "apology",
            "gratitude",
            "backchannel",
        ],
        covered_negatives={
            "reflect": ["m (mimic other)", "r (repeat)", "all acts without bs/bu"],
            "open_question": ["qy", "qr", "qrr", "g", "qh", "all acts without qo/qw"],
            "solution": ["co (action-directive)", "cc (commit)", "all acts without cs"],
            "backchannel": ["aa (accept, often a bare 'yeah')", "all acts without b/bk"],
        },
        hard_negatives={
            "open_question": ["qy", "qr", "qrr", "g"],
            "reflect": ["m", "r"],
            "solution": ["co", "cc"],
        },
        label_notes={
            "x, z": "SKIPPED: non-verbal (x) and non-labelled (z) segments are not labelled acts",
            "co, cc": "NOT mapped: commands and commitments are not offers/suggestions",
        },
        licence="CC BY 4.0 reported for the ICSI Meeting Corpus (unconfirmed here); GPL-3.0 "
        "(repository)",
        licence_evidence="The repository's LICENSE file is GNU GPL v3 and its README points to "
        "groups.inf.ed.ac.uk/ami/icsi/download/ for the data; a mirror of that Edinburgh "
        "distribution (huggingface.co/datasets/ggfox00000/dia-ICSIMeetingCorpus-all) states "
        "'Licence : CC-BY-4.0 (cf CCBY4.0.txt à la racine)'. The MRDA .dadb files themselves "
        "carry no licence statement in this snapshot, so this is left measure-only until the "
        "Edinburgh licence file is read first-hand.",
        use="measure",
        notes="75 real research-group meetings (multi-party PEERS, no helper role): every "
        "labelled act is a row and `customer` is the other participants' preceding words. "
        "Text is lower case, as transcribed (no speech recogniser). Tags are the full MRDA "
        "label with every specific tag. 'bs' (summary) also covers a speaker summarising the "
        "discussion or their own point, and 'bu' (understanding check) restates information "
        "for validation, sometimes general information rather than what the other said: "
        "both are wider than our reflect (labels are kept, so bs and bu can be scored apart). "
        "'fa' is an apology for the speaker's own act (coughing, interrupting), narrower than "
        "and different from apologising for a customer's problem. 'by' (sympathy) has about "
        "a dozen instances in the whole corpus.",
    ),
    Source(
        name="empathetic_intents",
        title="EmpatheticIntents: hand-labelled listener intents in EmpatheticDialogues",
        repository="anuradha1992/EmpatheticIntents",
        read=read_empathetic_intents,
        mapping={
            "sympathizing": "empathy",
            "consoling": "empathy",
            "suggesting": "solution",
            "advising": "solution",
        },
        covers=["empathy", "solution"],
        covered_negatives={
            "empathy": [
                "questioning",
                "agreeing",
                "wishing",
                "appreciating",
                "disapproving",
                "sharing_experience",
                "sharing_opinions",
                "suggesting",
                "advising",
            ],
            "solution": ["every intent other than suggesting/advising"],
        },
        hard_negatives={},
        label_notes={
            "acknowledging": "DROPPED: 'admitting as being fact' includes sympathetic "
            "acknowledgements ('that's so sad to hear') that our GUIDE counts as empathy",
            "encouraging": "DROPPED: reassurance ('hope it all works out') is neither clearly "
            "empathy nor clearly not",
            "expressing_care_concern": "DROPPED: concern for the other is close to empathy "
            "without clearly naming a feeling",
            "expressing_relief": "DROPPED: same doubt as expressing_care_concern",
            "questioning": "NOT mapped: questions of every kind (open and closed mixed), so "
            "open_question is not covered",
        },
        licence="none stated for the annotations; EmpatheticDialogues itself CC BY-NC (see evidence)",
        licence_evidence="anuradha1992/EmpatheticIntents at the recorded commit has no LICENSE "
        "file and its README.md states no licence; the dialogues come from Facebook's "
        "EmpatheticDialogues, which ParlAI's task README describes as 'released under the CC "
        "BY-NC license' (a later ParlAI README says CC BY 4.0). With no licence on the "
        "annotations themselves, it is measure-only either way.",
        use="measure",
        notes="Only the manually annotated listener utterances (datasets/manual_annotations) "
        "are used; the repository's lexically extended and classifier-labelled files are "
        "keyword / model labels and are never read as labels. One intent per utterance "
        "(the annotator's main intent), so a 'suggesting' row that also sympathises counts "
        "as a negative for empathy. Crowd workers' written chat about personal events, not "
        "service calls. `customer` is recovered by matching the utterance's text in the "
        "shipped EmpatheticDialogues conversations (empty when not found).",
    ),
    Source(
        name="sgd",
        title="Schema-Guided Dialogue (SGD, DSTC8), dev dialogues_001-010",
        repository="google-research-datasets/dstc8-schema-guided-dialogue",
        read=read_sgd,
        mapping={
            "OFFER": "solution",
            "OFFER_INTENT": "solution",
            "NOTIFY_SUCCESS": "solution",
            "REQ_MORE": "closing",
            "GOODBYE": "closing",
        },
        covers=["solution", "closing"],
        covered_negatives={
            "solution": ["INFORM", "INFORM_COUNT", "REQUEST", "CONFIRM", "NOTIFY_FAILURE"],
            "closing": ["every system act other than REQ_MORE/GOODBYE"],
        },
        hard_negatives={"solution": ["CONFIRM", "NOTIFY_FAILURE"]},
        label_notes={
            "CONFIRM": "NOT mapped: reads back the booking before doing it (closer to summary, "
            "which is not covered)",
            "NOTIFY_FAILURE": "NOT mapped: usually 'sorry, I couldn't ...'; apology is not "
            "covered because SGD has no apology act",
            "REQUEST": "NOT mapped: slot-filling questions ('what time?'); open_question is "
            "not covered",
        },
        licence="CC BY-SA 4.0",
        licence_evidence="LICENSE.txt is 'Attribution-ShareAlike 4.0 International'; README.md "
        "section 'License': 'The SGD and SGD-X datasets are released under CC BY-SA 4.0 license.'",
        use="train",
        notes="1220 virtual-assistant dialogues in 16 domains (alarms, banks, buses, events, "
        "flights, homes, hotels, media, movies, music, rental cars, restaurants, ride sharing, "
        "services, travel, weather). The system acts were generated by a dialogue simulator, "
        "rendered as template utterances and paraphrased by crowd workers, so each label is "
        "the act the writer was asked to express (people wrote to the labels; nobody "
        "annotated the text after the fact). OFFER presents a found option ('How about X at "
        "7 pm?'), OFFER_INTENT offers to do something ('Would you like to book it?'), "
        "NOTIFY_SUCCESS reports a finished booking or payment (a finished fix is solution in "
        "our GUIDE): all wider than a contact-centre remedy. "
        "REQ_MORE is 'anything else I can help with?'.",
    ),
]


# --------------------------------------------------------------------------------------------
# Sampling and writing


def sample(units: list[Unit], src: Source, seed: int) -> list[Unit]:
    """Keeps every unit when there are at most MAX_ROWS. Otherwise, with one seeded RNG: up to
    CAP positives per covered move (rarest move first), shared equally between the original
    labels that give the move (so 'qo' is not swamped by the commoner 'qw'), then up to HARD_CAP
    covered negatives of special interest per move, then units with no covered move up to
    MAX_ROWS. Returns them in corpus order."""
    if len(units) <= MAX_ROWS:
        return units
    rng = random.Random(seed)
    chosen: set[int] = set()
    covers = sorted(src.covers, key=lambda m: sum(m in u.moves for u in units))
    for move in covers:
        room = CAP - sum(move in units[i].moves for i in chosen)
        groups: dict[str, list[int]] = {}
        for i, u in enumerate(units):
            if move in u.moves and i not in chosen:
                groups.setdefault(source_label(u, src, move), []).append(i)
        order = sorted(groups, key=lambda lab: (len(groups[lab]), lab))
        for k, lab in enumerate(order):  # smallest label first; what it leaves passes on
            take = min(max(0, room // (len(order) - k)), len(groups[lab]))
            chosen.update(rng.sample(groups[lab], take))
            room -= take
    for move in covers:
        hard = set(src.hard_negatives.get(move, []))
        pool = [
            i
            for i, u in enumerate(units)
            if i not in chosen and move not in u.moves and hard & set(label_keys(u, src))
        ]
        chosen.update(rng.sample(pool, min(HARD_CAP, len(pool))))
    rest = [i for i, u in enumerate(units) if i not in chosen and not u.moves & set(src.covers)]
    chosen.update(rng.sample(rest, max(0, min(MAX_ROWS - len(chosen), len(rest)))))
    return [units[i] for i in sorted(chosen)]


def source_label(unit: Unit, src: Source, move: str) -> str:
    """The original label that gives the unit this move (the first, if several do)."""
    return min(k for k in label_keys(unit, src) if src.mapping.get(k) == move)


def label_keys(unit: Unit, src: Source) -> list[str]:
    """The label names a hard-negative list refers to (MRDA: its specific tags)."""
    if src.name == "mrda":
        return [t for lab in unit.labels for t in mrda_tags(lab)]
    return [re.sub(r" \(\d+/\d+\)$", "", lab) for lab in unit.labels]


def prevalence(units: list[Unit], src: Source) -> dict[str, dict[str, object]]:
    """Per covered move: positives, units, rate, and the positives per original label."""
    n = len(units)
    out: dict[str, dict[str, object]] = {}
    for m in src.covers:
        pos = [u for u in units if m in u.moves]
        by_label = Counter(source_label(u, src, m) for u in pos)
        out[m] = {
            "positives": len(pos),
            "units": n,
            "rate": round(len(pos) / n, 4) if n else 0.0,
            "by_label": dict(sorted(by_label.items())),
        }
    return out


def file_records(snap: Snapshot) -> list[dict[str, str | int]]:
    """Every file read with its sha256; SwDA's 1155 conversation files become one entry whose
    sha256 is over the sorted '<sha256>  <path>' lines (sha256sum format)."""
    single: list[dict[str, str | int]] = []
    grouped: dict[str, list[str]] = {}
    for path, digest in sorted(snap.read_files.items()):
        if re.fullmatch(SWDA_FILES, path):
            grouped.setdefault("swda_data/{train,test,val}/*.txt", []).append(f"{digest}  {path}\n")
        else:
            single.append({"path": path, "sha256": digest})
    for pattern, lines in grouped.items():
        manifest = "".join(sorted(lines, key=lambda s: s[66:]))
        single.append(
            {
                "path": pattern,
                "count": len(lines),
                "sha256": hashlib.sha256(manifest.encode()).hexdigest(),
                "sha256_of": "the sorted lines '<sha256>  <path>' of the files (sha256sum format)",
            }
        )
    return single


def build(src: Source, mirror: Path, out: Path, seed: int) -> dict[str, object]:
    """Reads one source, writes <out>/<name>.jsonl and returns its sources.json entry."""
    snap = Snapshot(mirror, src.repository)
    try:
        dialogues = src.read(snap, src)
    finally:
        snap.close()
    unknown = set(src.mapping.values()) - set(MOVES)
    assert not unknown, f"{src.name}: mapping to unknown moves {unknown}"
    units: list[Unit] = []
    skipped_empty = 0
    dropped: Counter[str] = Counter()
    for dialogue in dialogues:
        dialogue[:] = [u for u in dialogue if has_words(u.text) or u.labelled]
        add_context([u for u in dialogue if has_words(u.text)])
        for u in dialogue:
            if not u.labelled:
                continue
            if not has_words(u.text):
                skipped_empty += 1
            elif u.drop:
                dropped[u.drop] += 1
            else:
                units.append(u)
    kept = sample(units, src, seed + zlib.crc32(src.name.encode()))
    lines = []
    for u in kept:
        row = {
            "id": f"{src.name}:{u.dialogue}:{u.turn}",
            "source": src.name,
            "text": u.text,
            "customer": u.customer,
            "moves": sorted(u.moves),
            "labels": u.labels,
        }
        lines.append(json.dumps(row, ensure_ascii=False))
    ids = [json.loads(line)["id"] for line in lines]
    assert len(ids) == len(set(ids)), f"{src.name}: duplicate ids"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{src.name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {
        "name": src.name,
        "title": src.title,
        "repository": f"https://github.com/{src.repository}",
        "commit": snap.commit,
        "files": file_records(snap),
        "licence": src.licence,
        "licence_evidence": src.licence_evidence,
        "use": src.use,
        "covers": src.covers,
        "mapping": {
            "label_to_move": src.mapping,
            "covered_negatives": src.covered_negatives,
            "other_labels": src.label_notes,
            "hard_negatives_oversampled": src.hard_negatives if len(units) > MAX_ROWS else {},
        },
        "rows": len(kept),
        "helper_units": len(units),
        "sampled": len(units) > MAX_ROWS,
        "seed": seed,
        "skipped_empty": skipped_empty,
        "dropped": dict(sorted(dropped.items())),
        "prevalence": {
            m: {"original": o, "file": f}
            for (m, o), f in zip(
                prevalence(units, src).items(),
                prevalence(kept, src).values(),
                strict=True,
            )
        },
        "notes": src.notes,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Sources (name: repository to fetch): "
        + "; ".join(f"{s.name}: github:{s.repository}" for s in SOURCES)
        + ". A source whose snapshot is missing is reported on one 'error: source NAME: ...' "
        "line and nothing is written (exit status 1).",
    )
    parser.add_argument(
        "--mirror",
        type=Path,
        required=True,
        help="where `fetch` put the snapshots (owner+name/repo)",
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="output folder, e.g. tests/data/people"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="SOURCE",
        help="rebuild only these sources (sources.json keeps the others)",
    )
    parser.add_argument("--seed", type=int, default=SEED, help=f"sampling seed (default {SEED})")
    args = parser.parse_args(argv)

    chosen = [s for s in SOURCES if not args.only or s.name in args.only]
    unknown = set(args.only or []) - {s.name for s in SOURCES}
    if unknown:
        parser.error(f"unknown source(s): {', '.join(sorted(unknown))}")
    missing = []
    for src in chosen:  # check every snapshot first, so a missing one writes nothing
        try:
            Snapshot(args.mirror, src.repository).close()
        except SourceError as err:
            missing.append(f"error: source {src.name}: {err}")
    if missing:
        print("\n".join(missing), file=sys.stderr)
        return 1

    index = args.out / "sources.json"
    entries = {e["name"]: e for e in json.loads(index.read_text())} if index.exists() else {}
    for src in chosen:
        try:
            entries[src.name] = build(src, args.mirror, args.out, args.seed)
        except SourceError as err:
            print(f"error: source {src.name}: {err}", file=sys.stderr)
            return 1
        e = entries[src.name]
        pos = ", ".join(f"{m} {p['file']['positives']}" for m, p in e["prevalence"].items())
        print(f"{src.name}: {e['rows']} rows of {e['helper_units']} helper units ({pos})")
    order = [s.name for s in SOURCES]
    ordered = sorted(
        entries.values(), key=lambda e: order.index(e["name"]) if e["name"] in order else 99
    )
    index.write_text(json.dumps(ordered, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
