"""bot/discord/runner.py and bot/logs.py pieces that keep an unattended bot quiet and patient."""

import logging
import random

from bot.discord.runner import RETRY_MAX_SECONDS, retry_delay
from bot.logs import KeyValueFormatter, OneLineReconnects


def test_retry_delays_double_up_to_a_cap_with_jitter():
    rng = random.Random(7)
    ceilings = [min(RETRY_MAX_SECONDS, 2 ** (n - 1)) for n in range(1, 12)]
    delays = [retry_delay(n, rng=rng) for n in range(1, 12)]
    for delay, ceiling in zip(delays, ceilings):
        assert ceiling / 2 <= delay <= ceiling
    assert max(delays) <= RETRY_MAX_SECONDS and delays[-1] >= RETRY_MAX_SECONDS / 2
    # Jittered: two bots that lost the network together do not retry in lockstep.
    other = [retry_delay(n, rng=random.Random(8)) for n in range(1, 12)]
    assert delays != other


def test_a_gateway_reconnect_is_one_line_not_a_traceback():
    try:
        raise OSError(
            "Cannot connect to host gateway.discord.gg:443 ssl:default [Temporary failure in name resolution]"
        )
    except OSError:
        import sys

        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "discord.client", logging.ERROR, __file__, 1, "Attempting a reconnect in %.2fs", (4.37,), exc_info
    )
    assert OneLineReconnects().filter(record)
    line = KeyValueFormatter().format(record)
    assert "\n" not in line and "Traceback" not in line
    assert "warning discord.client discord_reconnecting" in line and "retry_in_s=4.4" in line
    assert "Temporary failure in name resolution" in line
