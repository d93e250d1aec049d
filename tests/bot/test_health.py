"""bot/health.py: what `verbatim health` concludes from the file the bot keeps."""

import json
import time

from bot.health import STALE_AFTER_SECONDS, Health, read_health, render_health


def written(tmp_path, *, loaded=True, connected=True, age=0.0):
    health = Health(tmp_path / "health.json")
    if loaded:
        health.index_loaded(6, "2026-11-28T08:00:00+00:00")
    health.gateway(connected)
    health.write()
    if age:
        record = json.loads(health.path.read_text())
        record["updated"] -= age
        health.path.write_text(json.dumps(record))
    return health.path


def test_loaded_and_connected_is_healthy(tmp_path):
    record, problems = read_health(written(tmp_path))
    assert problems == []
    text = render_health(record, problems)
    assert text.startswith("healthy\nindex: loaded, 6 chunks, last sync ") and "gateway: connected" in text


def test_each_thing_that_can_be_wrong_is_named(tmp_path):
    _, problems = read_health(written(tmp_path, loaded=False, connected=False))
    assert problems[0] == "the index is not loaded yet" and problems[1].startswith("not connected to Discord")
    _, problems = read_health(written(tmp_path, age=STALE_AFTER_SECONDS + 5))
    assert problems and "stopped or stuck" in problems[0]
    _, problems = read_health(tmp_path / "nothing.json")
    assert problems and "the bot is not running" in problems[0]


def test_the_last_warning_or_error_is_kept(tmp_path):
    import logging

    health = Health(tmp_path / "health.json")
    logger = logging.getLogger("test.health")
    logger.addHandler(health.log_handler())
    logger.info("not kept")
    logger.warning("discord_unreachable", extra={"error": "ClientConnectorError: no route"})
    health.write()
    record, _ = read_health(health.path, now=time.time())
    assert record["last_error"]["event"] == "discord_unreachable"
    assert record["last_error"]["message"] == "ClientConnectorError: no route"
    assert "last error: discord_unreachable: ClientConnectorError: no route" in render_health(record, [])
