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


def _installs_the_project(run: str) -> bool:
    return re.search(r'pip install (--no-deps )?"?\.(\[[\w,]+\])?"?( |$)', run) is not None


def test_cpu_only_torch_is_installed_before_the_project():
    runs = [rest for keyword, rest in instructions() if keyword == "RUN"]
    torch_step = next(i for i, r in enumerate(runs) if "torch==" in r)
    project_step = next(i for i, r in enumerate(runs) if _installs_the_project(r))
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


def test_the_model_is_exported_at_build_time_into_a_cache_every_user_can_read():
    """A container then starts in about a second, with nothing to write outside /data."""
    steps = instructions()
    export = next(i for i, (k, r) in enumerate(steps) if k == "RUN" and "verbatim model" in r)
    install = next(i for i, (k, r) in enumerate(steps) if k == "RUN" and _installs_the_project(r))
    user = next(i for i, (k, r) in enumerate(steps) if k == "USER")
    assert install < export < user
    cache = next(r for k, r in steps[:export] if k == "ENV" and "VERBATIM_MODEL_CACHE_DIR=" in r)
    folder = cache.split("VERBATIM_MODEL_CACHE_DIR=")[1].split()[0]
    assert not folder.startswith("/data") and "a+rX " + folder.rsplit("/", 1)[0] in steps[export][1]


def test_sigterm_reaches_the_bot_at_any_moment():
    """PID 1 ignores signals it has no handler for: an init passes docker stop's SIGTERM on."""
    entry = json.loads(next(rest for keyword, rest in instructions() if keyword == "ENTRYPOINT"))
    assert entry[0] == "tini" and entry[-1] == "--"
    assert any(k == "RUN" and "install" in r and " tini" in r for k, r in instructions())


def test_the_health_check_is_verbatim_health_reading_the_volume():
    steps = instructions()
    [check] = [rest for keyword, rest in steps if keyword == "HEALTHCHECK"]
    options, _, command = check.partition("CMD")
    assert json.loads(command.strip()) == ["verbatim", "health"]
    assert "--start-period=" in options and "--interval=" in options
    env = " ".join(rest for keyword, rest in steps if keyword == "ENV")
    assert "VERBATIM_HEALTH_FILE=/data/" in env and "VERBATIM_FEEDBACK_FILE=/data/" in env
    assert "VERBATIM_DB=/data/" in env  # the record lives on the volume, not in the image
    from bot.cli import _parser

    assert _parser().parse_args(["health"]).command == "health"
