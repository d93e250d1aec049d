"""A local record of 👍/👎 votes and of questions the documents could not answer.

One JSON object a line, appended under a lock: moderators read it with ``/unanswered``
(or any tool), and nothing leaves the machine.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class FeedbackLog:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def _append(self, record: dict[str, Any]) -> None:
        record = {"time": datetime.now(UTC).isoformat(timespec="seconds"), **record}
        line = json.dumps(record, ensure_ascii=False)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")

    def vote(self, *, question: str, helpful: bool, user_id: int, citations: list[str]) -> None:
        self._append(
            {"kind": "vote", "helpful": helpful, "question": question, "user_id": user_id, "citations": citations}
        )

    def unanswered(self, *, question: str, user_id: int, guild_id: int | None) -> None:
        self._append({"kind": "unanswered", "question": question, "user_id": user_id, "guild_id": guild_id})

    def recent_unanswered(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest questions that got "not in the documents", newest first."""
        recent: deque[dict[str, Any]] = deque(maxlen=limit)
        try:
            with open(self.path, encoding="utf-8") as handle:
                for line in handle:
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue  # a torn last line after a crash is not worth failing over
                    if record.get("kind") == "unanswered":
                        recent.append(record)
        except FileNotFoundError:
            return []
        return list(reversed(recent))
