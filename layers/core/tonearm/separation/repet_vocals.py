"""Vocals and accompaniment by REPET-SIM, file to files in bounded memory (issue 19).

Why a DSP path next to the model: on the held-out renders with a voice (``make bench``,
``bench/results/separation.md``) REPET-SIM's vocals measure 1.9 dB SDR and its accompaniment about 5.4 dB,
against 0.2 and 4.1 dB for the trained model, whose vocal mask hardly learned in its one hour of training.
On instrumental music the model is far better (its vocal output carries -33 dB of the mix on renders and
-37 dB on real soundtracks, REPET-SIM's -8 and -7 dB). The vocals-and-accompaniment workflows take
``method`` (``repet-sim``, the default, or ``model``) so a caller can choose.

:func:`separate_vocals_repet` decodes the input block by block into a float32 file in the work folder
(so a 10-minute multichannel input is never held in memory), runs
:func:`tonearm.separation.baselines.iter_chunks` (``repet_sim``, one chunk and its context at a time) over
a memory map of it, and writes the vocals and the exact residual (the input minus the vocals) as WAVs at
the input's sample rate and channel count.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf

from tonearm.audio.decode import decode_stream
from tonearm.audio.limits import DEFAULT_LIMITS, AudioLimits
from tonearm.separation.baselines import iter_chunks
from tonearm.separation.service import discard_outputs, finish_outputs

__all__ = ["separate_vocals_repet"]


class _RawWriter:
    """A :class:`tonearm.audio.decode.BlockConsumer` appending float32 frames to a raw file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sr = 0
        self.channels = 0
        self.frames = 0
        self._file = path.open("wb")

    def start(self, *, sr: int, channels: int) -> None:
        self.sr, self.channels = sr, channels

    def feed(self, block: npt.NDArray[np.float32]) -> None:
        # frames are written interleaved, (k, channels): the layout soundfile and the memory map share
        self._file.write(np.ascontiguousarray(block.T, dtype=np.float32).tobytes())
        self.frames += block.shape[1]

    def close(self) -> None:
        self._file.close()


def separate_vocals_repet(
    input_path: Path,
    work_dir: Path,
    names: tuple[str, str] = ("vocals", "accompaniments"),
    *,
    progress: Callable[[float], None] | None = None,
    limits: AudioLimits = DEFAULT_LIMITS,
) -> dict[str, Path]:
    """Split an audio file into vocals and accompaniment with REPET-SIM; output name -> WAV.

    Parameters
    ----------
    input_path : Path
        Any input :func:`tonearm.audio.decode.decode` accepts.
    work_dir : Path
        Folder the WAVs are written to (created if missing), named after the outputs
        (``vocals.wav``, ``accompaniments.wav``).
    names : tuple of str
        The two output names: the vocals, then the accompaniment (written as the input minus the vocals,
        so the two add up to the input to 24-bit quantisation).
    progress : callable, optional
        Called with the fraction done, 0..1 (decoding is the first 20 %).
    limits : AudioLimits
        The decoder's limits.

    Returns
    -------
    dict of str to Path
        24-bit PCM WAVs (32-bit float if an output exceeds full scale), the input's rate and channels.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    raw = _RawWriter(work_dir / "input.f32")
    paths = [work_dir / f"{name.lower().replace(' ', '-')}.wav" for name in names]
    partial = [path.with_name(path.name + ".partial") for path in paths]
    report = progress or (lambda _fraction: None)
    writers: list[sf.SoundFile] = []
    try:
        try:
            decode_stream(input_path, raw, limits=limits, progress=lambda f: report(0.2 * f))
        finally:
            raw.close()
        mix = np.memmap(raw.path, dtype=np.float32, mode="r", shape=(raw.frames, raw.channels)).T
        writers = [
            sf.SoundFile(p, "w", samplerate=raw.sr, channels=raw.channels, format="WAV", subtype="FLOAT")
            for p in partial
        ]
        peak = 0.0
        for start, stop, stems in iter_chunks("repet_sim", mix, raw.sr):
            vocals = stems["vocals"]
            rest = np.asarray(mix[:, start:stop], dtype=np.float32) - vocals
            peak = max(
                peak, float(np.max(np.abs(vocals), initial=0.0)), float(np.max(np.abs(rest), initial=0.0))
            )
            writers[0].write(vocals.T)
            writers[1].write(rest.T)
            report(0.2 + 0.8 * stop / max(raw.frames, 1))
        del mix
        finish_outputs(writers, partial, paths, peak)
    except BaseException:
        discard_outputs(writers, partial, paths)
        raise
    finally:
        raw.path.unlink(missing_ok=True)
    report(1.0)
    return dict(zip(names, paths, strict=True))
