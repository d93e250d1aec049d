"""Structured logging: ``event key=value`` lines for people, or JSON objects for machines.

Modules log an event name with ``extra={...}`` fields; this formatter puts those fields on
the line, so logs can be grepped and parsed alike.
"""

from __future__ import annotations

import json
import logging
import sys

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


def _fields(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class OneLineReconnects(logging.Filter):
    """discord.py logs each gateway reconnect attempt with a full traceback (dozens of lines
    for a DNS failure while the network is down). Keep one line: the error and the delay."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "discord.client" and str(record.msg).startswith("Attempting a reconnect") and record.exc_info:
            error = record.exc_info[1]
            retry = record.args[0] if isinstance(record.args, tuple) and record.args else None
            record.msg, record.args = "discord_reconnecting", None
            record.error = f"{type(error).__name__}: {' '.join(str(error).split())}"
            if retry is not None:
                record.retry_in_s = round(float(retry), 1)  # type: ignore[arg-type]
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        parts = [self.formatTime(record, "%H:%M:%S"), record.levelname.lower(), record.name, record.getMessage()]
        parts += [f"{k}={v!r}" if isinstance(v, str) and " " in v else f"{k}={v}" for k, v in _fields(record).items()]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "time": self.formatTime(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        data.update(
            {k: v if isinstance(v, (int, float, bool, type(None))) else str(v) for k, v in _fields(record).items()}
        )
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def configure_logging(level: str = "WARNING", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    # On the handler too: some libraries set their own logger to DEBUG when imported.
    handler.setLevel(level)
    handler.setFormatter(JsonFormatter() if fmt == "json" else KeyValueFormatter())
    handler.addFilter(OneLineReconnects())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Libraries that are chatty at INFO: keep them at WARNING unless debugging.
    if level != "DEBUG":
        for name in ("sentence_transformers", "transformers", "httpx", "bm25s", "faiss", "discord", "huggingface_hub"):
            logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
