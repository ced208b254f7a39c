"""The head's model: multinomial logistic regression on standardised embeddings, in numpy.

:func:`fit_logistic` fits it (L-BFGS, scipy), :class:`LogisticHead` holds and applies it; the same
arithmetic runs at request time as the ONNX graph of :mod:`tonearm.tagging.heads.onnx_export`.
numpy and scipy are imported where they are used (this module is imported by the training only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["DEFAULT_L2", "LogisticHead", "fit_logistic"]

#: Default L2 penalty on the weights (features are standardised, the data loss is a weighted mean).
DEFAULT_L2 = 1e-2
#: A feature whose training spread is below this is constant (a dead ReLU unit): left unscaled.
_MIN_STD = 1e-6


@dataclass(frozen=True)
class LogisticHead:
    """A fitted head in numpy: ``softmax(((x - mean) / std) @ weights + bias)``.

    Attributes
    ----------
    mean, std : np.ndarray [shape=(d,)], float32
        Standardisation of the input (folded into the ONNX graph).
    weights : np.ndarray [shape=(d, k)], float32
    bias : np.ndarray [shape=(k,)], float32
    """

    mean: npt.NDArray[np.float32]
    std: npt.NDArray[np.float32]
    weights: npt.NDArray[np.float32]
    bias: npt.NDArray[np.float32]

    def predict_proba(self, x: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
        """Label probabilities of rows ``x`` (shape ``(n, d)``), shape ``(n, k)``, computed in float64."""
        import numpy as np

        z = ((np.asarray(x, dtype=np.float64) - self.mean) / self.std) @ self.weights + self.bias
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)


def fit_logistic(
    x: npt.NDArray[np.floating],
    y: npt.NDArray[np.integer],
    *,
    n_classes: int,
    sample_weight: npt.NDArray[np.floating] | None = None,
    l2: float = DEFAULT_L2,
) -> LogisticHead:
    """Fit an L2-regularised multinomial logistic regression on standardised features.

    Minimises ``sum_i w_i * crossentropy_i + l2 / 2 * ||W||^2`` with the weights ``w`` normalised to sum
    to 1 (the bias is not penalised), by L-BFGS from zero: deterministic for given data.

    Parameters
    ----------
    x : np.ndarray [shape=(n, d)], float
    y : np.ndarray [shape=(n,)], int in [0, n_classes)
    n_classes : int >= 2
    sample_weight : np.ndarray [shape=(n,)], float >= 0, optional
        Default: equal weights.
    l2 : float >= 0

    Returns
    -------
    LogisticHead
    """
    import numpy as np
    import scipy.optimize

    x64 = np.asarray(x, dtype=np.float64)
    n, d = x64.shape
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    w = w / w.sum()
    mean = x64.mean(axis=0)
    std = x64.std(axis=0)
    std[std < _MIN_STD] = 1.0
    # the fit sees the float32 standardisation the exported graph will apply
    mean32, std32 = mean.astype(np.float32), std.astype(np.float32)
    xs = (x64 - mean32) / std32
    onehot = np.zeros((n, n_classes))
    onehot[np.arange(n), y] = 1.0

    def loss_and_grad(theta: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        weights = theta[: d * n_classes].reshape(d, n_classes)
        bias = theta[d * n_classes :]
        z = xs @ weights + bias
        z -= z.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(z).sum(axis=1, keepdims=True))
        log_p = z - log_norm
        loss = -float((w * (onehot * log_p).sum(axis=1)).sum()) + 0.5 * l2 * float((weights**2).sum())
        dz = w[:, None] * (np.exp(log_p) - onehot)
        grad = np.concatenate([(xs.T @ dz + l2 * weights).ravel(), dz.sum(axis=0)])
        return loss, grad

    result = scipy.optimize.minimize(
        loss_and_grad,
        np.zeros(d * n_classes + n_classes),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 1000},
    )
    theta = result.x
    return LogisticHead(
        mean=mean32,
        std=std32,
        weights=theta[: d * n_classes].reshape(d, n_classes).astype(np.float32),
        bias=theta[d * n_classes :].astype(np.float32),
    )
