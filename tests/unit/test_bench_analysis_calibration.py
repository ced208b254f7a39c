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


def test_reliability_bins_compare_mean_confidence_with_the_share_of_right_tempos() -> None:
    rows = [_row(0.1, False), _row(0.2, True), _row(0.6, True), _row(0.65, False), _row(1.0, True)]
    rows += [_row(None, True), _row(0.95, False, error="boom")]
    table = metrics.confidence_reliability(rows, edges=(0.0, 0.5, 0.9, 1.0))
    assert [b["n"] for b in table] == [2, 2, 1]
    assert abs(table[0]["mean_confidence"] - 0.15) < 1e-12 and table[0]["right"] == 0.5
    assert abs(table[1]["mean_confidence"] - 0.625) < 1e-12 and table[1]["right"] == 0.5
    assert table[2] == {"bin": (0.9, 1.0), "n": 1, "mean_confidence": 1.0, "right": 1.0}
    assert metrics.confidence_reliability([], edges=(0.0, 1.0))[0]["right"] is None
