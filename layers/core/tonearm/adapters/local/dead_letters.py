"""``DeadLetterSink`` for the local runtime: one JSON line per dead letter, in a file only its owner reads
(0600, whatever the umask)."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tonearm.adapters.local.private_files import make_private, open_private, private_dirs


class FileDeadLetterSink:
    """Appends dead letters to a JSON Lines file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        private_dirs(self.path.parent)
        make_private(self.path)  # a file written before this was 0644
        self._lock = threading.Lock()

    def send(self, message: Mapping[str, Any]) -> None:
        """Append one record."""
        with self._lock, open_private(self.path, "ab") as f:
            f.write((json.dumps(dict(message)) + "\n").encode())

    def read_all(self) -> list[dict[str, Any]]:
        """Every record so far."""
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
