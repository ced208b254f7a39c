"""What the local stack must not forget when its process dies: running executions, undelivered events.

Step Functions and EventBridge keep this state in AWS; locally it lived in threads, so a ``kill -9``
lost every execution in flight and every webhook not yet sent. The journal is one SQLite file
(``<data_dir>/runtime.sqlite3``, WAL, one transaction per change) that the orchestrator and the bus
write *before* they hand work to a thread and clear when it is done; at start-up the runtime replays
what is left (:mod:`tonearm.local_stack.recovery`).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS executions (
    name TEXT PRIMARY KEY,
    machine TEXT NOT NULL,
    input TEXT NOT NULL,
    status TEXT NOT NULL,
    started REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS executions_running ON executions (status);
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY,
    rule TEXT NOT NULL,
    event TEXT NOT NULL,
    queued REAL NOT NULL
);
"""

RUNNING = "RUNNING"
ENDED = "ENDED"


@dataclass(frozen=True)
class JournalledExecution:
    """An execution the journal knows: its state machine, input and whether it ended."""

    name: str
    machine: str
    execution_input: dict[str, Any]
    status: str


@dataclass(frozen=True)
class PendingDelivery:
    """An event matched to a rule whose target has not finished with it."""

    id: str
    rule: str
    event: dict[str, Any]


class RuntimeJournal:
    """Executions and pending bus deliveries in one SQLite file (or ``:memory:`` for tests)."""

    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():  # created private: inputs name jobs and buckets
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL loses at most the last transactions on a power cut, never on a process crash (kill -9),
        # which is what the journal is for; FULL would fsync every job's every state change
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    # --- executions -------------------------------------------------------------------------------
    def begin_execution(self, name: str, machine: str, execution_input: Mapping[str, Any]) -> bool:
        """Record a new RUNNING execution; ``False`` if the name was ever used (names are unique)."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO executions VALUES (?, ?, ?, ?, ?)",
                (name, machine, json.dumps(dict(execution_input)), RUNNING, time.time()),
            )
            return cursor.rowcount == 1

    def end_execution(self, name: str) -> None:
        """Mark the execution ENDED (its end event is already journalled as a delivery)."""
        with self._lock:
            self._db.execute("UPDATE executions SET status = ? WHERE name = ?", (ENDED, name))

    def execution(self, name: str) -> JournalledExecution | None:
        """The execution of that name, running or ended, or ``None``."""
        with self._lock:
            row = self._db.execute(
                "SELECT name, machine, input, status FROM executions WHERE name = ?", (name,)
            ).fetchone()
        return _execution(row) if row else None

    def running_executions(self) -> list[JournalledExecution]:
        """Executions begun and not ended, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT name, machine, input, status FROM executions WHERE status = ? ORDER BY started",
                (RUNNING,),
            ).fetchall()
        return [_execution(row) for row in rows]

    def prune_ended(self, *, older_than_s: float) -> int:
        """Forget ended executions started more than ``older_than_s`` ago (Step Functions keeps a used
        name for 90 days); return how many. Keeps the file from growing with every job ever run."""
        with self._lock:
            cursor = self._db.execute(
                "DELETE FROM executions WHERE status = ? AND started < ?", (ENDED, time.time() - older_than_s)
            )
            return cursor.rowcount

    # --- bus deliveries ---------------------------------------------------------------------------
    def add_deliveries(self, deliveries: list[PendingDelivery]) -> None:
        """Record every (event, rule) pair of one publication in one transaction."""
        if not deliveries:
            return
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT OR IGNORE INTO deliveries VALUES (?, ?, ?, ?)",
                    [(d.id, d.rule, json.dumps(d.event), now) for d in deliveries],
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def finish_delivery(self, delivery_id: str) -> None:
        """Forget a delivery its target is done with (delivered, or given up on and dead-lettered)."""
        with self._lock:
            self._db.execute("DELETE FROM deliveries WHERE id = ?", (delivery_id,))

    def pending_deliveries(self) -> list[PendingDelivery]:
        """Deliveries not finished, in the order they were queued."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, rule, event FROM deliveries ORDER BY queued, rowid"
            ).fetchall()
        return [PendingDelivery(id=row[0], rule=row[1], event=json.loads(row[2])) for row in rows]


def _execution(row: tuple[str, str, str, str]) -> JournalledExecution:
    return JournalledExecution(name=row[0], machine=row[1], execution_input=json.loads(row[2]), status=row[3])
