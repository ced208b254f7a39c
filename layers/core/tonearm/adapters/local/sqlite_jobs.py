"""``JobStore`` on SQLite: one file, safe across the local runtime's threads."""

from __future__ import annotations

import builtins
import sqlite3
import threading
from pathlib import Path

from tonearm.jobs.model import Job, JobStatus
from tonearm.ports import Application

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    app TEXT NOT NULL,
    status TEXT NOT NULL,
    workflow TEXT NOT NULL,
    batch_name TEXT,
    created_at TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_app ON jobs (app, created_at DESC);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, created_at);
CREATE TABLE IF NOT EXISTS applications (
    key_sha256 TEXT PRIMARY KEY, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL
);
"""


class SqliteJobStore:
    """Jobs and applications in one SQLite database (WAL mode, one connection behind a lock)."""

    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def create(self, job: Job) -> bool:
        """Insert unless the id exists."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    job.id,
                    job.app,
                    job.status.value,
                    job.workflow,
                    job.batch_name,
                    job.created_at,
                    job.model_dump_json(),
                ),
            )
            return cursor.rowcount == 1

    def get(self, job_id: str) -> Job | None:
        """The job or ``None``."""
        with self._lock:
            row = self._db.execute("SELECT body FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job.model_validate_json(row[0]) if row else None

    def replace(self, job: Job, *, expected_status: JobStatus) -> bool:
        """Compare-and-set on the status."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE jobs SET status = ?, body = ? WHERE id = ? AND status = ?",
                (job.status.value, job.model_dump_json(), job.id, expected_status.value),
            )
            return cursor.rowcount == 1

    def delete(self, job_id: str) -> bool:
        """Delete; whether it existed."""
        with self._lock:
            return self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,)).rowcount == 1

    def list(
        self,
        *,
        app: str,
        statuses: list[JobStatus],
        workflows: list[str],
        batch_name: str | None,
        offset: int,
        limit: int,
        older_than: tuple[str, str] | None = None,
    ) -> list[Job]:
        """Newest first (created_at, then id, both descending), filtered, after ``older_than``."""
        where = ["app = ?"]
        args: list[object] = [app]
        if statuses:
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            args.extend(s.value for s in statuses)
        if workflows:
            where.append(f"workflow IN ({','.join('?' * len(workflows))})")
            args.extend(workflows)
        if batch_name is not None:
            where.append("batch_name = ?")
            args.append(batch_name)
        if older_than is not None:
            where.append("(created_at < ? OR (created_at = ? AND id < ?))")
            args.extend([older_than[0], older_than[0], older_than[1]])
        sql = (
            f"SELECT body FROM jobs WHERE {' AND '.join(where)} "
            "ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
        )
        with self._lock:
            rows = self._db.execute(sql, [*args, limit, offset]).fetchall()
        return [Job.model_validate_json(r[0]) for r in rows]

    def put_application(self, app: Application) -> None:
        """Create or replace."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO applications VALUES (?, ?, ?)",
                (app.key_sha256, app.id, app.model_dump_json()),
            )

    def count_keys(self) -> int:
        """One row per key."""
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM applications").fetchone()
        return int(count)

    def application_by_key_hash(self, key_sha256: str) -> Application | None:
        """Lookup by key hash."""
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM applications WHERE key_sha256 = ?", (key_sha256,)
            ).fetchone()
        return Application.model_validate_json(row[0]) if row else None

    def application_by_id(self, app_id: str) -> Application | None:
        """Lookup by id."""
        with self._lock:
            row = self._db.execute("SELECT body FROM applications WHERE id = ?", (app_id,)).fetchone()
        return Application.model_validate_json(row[0]) if row else None

    def unfinished(self, *, created_before: str, limit: int) -> builtins.list[Job]:
        """QUEUED or STARTED jobs of every application created before ``created_before``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM jobs WHERE status IN (?, ?) AND created_at < ? ORDER BY created_at LIMIT ?",
                (JobStatus.QUEUED.value, JobStatus.STARTED.value, created_before, limit),
            ).fetchall()
        return [Job.model_validate_json(r[0]) for r in rows]
