"""The command line, end to end, on the real packaged model (no network)."""

import json
import os
import subprocess
import sys

import pytest

from bot.cli import main
from tests.conftest import REPO, shared_data
from tests.hostile import HOSTILE_QUESTIONS

pytestmark = pytest.mark.slow


@pytest.fixture
def workdir(tmp_path, monkeypatch, model_cache):
    """A fresh folder with the bundled docs/ and no index, as after a clone."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "anthropic-dod-standoff.txt").write_bytes(
        (REPO / "docs" / "anthropic-dod-standoff.txt").read_bytes()
    )
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("VERBATIM_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("VERBATIM_MODEL_CACHE_DIR", str(model_cache))
    return tmp_path


def test_ask_builds_the_index_on_first_use_and_quotes_with_a_citation(workdir, capsys):
    assert main(["ask", "What did the Department of Defense demand from Anthropic?"]) == 0
    out, err = capsys.readouterr()
    assert "No index yet" in err
    assert "remove all safety guardrails" in out or "remove safety guardrails" in out
    assert "— anthropic-dod-standoff.txt, line " in out
    source = (workdir / "docs" / "anthropic-dod-standoff.txt").read_text(encoding="utf-8")
    for block in out.split("\n\n"):
        quote = "\n".join(line[2:] for line in block.splitlines() if line.startswith("> "))
        assert quote and quote in source


def test_ask_json_has_every_field_and_exact_offsets(workdir, capsys):
    main(["index"])
    capsys.readouterr()
    assert main(["ask", "--json", "-k", "2", "Which company does Sam Altman lead?"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["abstained"] is False and len(data["passages"]) == 2
    assert data["outcome"] == "answered" and 0.0 <= data["confidence"] <= 1.0
    source = (workdir / "docs" / "anthropic-dod-standoff.txt").read_text(encoding="utf-8")
    for passage in data["passages"]:
        assert {
            "document",
            "section",
            "start",
            "end",
            "line_start",
            "line_end",
            "score",
            "relevance",
            "citation",
        } <= set(passage)
        assert source[passage["start"] : passage["end"]] == passage["text"]
    assert "CEO of OpenAI" in data["passages"][0]["text"]


def test_unanswerable_question_says_not_found(workdir, capsys):
    assert main(["ask", "What is the recipe for banana bread?"]) == 0
    assert "Not in the documents." in capsys.readouterr().out
    assert main(["ask", "--json", "What is the recipe for banana bread?"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["outcome"] == "not_found" and data["passages"] == [] and data["abstained"] is True


def test_a_not_sure_answer_says_so_above_its_passages(workdir, capsys, monkeypatch):
    monkeypatch.setenv("VERBATIM_NOT_SURE_THRESHOLD", "1.0")
    assert main(["ask", "Which company does Sam Altman lead?"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Not sure. These passages may help, but none answers this directly.")
    assert "\n> " in out and "— anthropic-dod-standoff.txt" in out
    assert main(["ask", "--json", "Which company does Sam Altman lead?"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["outcome"] == "not_sure" and data["passages"]


def test_index_reports_added_then_unchanged(workdir, capsys):
    main(["index"])
    assert "added 1, changed 0, removed 0, unchanged 0" in capsys.readouterr().out
    main(["index"])
    assert "added 0, changed 0, removed 0, unchanged 1" in capsys.readouterr().out


def test_bad_setting_and_empty_question_are_one_line_errors(workdir, capsys, monkeypatch):
    monkeypatch.setenv("VERBATIM_TOP_K", "zero")
    assert main(["ask", "anything"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: Invalid setting: VERBATIM_TOP_K") and "Traceback" not in err
    monkeypatch.delenv("VERBATIM_TOP_K")
    assert main(["ask", "   "]) == 1
    assert "The question is empty" in capsys.readouterr().err


def test_eval_on_the_seed_questions_meets_the_bar(workdir, capsys):
    assert main(["eval", str(shared_data("eval/seed_dev.jsonl")), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)["results"][0]
    assert result["answerable"] == 8 and result["unanswerable"] == 2
    assert result["hit_at_shown"]["1"] * 8 >= 7  # the first passage shown holds the answer
    assert result["abstain_recall"] == 1.0  # neither unanswerable question is answered with confidence
    assert result["all_quotes_verbatim"] and result["quotes_checked"] > 0


def test_plainly_off_topic_questions_are_not_answered(workdir, capsys):
    """300 real questions about something else (bench/eval/offtopic: Wikipedia and Stack Overflow
    questions) asked of the bundled article: at most one gets a confident quote. The answerability
    model trained without off-topic questions answered 2 and was unsure of 2 more."""
    questions = REPO / "bench" / "eval" / "offtopic" / "seed.jsonl"
    assert main(["eval", str(questions), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)["results"][0]
    assert result["unanswerable"] == 300
    assert result["outcomes"]["answered"] <= 1, result["outcomes"]


def test_eval_details_give_each_question_its_outcome_and_quotes(workdir, capsys, tmp_path):
    questions = shared_data("eval/seed_dev.jsonl")
    details = tmp_path / "details.jsonl"
    assert main(["eval", str(questions), "--json", "--details", str(details)]) == 0
    result = json.loads(capsys.readouterr().out)["results"][0]
    records = [json.loads(line) for line in details.read_text(encoding="utf-8").splitlines()]
    asked = [json.loads(line) for line in questions.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records] == [q["id"] for q in asked]
    outcomes = {o: sum(r["outcome"] == o for r in records) for o in ("answered", "not_sure", "not_found")}
    assert outcomes == result["outcomes"]
    document = (workdir / "docs" / "anthropic-dod-standoff.txt").read_text(encoding="utf-8")
    for record, question in zip(records, asked):
        for passage in record["passages"]:
            assert document[passage["start"] : passage["end"]] == passage["text"]
        holding = [n for n, p in enumerate(record["passages"], 1) if any(a in p["text"] for a in question["answers"])]
        assert record["hit_rank"] == (holding[0] if holding else None)


def test_help_explains_the_commands():
    out = subprocess.run([sys.executable, "-m", "bot.cli", "--help"], capture_output=True, text=True, cwd=REPO).stdout
    for command in ("index", "ask", "search", "sources", "eval"):
        assert command in out
    assert "VERBATIM_" in out


def test_black_box_console_script_answers_offline(workdir, model_cache):
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERBATIM_")}
    env.update(
        VERBATIM_MODEL_CACHE_DIR=str(model_cache),
        HF_HUB_OFFLINE="1",
        NO_PROXY="*",
        HTTPS_PROXY="http://127.0.0.1:9",
        HTTP_PROXY="http://127.0.0.1:9",
    )
    verbatim = os.path.join(os.path.dirname(sys.executable), "verbatim")
    result = subprocess.run(
        [verbatim, "ask", "What designation did the DoD finally give Anthropic?"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "national security supply chain risk" in result.stdout


@pytest.mark.parametrize("name", sorted(HOSTILE_QUESTIONS))
def test_hostile_questions_on_the_command_line(workdir, capsys, name):
    code = main(["ask", HOSTILE_QUESTIONS[name]])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    if code == 1:
        assert err.startswith("error: ") and err.count("\n") == 1
        return
    assert code == 0
    source = (workdir / "docs" / "anthropic-dod-standoff.txt").read_text(encoding="utf-8")
    for block in out.split("\n\n"):
        quote = "\n".join(line[2:] for line in block.splitlines() if line.startswith("> "))
        assert not quote or quote in source


def readme_block(heading: str, language: str) -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split(f"\n{heading}\n", 1)[1]
    return section.split(f"```{language}\n", 1)[1].split("```", 1)[0]


def test_the_readme_library_snippet_builds_an_index_the_cli_answers_from(workdir, capsys):
    exec(compile(readme_block("## Library use", "python"), "README.md", "exec"), {})
    capsys.readouterr()
    assert main(["ask", "Which company does Sam Altman lead?"]) == 0
    out, err = capsys.readouterr()
    assert "CEO of OpenAI" in out
    assert err == "", err  # neither "No index yet" nor a refusal for another model


def test_k_is_the_number_of_passages(workdir, capsys):
    assert main(["ask", "--json", "-k", "1", "Which company does Sam Altman lead?"]) == 0
    assert len(json.loads(capsys.readouterr().out)["passages"]) == 1


def test_indexing_a_file_says_it_is_a_file(workdir, capsys):
    (workdir / "README.md").write_text("# Notes\n\nHello.\n", encoding="utf-8")
    assert main(["index", "README.md"]) == 1
    err = capsys.readouterr().err
    assert (
        err.startswith("error: README.md is a file; Verbatim indexes a folder of documents.") and err.count("\n") == 1
    )


@pytest.mark.parametrize("command", [["sources"], ["search", "llamas"]])
def test_sources_and_search_do_not_build_an_index_unasked(workdir, capsys, command):
    assert main(command) == 1
    err = capsys.readouterr().err
    assert err == "error: No index in .verbatim/index. Build one with: verbatim index\n"
    assert not (workdir / ".verbatim" / "index").exists()


def test_an_unknown_variable_is_a_warning_naming_the_closest_setting(workdir, capsys, monkeypatch):
    monkeypatch.setenv("VERBATIM_TOPK", "1")
    assert main(["ask", "Which company does Sam Altman lead?"]) == 0
    err = capsys.readouterr().err
    assert "warning: VERBATIM_TOPK is not a setting and is ignored; did you mean VERBATIM_TOP_K?\n" in err


def test_a_lowercase_log_level_is_accepted(workdir, capsys, monkeypatch):
    monkeypatch.setenv("VERBATIM_LOG_LEVEL", "debug")
    assert main(["index"]) == 0
    assert "Invalid setting" not in capsys.readouterr().err


def test_the_model_is_exported_once_per_user_and_says_so(tmp_path, monkeypatch, capsys):
    """Two working folders, one user cache: one export, announced; nothing beside the index."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name in list(os.environ):
        if name.startswith("VERBATIM_"):
            monkeypatch.delenv(name)
    outputs = []
    for folder in ("first", "second"):
        work = tmp_path / folder
        (work / "docs").mkdir(parents=True)
        (work / "docs" / "seed.txt").write_bytes((REPO / "docs" / "anthropic-dod-standoff.txt").read_bytes())
        monkeypatch.chdir(work)
        assert main(["ask", "Which company does Sam Altman lead?"]) == 0
        outputs.append(capsys.readouterr())
        assert not (work / ".verbatim" / "models").exists()
    assert outputs[0].err.startswith("Preparing the embedding model (once, ~10 s)…\n")
    assert "Preparing" not in outputs[1].err
    assert "CEO of OpenAI" in outputs[1].out
    assert list((tmp_path / "cache" / "verbatim" / "models").glob("*/model.onnx"))


def test_index_verify_checks_every_checksum_and_names_a_damaged_file(workdir, capsys, monkeypatch):
    from index import EngineConfig, build_index
    from index.store import IndexDirectory
    from tests.conftest import HashingEmbedder

    index_dir = workdir / "index"
    monkeypatch.setenv("VERBATIM_INDEX_DIR", str(index_dir))
    build_index(EngineConfig(documents_dir=workdir / "docs", index_dir=index_dir), HashingEmbedder())
    assert main(["index", "--verify"]) == 0
    assert "verified:" in capsys.readouterr().out
    target = IndexDirectory(index_dir).current_build() / "chunks" / "tokens.bin"
    data = bytearray(target.read_bytes())
    data[0] ^= 0x20
    target.write_bytes(bytes(data))
    assert main(["index", "--verify"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: 1 file of the index") and "fails its checksum: chunks/tokens.bin" in error
    assert "verbatim index --rebuild" in error and "Traceback" not in error


def test_an_unreachable_qdrant_is_one_line_not_a_traceback(workdir, capsys, monkeypatch):
    monkeypatch.setenv("VERBATIM_VECTOR_STORE", "qdrant")
    monkeypatch.setenv("VERBATIM_QDRANT_URL", "http://127.0.0.1:9")
    assert main(["index"]) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert lines == [
        "error: Qdrant (VERBATIM_QDRANT_URL=http://127.0.0.1:9) cannot be used: [Errno 111] Connection refused. "
        "Check that the server runs and the setting is right (a local-mode folder is open in one process only)."
    ]
