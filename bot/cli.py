"""The ``verbatim`` command line: index, ask, search, sources, eval, chat and run."""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.engine_factory import make_embedder, open_engine
from bot.logs import configure_logging
from bot.progress import build_progress
from bot.settings import Settings, load_settings
from bot.terminal import answer_json, quote_block, render_answer, render_build_report
from index import RETRIEVERS, VerbatimError, build_index, clean_question

log = logging.getLogger(__name__)

EPILOG = """\
Settings come from VERBATIM_* environment variables or a .env file (see README).
Examples:
  verbatim index                      index docs/ (only what changed)
  verbatim ask "What did the Department of Defense demand from Anthropic?"
  verbatim ask --json -k 5 "Who leads OpenAI?"
  verbatim eval ../shared/eval/squad-v1.1-dev --retriever all
"""


def _parser() -> argparse.ArgumentParser:
    # Global options work before or after the command ("verbatim index --index-dir X").
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--docs", type=Path, metavar="DIR", default=argparse.SUPPRESS, help="documents folder (default: docs, or VERBATIM_DOCS_DIR)")
    common.add_argument("--index-dir", type=Path, metavar="DIR", default=argparse.SUPPRESS, help="index folder (default: .verbatim/index)")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log progress details to stderr")
    parser = argparse.ArgumentParser(
        prog="verbatim",
        description="Answer questions about your documents with their own words, quoted and cited.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, **kwargs: object) -> argparse.ArgumentParser:
        return subparsers.add_parser(name, parents=[common], **kwargs)  # type: ignore[arg-type]

    index = command("index", help="build or update the index", description="Index the documents. Only new or changed documents are embedded again; deleted ones are removed.")
    index.add_argument("dir", nargs="?", type=Path, metavar="DIR", help="documents folder (overrides --docs)")
    index.add_argument("--rebuild", action="store_true", help="start from scratch instead of updating")

    ask = command("ask", help="answer a question with quotes", description="Quote the passages that answer QUESTION, each with its citation, or say that the documents do not hold the answer. Builds the index first if there is none.")
    ask.add_argument("question", metavar="QUESTION")
    ask.add_argument("-k", type=int, metavar="N", help="number of passages (default: 3, or VERBATIM_TOP_K)")
    ask.add_argument("--json", action="store_true", help="print every field as JSON")
    ask.add_argument("--retriever", choices=RETRIEVERS, help="hybrid (default), dense or lexical")

    search = command("search", help="list matching passages without abstaining", description="The best passages for QUERY, best first, even when none is a good answer.")
    search.add_argument("query", metavar="QUERY")
    search.add_argument("-k", type=int, default=10, metavar="N", help="number of passages (default: 10)")
    search.add_argument("--json", action="store_true", help="print every field as JSON")
    search.add_argument("--retriever", choices=RETRIEVERS)

    command("sources", help="list the indexed documents", description="List the indexed documents with their chunk counts and indexing times.")

    evaluate = command("eval", help="measure answer quality on a question set", description="Run a question set (JSON lines with gold answers) and report hit@1/3/5, MRR@10, abstain precision and recall, and whether every quote is verbatim.")
    evaluate.add_argument("questions", type=Path, metavar="QUESTIONS", help="a questions .jsonl file, or a folder with questions.jsonl and docs/")
    evaluate.add_argument("--retriever", choices=(*RETRIEVERS, "all"), default="hybrid", help="retriever to measure, or all three side by side")
    evaluate.add_argument("--limit", type=int, metavar="N", help="only the first N questions")
    evaluate.add_argument("--threshold", type=float, help="abstain threshold to score at (default: the configured one)")
    evaluate.add_argument("--sweep", action="store_true", help="also show abstain precision/recall across thresholds")
    evaluate.add_argument("--json", action="store_true", help="print the metrics as JSON")

    command("chat", help="try the bot in the terminal, without Discord", description="A console that shows exactly what the bot would post for each question (and /search, /sources, /source).")
    command("run", help="run the Discord bot", description="Connect to Discord and answer there. Needs DISCORD_TOKEN (see README, 'Discord bot').")

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    for name, default in (("docs", None), ("index_dir", None), ("verbose", False)):
        if not hasattr(args, name):
            setattr(args, name, default)
    try:
        settings = load_settings(docs_dir=getattr(args, "dir", None) or args.docs, index_dir=args.index_dir)
        configure_logging("INFO" if args.verbose else settings.log_level, settings.log_format)
        handler = {
            "index": _index,
            "ask": _ask,
            "search": _search,
            "sources": _sources,
            "eval": _eval,
            "chat": _chat,
            "run": _run,
        }[args.command]
        return handler(args, settings)
    except VerbatimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _index(args: argparse.Namespace, settings: Settings) -> int:
    embedder = make_embedder(settings)
    with build_progress() as progress:
        report = build_index(settings.engine_config(), embedder, rebuild=args.rebuild, progress=progress)
    print(render_build_report(report, verbose=args.verbose))
    return 0


def _engine(settings: Settings):  # type: ignore[no-untyped-def]
    embedder = make_embedder(settings)
    with build_progress() as progress:
        engine, report = open_engine(
            settings,
            embedder,
            on_first_build=lambda: print(f"No index yet: indexing {settings.docs_dir} first.", file=sys.stderr),
            progress=progress,
        )
    if report is not None:
        print(render_build_report(report), file=sys.stderr)
    return engine


def _ask(args: argparse.Namespace, settings: Settings) -> int:
    clean_question(args.question, settings.max_question_chars)  # fail fast, before loading anything
    engine = _engine(settings)
    answer = engine.ask(args.question, k=args.k, retriever=args.retriever)
    print(answer_json(answer) if args.json else render_answer(answer))
    return 0


def _search(args: argparse.Namespace, settings: Settings) -> int:
    clean_question(args.query, settings.max_question_chars)
    engine = _engine(settings)
    passages = engine.search(args.query, k=args.k, retriever=args.retriever)
    if args.json:
        from dataclasses import asdict

        print(json.dumps([asdict(p) | {"citation": p.citation} for p in passages], ensure_ascii=False, indent=2))
    else:
        print("\n\n".join(f"{n}. (score {p.score:.3f})\n{quote_block(p)}" for n, p in enumerate(passages, 1)) or "No passages.")
    return 0


def _sources(args: argparse.Namespace, settings: Settings) -> int:
    engine = _engine(settings)
    documents = engine.documents()
    width = max(len(d.path) for d in documents)
    print(f"{'document':<{width}}  chunks  indexed at")
    for d in documents:
        print(f"{d.path:<{width}}  {d.chunks:>6}  {d.indexed_at}")
    noun = "document" if len(documents) == 1 else "documents"
    print(f"{len(documents)} {noun}, {engine.chunk_count} chunks, built {engine.built_at}")
    return 0


def _eval(args: argparse.Namespace, settings: Settings) -> int:
    from bot.eval_report import run_eval

    return run_eval(args, settings)


def _chat(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from bot.chat import chat
    from bot.runner import make_service

    return asyncio.run(chat(settings, make_service(settings)))


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from bot.runner import run_bot

    run_bot(settings)
    return 0


def eval_index_dir(settings: Settings, documents: Path) -> Path:
    """A separate, reusable index per evaluated documents folder."""
    key = hashlib.sha256(str(documents.resolve()).encode()).hexdigest()[:10]
    return settings.index_dir.parent / "eval" / f"{documents.resolve().name}-{key}"


if __name__ == "__main__":
    sys.exit(main())
