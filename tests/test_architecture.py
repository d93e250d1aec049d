"""The engine is a library: nothing under index/ may depend on Discord or on the bot."""

import ast

import pytest

from tests.conftest import REPO

INDEX_MODULES = sorted((REPO / "index").rglob("*.py"))


@pytest.mark.parametrize("path", INDEX_MODULES, ids=lambda p: p.name)
def test_index_never_imports_discord_or_bot(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert not imported & {"discord", "bot"}, f"{path.name} imports {imported & {'discord', 'bot'}}"


# -- one place for each thing in bot/ ---------------------------------------------------------------------

BOT_MODULES = sorted((REPO / "bot").rglob("*.py"))


def _module_name(path):
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _bot_imports(path):
    """bot.* modules imported by ``path`` anywhere (functions too), except under TYPE_CHECKING."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for n in ast.walk(node))
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bot"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("bot"))
    return found


def test_bot_modules_import_each_other_without_cycles():
    graph = {_module_name(p): _bot_imports(p) for p in BOT_MODULES}
    state = {}

    def visit(module, path):
        if state.get(module) == "done":
            return
        assert state.get(module) != "active", "import cycle: " + " -> ".join([*path, module])
        state[module] = "active"
        for imported in sorted(graph.get(module, ())):
            if imported in graph:
                visit(imported, [*path, module])
        state[module] = "done"

    for module in sorted(graph):
        visit(module, [])


@pytest.mark.parametrize("path", sorted((REPO / "bot" / "discord" / "cogs").glob("*.py")), ids=lambda p: p.name)
def test_cogs_never_import_other_cogs(path):
    """Shared helpers live in bot/discord/checks.py or another non-cog module, not in a cog."""
    assert not {m for m in _bot_imports(path) if m.startswith("bot.discord.cogs")}


DISCORD_LIMITS = {25, 100, 256, 1024, 2000, 2048, 4096, 6000}


@pytest.mark.parametrize("path", sorted((REPO / "bot" / "discord" / "cogs").glob("*.py")), ids=lambda p: p.name)
def test_discord_limits_are_named_in_render_not_typed_in_cogs(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    literals = [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and type(node.value) is int and node.value in DISCORD_LIMITS
    ]
    assert literals == [], f"{path.name}: use the names in bot/discord/render.py for {literals}"


def test_only_open_index_loads_an_index_in_bot():
    """Load-or-build is written once (bot/engine_factory.py: open_index)."""
    loaders = [p.name for p in BOT_MODULES if "Engine.load(" in p.read_text(encoding="utf-8")]
    assert loaders == ["engine_factory.py"]


def test_the_readme_layout_names_every_module_of_the_bot():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    layout = readme.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    missing = [str(p.relative_to(REPO)) for p in BOT_MODULES if p.name != "__init__.py" and p.name not in layout]
    assert missing == []
    for folder in ("index/", "bot/", "cogs/", "docs/", "tests/", "bench/", ".ci/run", "Dockerfile"):
        assert folder in layout, folder


def test_importing_the_test_helpers_leaves_no_files_behind(tmp_path):
    """Subprocesses import tests.conftest, and the crash-safety test kills them with SIGKILL
    (no atexit): importing it must create nothing that only an orderly exit removes."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "TMPDIR": str(tmp_path)}
    script = "import os, signal, tests.conftest; os.kill(os.getpid(), signal.SIGKILL)"
    subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, timeout=120)
    assert list(tmp_path.iterdir()) == []
