"""A fitted ``HistGradientBoostingRegressor`` as an ONNX graph that outputs streams directly.

skl2onnx (1.20) fails on this estimator with onnx ≥ 1.20 (it hands booleans to an ints attribute),
and the tree structure is small and documented, so the export is written here: every tree becomes
part of one ``ai.onnx.ml.TreeEnsembleRegressor`` (``BRANCH_LEQ`` splits, missing values routed as the
estimator learned), followed by the inverse of the target transform: ``clip(expm1(raw), 0, cap)``.
``tests/unit/test_prediction_model.py`` checks onnxruntime against scikit-learn on rows with NaNs.

Thresholds are float64 in scikit-learn and float32 in the ONNX operator; each is rounded *down* to
the nearest float32, which keeps ``x <= t`` exactly the same decision for every float32 input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: Opsets of the exported graph (onnxruntime ≥ 1.20 runs both).
ONNX_OPSET = 17
ML_OPSET = 3
INPUT_NAME = "features"
OUTPUT_NAME = "streams"


def _float32_floor(values: np.ndarray) -> np.ndarray:
    """Largest float32 ≤ each float64 value (so ``x32 <= t64`` ⇔ ``x32 <= result``)."""
    rounded = values.astype(np.float32)
    too_big = rounded.astype(np.float64) > values
    rounded[too_big] = np.nextafter(rounded[too_big], np.float32(-np.inf))
    return rounded


def export_hist_gbr(
    estimator: Any,
    *,
    n_features: int,
    cap: float,
    feature_map: Sequence[int] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> bytes:
    """Serialise ``estimator`` (fitted on ``log1p(streams)``) to ONNX bytes.

    Parameters
    ----------
    estimator : sklearn.ensemble.HistGradientBoostingRegressor
        Fitted, numeric features only, one target.
    n_features : int > 0
        Width of the input row.
    cap : float > 0
        Upper clip of the output [streams].
    feature_map : sequence of int, optional
        Input column of each feature the estimator was fitted on (default: the identity), so an
        estimator fitted on a subset of the columns reads the full row.
    metadata : mapping of str to str, optional
        Stored as the model's ``metadata_props``.

    Returns
    -------
    model : bytes
        Input ``features`` float32 [shape=(n, n_features)], output ``streams`` float32
        [shape=(n, 1)].
    """
    import onnx
    from onnx import TensorProto, helper

    tree_ids: list[int] = []
    node_ids: list[int] = []
    feature_ids: list[int] = []
    values: list[np.ndarray] = []
    modes: list[str] = []
    true_ids: list[int] = []
    false_ids: list[int] = []
    missing_true: list[int] = []
    target_tree: list[int] = []
    target_node: list[int] = []
    target_weight: list[float] = []
    column_of = np.asarray(feature_map if feature_map is not None else range(n_features), dtype=np.int64)
    for tree_id, (predictor,) in enumerate(estimator._predictors):
        nodes = predictor.nodes
        if np.any(nodes["is_categorical"]):
            # Kept a ValueError: the estimator comes from tonearm.prediction.train, which fits it on the
            # numeric feature matrix only, so a categorical split is a programming error there, not
            # anything a caller's data can cause.
            raise ValueError("categorical splits are not exported")
        n = len(nodes)
        leaf = nodes["is_leaf"].astype(bool)
        tree_ids.extend([tree_id] * n)
        node_ids.extend(range(n))
        feature_ids.extend(np.where(leaf, 0, column_of[nodes["feature_idx"]]).astype(int).tolist())
        values.append(np.where(leaf, 0.0, nodes["num_threshold"]))
        modes.extend("LEAF" if is_leaf else "BRANCH_LEQ" for is_leaf in leaf)
        true_ids.extend(np.where(leaf, 0, nodes["left"]).astype(int).tolist())
        false_ids.extend(np.where(leaf, 0, nodes["right"]).astype(int).tolist())
        missing_true.extend(np.where(leaf, 0, nodes["missing_go_to_left"]).astype(int).tolist())
        leaves = np.flatnonzero(leaf)
        target_tree.extend([tree_id] * len(leaves))
        target_node.extend(leaves.tolist())
        target_weight.extend(nodes["value"][leaves].astype(float).tolist())
    thresholds = _float32_floor(np.concatenate(values)) if values else np.empty(0, np.float32)

    baseline = float(np.asarray(estimator._baseline_prediction).ravel()[0])
    trees = helper.make_node(
        "TreeEnsembleRegressor",
        [INPUT_NAME],
        ["log1p_streams"],
        domain="ai.onnx.ml",
        n_targets=1,
        aggregate_function="SUM",
        post_transform="NONE",
        base_values=[baseline],
        nodes_treeids=tree_ids,
        nodes_nodeids=node_ids,
        nodes_featureids=feature_ids,
        nodes_values=thresholds.tolist(),
        nodes_modes=modes,
        nodes_truenodeids=true_ids,
        nodes_falsenodeids=false_ids,
        nodes_missing_value_tracks_true=missing_true,
        target_treeids=target_tree,
        target_nodeids=target_node,
        target_ids=[0] * len(target_node),
        target_weights=target_weight,
    )
    exp = helper.make_node("Exp", ["log1p_streams"], ["exp"])
    sub = helper.make_node("Sub", ["exp", "one"], ["expm1"])
    clip = helper.make_node("Clip", ["expm1", "zero", "cap"], [OUTPUT_NAME])
    graph = helper.make_graph(
        [trees, exp, sub, clip],
        "stream_count",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [None, n_features])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [None, 1])],
        initializer=[
            helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
            helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
            helper.make_tensor("cap", TensorProto.FLOAT, [], [float(cap)]),
        ],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", ONNX_OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
        producer_name="tonearm.prediction",
    )
    model.ir_version = 8  # onnxruntime >= 1.20 reads IR 8; newer onnx would write a newer one
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    data: bytes = model.SerializeToString()
    return data
