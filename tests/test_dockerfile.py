"""The Dockerfile is not built in CI (no image registry here); check what can be checked."""

import glob
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

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


def final_stage() -> list[tuple[str, str]]:
    """The instructions of the stage the image is made of (from its last FROM on)."""
    steps = instructions()
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def runtime_env() -> str:
    return " ".join(rest for keyword, rest in final_stage() if keyword == "ENV")


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
    env = runtime_env()
    assert "VERBATIM_INDEX_DIR=/data/index" in env and "HF_HUB_OFFLINE=1" in env


def test_entry_command_is_a_real_console_script_and_subcommand():
    cmd = json.loads(next(rest for keyword, rest in instructions() if keyword == "CMD"))
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert cmd[0] in scripts
    module, _, function = scripts[cmd[0]].partition(":")
    path = REPO / module.replace(".", "/")
    assert path.with_suffix(".py").exists() or (path / "__init__.py").exists()
    from bot.cli.commands import _parser

    assert _parser().parse_args(cmd[1:]).command == "run"


def test_copied_paths_exist():
    for keyword, rest in instructions():
        if keyword == "COPY" and not rest.startswith("--from="):
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
    assert not folder.startswith("/data") and "a+rX " + folder in steps[export][1]
    assert f"VERBATIM_MODEL_CACHE_DIR={folder}" in runtime_env()  # the image looks where the export went


def test_sigterm_reaches_the_bot_at_any_moment():
    """PID 1 ignores signals it has no handler for: an init passes docker stop's SIGTERM on."""
    entry = json.loads(next(rest for keyword, rest in instructions() if keyword == "ENTRYPOINT"))
    assert entry[0] == "tini" and entry[-1] == "--"
    assert any(k == "RUN" and "install" in r and " tini" in r for k, r in final_stage())


def test_the_health_check_is_verbatim_health_reading_the_volume():
    steps = instructions()
    [check] = [rest for keyword, rest in steps if keyword == "HEALTHCHECK"]
    options, _, command = check.partition("CMD")
    assert json.loads(command.strip()) == ["verbatim", "health"]
    assert "--start-period=" in options and "--interval=" in options
    env = runtime_env()
    assert "VERBATIM_HEALTH_FILE=/data/" in env and "VERBATIM_FEEDBACK_FILE=/data/" in env
    assert "VERBATIM_DB=/data/" in env  # the record lives on the volume, not in the image
    from bot.cli.commands import _parser

    assert _parser().parse_args(["health"]).command == "health"


def test_the_image_installs_the_openmp_runtime_lightgbm_links_against():
    """python:3.11-slim has no libgomp.so.1: without it every command died on the import of the
    span ranker (LightGBM), while the build itself went through."""
    import lightgbm

    library = next(Path(lightgbm.__file__).parent.rglob("lib_lightgbm.so"))
    assert b"libgomp.so.1" in library.read_bytes()  # a NEEDED entry: the reason for the package
    installs = [r for k, r in final_stage() if k == "RUN" and "apt-get install" in r]
    assert any(re.search(r"\blibgomp1\b", run) for run in installs)


def test_the_image_takes_only_the_venv_and_the_exported_model_from_the_build_stage():
    """Build tools, pip's work and what the trim step removes stay in the build stage."""
    steps = final_stage()
    assert not any(k == "RUN" and "pip install" in r for k, r in steps)
    copies = [r.split() for k, r in steps if k == "COPY" and r.startswith("--from=")]
    assert [c[1:] for c in copies] == [["/opt/verbatim", "/opt/verbatim"]]
    env = runtime_env()
    assert "PATH=/opt/verbatim/venv/bin:" in env and "VERBATIM_MODEL_CACHE_DIR=/opt/verbatim/" in env
    assert not any(k == "RUN" and "binutils" in r for k, r in steps)


def _trim_step() -> str:
    [trim] = [r for k, r in instructions() if k == "RUN" and "strip --strip-unneeded" in r]
    return trim


def test_the_trim_step_runs_in_the_build_stage_after_the_model_is_exported():
    steps = instructions()
    trim = steps.index(("RUN", _trim_step()))
    export = next(i for i, (k, r) in enumerate(steps) if k == "RUN" and "verbatim model" in r)
    last_from = max(i for i, (k, _) in enumerate(steps) if k == "FROM")
    assert export < trim < last_from


@pytest.mark.slow  # imports every dependency, torch and transformers among them: ~10-20 s
def test_the_trim_step_removes_nothing_the_dependencies_load():
    """What the trim step deletes (torch's headers and C++ tests, every package's tests) must
    exist here, so it means something, and must hold no module or shared library that importing
    Verbatim and each of its dependencies loads."""
    trim = _trim_step()
    site = Path(sysconfig.get_paths()["purelib"])
    removed: list[Path] = []
    for patterns in re.findall(r"&& rm -rf ([^&]+)", trim):
        for pattern in patterns.split():
            matches = [Path(m) for m in glob.glob(str(site / pattern))]
            assert matches, f"{pattern} matches nothing in {site}: the trim step is out of date"
            removed += matches
    for name in re.findall(r"find \. .*?-name (\S+) -exec rm -rf", trim):
        removed += [Path(root) / name for root, dirs, _ in os.walk(site) if name in dirs]
    for library in trim.split("strip --strip-unneeded")[1].split("&&")[0].split():
        assert (site / library).is_file(), library

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = {re.split(r"[<>=\[ ;]", d)[0].lower().replace("_", "-") for d in project["dependencies"]}
    wanted |= {re.split(r"[<>=\[ ;]", d)[0].lower() for d in project["optional-dependencies"]["qdrant"]}
    modules = {  # every module of Verbatim, and each dependency's top-level modules
        ".".join(f.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for package in ("index", "bot")
        for f in (REPO / package).rglob("*.py")
        if f.name != "__main__.py"
    }
    for module, distributions in importlib.metadata.packages_distributions().items():
        if not module.startswith("_") and any(d.lower().replace("_", "-") in wanted for d in distributions):
            modules.add(module)
    loaded = subprocess.run(
        [sys.executable, "-c", _LIST_LOADED_FILES, *sorted(modules)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
    )
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    files = [Path(f) for f in json.loads(loaded.stdout)]
    assert any(f.name.startswith("libtorch_cpu") for f in files)  # torch was really imported
    inside = [str(f) for f in files if any(f.is_relative_to(r) for r in removed)]
    assert not inside, inside[:10]


_LIST_LOADED_FILES = """
import importlib, json, sys
for module in sys.argv[1:]:
    importlib.import_module(module)
files = {getattr(m, "__file__", None) for m in list(sys.modules.values())}
with open("/proc/self/maps") as maps:
    files |= {line.split()[-1] for line in maps if line.rstrip().endswith((".so", ".py")) or ".so." in line}
print(json.dumps(sorted(f for f in files if f)))
"""


def _smoke_step() -> str:
    return [r for k, r in final_stage() if k == "RUN"][-1]


def test_the_last_build_step_asks_the_installed_image_a_question_as_the_bots_user():
    steps = final_stage()
    smoke = steps.index(("RUN", _smoke_step()))
    user = max(i for i, (k, _) in enumerate(steps) if k == "USER")
    venv = next(i for i, (k, r) in enumerate(steps) if k == "COPY" and "/opt/verbatim" in r)
    assert venv < user < smoke
    assert not any(k in ("RUN", "USER", "COPY", "ADD") for k, _ in steps[smoke + 1 :])
    assert re.search(r"\bverbatim .* ask --json ", _smoke_step())


def _run_smoke_step(tmp_path: Path, path: str, **env: str) -> subprocess.CompletedProcess[str]:
    data = tmp_path / "data"
    data.mkdir()
    script = _smoke_step().replace("/data", str(data))
    return subprocess.run(
        ["/bin/sh", "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path, "PYTHONPATH": str(REPO), **env},
        timeout=600,
    )


_STUB = """
import json, os, sys
docs = sys.argv[sys.argv.index("--docs") + 1]
text = open(os.path.join(docs, "kettle.md")).read()
line = next(line for line in text.splitlines() if "Friday" in line)
passage = {"document": "kettle.md", "start": text.index(line), "end": text.index(line) + len(line), "text": line}
mode = os.environ["STUB_MODE"]
if mode == "paraphrases":
    passage["text"] = line.replace("every", "each")
if mode == "cites-the-wrong-document":
    passage["document"] = "parking.md"
print(json.dumps({"outcome": "not_found" if mode == "abstains" else "answered", "passages": [passage]}))
"""


@pytest.mark.parametrize(
    ("mode", "builds"),
    [("answers", True), ("abstains", False), ("paraphrases", False), ("cites-the-wrong-document", False)],
)
def test_an_image_that_does_not_quote_the_right_answer_is_not_built(tmp_path: Path, mode: str, builds: bool):
    """The smoke step against a stand-in `verbatim` that answers right, or does not."""
    stub = tmp_path / "bin" / "verbatim"
    stub.parent.mkdir()
    stub.write_text(f"#!{sys.executable}\n{_STUB}")
    stub.chmod(0o755)
    path = f"{stub.parent}:{Path(sys.executable).parent}:{os.environ['PATH']}"
    result = _run_smoke_step(tmp_path, path, STUB_MODE=mode)
    assert (result.returncode == 0) == builds, result.stderr[-2000:]


@pytest.mark.slow
def test_the_smoke_step_passes_on_a_working_install(tmp_path: Path, model_cache: Path):
    """The real thing, as in the build: both backends, the real model, HTTP sent nowhere."""
    result = _run_smoke_step(tmp_path, f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert not any((tmp_path / "data").iterdir())
