"""The README's examples work when followed word for word."""

import re

import pytest

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
    from bot.cli import _parser

    subparsers = next(a for a in _parser()._actions if a.dest == "command")
    for name in subparsers.choices:
        assert f"`verbatim {name}" in README, name
