"""``DeadLetterSink`` for the local runtime: one JSON line per dead letter."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class FileDeadLetterSink:
    """Appends dead letters to a JSON Lines file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def send(self, message: Mapping[str, Any]) -> None:
        """Append one record."""
        with self._lock, self.path.open("a") as f:
            f.write(json.dumps(dict(message)) + "\n")

    def read_all(self) -> list[dict[str, Any]]:
        """Every record so far."""
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
