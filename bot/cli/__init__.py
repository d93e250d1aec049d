"""The command line: `verbatim` arguments and a terminal -> answers, reports and exit codes as text."""

from bot.cli.commands import main

__all__ = ["main"]
