"""Tests on ../shared data skip on a developer's machine without it, but never silently in CI."""

import pytest

from tests.conftest import SHARED, shared_data


def test_missing_shared_data_skips_on_a_developer_machine(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-such-file"):
        shared_data("eval/no-such-file.jsonl")


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_missing_shared_data_fails_loudly_in_ci(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="CI must provide ../shared"):
        shared_data("eval/no-such-file.jsonl")


def test_present_shared_data_is_returned(monkeypatch):
    monkeypatch.setenv("CI", "true")
    if not SHARED.is_dir():
        pytest.skip("../shared is not here")
    assert shared_data("eval") == SHARED / "eval"
