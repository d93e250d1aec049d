"""The README's examples work when followed word for word."""

import contextlib
import os
import re
from pathlib import Path

import pytest

from bot.engine_factory import PREPARING_MODEL
from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def env_file_lines() -> list[str]:
    [block] = [b for b in code_blocks("sh") if b.startswith("# .env")]
    return block.splitlines()


def test_the_env_example_works_with_docker_env_file():
    """`docker run --env-file` takes everything after `=` as the value, an inline comment too:
    every value in the example must be valid exactly as written."""
    from bot.settings import load_settings

    values = {}
    for line in env_file_lines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep and name == name.strip() and re.fullmatch(r"[A-Z_]+", name), line
        assert "#" not in value, f"inline comment in {line!r}"
        values[name] = value
    assert "DISCORD_TOKEN" in values and "VERBATIM_DEV_GUILD_ID" in values
    with pytest.MonkeyPatch.context() as patch:
        for name, value in values.items():
            patch.setenv(name, value)
        settings = load_settings()
    assert settings.dev_guild_id == int(values["VERBATIM_DEV_GUILD_ID"])


def test_the_readme_says_how_to_get_the_cpu_build_of_torch_elsewhere():
    command = "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
    assert command in README
    assert "https://download.pytorch.org/whl/cpu" in (REPO / "Dockerfile").read_text()


def test_the_documented_question_format_is_the_one_eval_reads(tmp_path):
    from index.evaluation import read_questions

    [example] = code_blocks("jsonl")
    path = tmp_path / "questions.jsonl"
    path.write_text(example, encoding="utf-8")
    questions = read_questions(path)
    assert [q.answerable for q in questions] == [True, False]
    assert questions[0].answers and questions[0].question.startswith("What did")


def test_every_command_of_the_cli_is_in_the_readme():
    from bot.cli.commands import _parser

    subparsers = next(a for a in _parser()._actions if a.dest == "command")
    for name in subparsers.choices:
        assert f"`verbatim {name}" in README, name


# ---------------------------------------------------------------- the transcripts show what the commands print

QUICK_START_QUESTION = "What did the Department of Defense demand from Anthropic?"


def text_block(starting: str) -> str:
    [block] = [b for b in code_blocks("text") if b.startswith(starting)]
    return block


def transcript(block: str) -> list[tuple[str, str]]:
    """Each ``$ command`` of a text block with the lines it printed."""
    steps: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif steps:
            steps[-1][1].append(line)
    return [(command, "\n".join(lines)) for command, lines in steps]


def run_verbatim(command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    """What ``command`` (as typed in the README: variables, then ``verbatim ARGS``) prints, stderr then stdout."""
    import shlex

    from bot.cli import main

    words = shlex.split(command)
    while "=" in words[0]:
        name, _, value = words.pop(0).partition("=")
        monkeypatch.setenv(name, value)
    assert words[0] == "verbatim", command
    main(words[1:])
    out, err = capsys.readouterr()
    for name in [n for n in os.environ if n.startswith("VERBATIM_")]:
        if name != "VERBATIM_MODEL_CACHE_DIR":
            monkeypatch.delenv(name)
    return (err + out).rstrip("\n")


@pytest.fixture
def fresh_clone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The bundled docs/ and the README in a folder with no index, as after a clone."""
    (tmp_path / "docs").mkdir()
    for document in (REPO / "docs").iterdir():
        (tmp_path / "docs" / document.name).write_bytes(document.read_bytes())
    (tmp_path / "README.md").write_text(README, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("VERBATIM_")]:
        monkeypatch.delenv(name)
    return tmp_path


def test_the_command_line_errors_shown_are_what_it_prints(fresh_clone, monkeypatch, capsys):
    import bot.cli.commands
    from tests.conftest import HashingEmbedder

    monkeypatch.setattr(bot.cli.commands, "make_embedder", lambda settings: HashingEmbedder())  # none is reached
    steps = transcript(text_block("$ VERBATIM_TOP_K=abc"))
    assert len(steps) >= 3
    for command, shown in steps:
        with contextlib.suppress(SystemExit):
            assert run_verbatim(command, monkeypatch, capsys) == shown, command


@pytest.mark.slow
def test_the_quick_start_shows_what_the_first_ask_prints(fresh_clone, monkeypatch, capsys, model_cache):
    """The Quick start's sample output, word for word but for the seconds (the model was
    exported by the fixture, so the one-time 'Preparing' line is not printed here)."""
    monkeypatch.setenv("VERBATIM_MODEL_CACHE_DIR", str(model_cache))
    shown = text_block("Preparing the embedding model").removeprefix(PREPARING_MODEL + "\n").rstrip("\n")
    printed = run_verbatim(f'verbatim ask "{QUICK_START_QUESTION}"', monkeypatch, capsys)
    seconds = re.compile(r" in \d+\.\d s ")
    assert seconds.sub(" in … s ", printed) == seconds.sub(" in … s ", shown)
    [(command, not_found)] = transcript(text_block('$ verbatim ask "What is the recipe'))
    assert run_verbatim(command, monkeypatch, capsys) == not_found
