"""The analysis bench's bpmConfidence calibration table (issue 21)."""

from __future__ import annotations

from bench.analysis import metrics


def _row(confidence: float | None, right: bool, **extra: object) -> dict[str, object]:
    return {"bpm_confidence": confidence, "metrics": {"acc1": 1.0 if right else 0.0}, **extra}


def test_shares_of_wrong_tempos_below_and_above_each_threshold() -> None:
    rows = [_row(0.05, False), _row(0.15, False), _row(0.15, True), _row(0.6, True), _row(0.8, False)]
    rows += [_row(None, False), _row(0.9, False, error="boom")]  # left out: no confidence, an error
    table = {t["threshold"]: t for t in metrics.confidence_calibration(rows, thresholds=(0.1, 0.2, 1.0))}
    expected = {"threshold": 0.1, "n_below": 1, "wrong_below": 1.0, "n_above": 4, "wrong_above": 0.5}
    assert table[0.1] == expected
    assert table[0.2]["n_below"] == 3 and abs(table[0.2]["wrong_below"] - 2 / 3) < 1e-12
    assert table[0.2]["n_above"] == 2 and table[0.2]["wrong_above"] == 0.5
    assert table[1.0]["n_above"] == 0 and table[1.0]["wrong_above"] is None
