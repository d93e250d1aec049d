"""The ``verbatim`` command line: index, ask, search, sources, eval, chat, run, report and forget."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from bot.cli.progress import build_progress
from bot.cli.terminal import answer_json, quote_block, render_answer, render_build_report, search_json
from bot.engine_factory import BuildPolicy, make_embedder, open_index
from bot.errors import can_write, check_writable, report_failure
from bot.logs import configure_logging
from bot.settings import Settings, load_settings, unknown_settings
from bot.source_status import status_text
from index import RETRIEVERS, Engine, VerbatimError, clean_question, update_index
from index.build import FOLDER_SOURCE
from index.config import TOP_K_MAX
from index.sources.sync import changed_since_build, check_source_name, source_statuses
from index.store import IndexDirectory, live_sources, verify_index
from index.units import size_text

if TYPE_CHECKING:
    from bot.community.record import RecordStore

log = logging.getLogger(__name__)

EPILOG = """\
Settings come from VERBATIM_* environment variables or a .env file (see README).
Examples:
  verbatim index                      index what verbatim.toml lists, or docs/ (only what changed)
  verbatim index --source site        fetch one source again, then update the index
  verbatim ask "What did the Department of Defense demand from Anthropic?"
  verbatim ask --json -k 5 "Who leads OpenAI?"
  verbatim eval ../shared/eval/squad-v1.1-dev --retriever all
  verbatim health                     is the running bot well? (exit 0 or 1)
"""
SEARCH_MAX = 100
#: Exit codes besides 0 and 1 (README, "Exit codes").
USAGE_ERROR = 2
INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as a shell reports it
STOPPED_BY_SIGTERM = 143  # 128 + SIGTERM


class Stopped(BaseException):
    """SIGTERM arrived (``docker stop``, systemd): leave now, whatever is running."""


def _stop(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut the cleanup short
    raise Stopped


def _count(limit: int):  # type: ignore[no-untyped-def]
    """An argparse type: a whole number from 1 to ``limit``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not 1 <= value <= limit:
            raise argparse.ArgumentTypeError(f"must be from 1 to {limit} (got {value})")
        return value

    return parse


def _at_least_one(text: str) -> int:
    """An argparse type: a whole number from 1 (a larger one than a command shows is capped there)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more (got {value})")
    return value


def _capped(k: int, limit: int, why: str) -> int:
    """``k``, or ``limit`` when it is larger, saying so on stderr."""
    if k <= limit:
        return k
    print(f"note: -k {k} is more than {limit}, {why}; showing {limit}.", file=sys.stderr)
    return limit


class _Parser(argparse.ArgumentParser):
    """A mistake on the command line is one line (and exit 2), not the usage text."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    # Global options work before or after the command ("verbatim index --index-dir X").
    common = _Parser(add_help=False)
    common.add_argument(
        "--docs",
        type=Path,
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="documents folder (default: docs, or VERBATIM_DOCS_DIR)",
    )
    common.add_argument(
        "--index-dir",
        type=Path,
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="index folder (default: .verbatim/index)",
    )
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log progress details to stderr"
    )
    parser = _Parser(
        prog="verbatim",
        description="Answer questions about your documents with their own words, quoted and cited.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, **kwargs: object) -> argparse.ArgumentParser:
        return subparsers.add_parser(name, parents=[common], **kwargs)  # type: ignore[arg-type]

    index = command(
        "index",
        help="build or update the index",
        description="Index the documents. Only new or changed documents are embedded again; deleted ones are removed.",
    )
    index.add_argument("dir", nargs="?", type=Path, metavar="DIR", help="documents folder (overrides --docs)")
    index.add_argument("--rebuild", action="store_true", help="start from scratch instead of updating")
    index.add_argument(
        "--verify",
        action="store_true",
        help="check every file of the live index against its checksum instead of indexing",
    )
    index.add_argument(
        "--source", metavar="NAME", help="fetch only this source of the sources file (the others as last synced)"
    )

    ask = command(
        "ask",
        help="answer a question with quotes",
        description="Quote the passages that answer QUESTION, each with its citation, or say that the documents do not hold the answer. Builds the index first if there is none.",
    )
    ask.add_argument("question", metavar="QUESTION")
    ask.add_argument(
        "-k",
        type=_at_least_one,
        metavar="N",
        help=f"number of passages, 1 to {TOP_K_MAX} (default: VERBATIM_TOP_K, 3)",
    )
    ask.add_argument("--json", action="store_true", help="print every field as JSON")
    ask.add_argument("--retriever", choices=RETRIEVERS, help="hybrid (default), dense or lexical")

    search = command(
        "search",
        help="list matching passages without abstaining",
        description="The best passages for QUERY, best first, even when none is a good answer. Needs an index (verbatim index).",
    )
    search.add_argument("query", metavar="QUERY")
    search.add_argument(
        "-k",
        type=_at_least_one,
        default=10,
        metavar="N",
        help=f"number of passages, 1 to {SEARCH_MAX} (default: 10)",
    )
    search.add_argument("--json", action="store_true", help="print every field as JSON")
    search.add_argument("--retriever", choices=RETRIEVERS)

    command(
        "sources",
        help="list the indexed documents",
        description="List the indexed documents with their chunk counts and indexing times. Needs an index (verbatim index).",
    )

    evaluate = command(
        "eval",
        help="measure answer quality on a question set",
        description="Run a question set (JSON lines with gold answers) and report hit@1/3/5, MRR@10, abstain precision and recall, and whether every quote is verbatim.",
    )
    evaluate.add_argument(
        "questions",
        type=Path,
        metavar="QUESTIONS",
        help="a questions .jsonl file, or a folder with questions.jsonl and docs/",
    )
    evaluate.add_argument(
        "--retriever",
        choices=(*RETRIEVERS, "all"),
        default="hybrid",
        help="retriever to measure, or all three side by side",
    )
    evaluate.add_argument("--limit", type=int, metavar="N", help="only the first N questions")
    evaluate.add_argument("--threshold", type=float, help="abstain threshold to score at (default: the configured one)")
    evaluate.add_argument("--sweep", action="store_true", help="also show abstain precision/recall across thresholds")
    evaluate.add_argument("--json", action="store_true", help="print the metrics as JSON")
    evaluate.add_argument(
        "--details",
        type=Path,
        metavar="FILE",
        help="also write one JSON line a question (outcome, rank of the gold answer, the quotes shown) to FILE",
    )

    command(
        "chat",
        help="try the bot in the terminal, without Discord",
        description="A console that shows exactly what the bot would post for each question (and /search, /sources, /source).",
    )
    command(
        "run",
        help="run the Discord bot",
        description="Connect to Discord and answer there. Needs DISCORD_TOKEN (see README, 'Discord bot'). While Discord is unreachable it retries, one line per attempt; a refused token stops it at once.",
    )
    health = command(
        "health",
        help="report whether the running bot is well",
        description="Read the health file the running bot keeps (VERBATIM_HEALTH_FILE): index loaded, last sync, gateway connected, last error. Exit 0 when healthy, 1 otherwise (a Docker HEALTHCHECK).",
    )
    health.add_argument("--json", action="store_true", help="print the health record as JSON")
    command(
        "model",
        help="prepare the embedding model now",
        description="Load the configured embedding model, exporting it to ONNX first if that was never done for this user (about 10 s, once), and say where it is cached.",
    )

    report = command(
        "report",
        help="write an HTML report of what the community asks",
        description="Read the record (VERBATIM_DB) and write an HTML page with charts (questions per day by outcome, answered share, largest gaps) and the gap table; print a short summary.",
    )
    report.add_argument("--days", type=_count(36500), default=30, metavar="N", help="the last N days (default: 30)")
    report.add_argument(
        "--out", type=Path, default=Path(".verbatim/report"), metavar="DIR", help="folder (default: .verbatim/report)"
    )
    forget = command(
        "forget",
        help="delete a member's questions and votes",
        description="Delete every question asked by the Discord user USER_ID, every vote on them, and the user's own votes, from the record (VERBATIM_DB). Questions are personal data.",
    )
    forget.add_argument("user_id", type=_count(2**63 - 1), metavar="USER_ID", help="the member's Discord id")

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # From the first instruction: as PID 1 in a container, a process with no SIGTERM handler
    # ignores `docker stop` (the kernel drops the signal) until something installs one.
    if threading.current_thread() is not threading.main_thread():  # signals only reach the main thread
        return _main(argv)
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        return _main(argv)
    except Stopped:  # before the command line was read
        return STOPPED_BY_SIGTERM
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    for name, default in (("docs", None), ("index_dir", None), ("verbose", False)):
        if not hasattr(args, name):
            setattr(args, name, default)
    settings: Settings | None = None
    try:
        settings = load_settings(docs_dir=getattr(args, "dir", None) or args.docs, index_dir=args.index_dir)
        configure_logging("INFO" if args.verbose else settings.log_level, settings.log_format)
        for warning in unknown_settings():
            print(f"warning: {warning}", file=sys.stderr)
        handler = {
            "index": _index,
            "ask": _ask,
            "search": _search,
            "sources": _sources,
            "eval": _eval,
            "chat": _chat,
            "run": _run,
            "health": _health,
            "model": _model,
            "report": _report,
            "forget": _forget,
        }[args.command]
        return handler(args, settings)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED
    except Stopped:
        if args.command == "run":
            return 0  # how a service is stopped: docker stop, systemd
        print(_stopped_notice(args.command, settings), file=sys.stderr)
        return STOPPED_BY_SIGTERM
    except Exception as exc:  # one line, never a traceback (-v logs it)
        print(f"error: {report_failure(exc, 'command_failed', 'terminal')}", file=sys.stderr)
        return 1


def _stopped_notice(command: str, settings: Settings | None) -> str:
    """What a stop left behind: a build is dropped whole, the live index is untouched."""
    if command not in ("index", "ask") or settings is None:
        return "stopped (SIGTERM)."
    if IndexDirectory(settings.index_dir).exists():
        return f"stopped (SIGTERM): the index in {settings.index_dir} is the last complete build, and it still serves."
    return f"stopped (SIGTERM): no index was written in {settings.index_dir}."


def _index(args: argparse.Namespace, settings: Settings) -> int:
    if args.verify:
        checked = verify_index(settings.index_dir)
        print(
            f"Index {checked.build} verified: {checked.files} files ({size_text(checked.bytes)}, "
            f"{checked.chunks} chunks) match their checksums ({checked.seconds:.1f} s)."
        )
        return 0
    check_writable(settings.index_dir)
    config = settings.engine_config()
    if config.sources is not None and args.dir is not None:
        raise VerbatimError(
            f"{settings.sources_file} says what is indexed; a folder argument would replace all of it.",
            hint="Add the folder to it as a [[source]] with a path, or run verbatim index alone.",
        )
    check_source_name(config, args.source)  # before the model loads
    if config.sources is None:
        _say_which_folder(settings, Path(config.documents_dir))
    embedder = make_embedder(settings)
    with build_progress() as progress:
        built = update_index(config, embedder, only=args.source, rebuild=args.rebuild, progress=progress)
    print(render_build_report(built, verbose=args.verbose))
    for failure in built.failed_fetches:
        print(f"error: {failure}", file=sys.stderr)
    return 1 if built.failed_fetches else 0


def _changed_since(changed: list[str]) -> str:
    shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
    noun = "document" if len(changed) == 1 else "documents"
    return f"{len(changed)} {noun} changed since the last build ({shown})"


def _stale_notice(changed: list[str]) -> str:
    return f"{_changed_since(changed)}: updating the index first."


def _what(settings: Settings) -> str:
    return f"the sources of {settings.sources_file}" if settings.sources_file.is_file() else str(settings.docs_dir)


def _say_which_folder(settings: Settings, folder: Path) -> None:
    """An index changes folders only when told to, and then says so."""
    held = live_sources(settings.index_dir).get(FOLDER_SOURCE, {}).get("location")
    if held is None or Path(held) == folder.resolve():
        return
    print(
        f"Indexing {folder} instead of {held}: the index will hold {folder}'s documents only, "
        f"and a plain 'verbatim index' will keep indexing {folder}.",
        file=sys.stderr,
    )


def _engine(settings: Settings, build: BuildPolicy) -> Engine:
    """The engine for ``ask`` (which builds a first index), ``search`` and ``sources`` (which
    only read one: they say how to build it instead). Answering from an index never writes:
    one on a read-only mount serves as it is."""
    read_only = False
    if build != "never":
        if not IndexDirectory(settings.index_dir).exists():
            check_writable(settings.index_dir)  # before the model loads
        elif not can_write(settings.index_dir):
            build, read_only = "never", True
    embedder = make_embedder(settings)
    with build_progress() as progress:
        engine, built = open_index(
            settings.engine_config(),
            embedder,
            build=build,
            on_first_build=lambda: print(f"No index yet: indexing {_what(settings)} first.", file=sys.stderr),
            on_stale=lambda changed: print(_stale_notice(changed), file=sys.stderr),
            on_outdated=lambda why: print(f"{why} Rebuilding the index.", file=sys.stderr),
            progress=progress,
        )
    if built is not None:
        print(render_build_report(built), file=sys.stderr)
        for failure in built.failed_fetches:
            print(f"warning: {failure}", file=sys.stderr)
    if read_only:
        changed = changed_since_build(engine.config, engine.manifest)
        if changed:
            print(
                f"{_changed_since(changed)}, but {settings.index_dir} is read-only: answering from the index as it is.",
                file=sys.stderr,
            )
    return engine


def _ask(args: argparse.Namespace, settings: Settings) -> int:
    clean_question(args.question, settings.max_question_chars)  # fail fast, before loading anything
    k = args.k and _capped(args.k, TOP_K_MAX, f"the most an answer quotes (verbatim search lists up to {SEARCH_MAX})")
    engine = _engine(settings, "if-missing")
    answer = engine.ask(args.question, k=k, retriever=args.retriever)
    print(answer_json(answer) if args.json else render_answer(answer))
    return 0


def _search(args: argparse.Namespace, settings: Settings) -> int:
    clean_question(args.query, settings.max_question_chars)
    k = _capped(args.k, SEARCH_MAX, "the most a search lists")
    engine = _engine(settings, "never")
    passages = engine.search(args.query, k=k, retriever=args.retriever)
    if args.json:
        print(search_json(args.query, passages, args.retriever or engine.config.retriever, engine.built_at))
    else:
        print(
            "\n\n".join(f"{n}. (score {p.score:.3f})\n{quote_block(p)}" for n, p in enumerate(passages, 1))
            or "No passages."
        )
    return 0


def _sources(args: argparse.Namespace, settings: Settings) -> int:
    engine = _engine(settings, "never")
    documents = engine.documents()
    width = max(len(d.path) for d in documents)
    print(f"{'document':<{width}}  chunks  indexed at")
    for d in documents:
        print(f"{d.path:<{width}}  {d.chunks:>6}  {d.indexed_at}")
    noun = "document" if len(documents) == 1 else "documents"
    print(f"{len(documents)} {noun}, {engine.chunk_count} chunks, built {engine.built_at}")
    for status in source_statuses(engine.config):
        print(f"source {status_text(status)}")
    return 0


def _health(args: argparse.Namespace, settings: Settings) -> int:
    from bot.health import read_health, render_health

    record, problems = read_health(settings.health_file)
    print(
        json.dumps({"healthy": not problems, "problems": problems, **(record or {})}, indent=2)
        if args.json
        else render_health(record, problems)
    )
    return 0 if not problems else 1


def _model(args: argparse.Namespace, settings: Settings) -> int:
    embedder = make_embedder(settings)
    dimension = embedder.dimension  # loads it, exporting first if needed
    where: Any = getattr(embedder, "model_file", None)
    print(f"{embedder.name}: ready, {dimension} dimensions" + (f", cached in {where().parent}" if where else ""))
    return 0


def _eval(args: argparse.Namespace, settings: Settings) -> int:
    from bot.cli.eval_report import run_eval

    return run_eval(args, settings)


def _chat(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    check_writable(settings.index_dir)
    from bot.cli.chat import chat
    from bot.discord.runner import make_service

    return asyncio.run(chat(settings, make_service(settings)))


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from bot.discord.runner import run_bot

    for folder in (settings.index_dir, settings.db.parent, settings.health_file.parent):
        check_writable(folder)
    run_bot(settings)
    return 0


def _record(settings: Settings) -> RecordStore:
    from bot.community.record import RecordStore

    if not settings.db.is_file():
        raise VerbatimError(f"No record at {settings.db} yet.", hint="The bot writes it once it answers (VERBATIM_DB).")
    return RecordStore(settings.db, retention_days=settings.db_retention_days)


def _report(args: argparse.Namespace, settings: Settings) -> int:
    import time

    from bot.community.record import DAY
    from bot.community.report import write_report

    store = _record(settings)
    store.prune()  # the retention period holds here too, however many days are asked for
    since = time.time() - args.days * DAY
    rows = store.questions(since=since)
    feedback = store.feedback_counts(since=since)
    store.close()
    embedder = make_embedder(settings)
    started = time.perf_counter()
    report = write_report(rows, feedback, embedder.embed_documents, args.out, days=args.days)
    print(report.summary())
    log.info("report_written", extra={"seconds": round(time.perf_counter() - started, 2), "questions": len(rows)})
    return 0


def _forget(args: argparse.Namespace, settings: Settings) -> int:
    store = _record(settings)
    forgotten = store.forget(args.user_id)
    store.close()
    print(f"Deleted {forgotten.questions} questions and {forgotten.feedback} votes of user {args.user_id}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
