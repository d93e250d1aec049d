"""Train the span ranker and the answerability model on the shared question sets.

Every question of the sets is run through the engine's own stages (index.search) with
the learned models switched off, so the training rows are exactly what the engine sees at
query time. A span is a positive when it holds a gold answer; an unanswerable question
contributes only negatives to the answerability model.

Honest figures: questions are split into two folds by the article (document) they are
about, the same article in the same fold across sets. Each fold is scored by models
trained on the other only, and those out-of-fold figures are what the README reports.
The shipped models are then trained on both folds.

    python bench/train_ranker.py [--sets squad-v1.1-dev,squad-v2.0-dev,seed_dev.jsonl,conala-pydocs-dev]
                                 [--docs conala-pydocs-dev=DIR] [--out index/models]

CoNaLa's pages are not in ../shared: fetch them with its fetch-docs.sh and pass --docs. Its
``conala-dev-*`` questions are held out entirely (never trained on, not even out of fold)
and reported apart; its ``conala-train-*`` questions join the folds.

Seeded (LightGBM deterministic mode, one thread): the same data gives the same models.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from common import CACHE, REPO, SHARED, machine_header, make_bench_embedder, table

from index.build import build_index
from index.config import EngineConfig
from index.engine import Engine
from index.evaluation import Question, default_documents_dir, read_questions
from index.features import ANSWER_FEATURES, SPAN_FEATURES
from index.search import ANSWER_CONTEXT, Query, RankedSpan, Searcher, span_relevance

SEED = 20261128
RANKER_PARAMS = {
    "objective": "lambdarank",
    "learning_rate": 0.08,
    "max_bin": 63,
    "num_leaves": 31,
    "min_data_in_leaf": 50,
    "lambdarank_truncation_level": 10,
    # Every span holding the answer counts the same (labels 1 and 2 of graded_labels). Rewarding
    # the shortest one more (gains 0, 3, 4) cost 3 points of out-of-fold SQuAD hit@1 (78.5
    # against 81.5): the ranker then bets on short spans it is less sure of.
    "label_gain": [0, 3, 3],
    "num_threads": 2,
    "deterministic": True,
    "force_row_wise": True,
    "seed": SEED,
    "verbose": -1,
}
ANSWER_PARAMS = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 40,
    "num_threads": 2,
    "deterministic": True,
    "force_row_wise": True,
    "seed": SEED,
    "verbose": -1,
}
RANKER_ROUNDS = 200
ANSWER_ROUNDS = 200
RANKS = (1, 3, 5)
HELD_OUT_PREFIX = "conala-dev-"
# Off-topic questions for the answerability model: (questions of, asked of the documents of, how many).
FOREIGN = (
    ("conala-pydocs-dev", "squad-v1.1-dev", 300),
    ("conala-pydocs-dev", "squad-v2.0-dev", 300),
    ("squad-v2.0-dev", "conala-pydocs-dev", 300),
)


@dataclass
class QuestionRows:
    """One question's candidate spans, features and labels."""

    set_name: str
    question: Question
    fold: int
    held_out: bool
    evidence_rows: list[RankedSpan]  # scored later; features in .features
    labels: np.ndarray
    searcher: Searcher
    query: Query
    foreign: bool = False  # an off-topic question asked of another set's documents (FOREIGN)


def engine_for(set_path: Path, embedder, documents: Path | None) -> tuple[Engine, list[Question]]:  # type: ignore[no-untyped-def]
    questions = read_questions(set_path)
    documents = documents or default_documents_dir(set_path) or SHARED / "corpus"
    key = hashlib.sha256(str(documents.resolve()).encode()).hexdigest()[:10]
    config = EngineConfig(
        documents_dir=documents, index_dir=CACHE / "train" / f"{documents.name}-{key}", learned_ranking=False
    )
    build_index(config, embedder)
    return Engine.load(config, embedder, verify=False), questions


def collect(set_name: str, engine: Engine, questions: list[Question]) -> list[QuestionRows]:
    searcher = engine.searcher
    out: list[QuestionRows] = []
    article = ""
    for q in questions:
        query = searcher.query(q.question, "hybrid")
        evidence = searcher.features(query, searcher.candidates(query, "hybrid"))
        spans, holds = [], []
        for e in evidence:
            chunk = searcher.chunks[e.candidate.row]
            text = chunk.text[e.start - chunk.start : e.end - chunk.start]
            spans.append(RankedSpan(e.candidate.row, e.start, e.end, 0.0, span_relevance(e), e.features))
            holds.append(any(gold in text for gold in q.answers))
        labels = graded_labels(spans, holds)
        gold_docs = [searcher.chunks[s.row].document for s, y in zip(spans, holds) if y]
        if gold_docs:
            article = gold_docs[0]
        # SQuAD lists questions article by article: an unanswerable one belongs to the article before it.
        fold = int(hashlib.sha256(article.encode()).hexdigest(), 16) % 2
        held_out = q.id.startswith(HELD_OUT_PREFIX)
        out.append(QuestionRows(set_name, q, fold, held_out, spans, np.array(labels, dtype=np.int32), searcher, query))
    return out


def collect_sets(names: list[str], documents: dict[str, str], backend: str) -> list[QuestionRows]:
    """Every question of the named sets through the engine's stages (the learned models off),
    then the :data:`FOREIGN` questions; ``documents`` names the folder of a set that has none
    beside its questions."""
    embedder = make_bench_embedder(backend)
    rows: list[QuestionRows] = []
    engines: dict[str, tuple[Engine, list[Question]]] = {}
    started = time.perf_counter()
    for name in names:
        folder = Path(documents[name]) if name in documents else None
        engine, questions = engines[name] = engine_for(SHARED / "eval" / name, embedder, folder)
        rows += collect(name, engine, questions)
        print(f"{name}: {len(questions)} questions, {engine.chunk_count} chunks", flush=True)
    for asked, of, count in FOREIGN:
        if asked in engines and of in engines:
            rows += collect_foreign(asked, engines[asked][1], of, engines[of][0], count)
    print(f"features collected in {time.perf_counter() - started:.0f} s", flush=True)
    return rows


def collect_foreign(asked: str, questions: list[Question], of: str, engine: Engine, count: int) -> list[QuestionRows]:
    """``count`` questions of the set ``asked`` (never held-out ones), asked of the documents
    of the set ``of``, where none can be answered: the plainly off-topic questions that the
    shared sets lack (their unanswerable ones all look answerable by their own article)."""
    pool = [q for q in questions if not q.id.startswith(HELD_OUT_PREFIX)]
    picked = [pool[i] for i in sorted(np.random.default_rng(SEED).permutation(len(pool))[:count])]
    name = f"{asked} asked of {of}"
    foreign = [replace(q, id=f"{name}:{q.id}", answers=(), answerable=False) for q in picked]
    rows = collect(name, engine, foreign)
    print(f"{name}: {len(rows)} off-topic questions", flush=True)
    # No article of their own: folds by question.
    return [
        replace(r, fold=int(hashlib.sha256(r.question.id.encode()).hexdigest(), 16) % 2, foreign=True) for r in rows
    ]


def graded_labels(spans: list[RankedSpan], holds: list[bool]) -> list[int]:
    """2 for the shortest spans that hold a gold answer, 1 for longer ones that hold it, 0
    for the rest: a longer span holds the answer more often, but a reader wants the answer,
    not its paragraph."""
    sentences = SPAN_FEATURES.index("sentences")
    lengths = [int(s.features[sentences]) for s, held in zip(spans, holds) if held]
    shortest = min(lengths, default=0)
    return [0 if not held else 2 if int(s.features[sentences]) == shortest else 1 for s, held in zip(spans, holds)]


def train_ranker(rows: list[QuestionRows]):  # type: ignore[no-untyped-def]
    """The span ranker. Off-topic (foreign) questions stay out: they hold no answer to rank,
    yet their rows would move LightGBM's feature bins and so the ranking."""
    import lightgbm

    usable = [r for r in rows if r.evidence_rows]
    x = np.vstack([np.vstack([s.features for s in r.evidence_rows]) for r in usable])
    y = np.concatenate([r.labels for r in usable])
    groups = [len(r.evidence_rows) for r in usable]
    data = lightgbm.Dataset(x, y, group=groups, feature_name=list(SPAN_FEATURES), free_raw_data=False)
    return lightgbm.train(RANKER_PARAMS, data, num_boost_round=RANKER_ROUNDS)


def ranked_for(r: QuestionRows, model) -> list[RankedSpan]:  # type: ignore[no-untyped-def]
    if not r.evidence_rows:
        return []
    scores = model.predict(np.vstack([s.features for s in r.evidence_rows]), num_threads=1)
    ranked = [replace(s, score=float(v)) for s, v in zip(r.evidence_rows, scores)]
    ranked.sort(key=lambda s: -s.score)
    return ranked


def answer_row(r: QuestionRows, ranked: list[RankedSpan]) -> np.ndarray:
    """The answerability row exactly as the engine builds it: from the selected spans."""
    shown = r.searcher.select(ranked, ANSWER_CONTEXT)
    return r.searcher.answer_row(r.query, shown)


def hit_rank(r: QuestionRows, shown: list[RankedSpan]) -> int | None:
    for rank, s in enumerate(shown, 1):
        chunk = r.searcher.chunks[s.row]
        text = chunk.text[s.start - chunk.start : s.end - chunk.start]
        if any(gold in text for gold in r.question.answers):
            return rank
    return None


def train_answer_model(x: np.ndarray, y: np.ndarray):  # type: ignore[no-untyped-def]
    import lightgbm

    data = lightgbm.Dataset(x, y, feature_name=list(ANSWER_FEATURES), free_raw_data=False)
    return lightgbm.train(ANSWER_PARAMS, data, num_boost_round=ANSWER_ROUNDS)


def out_of_fold(rows: list[QuestionRows]):  # type: ignore[no-untyped-def]
    """Each fold ranked by a ranker trained on the other, then its answerability judged by
    a model trained on the other fold's out-of-fold rankings: (rankings, answerability
    rows, probabilities), keyed by the index of the question in ``rows``."""
    oof_ranked: dict[int, list[RankedSpan]] = {}
    for fold in (0, 1):
        model = train_ranker([r for r in rows if r.fold != fold and not r.held_out and not r.foreign])
        for i, r in enumerate(rows):
            if r.fold == fold and not r.held_out:
                oof_ranked[i] = ranked_for(r, model)
    answer_x = {i: answer_row(rows[i], ranked) for i, ranked in oof_ranked.items() if ranked}
    answer_y = {i: int(r.question.answerable) for i, r in enumerate(rows)}
    oof_prob: dict[int, float] = {}
    for fold in (0, 1):
        train = [i for i in answer_x if rows[i].fold != fold]
        model = train_answer_model(np.vstack([answer_x[i] for i in train]), np.array([answer_y[i] for i in train]))
        for i in answer_x:
            if rows[i].fold == fold:
                oof_prob[i] = float(model.predict(answer_x[i].reshape(1, -1), num_threads=1)[0])
    return oof_ranked, answer_x, oof_prob


def final_models(rows: list[QuestionRows], answer_x: dict[int, np.ndarray]):  # type: ignore[no-untyped-def]
    """The shipped models: the ranker on every fold; the answerability model on out-of-fold
    rankings (in-sample scores are too sure)."""
    final_ranker = train_ranker([r for r in rows if not r.held_out and not r.foreign])
    answer_y = np.array([int(rows[i].question.answerable) for i in answer_x])
    final_answer = train_answer_model(np.vstack([answer_x[i] for i in answer_x]), answer_y)
    return final_ranker, final_answer


def score_held_out(rows, final_ranker, final_answer, oof_ranked, oof_prob) -> None:  # type: ignore[no-untyped-def]
    """Held-out questions are scored by the final models, which never saw them."""
    for i, r in enumerate(rows):
        if r.held_out:
            oof_ranked[i] = ranked_for(r, final_ranker)
            if oof_ranked[i]:
                oof_prob[i] = float(final_answer.predict(answer_row(r, oof_ranked[i]).reshape(1, -1), num_threads=1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sets",
        default="squad-v1.1-dev,squad-v2.0-dev,seed_dev.jsonl",
        help="question sets under ../shared/eval, comma-separated",
    )
    parser.add_argument(
        "--docs",
        action="append",
        default=[],
        metavar="SET=DIR",
        help="the documents of a set that has none beside its questions",
    )
    parser.add_argument("--out", type=Path, default=REPO / "index" / "models")
    parser.add_argument("--backend", default="onnx-int8")
    args = parser.parse_args()
    print(machine_header("Training the span ranker and the answerability model"), flush=True)
    rows = collect_sets(args.sets.split(","), dict(item.split("=", 1) for item in args.docs), args.backend)

    oof_ranked, answer_x, oof_prob = out_of_fold(rows)
    started = time.perf_counter()
    final_ranker, final_answer = final_models(rows, answer_x)
    print(f"final models trained in {time.perf_counter() - started:.0f} s", flush=True)
    score_held_out(rows, final_ranker, final_answer, oof_ranked, oof_prob)
    report = report_figures(rows, oof_ranked, oof_prob)
    args.out.mkdir(parents=True, exist_ok=True)
    final_ranker.save_model(str(args.out / "ranker.txt"))
    final_answer.save_model(str(args.out / "answerable.txt"))
    info = {
        "span_features": list(SPAN_FEATURES),
        "answer_features": list(ANSWER_FEATURES),
        "trained_on": args.sets.split(","),
        "seed": SEED,
        "thresholds": report["thresholds"],
        "out_of_fold": report["figures"],
    }
    (args.out / "models.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", flush=True)


def report_figures(rows, ranked, prob) -> dict:  # type: ignore[no-untyped-def]
    """Out-of-fold hit@k per set, and the thresholds chosen for the three outcomes."""
    from index.search import Searcher

    shown = {i: Searcher.select(rows[i].searcher, ranked[i], 10) for i in ranked}
    hits = {i: hit_rank(rows[i], shown[i]) for i in shown}
    figures: dict[str, dict] = {}
    table_rows = []
    parts = dict.fromkeys((r.set_name, r.held_out) for r in rows)
    for name, held_out in parts:
        answerable = [
            i for i, r in enumerate(rows) if r.set_name == name and r.held_out == held_out and r.question.answerable
        ]
        if not answerable:
            continue  # the off-topic (foreign) questions: their figures are the cut sweep's
        n = len(answerable)
        at = {k: sum(1 for i in answerable if hits.get(i) and hits[i] <= k) / n for k in RANKS}
        label = f"{name} (held out)" if held_out else name
        figures[label] = {"answerable": len(answerable), "hit_at": at}
        table_rows.append([label, str(len(answerable)), *(f"{100 * at[k]:.1f}" for k in RANKS)])
    print(table(["set", "answerable", "hit@1", "hit@3", "hit@5"], table_rows), flush=True)
    thresholds = choose_thresholds(rows, hits, prob)
    return {"figures": figures, "thresholds": thresholds}


def choose_thresholds(rows, hits, prob) -> dict:  # type: ignore[no-untyped-def]
    """``not_sure``: the highest probability cut that costs at most 3 points of answerable
    hit@1 on the sets with unanswerable questions; ``not_found``: the highest that costs at
    most 1 point. Printed as a sweep so the README can explain the choice."""
    mixed_sets = {r.set_name for r in rows if not r.question.answerable}
    mixed = [i for i in prob if rows[i].set_name in mixed_sets and not rows[i].held_out]
    answerable = [i for i in mixed if rows[i].question.answerable]
    unanswerable = [i for i in mixed if not rows[i].question.answerable]
    base_hit1 = sum(1 for i in answerable if hits.get(i) == 1) / max(1, len(answerable))
    sweep = []
    for cut in np.round(np.arange(0.05, 0.96, 0.05), 2):
        refused = [i for i in mixed if prob[i] < cut]
        refused_unanswerable = sum(1 for i in refused if not rows[i].question.answerable)
        hit1 = sum(1 for i in answerable if hits.get(i) == 1 and prob[i] >= cut) / max(1, len(answerable))
        precision = refused_unanswerable / len(refused) if refused else 1.0
        recall = refused_unanswerable / max(1, len(unanswerable))
        sweep.append({"cut": float(cut), "hit1_cost": base_hit1 - hit1, "precision": precision, "recall": recall})
    print(
        table(
            ["cut", "answerable hit@1 cost", "abstain precision", "abstain recall"],
            [
                [
                    f"{s['cut']:.2f}",
                    f"{100 * s['hit1_cost']:.1f}",
                    f"{100 * s['precision']:.1f}",
                    f"{100 * s['recall']:.1f}",
                ]
                for s in sweep
            ],
        ),
        flush=True,
    )
    not_sure = max((s["cut"] for s in sweep if s["hit1_cost"] <= 0.03), default=0.05)
    not_found = max((s["cut"] for s in sweep if s["hit1_cost"] <= 0.01), default=0.05)
    return {"not_sure": not_sure, "not_found": min(not_found, not_sure), "sweep": sweep}


if __name__ == "__main__":
    main()
