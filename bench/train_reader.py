"""Train the reader (a cross-encoder) and how its logit joins the ranking and the outcome.

1. **Candidates.** Every question of the shared sets goes through the engine's own stages,
   ranked out of fold by the span ranker (``train_ranker.out_of_fold``). The first
   ``READ_TOP`` selected spans, plus the best span holding the answer when it ranks lower,
   become (question, span, holds the answer) pairs: the engine's own hard negatives. An
   unanswerable question gives only negatives.
2. **Split by article**, as the ranker's folds: fold 0 trains the reader; fold 1 is cut in
   two by article, *tune* (how much the reader's logit weighs in the ranking, the
   answerability combination and the outcome cuts are fitted there) and *test* (the figures
   reported). CoNaLa's ``conala-dev-*`` questions are never trained on and are reported apart.
3. **Fine-tune** the packaged MiniLM: word embeddings and the first ``--frozen`` layers kept,
   the rest and a linear head on the mean-pooled last layer trained with binary
   cross-entropy, length-bucketed batches, seeded.
4. **Ship** int8 ONNX (``reader.onnx``, MatMul weights per channel, 7-bit so it runs the same
   on every CPU), its tokenizer and ``reader.json`` in ``index/models``. The figures are
   measured with that shipped graph, not the torch model.

    python bench/train_reader.py --docs conala-pydocs-dev=DIR [--minutes 40] [--out index/models]

Stage 1 and the trained weights are cached in bench/.cache/reader: ``--stage eval`` re-fits
and re-measures without training again, and ``--stage eval --reader index/models`` does so for
the shipped reader (after the ranker or answerability model was retrained).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import random
import shutil
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from common import CACHE, REPO, machine_header, table
from train_ranker import QuestionRows, collect_sets, final_models, out_of_fold, score_held_out

from index.embedding import DEFAULT_MODEL, resolve_model_path
from index.onnx_embedding import quantize_matmuls
from index.reader import (
    MAX_TOKENS,
    READ_TOP,
    READER_FEATURES,
    READER_FILE,
    SETTINGS_FILE,
    TOKENIZER_FILE,
    Reader,
    answer_logit,
    encode_pairs,
    reader_features,
)

SEED = 20261201
WORK = CACHE / "reader"
SETS = "squad-v1.1-dev,squad-v2.0-dev,seed_dev.jsonl,conala-pydocs-dev"
# Candidates of a question the evaluation reorders and the reports read.
SHOWN = 10


@dataclass
class Candidates:
    """One question's shown spans, out of fold, with what the reader needs."""

    set_name: str
    qid: str
    question: str
    answerable: bool
    part: str  # train, tune, test or held_out
    spans: list[str]
    holds: list[bool]
    ranker_scores: list[float]
    answer_probability: float  # the ranker stage's answerability, out of fold
    extra_positive: str | None = None  # the best span holding the answer, when below READ_TOP
    logits: list[float] = field(default_factory=list)  # the shipped reader's, filled at evaluation


def part_of(row: QuestionRows, article: str) -> str:
    if row.held_out:
        return "held_out"
    if row.fold == 0:
        return "train"
    return "tune" if int(hashlib.sha256(f"tune:{article}".encode()).hexdigest(), 16) % 2 == 0 else "test"


def candidates(sets: list[str], documents: dict[str, str], backend: str) -> list[Candidates]:
    rows = collect_sets(sets, documents, backend)
    oof_ranked, answer_x, oof_prob = out_of_fold(rows)
    final_ranker, final_answer = final_models(rows, answer_x)
    score_held_out(rows, final_ranker, final_answer, oof_ranked, oof_prob)
    out = []
    for i, r in enumerate(rows):
        ranked = oof_ranked.get(i) or []
        shown = r.searcher.select(ranked, SHOWN)
        texts = [span_text(r, s) for s in shown]
        holds = [any(gold in t for gold in r.question.answers) for t in texts]
        extra = None
        if not any(holds[:READ_TOP]):
            for s in ranked:
                text = span_text(r, s)
                if any(gold in text for gold in r.question.answers):
                    extra = text
                    break
        article = r.searcher.chunks[shown[0].row].document if shown else ""
        for s, held in zip(shown, holds):
            if held:
                article = r.searcher.chunks[s.row].document
                break
        out.append(
            Candidates(
                r.set_name,
                r.question.id,
                r.question.question,
                r.question.answerable,
                part_of(r, article),
                texts,
                holds,
                [s.score for s in shown],
                oof_prob.get(i, 0.0),
                extra,
            )
        )
    return out


def span_text(r: QuestionRows, s) -> str:  # type: ignore[no-untyped-def]
    chunk = r.searcher.chunks[s.row]
    return chunk.text[s.start - chunk.start : s.end - chunk.start]


# ---------------------------------------------------------------------- training
def training_pairs(questions: list[Candidates], spans: int = READ_TOP) -> list[tuple[str, str, float]]:
    """(question, span, holds the answer) for the first ``spans`` shown spans of every
    training question, and its best answering span when none of those holds it."""
    pairs = []
    for q in questions:
        if q.part != "train" or q.set_name == "seed_dev.jsonl":  # the bundled article stays unseen
            continue
        for text, held in zip(q.spans[:spans], q.holds[:spans]):
            pairs.append((q.question, text, float(held)))
        if q.extra_positive is not None and not any(q.holds[:spans]):
            pairs.append((q.question, q.extra_positive, 1.0))
    return pairs


def fine_tune(pairs: list[tuple[str, str, float]], args: argparse.Namespace):  # type: ignore[no-untyped-def]
    import torch
    from tokenizers import Tokenizer

    torch.manual_seed(SEED)
    random.seed(SEED)
    torch.set_num_threads(args.threads)
    model_path = Path(resolve_model_path(DEFAULT_MODEL))
    tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=MAX_TOKENS, strategy="longest_first")
    tokenizer.no_padding()
    model = CrossEncoder.create(model_path, layers=args.layers, frozen=args.frozen)
    lengths = [len(e.ids) for e in tokenizer.encode_batch([(q, s) for q, s, _ in pairs])]
    order = sorted(range(len(pairs)), key=lambda i: (lengths[i], i))
    batches = [order[i : i + args.batch] for i in range(0, len(order), args.batch)]
    steps = len(batches) * args.epochs
    body = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("head")]
    optimizer = torch.optim.AdamW(
        [{"params": body, "lr": args.lr}, {"params": model.head.parameters(), "lr": args.head_lr}], weight_decay=0.01
    )
    warmup = max(1, steps // 20)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup) * max(0.0, (steps - step) / max(1, steps - warmup))
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    deadline = time.perf_counter() + args.minutes * 60
    started = time.perf_counter()
    step, seen, running = 0, 0, 0.0
    model.train()
    for epoch in range(args.epochs):
        random.Random(SEED + epoch).shuffle(batches)
        for batch in batches:
            question = [pairs[i] for i in batch]
            ids, mask, types = encode_pairs(tokenizer, [(q, span) for q, span, _ in question])
            logits = model(torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(types))
            loss = loss_fn(logits, torch.tensor([p[2] for p in question], dtype=torch.float32))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            seen += len(batch)
            running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
            if step % 50 == 0:
                rate = seen / (time.perf_counter() - started)
                left = (steps - step) * args.batch / rate
                print(
                    f"epoch {epoch + 1} step {step}/{steps} loss {running:.4f} {rate:.1f} pairs/s ~{left / 60:.0f} min left",
                    flush=True,
                )
            if time.perf_counter() > deadline:
                print(f"time cap reached after {step} of {steps} steps", flush=True)
                return model, {
                    "steps": step,
                    "planned_steps": steps,
                    "pairs_seen": seen,
                    "seconds": time.perf_counter() - started,
                }
    return model, {"steps": step, "planned_steps": steps, "pairs_seen": seen, "seconds": time.perf_counter() - started}


def _cross_encoder_class():  # type: ignore[no-untyped-def]
    import torch
    from transformers import AutoModel

    class _CrossEncoder(torch.nn.Module):
        def __init__(self, encoder) -> None:  # type: ignore[no-untyped-def]
            super().__init__()
            self.encoder = encoder
            self.head = torch.nn.Linear(encoder.config.hidden_size, 1)

        @classmethod
        def create(cls, path: Path, *, layers: int, frozen: int):  # type: ignore[no-untyped-def]
            encoder = AutoModel.from_pretrained(str(path), local_files_only=True)
            # The first layers only: each costs a model run's share at query time.
            encoder.encoder.layer = encoder.encoder.layer[:layers]
            encoder.config.num_hidden_layers = layers
            model = cls(encoder)
            for p in encoder.embeddings.parameters():
                p.requires_grad = False
            for layer in encoder.encoder.layer[:frozen]:
                for p in layer.parameters():
                    p.requires_grad = False
            return model

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            hidden = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return self.head(pooled).squeeze(-1)

    return _CrossEncoder


class CrossEncoder:  # a lazy alias: torch is imported only when training
    @staticmethod
    def create(path: Path, *, layers: int, frozen: int):  # type: ignore[no-untyped-def]
        return _cross_encoder_class().create(path, layers=layers, frozen=frozen)


def export(model, out: Path) -> None:  # type: ignore[no-untyped-def]
    """int8 ONNX and the tokenizer into ``out``, written beside and renamed."""
    import torch

    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".reader-") as scratch:
        fp32 = Path(scratch) / "reader-fp32.onnx"
        sample = torch.ones((2, 8), dtype=torch.int64)
        axes = {0: "batch", 1: "tokens"}
        with torch.no_grad():
            torch.onnx.export(
                model,
                (sample, sample, torch.zeros_like(sample)),
                str(fp32),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["logit"],
                dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes, "logit": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
        int8 = Path(scratch) / READER_FILE
        quantize_matmuls(fp32, int8, reduce_range=True)  # the shipped file runs alike on every CPU
        half_word_embeddings(int8)
        os.replace(int8, out / READER_FILE)
    shutil.copyfile(Path(resolve_model_path(DEFAULT_MODEL)) / "tokenizer.json", out / TOKENIZER_FILE)


def half_word_embeddings(path: Path) -> None:
    """Store the word-embedding table (47 of the graph's 55 MB, frozen in training) as float16,
    cast back to float32 in the graph: the shipped file stays near 30 MB. int8 would be
    smaller, but int8 word embeddings cost the embedder 5 points of cosine."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    table = max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)) if t.data_type == TensorProto.FLOAT else 0)
    half = numpy_helper.from_array(numpy_helper.to_array(table).astype(np.float16), table.name + "_fp16")
    model.graph.initializer.remove(table)
    model.graph.initializer.append(half)
    model.graph.node.insert(0, helper.make_node("Cast", [half.name], [table.name], to=TensorProto.FLOAT))
    onnx.save(model, str(path))


# ---------------------------------------------------------------------- fitting and figures
def read_all(questions: list[Candidates], reader: Reader, spans: int) -> None:
    """The shipped reader's logits on every evaluated question's first ``spans`` spans."""
    started = time.perf_counter()
    evaluated = [q for q in questions if q.part in ("tune", "test", "held_out") and q.spans]
    for n, q in enumerate(evaluated, 1):
        q.logits = reader.logits(q.question, q.spans[:spans]).tolist()
        if n % 1000 == 0:
            print(f"read {n}/{len(evaluated)} questions in {time.perf_counter() - started:.0f} s", flush=True)


def reading_ms(questions: list[Candidates], reader: Reader, read: int, sample: int = 200) -> float:
    """Median milliseconds for the reader to read ``read`` spans of a question."""
    times = []
    for q in [q for q in questions if q.part == "test" and len(q.spans) >= read][:sample]:
        t = time.perf_counter()
        reader.logits(q.question, q.spans[:read])
        times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times))


def reading(questions: list[Candidates], read: int) -> list[Candidates]:
    """The questions as if the reader read only the first ``read`` spans."""
    return [replace(q, logits=q.logits[:read]) for q in questions]


def reordered(q: Candidates, weight: float | None) -> list[int]:
    """The shown spans' order with the reader: the spans it read by ranker score plus
    ``weight`` times the reader's logit (None: the ranker alone), the rest as they were."""
    n = len(q.logits)
    if weight is None or not n:
        return list(range(len(q.spans)))
    head = sorted(range(n), key=lambda i: -(q.ranker_scores[i] + weight * q.logits[i]))
    return head + list(range(n, len(q.spans)))


def first_hit(q: Candidates, order: list[int]) -> int | None:
    for rank, i in enumerate(order, 1):
        if q.holds[i]:
            return rank
    return None


def features_of(q: Candidates, order: list[int]) -> np.ndarray:
    return reader_features(q.answer_probability, [q.logits[i] for i in order[: len(q.logits)]])


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0) -> tuple[np.ndarray, float]:
    """Logistic regression by Newton's method on standardized columns (few features, no
    extra dependency); returns coefficients and intercept on the raw scale."""
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = np.column_stack([np.ones(len(x)), (x - mean) / scale])
    w = np.zeros(z.shape[1])
    penalty = np.diag([0.0] + [l2] * x.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-(z @ w)))
        gradient = z.T @ (p - y) + penalty @ w
        hessian = (z * (p * (1 - p))[:, None]).T @ z + penalty
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    coefficients = w[1:] / scale
    return coefficients, float(w[0] - (coefficients * mean).sum())


def auc(scores: list[float], positive: list[bool]) -> float:
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    pos = np.array(positive)
    n_pos, n_neg = pos.sum(), (~pos).sum()
    if not n_pos or not n_neg:
        return float("nan")
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def evaluate(questions: list[Candidates], read: int, reader_ms: float, training: dict) -> dict:
    tune = [q for q in questions if q.part == "tune" and q.logits]
    # How much the reader weighs beside the ranker: the best hit@1 on tune.
    grid = [0.0, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0]
    answerable_tune = [q for q in tune if q.answerable]
    hit1 = {w: sum(first_hit(q, reordered(q, w)) == 1 for q in answerable_tune) for w in grid}
    weight = max(grid, key=lambda w: (hit1[w], -w))
    print(
        table(["reader weight", "tune hit@1"], [[f"{w}", f"{100 * hit1[w] / len(answerable_tune):.1f}"] for w in grid])
    )

    # Answerability: the ranker stage's probability and the reader's logits, on the mixed sets.
    mixed = {q.set_name for q in questions if not q.answerable}
    fit_rows = [q for q in tune if q.set_name in mixed]
    x = np.vstack([features_of(q, reordered(q, weight)) for q in fit_rows])
    y = np.array([float(q.answerable) for q in fit_rows])
    coefficients, intercept = fit_logistic(x, y)

    def probability(q: Candidates) -> float:
        return float(1 / (1 + np.exp(-answer_logit(features_of(q, reordered(q, weight)), coefficients, intercept))))

    cuts = sweep(fit_rows, probability, weight)
    not_sure = max((s["cut"] for s in cuts if s["hit1_cost"] <= 0.03), default=0.0)
    not_found = min(max((s["cut"] for s in cuts if s["hit1_cost"] <= 0.01), default=0.0), not_sure)

    figures: dict[str, dict] = {}
    rows = []
    for name in dict.fromkeys(q.set_name for q in questions):
        for part in ("test", "held_out"):
            chosen = [q for q in questions if q.set_name == name and q.part == part]
            answerable = [q for q in chosen if q.answerable]
            if not answerable:
                continue
            label = f"{name} ({part})"
            before = [first_hit(q, reordered(q, None)) for q in answerable]
            after = [
                first_hit(q, reordered(q, weight)) if q.logits else first_hit(q, reordered(q, None)) for q in answerable
            ]
            entry: dict = {"answerable": len(answerable)}
            for tag, hits in (("before", before), ("after", after)):
                entry[tag] = {k: sum(1 for h in hits if h and h <= k) / len(answerable) for k in (1, 3, 5)}
            unanswerable = [q for q in chosen if not q.answerable]
            if unanswerable:
                p = {q.qid: probability(q) for q in chosen}
                entry["auc_before"] = auc([-q.answer_probability for q in chosen], [not q.answerable for q in chosen])
                entry["auc_after"] = auc([-p[q.qid] for q in chosen], [not q.answerable for q in chosen])
                for reading, cut in (("strict", not_found), ("loose", not_sure)):
                    refused = [q for q in chosen if p[q.qid] < cut]
                    right = sum(1 for q in refused if not q.answerable)
                    kept_hits = sum(
                        1 for q in answerable if p[q.qid] >= cut and first_hit(q, reordered(q, weight)) == 1
                    )
                    entry[reading] = {
                        "cut": cut,
                        "precision": right / len(refused) if refused else 1.0,
                        "recall": right / len(unanswerable),
                        "answered_hit1": kept_hits / len(answerable),
                    }
            figures[label] = entry
            rows.append(
                [
                    label,
                    str(len(answerable)),
                    *(f"{100 * entry['before'][k]:.1f} → {100 * entry['after'][k]:.1f}" for k in (1, 3, 5)),
                ]
            )
    print(table(["set", "answerable", "hit@1", "hit@3", "hit@5"], rows))
    for label, entry in figures.items():
        if "strict" in entry:
            print(
                f"{label}: abstain AUC {entry['auc_before']:.3f} → {entry['auc_after']:.3f}; "
                + "; ".join(
                    f"{reading} (cut {entry[reading]['cut']:.2f}): precision {100 * entry[reading]['precision']:.1f}, "
                    f"recall {100 * entry[reading]['recall']:.1f}, confident hit@1 {100 * entry[reading]['answered_hit1']:.1f}"
                    for reading in ("strict", "loose")
                )
            )
    gates = gate_sweep(questions, weight, probability, not_sure)
    return {
        "read_top": read,
        "gates": gates,
        "reader_weight": weight,
        "answer_features": list(READER_FEATURES),
        "answer_coefficients": coefficients.tolist(),
        "answer_intercept": intercept,
        "thresholds": {"not_sure": not_sure, "not_found": not_found, "sweep": cuts},
        "reader_ms_median": reader_ms,
        "training": training,
        "seed": SEED,
        "figures": figures,
    }


def gate_sweep(questions: list[Candidates], weight: float, probability, not_sure: float) -> list[dict]:  # type: ignore[no-untyped-def]
    """Reading only when the ranker stage is less sure than a gate (the rest answered as ranked):
    the share of test questions read, v1.1 hit@1, and v2 abstain precision / recall at not-sure."""
    v1 = [q for q in questions if q.part == "test" and q.set_name == "squad-v1.1-dev" and q.answerable]
    v2 = [q for q in questions if q.part == "test" and q.set_name == "squad-v2.0-dev"]
    out = []
    for gate in (1.01, 0.99, 0.97, 0.95, 0.9, 0.8, 0.7):
        if gate < not_sure:
            continue
        read = [q for q in v1 + v2 if q.answer_probability < gate]
        hit1 = sum(first_hit(q, reordered(q, weight if q.answer_probability < gate else None)) == 1 for q in v1)
        refused = [q for q in v2 if q.answer_probability < gate and probability(q) < not_sure]
        right = sum(1 for q in refused if not q.answerable)
        out.append(
            {
                "gate": gate,
                "read_share": len(read) / max(1, len(v1 + v2)),
                "v1_hit1": hit1 / max(1, len(v1)),
                "v2_precision": right / len(refused) if refused else 1.0,
                "v2_recall": right / max(1, sum(not q.answerable for q in v2)),
            }
        )
    print(
        table(
            ["read when ranker below", "share read", "v1.1 test hit@1", "v2 abstain precision", "v2 abstain recall"],
            [
                [
                    f"{g['gate']:.2f}",
                    f"{100 * g['read_share']:.0f} %",
                    f"{100 * g['v1_hit1']:.1f}",
                    f"{100 * g['v2_precision']:.1f}",
                    f"{100 * g['v2_recall']:.1f}",
                ]
                for g in out
            ],
        )
    )
    return out


def sweep(rows: list[Candidates], probability, weight: float) -> list[dict]:  # type: ignore[no-untyped-def]
    answerable = [q for q in rows if q.answerable]
    unanswerable = [q for q in rows if not q.answerable]
    p = {id(q): probability(q) for q in rows}
    base = sum(first_hit(q, reordered(q, weight)) == 1 for q in answerable) / max(1, len(answerable))
    out = []
    for cut in np.round(np.arange(0.05, 0.96, 0.05), 2):
        refused = [q for q in rows if p[id(q)] < cut]
        right = sum(1 for q in refused if not q.answerable)
        kept = sum(1 for q in answerable if p[id(q)] >= cut and first_hit(q, reordered(q, weight)) == 1)
        out.append(
            {
                "cut": float(cut),
                "hit1_cost": base - kept / max(1, len(answerable)),
                "precision": right / len(refused) if refused else 1.0,
                "recall": right / max(1, len(unanswerable)),
            }
        )
    print(
        table(
            ["cut", "hit@1 cost", "abstain precision", "abstain recall"],
            [
                [
                    f"{s['cut']:.2f}",
                    f"{100 * s['hit1_cost']:.1f}",
                    f"{100 * s['precision']:.1f}",
                    f"{100 * s['recall']:.1f}",
                ]
                for s in out
            ],
        )
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=SETS, help="question sets under ../shared/eval, comma-separated")
    parser.add_argument("--docs", action="append", default=[], metavar="SET=DIR", help="a set's documents folder")
    parser.add_argument("--out", type=Path, default=REPO / "index" / "models")
    parser.add_argument("--backend", default="onnx-int8")
    parser.add_argument("--stage", choices=("all", "candidates", "train", "eval"), default="all")
    parser.add_argument("--minutes", type=float, default=45.0, help="training time cap")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument(
        "--spans",
        type=int,
        default=READ_TOP,
        help="shown spans of each training question it learns from (hard negatives)",
    )
    parser.add_argument("--layers", type=int, default=4, help="transformer layers of the reader (MiniLM has 6)")
    parser.add_argument("--frozen", type=int, default=1, help="lower transformer layers kept as they are")
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--head-lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--read-top", type=int, default=1, help="spans the shipped reader reads")
    parser.add_argument("--sweep", type=int, default=READ_TOP, help="measure reading 1 to this many spans")
    parser.add_argument(
        "--read-below", type=float, default=1.01, help="read only where the ranker's confidence is below this"
    )
    parser.add_argument(
        "--reader", type=Path, help="evaluate the reader in this folder (e.g. index/models) instead of the trained one"
    )
    args = parser.parse_args()
    print(machine_header("Training the reader"), flush=True)
    WORK.mkdir(parents=True, exist_ok=True)
    cache = WORK / "candidates.pkl"
    if args.stage in ("all", "candidates") or not cache.is_file():
        questions = candidates(args.sets.split(","), dict(item.split("=", 1) for item in args.docs), args.backend)
        cache.write_bytes(pickle.dumps(questions))
    questions = pickle.loads(cache.read_bytes())
    counts = {part: sum(q.part == part for q in questions) for part in ("train", "tune", "test", "held_out")}
    print(f"questions by part: {counts}", flush=True)
    if args.stage == "candidates":
        return
    info_file = WORK / "training.json"
    if args.stage in ("all", "train"):
        pairs = training_pairs(questions, args.spans)
        print(f"{len(pairs)} training pairs, {sum(p[2] for p in pairs):.0f} positive", flush=True)
        model, training = fine_tune(pairs, args)
        training.update(
            {k: getattr(args, k) for k in ("epochs", "batch", "spans", "layers", "frozen", "lr", "head_lr", "threads")}
        )
        training["pairs"] = len(pairs)
        export(model, WORK)
        info_file.write_text(json.dumps(training, indent=2), encoding="utf-8")
        if args.stage == "train":
            return
    trained = args.reader or WORK
    training = json.loads(
        info_file.read_text(encoding="utf-8") if trained == WORK else (trained / SETTINGS_FILE).read_text("utf-8")
    )
    training = training.get("training", training)
    reader = Reader.load(trained)
    assert reader is not None, f"no reader in {trained}: run --stage train first"
    read_all(questions, reader, args.sweep)
    results = {}
    for read in range(1, args.sweep + 1):
        print(f"\n## The reader reads the first {read} span(s)", flush=True)
        results[read] = evaluate(reading(questions, read), read, reading_ms(questions, reader, read), training)
    summary = []
    for read, info in results.items():
        v1 = info["figures"].get("squad-v1.1-dev (test)", {})
        v2 = info["figures"].get("squad-v2.0-dev (test)", {})
        conala = info["figures"].get("conala-pydocs-dev (held_out)", {})
        summary.append(
            [
                str(read),
                f"{info['reader_ms_median']:.1f}",
                f"{100 * v1['before'][1]:.1f} → {100 * v1['after'][1]:.1f}" if v1 else "",
                f"{v2.get('auc_before', 0):.3f} → {v2.get('auc_after', 0):.3f}" if v2 else "",
                f"{100 * v2['loose']['precision']:.1f} / {100 * v2['loose']['recall']:.1f}" if v2 else "",
                f"{100 * conala['before'][5]:.1f} → {100 * conala['after'][5]:.1f}" if conala else "",
            ]
        )
    print(
        table(
            [
                "spans read",
                "reader ms",
                "v1.1 test hit@1",
                "v2 test abstain AUC",
                "v2 abstain P / R",
                "CoNaLa dev hit@5",
            ],
            summary,
        )
    )
    info = results[args.read_top]
    info["read_below"] = args.read_below
    args.out.mkdir(parents=True, exist_ok=True)
    for name in (READER_FILE, TOKENIZER_FILE):
        if (trained / name).resolve() != (args.out / name).resolve():
            shutil.copyfile(trained / name, args.out / name)
    (args.out / SETTINGS_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
