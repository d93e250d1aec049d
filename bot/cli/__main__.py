"""``python -m bot.cli``: the `verbatim` command line."""

import sys

from bot.cli.commands import main

sys.exit(main())
