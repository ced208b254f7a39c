"""tonearm's separation network (issue 19): a small U-Net estimating soft masks on the STFT magnitude.

Input ``magnitude`` [shape=(batch, 2, frames, 1025)], the per-channel STFT magnitudes of a 44.1 kHz
stereo mix (:func:`models.separation.infer.stft`: 2048-sample periodic Hann, hop 512, the geometry of
``tonearm.separation.baselines.stft_geometry``); output ``masks`` [shape=(batch, 6, frames, 1025)], one
soft mask per stem of :data:`STEMS`, a softmax over the stems (so they sum to one in every bin and the
masked stems sum to the mix). One mask per bin is shared by both channels, as in the DSP baselines, so a
stem keeps the mix's stereo image. ``frames`` must be a multiple of 8; the ONNX export fixes it to
:data:`models.separation.infer.CHUNK_FRAMES` (256, 2.97 s) and the caller overlap-adds the chunks.

Why a U-Net and not a band-split RNN. The target is a model that trains in about an hour on two CPU
cores. Band-split RNNs (BSRNN, BS-RoFormer) spend their compute in LSTMs / attention over ~40-60 bands
and every frame, which are sequential or memory-bound on CPU and need far more than an hour to converge.
A convolutional U-Net is GEMM-bound (oneDNN uses both cores well), converges quickly on mask
estimation (Jansson et al. 2017; Spleeter is one), and its cost is easy to size:

- the first layer strides the frequency axis by 4 (1024 bins -> 256), so no layer runs at full
  resolution with more than ``2 * base`` channels; three more (2, 2) strides reach a (frames / 8) x 32
  bottleneck, whose 3x3 receptive field spans about +-0.4 s and the whole spectrum;
- skips are additive (not concatenated), halving the decoder's convolution cost;
- measured (:func:`count_macs`, convolutions only, per 256-frame chunk = 2.97 s of stereo):
  ``base = 8``: 109 k parameters, 0.48 G multiply-adds; ``base = 12`` (``train.py``'s default):
  245 k, 1.07 G; ``base = 16``: 435 k, 1.88 G. On the shared 2-core VM a training step (forward,
  backward, Adam, STFTs) of 4 crops took 1.8-3.6 s at every one of these widths (about 1.5-2.2
  crops/s): at this size the step is bound by full-resolution element-wise work (STFT magnitudes of
  the six stems, the loss over 6 x 2 x 256 x 1025 bins, batch norm at level 0) and oneDNN's
  convolution backward, not by the multiply-adds, so narrowing the network buys little speed.

``base`` (the first layer's channels; each level doubles them) is the knob a bigger budget turns:
multiply-adds grow with ``base ** 2``. The Nyquist bin (1024) gets the mask of bin 1023.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["STEMS", "MaskUNet", "count_macs"]

STEMS = ("kick", "snare", "drums_other", "bass", "vocals", "other")


def _block(cin: int, cout: int, stride: tuple[int, int]) -> nn.Sequential:
    """3x3 convolution (with ``stride``), batch norm, ReLU, then a 3x3 convolution, batch norm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class MaskUNet(nn.Module):
    """U-Net over (time, frequency) predicting a softmax mask per stem.

    Parameters
    ----------
    n_stems : int
        Output masks (6: :data:`STEMS`).
    base : int
        Channels of the first level; level ``i`` has ``base * 2 ** i`` (4 levels).
    channels : int
        Input audio channels (2: stereo magnitudes).

    Notes
    -----
    ``forward(magnitude)``: ``magnitude`` [shape=(batch, channels, frames, 1025)], float32, linear STFT
    magnitudes (unnormalised ``rfft`` scale, full-scale sine ~512); returns masks
    [shape=(batch, n_stems, frames, 1025)], float32 in [0, 1], summing to one over ``n_stems``.
    The input is compressed as ``log1p(magnitude)`` and normalised by a learned per-bin affine
    (batch norm over channels x frequency) inside the network, so callers pass raw magnitudes.
    """

    bins = 1025
    #: Frequency bins seen by the convolutions (the Nyquist bin is dropped and its mask copied).
    conv_bins = 1024

    def __init__(self, n_stems: int = len(STEMS), base: int = 16, channels: int = 2) -> None:
        super().__init__()
        self.n_stems = n_stems
        self.base = base
        self.channels = channels
        c = [base, base * 2, base * 4, base * 8]
        self.input_norm = nn.BatchNorm2d(channels)
        self.enc = nn.ModuleList(
            [
                _block(channels, c[0], (1, 4)),
                _block(c[0], c[1], (2, 2)),
                _block(c[1], c[2], (2, 2)),
                _block(c[2], c[3], (2, 2)),
            ]
        )
        self.up = nn.ModuleList(
            [nn.ConvTranspose2d(c[i + 1], c[i], (2, 2), stride=(2, 2)) for i in reversed(range(3))]
        )
        self.dec = nn.ModuleList([_block(c[i], c[i], (1, 1)) for i in reversed(range(3))])
        self.head = nn.ConvTranspose2d(c[0], n_stems, (1, 4), stride=(1, 4))

    def forward(self, magnitude: torch.Tensor) -> torch.Tensor:
        """Masks for ``magnitude``; see the class notes for shapes."""
        x = torch.log1p(magnitude[..., : self.conv_bins])
        x = self.input_norm(x)
        skips = []
        for layer in self.enc:
            x = layer(x)
            skips.append(x)
        x = skips.pop()
        for up, dec in zip(self.up, self.dec, strict=True):
            x = dec(up(x) + skips.pop())
        logits = self.head(x)  # (batch, stems, frames, 1024)
        logits = torch.cat([logits, logits[..., -1:]], dim=-1)
        return torch.softmax(logits, dim=1)


def count_macs(model: MaskUNet, frames: int = 256) -> int:
    """Multiply-adds of the convolutions of one forward pass on one ``frames``-frame chunk.

    Parameters
    ----------
    model : MaskUNet
    frames : int
        Frames of the chunk (a multiple of 8).

    Returns
    -------
    int
        Multiply-adds (convolutions and transposed convolutions only; norms and activations are small).
    """
    total = 0
    hooks = []

    def conv_hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(module, nn.Conv2d | nn.ConvTranspose2d)
        kh, kw = module.kernel_size
        if isinstance(module, nn.Conv2d):
            total += output.numel() // output.shape[0] * module.in_channels * kh * kw // module.groups
        else:
            x = inputs[0]
            total += x.numel() // x.shape[0] * module.out_channels * kh * kw // module.groups

    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            hooks.append(m.register_forward_hook(conv_hook))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, model.channels, frames, model.bins))
    model.train(was_training)
    for h in hooks:
        h.remove()
    return total
