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
