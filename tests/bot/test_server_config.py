"""Per-server settings: the most specific value wins, and they survive a restart (they are in the record)."""

from __future__ import annotations

from pathlib import Path

from bot.community.record import Record, RecordStore
from bot.discord.client import VerbatimBot
from bot.server_config import AUTO_ANSWER, PRIVATE, THREADS, Defaults, ServerConfigs
from bot.service import AnswerService
from bot.settings import Settings
from tests.conftest import HashingEmbedder


def test_a_thread_then_its_channel_then_the_server_then_the_environment() -> None:
    configs = ServerConfigs(Defaults(auto_answer_channels=(5,), private_answers=False, answer_in_thread=True))
    assert configs.auto_answer_channels(1) == {5} and configs.private_answers(1, [70, 7]) is False
    configs.put(1, PRIVATE, True)  # server-wide
    configs.put(1, PRIVATE, False, channel_id=7)  # but not in #7, nor in its threads
    assert configs.private_answers(1, [70, 7]) is False and configs.private_answers(1, [8]) is True
    assert configs.private_answers(2, [7]) is False  # another server keeps the default
    configs.put(1, THREADS, False, channel_id=70)
    assert configs.answer_in_thread(1, [70, 7]) is False and configs.answer_in_thread(1, [7]) is True
    configs.put(1, AUTO_ANSWER, [])
    assert configs.auto_answer_channels(1) == set() and configs.auto_answer_channels(2) == {5}
    configs.put(1, PRIVATE, None)  # back to the default
    assert configs.private_answers(1, [8]) is False


async def test_settings_set_before_a_restart_are_in_force_after_it(tmp_path: Path) -> None:
    store = RecordStore(tmp_path / "v.sqlite3")
    store.set_setting(1, AUTO_ANSWER, [42])
    store.set_setting(1, PRIVATE, True, channel_id=7)
    store.close()
    settings = Settings(docs_dir=tmp_path / "docs", index_dir=tmp_path / "index", model=HashingEmbedder.name)
    bot = VerbatimBot(
        settings, AnswerService(settings.engine_config(), HashingEmbedder()), Record(tmp_path / "v.sqlite3")
    )
    try:
        await bot._load_configs()
        assert bot.configs.auto_answer_channels(1) == {42} and bot.configs.private_answers(1, [7]) is True
    finally:
        await bot.close()
