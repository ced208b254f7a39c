"""The analysis bench's --reuse-rows: a previous run's rows are taken only when complete and clean."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("mir_eval")  # bench.analysis.run imports it (bench extra)

from bench.analysis import run


def _write(path: Path, rows: list[dict[str, object]], summary: dict[str, object]) -> None:
    path.write_text("\n".join(json.dumps(r) for r in [*rows, {"summary": summary}]) + "\n")


def test_complete_previous_rows_are_reused(tmp_path: Path) -> None:
    out = tmp_path / "rows_madmom.jsonl"
    rows = [{"clip_id": f"{i:02d}", "format": fmt, "bpm": 120.0} for i in range(3) for fmt in ("wav", "mp3")]
    _write(out, rows, {"n": 6})
    got = run._previous_rows(out, "madmom", 3, ("wav", "mp3"))
    assert got is not None
    assert len(got["rows"]) == 6 and all(r["tool"] == "madmom" for r in got["rows"])
    assert got["summary"]["reused_from"]


@pytest.mark.parametrize(
    ("n_rows", "formats", "summary"),
    [
        (5, ("wav", "mp3"), {"n": 5}),  # a clip missing: the run was cut short or had fewer clips
        (6, ("wav", "mp3"), {"error": "worker exited 1"}),  # the run failed
        (6, ("coded", "wav"), {"n": 6}),  # other formats (the other set's rows)
    ],
)
def test_incomplete_or_failed_rows_are_not_reused(
    tmp_path: Path, n_rows: int, formats: tuple[str, ...], summary: dict[str, object]
) -> None:
    out = tmp_path / "rows_madmom.jsonl"
    rows = [{"clip_id": f"{i:02d}", "format": fmt} for i in range(3) for fmt in ("wav", "mp3")][:n_rows]
    _write(out, rows, summary)
    assert run._previous_rows(out, "madmom", 3, formats) is None
    assert run._previous_rows(tmp_path / "absent.jsonl", "madmom", 3, formats) is None
