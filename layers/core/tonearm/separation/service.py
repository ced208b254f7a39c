"""Separation use case: an audio file in, one WAV per requested output out (issue 19).

:func:`separate_to_files` loads the separation model from the model registry (``separation`` in
``models/registry.json``), decodes the input block by block with the project's decoder and limits
(:func:`tonearm.audio.decode.decode_stream`: the formats, checks and errors of every other analysis),
runs it through a :class:`~tonearm.separation.pipeline.SeparationPipeline` (44.1 kHz inside, the input's
rate and channel count outside) and writes the outputs as they come, so memory does not grow with the
track's length. The decode slot (:mod:`tonearm.audio.decode_slots`) is held for the whole run, since the
separation is the streaming consumer of the decode.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf

from tonearm.audio.decode import decode_stream
from tonearm.audio.limits import DEFAULT_LIMITS, AudioLimits
from tonearm.audio.probe import probe
from tonearm.errors import ParameterError, TonearmError
from tonearm.models.registry import ModelRegistry, default_registry
from tonearm.separation.masking import STEMS, FloatArray, MaskFn
from tonearm.separation.pipeline import SeparationPipeline

__all__ = [
    "MODEL_NAME",
    "WAV_SUBTYPE",
    "mask_fn_from_registry",
    "output_groups",
    "separate_to_files",
    "to_pcm24",
]

#: The model's name in the registry.
MODEL_NAME = "separation"
#: Sample format of the written WAVs: 24-bit integer PCM, unless an output exceeds full scale.
WAV_SUBTYPE = "PCM_24"
#: What the outputs are written as while they are computed, and kept as when one exceeds full scale
#: (24-bit PCM would clip it, and the outputs would no longer add up to the input).
_WORK_SUBTYPE = "FLOAT"
#: Frames per block when the float outputs are converted to 24-bit.
_CONVERT_BLOCK = 1 << 16


def output_groups(outputs: Mapping[str, Sequence[str]]) -> list[tuple[int, ...]]:
    """Check that the outputs partition the model's stems; their stem indices, in the outputs' order.

    Parameters
    ----------
    outputs : mapping of str to sequence of str
        Output name -> the stems of :data:`~tonearm.separation.masking.STEMS` it sums.

    Returns
    -------
    list of tuple of int
        Indices into ``STEMS`` per output.

    Raises
    ------
    ParameterError
        Fewer than two outputs, an unknown stem, or a stem in no output or in more than one.
    """
    if len(outputs) < 2:
        raise ParameterError(f"a separation needs at least two outputs, got {list(outputs)}")
    groups: list[tuple[int, ...]] = []
    for name, stems in outputs.items():
        if isinstance(stems, str):
            raise ParameterError(f"output {name!r}: give a sequence of stems, not the string {stems!r}")
        unknown = [s for s in stems if s not in STEMS]
        if unknown or not stems:
            raise ParameterError(f"output {name!r}: stems must be some of {list(STEMS)}, got {list(stems)}")
        groups.append(tuple(STEMS.index(s) for s in stems))
    used = sorted(k for g in groups for k in g)
    if used != list(range(len(STEMS))):
        raise ParameterError(
            f"the outputs must share out the stems {list(STEMS)}, each to exactly one output; got "
            + ", ".join(f"{name}: {list(stems)}" for name, stems in outputs.items())
        )
    return groups


def mask_fn_from_registry(registry: ModelRegistry | None = None) -> MaskFn:
    """The separation model of ``registry`` (default: the process-wide one) as a mask function.

    Raises
    ------
    ModelUnavailableError
        The model is not in the manifest, or its file is missing or does not match its digest.
    """
    model = (registry or default_registry()).get(MODEL_NAME)

    def run(magnitude: FloatArray) -> FloatArray:
        return model.run(magnitude)["masks"]

    return run


def _file_names(names: Sequence[str]) -> list[str]:
    taken: set[str] = set()
    files = []
    for i, name in enumerate(names):
        stem = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or f"output-{i}"
        file = f"{stem}.wav"
        if file in taken:
            file = f"{stem}-{i}.wav"
        taken.add(file)
        files.append(file)
    return files


def _expected_frames(path: Path, limits: AudioLimits) -> int | None:
    # The header's length, for progress only; None when the header has none (or probe cannot read it).
    try:
        info = probe(path, limits=limits)
    except TonearmError:
        return None
    return info.frames if info.frames > 0 and math.isfinite(info.duration_s) else None


def finish_outputs(
    writers: Sequence[sf.SoundFile], partial: Sequence[Path], paths: Sequence[Path], peak: float
) -> None:
    """Close the float work files and move each to its path: 24-bit PCM when every output lies within
    full scale (``peak <= 1``), else the float file as written (nothing clipped, the sum still holds)."""
    for writer in writers:
        writer.close()
    for source, path in zip(partial, paths, strict=True):
        if peak <= 1.0:
            to_pcm24(source, path)
        else:
            source.replace(path)


def discard_outputs(writers: Sequence[sf.SoundFile], partial: Sequence[Path], paths: Sequence[Path]) -> None:
    """Close the work files and remove every file a failed separation wrote."""
    for writer in writers:
        writer.close()
    for path in [*partial, *paths]:
        path.unlink(missing_ok=True)


def to_pcm24(source: Path, path: Path) -> None:
    """Rewrite a float WAV whose samples lie within full scale as 24-bit PCM, block by block."""
    info = sf.info(source)
    with (
        sf.SoundFile(source) as reader,
        sf.SoundFile(path, "w", info.samplerate, info.channels, WAV_SUBTYPE, format="WAV") as writer,
    ):
        for block in reader.blocks(_CONVERT_BLOCK, dtype="float32", always_2d=True):
            writer.write(block)
    source.unlink()


def separate_to_files(
    input_path: Path,
    work_dir: Path,
    outputs: Mapping[str, Sequence[str]],
    *,
    progress: Callable[[float], None] | None = None,
    registry: ModelRegistry | None = None,
    limits: AudioLimits = DEFAULT_LIMITS,
) -> dict[str, Path]:
    """Separate an audio file into one WAV per output, streaming from the decoder to the files.

    Parameters
    ----------
    input_path : Path
        Any input :func:`tonearm.audio.decode.decode` accepts (WAV, FLAC, OGG, MP3, AAC, M4A, ...).
    work_dir : Path
        Folder the WAVs are written to (created if missing); one file per output, named after it
        (``"Kick drum"`` -> ``kick-drum.wav``).
    outputs : mapping of str to sequence of str
        Output name -> the model stems it sums, e.g. ``{"Kick drum": ("kick",), "Snare drum": ("snare",),
        "Other": ("drums_other", "bass", "vocals", "other")}``; together they must hold every stem of
        :data:`~tonearm.separation.masking.STEMS` exactly once. The last output is written as the input
        minus the others, so the outputs add up to the input (to 24-bit quantisation).
    progress : callable, optional
        Called with the fraction done, 0..1, non-decreasing, as blocks are written; last with 1.0.
    registry : ModelRegistry, optional
        Where the ``separation`` model is loaded from; default: the process-wide registry.
    limits : AudioLimits
        The decoder's limits.

    Returns
    -------
    dict of str to Path
        Output name -> its WAV: the input's sample rate and channel count, as long as the input; 24-bit
        PCM, or 32-bit float when some output exceeds full scale (a float source hotter than 0 dBFS, or
        stems that overshoot where they cancel in the mix), so that nothing is clipped and the outputs
        still add up to the input.

    Raises
    ------
    ModelUnavailableError
        The separation model is missing or damaged (raised before anything is decoded or written).
    ParameterError
        ``outputs`` does not share out the stems.
    TonearmError
        Every error :func:`tonearm.audio.decode.decode` raises, in the same cases; the files written so
        far are removed.
    """
    groups = output_groups(outputs)
    mask_fn = mask_fn_from_registry(registry)
    names = list(outputs)
    work_dir.mkdir(parents=True, exist_ok=True)
    paths = [work_dir / file for file in _file_names(names)]
    partial = [path.with_name(path.name + ".partial") for path in paths]
    expected = _expected_frames(input_path, limits) if progress is not None else None
    writers: list[sf.SoundFile] = []
    reported = [0.0]
    peak = [0.0]

    def report(value: float) -> None:
        if progress is not None and value > reported[0]:
            reported[0] = value
            progress(value)

    def sink(block: npt.NDArray[np.float32]) -> None:
        if not writers:
            writers.extend(
                sf.SoundFile(
                    path,
                    "w",
                    samplerate=pipeline.sr,
                    channels=pipeline.channels,
                    format="WAV",
                    subtype=_WORK_SUBTYPE,
                )
                for path in partial
            )
        peak[0] = max(peak[0], float(block.max()), -float(block.min()))
        for writer, y in zip(writers, block, strict=True):
            writer.write(y.T)
        if expected:
            report(min(0.99, pipeline.written / expected))

    pipeline = SeparationPipeline(mask_fn, groups, sink)
    try:
        decode_stream(input_path, pipeline, limits=limits)
        pipeline.finish()
        finish_outputs(writers, partial, paths, peak[0])
    except BaseException:
        discard_outputs(writers, partial, paths)
        raise
    report(1.0)
    return dict(zip(names, paths, strict=True))
