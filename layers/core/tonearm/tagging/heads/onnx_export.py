"""A fitted head as a serialised ONNX model, the file onnxruntime answers requests with.

The graph: input ``embedding`` float32 ``[N, D]`` -> ``Sub(mean)`` -> ``Div(std)`` -> ``MatMul(W)`` ->
``Add(b)`` -> ``Softmax`` -> output ``probabilities`` float32 ``[N, K]`` (opset 17, IR 8). ``onnx`` is a
training-time dependency only (``pip install tonearm[train]``), imported where it is used.
"""

from __future__ import annotations

from tonearm.errors import TonearmError
from tonearm.tagging.heads.logistic import LogisticHead

__all__ = ["export_onnx", "require_onnx"]

_OPSET = 17
#: IR version 8 (onnx 1.10+): loadable by every onnxruntime the project allows (>= 1.20, and older).
_IR_VERSION = 8


def require_onnx() -> None:
    """Fail early, with the install command, where the training-time ``onnx`` package is missing.

    Raises
    ------
    TonearmError
        Code ``missing_dependency``.
    """
    import importlib.util

    if importlib.util.find_spec("onnx") is None:
        raise TonearmError(
            "exporting a head needs the `onnx` package: pip install 'tonearm[train]'",
            code="missing_dependency",
        )


def export_onnx(head: LogisticHead, *, name: str = "head") -> bytes:
    """The head as a serialised ONNX model (see the module docstring for the graph).

    Parameters
    ----------
    head : LogisticHead
    name : str
        The graph's name.

    Returns
    -------
    bytes
        Deterministic for a given head (no timestamps or random names).

    Raises
    ------
    TonearmError
        ``onnx`` is not installed (``pip install 'tonearm[train]'``).
    """
    require_onnx()
    import onnx  # a training-time dependency only
    from onnx import TensorProto, helper, numpy_helper

    d, k = head.weights.shape
    graph = helper.make_graph(
        [
            helper.make_node("Sub", ["embedding", "mean"], ["centred"]),
            helper.make_node("Div", ["centred", "std"], ["standardised"]),
            helper.make_node("MatMul", ["standardised", "weights"], ["projected"]),
            helper.make_node("Add", ["projected", "bias"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
        ],
        name,
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", d])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", k])],
        initializer=[
            numpy_helper.from_array(head.mean, "mean"),
            numpy_helper.from_array(head.std, "std"),
            numpy_helper.from_array(head.weights, "weights"),
            numpy_helper.from_array(head.bias, "bias"),
        ],
    )
    model = helper.make_model(graph, producer_name="tonearm", opset_imports=[helper.make_opsetid("", _OPSET)])
    model.ir_version = _IR_VERSION
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())
