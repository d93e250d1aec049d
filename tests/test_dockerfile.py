"""The Dockerfile is not built in CI (no image registry here); check what can be checked."""

import json
import re
import tomllib

from tests.conftest import REPO


def instructions() -> list[tuple[str, str]]:
    text = (REPO / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)  # join continuation lines
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def test_cpu_only_torch_is_installed_before_the_project():
    runs = [rest for keyword, rest in instructions() if keyword == "RUN"]
    torch_step = next(i for i, r in enumerate(runs) if "torch==" in r)
    project_step = next(i for i, r in enumerate(runs) if "pip install ." in r)
    assert torch_step < project_step
    assert "whl/cpu" in dict((k, r) for k, r in instructions() if k == "ARG")["ARG"]


def test_runs_as_a_non_root_user_with_the_index_on_a_volume():
    steps = instructions()
    users = [rest for keyword, rest in steps if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert any(keyword == "VOLUME" and "/data" in rest for keyword, rest in steps)
    env = " ".join(rest for keyword, rest in steps if keyword == "ENV")
    assert "VERBATIM_INDEX_DIR=/data/index" in env and "HF_HUB_OFFLINE=1" in env


def test_entry_command_is_a_real_console_script_and_subcommand():
    cmd = json.loads(next(rest for keyword, rest in instructions() if keyword == "CMD"))
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert cmd[0] in scripts
    module, _, function = scripts[cmd[0]].partition(":")
    assert (REPO / (module.replace(".", "/") + ".py")).exists()
    from bot.cli import _parser

    assert _parser().parse_args(cmd[1:]).command == "run"


def test_copied_paths_exist():
    for keyword, rest in instructions():
        if keyword == "COPY":
            for source in rest.split()[:-1]:
                assert (REPO / source).exists(), source
