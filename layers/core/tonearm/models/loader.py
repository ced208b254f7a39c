"""Opening an ONNX model whose bytes must match the sha256 recorded for them.

Every model tonearm runs (the builtin models of ``models/registry.json``, custom tagging heads, the
stream-count model in the blob store) has its digest written down beside it. :func:`check_onnx` reads the
file (or takes bytes already fetched), compares the digest and raises the caller's own error type, so a
corrupt copy, a Git LFS pointer or a file swapped without updating its record is refused rather than run;
:meth:`CheckedOnnx.session` then opens it with :func:`onnx_session`, configured as every tonearm model
runs. The check and the session are separate steps because a head is verified when its task type is
looked up, where neither numpy nor onnxruntime may be imported, and opened only on its first prediction.

This module imports only the standard library at import time; onnxruntime is imported when a session is
opened.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tonearm.errors import TonearmError

if TYPE_CHECKING:
    from onnxruntime import InferenceSession

__all__ = ["CheckedOnnx", "check_onnx", "onnx_session"]


@dataclass(frozen=True)
class CheckedOnnx:
    """A serialised ONNX model whose sha256 matched its recorded digest (made by :func:`check_onnx`)."""

    data: bytes = field(repr=False)
    sha256: str

    def session(self, *, threads: int = 1) -> InferenceSession:
        """An onnxruntime session over the model (:func:`onnx_session`); onnxruntime's errors pass through."""
        return onnx_session(self.data, threads=threads)


def check_onnx(
    source: Path | bytes,
    sha256: str,
    *,
    name: str,
    recorded_in: str,
    remedy: str,
    error: type[TonearmError],
) -> CheckedOnnx:
    """Read a model and check its bytes against the digest recorded for them.

    Parameters
    ----------
    source : Path or bytes
        The model file, or its bytes when the caller fetched them (from a blob store).
    sha256 : str
        The recorded hex digest.
    name : str
        The model as errors name it, e.g. ``"model file /models/musicnn/mtt_musicnn.onnx"``.
    recorded_in : str
        Where ``sha256`` comes from, as errors name it, e.g. ``"the manifest"``.
    remedy : str
        What a digest mismatch means and how to fix it, ending the error message.
    error : type of TonearmError
        Raised on an unreadable file or a mismatch, so the caller's error code and status stay its own.

    Returns
    -------
    CheckedOnnx

    Raises
    ------
    error
        ``"<name> cannot be read: ..."``, or ``"<name> has sha256 <12 hex>..., <recorded_in> says
        <12 hex>...; <remedy>"``.
    """
    if isinstance(source, Path):
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise error(f"{name} cannot be read: {exc}") from exc
    else:
        data = source
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise error(f"{name} has sha256 {digest[:12]}..., {recorded_in} says {sha256[:12]}...; {remedy}")
    return CheckedOnnx(data=data, sha256=digest)


def onnx_session(data: bytes, *, threads: int = 1) -> InferenceSession:
    """An onnxruntime CPU session over a serialised model, configured as every tonearm model runs.

    ``threads`` intra-op threads (one by default: a Lambda function has one vCPU per 1769 MB), one
    inter-op thread, every graph optimisation. onnxruntime's own errors pass through.
    """
    import onnxruntime as ort  # imported here: only image functions carry it

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
