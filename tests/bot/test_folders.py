"""A folder the bot must write to but cannot: one line naming it and saying how to fix it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot import errors
from bot.errors import FolderNotWritableError, check_writable


@pytest.fixture
def unwritable_data(tmp_path):
    """A folder the bot cannot write to, like a host folder mounted at /data that belongs to
    another user, and the command prefix to run as such a user. Root writes anywhere, so as
    root (CI) the bot runs without the capability that lets it ignore permissions."""
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o555)
    prefix: list[str] = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: cannot make a folder unwritable")
        caps = "-dac_override,-dac_read_search"
        prefix = ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}", "--"]
    yield data, prefix
    data.chmod(0o755)


def test_verbatim_run_names_the_folder_and_the_fix(unwritable_data):
    data, prefix = unwritable_data
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERBATIM_")}
    env.update(
        DISCORD_TOKEN="token",
        VERBATIM_INDEX_DIR=str(data / "index"),
        VERBATIM_FEEDBACK_FILE=str(data / "feedback.jsonl"),
        VERBATIM_DB=str(data / "verbatim.sqlite3"),
        VERBATIM_HEALTH_FILE=str(data / "health.json"),
        HOME=str(data),
        VERBATIM_LOG_LEVEL="INFO",  # as in the image: the error is still one line
    )
    verbatim = Path(sys.executable).with_name("verbatim")
    result = subprocess.run(
        [*prefix, str(verbatim), "run"], cwd=data, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    uid = os.geteuid()
    assert lines[0].startswith(f"error: The folder {data} is not writable by this user (uid {uid}).")
    assert "chown -R" in lines[0]


def test_in_a_container_the_fix_is_docker_run_user_or_chown(tmp_path, monkeypatch):
    monkeypatch.setattr(errors, "in_container", lambda: True)
    message = str(errors.not_writable(Path("/data")))
    assert message.startswith("The folder /data is not writable by this user")
    assert '--user "$(id -u):$(id -g)"' in message and "sudo chown -R" in message


def test_a_writable_folder_is_created_and_left_clean(tmp_path):
    check_writable(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir() and list((tmp_path / "a" / "b").iterdir()) == []


def test_an_unexpected_permission_error_is_described_the_same_way(tmp_path):
    error = PermissionError(13, "Permission denied", str(tmp_path / "missing" / "index"))
    assert errors.describe(error, "terminal").startswith(f"The folder {tmp_path} is not writable")
    with pytest.raises(FolderNotWritableError):
        raise errors.not_writable(tmp_path, error)
