"""Separation engine (issue 19): streaming masks and iSTFT, the resampling pipeline, the file service.

Nothing here depends on the trained model: the numeric tests use numpy stand-in models (one of them
non-local in time, so a chunk placed off the global grid would show), and the service runs a tiny
hand-built ONNX graph of the model's interface (``tests/unit/test_separation_model.py``) through a
registry in a temporary folder.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tonearm.audio.errors import SilentAudioError
from tonearm.audio.limits import AudioLimits
from tonearm.errors import ParameterError
from tonearm.models.registry import ModelRegistry, ModelUnavailableError
from tonearm.separation import masking
from tonearm.separation.pipeline import SeparationPipeline
from tonearm.separation.service import output_groups, separate_to_files
from tonearm.separation.streaming import StreamSeparator, iter_separate, separate_stream

RNG = np.random.default_rng(1919)
STEMS = masking.STEMS
DRUMS_SPLIT = {
    "Kick drum": ("kick",),
    "Snare drum": ("snare",),
    "Other": ("drums_other", "bass", "vocals", "other"),
}


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _nonlocal_masks(magnitude: np.ndarray) -> np.ndarray:
    """(b, 2, t, f) -> (b, 6, t, f) softmax masks that depend on the whole chunk, not one frame."""
    weights = np.linspace(-1.0, 1.0, len(STEMS), dtype=np.float32)[None, :, None, None]
    features = np.log1p(magnitude).mean(axis=1, keepdims=True)
    features = features + 0.3 * features.mean(axis=2, keepdims=True)  # the chunk's mean spectrum
    features = features + 0.01 * np.arange(magnitude.shape[2])[None, None, :, None]  # the frame's place
    return _softmax(weights * features, axis=1).astype(np.float32)


def _constant_masks(stem: int) -> masking.MaskFn:
    def run(magnitude: np.ndarray) -> np.ndarray:
        masks = np.zeros((magnitude.shape[0], len(STEMS), *magnitude.shape[2:]), dtype=np.float32)
        masks[:, stem] = 1.0
        return masks

    return run


def _noise(channels: int, n: int, scale: float = 0.1) -> np.ndarray:
    return (RNG.standard_normal((channels, n)) * scale).astype(np.float32)


# --- streaming == whole track ------------------------------------------------------------------------

# Lengths around every boundary: under one hop, under one window, under one chunk (256 frames = 130560
# samples), one group of 4 chunks (832 frames: 425,472 samples of frames plus half a window), and odd.
LENGTHS = [1, 511, 1000, 2047, 44_100, 130_560, 130_561, 425_983, 425_985, 700_001]


@pytest.mark.parametrize("n", LENGTHS)
def test_streaming_equals_whole_track_stereo(n: int) -> None:
    mix = _noise(2, n)
    whole = masking.separate(mix, _nonlocal_masks)
    for feed in (997, 1 << 17):
        streamed = separate_stream(mix, _nonlocal_masks, feed=feed)
        assert list(streamed) == list(STEMS)
        for name in STEMS:
            assert streamed[name].shape == mix.shape
            np.testing.assert_allclose(streamed[name], whole[name], rtol=0, atol=1e-6)


@pytest.mark.parametrize(("channels", "n"), [(1, 300_001), (6, 200_003)])
def test_streaming_equals_whole_track_any_channel_count(channels: int, n: int) -> None:
    mix = _noise(channels, n)
    whole = masking.separate(mix, _nonlocal_masks)
    streamed = separate_stream(mix, _nonlocal_masks, feed=40_000)
    for name in STEMS:
        assert streamed[name].shape == (channels, n)
        np.testing.assert_allclose(streamed[name], whole[name], rtol=0, atol=1e-6)


def test_streamed_stems_sum_to_the_mix_and_silence_stays_silent() -> None:
    mix = _noise(2, 500_000)
    stems = separate_stream(mix, _nonlocal_masks)
    assert np.max(np.abs(sum(stems.values()) - mix)) < 1e-5
    silent = separate_stream(np.zeros((2, 300_000), np.float32), _nonlocal_masks)
    assert all(not np.any(s) for s in silent.values())


def test_grouped_outputs_are_sums_of_stems() -> None:
    mix = _noise(2, 333_333)
    stems = masking.separate(mix, _nonlocal_masks)
    groups = [(0,), (1, 2), (3, 4, 5)]
    out = np.concatenate(list(iter_separate(mix, _nonlocal_masks, groups=groups, feed=50_000)), axis=-1)
    assert out.shape == (3, 2, mix.shape[1])
    for got, group in zip(out, groups, strict=True):
        np.testing.assert_allclose(got, sum(stems[STEMS[k]] for k in group), rtol=0, atol=2e-6)


def test_latency_and_held_samples_do_not_grow_with_the_input() -> None:
    stream = StreamSeparator(_nonlocal_masks, channels=2)
    block = 44_100
    lags = []
    for _ in range(40):
        stream.feed(_noise(2, block))
        lags.append(stream.received - stream.emitted)
    # One group of 4 chunks: 832 frames + half a window behind, plus at most one block.
    assert max(lags) <= 832 * masking.HOP + masking.N_FFT + block
    assert stream.emitted >= stream.received - max(lags)
    stream.finish()
    assert stream.emitted == stream.received


def test_stream_rejects_bad_blocks_and_reuse() -> None:
    stream = StreamSeparator(_nonlocal_masks, channels=2)
    with pytest.raises(ParameterError):
        stream.feed(np.zeros((3, 10), np.float32))
    assert stream.finish().shape == (len(STEMS), 2, 0)
    with pytest.raises(ParameterError):
        stream.feed(np.zeros((2, 10), np.float32))


# --- the resampling pipeline ---------------------------------------------------------------------------


@pytest.mark.parametrize("sr", [22_050, 44_100, 48_000])
def test_pipeline_outputs_line_up_with_the_input(sr: int) -> None:
    """A model giving everything to the kick: the kick output is the input (resampled there and back)."""
    t = np.arange(5 * sr) / sr
    x = np.stack([0.5 * np.sin(2 * np.pi * 1000 * t), 0.3 * np.sin(2 * np.pi * 440 * t)]).astype(np.float32)
    blocks: list[np.ndarray] = []
    pipeline = SeparationPipeline(_constant_masks(0), [(0,), (1, 2, 3, 4, 5)], blocks.append)
    pipeline.start(sr=sr, channels=2)
    for a in range(0, x.shape[1], 30_000):
        pipeline.feed(x[:, a : a + 30_000])
    pipeline.finish()
    out = np.concatenate(blocks, axis=-1)
    assert out.shape == (2, 2, x.shape[1])
    inner = slice(sr // 10, -sr // 10)  # the resamplers' edges
    assert np.max(np.abs(out[0][:, inner] - x[:, inner])) < 1e-3
    np.testing.assert_allclose(out.sum(axis=0), x, rtol=0, atol=1e-6)


# --- the service ----------------------------------------------------------------------------------------


def _registry(tmp_path: Path, *, with_file: bool = True) -> ModelRegistry:
    from tests.unit.test_separation_model import _tiny_onnx

    root = tmp_path / "models"
    (root / "separation").mkdir(parents=True)
    model = root / "separation" / "separation.onnx"
    _tiny_onnx(model)
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    if not with_file:
        model.unlink()
    entry = {
        "name": "separation",
        "path": "separation/separation.onnx",
        "sha256": digest,
        "input": "magnitude",
        "outputs": ["masks"],
        "card": "separation/MODEL_CARD.md",
        "labels": list(STEMS),
    }
    (root / "registry.json").write_text(json.dumps({"models": [entry]}))
    return ModelRegistry(root)


def _write(path: Path, x: np.ndarray, sr: int) -> np.ndarray:
    """Write ``x`` (channels, n) as 24-bit WAV; what a decoder reads back."""
    sf.write(path, x.T, sr, subtype="PCM_24")
    return sf.read(path, dtype="float32", always_2d=True)[0].T


@pytest.mark.parametrize(
    ("sr", "channels", "seconds"), [(44_100, 2, 4.0), (44_100, 1, 2.0), (22_050, 2, 3.0), (48_000, 6, 2.5)]
)
def test_files_keep_rate_channels_and_partition_the_input(
    tmp_path: Path, sr: int, channels: int, seconds: float
) -> None:
    source = tmp_path / "in.wav"
    x = _write(source, _noise(channels, int(seconds * sr) + 7, scale=0.2), sr)
    paths = separate_to_files(source, tmp_path / "out", DRUMS_SPLIT, registry=_registry(tmp_path))
    assert list(paths) == list(DRUMS_SPLIT)
    assert [p.name for p in paths.values()] == ["kick-drum.wav", "snare-drum.wav", "other.wav"]
    total = np.zeros_like(x)
    for path in paths.values():
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.frames, info.subtype) == (
            sr,
            channels,
            x.shape[1],
            "PCM_24",
        )
        y = sf.read(path, dtype="float32", always_2d=True)[0].T
        assert np.any(y)
        total += y
    assert np.max(np.abs(total - x)) < 1e-5
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths.values())


def test_outputs_over_full_scale_are_kept_as_float(tmp_path: Path) -> None:
    source = tmp_path / "in.wav"
    sf.write(source, _noise(2, 3 * 44_100, scale=0.8).T, 44_100, subtype="FLOAT")  # peaks near 4
    x = sf.read(source, dtype="float32", always_2d=True)[0].T
    paths = separate_to_files(source, tmp_path / "out", DRUMS_SPLIT, registry=_registry(tmp_path))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths.values())
    outs = [sf.read(p, dtype="float32", always_2d=True)[0].T for p in paths.values()]
    assert {sf.info(p).subtype for p in paths.values()} == {"FLOAT"}
    assert max(float(np.abs(y).max()) for y in outs) > 1.0
    assert np.max(np.abs(sum(outs) - x)) < 1e-5


def test_files_match_the_whole_track_separation_at_44k(tmp_path: Path) -> None:
    source = tmp_path / "in.wav"
    x = _write(source, _noise(2, 300_001, scale=0.2), 44_100)
    registry = _registry(tmp_path)
    paths = separate_to_files(source, tmp_path / "out", DRUMS_SPLIT, registry=registry)
    from tonearm.separation.service import mask_fn_from_registry

    stems = masking.separate(x, mask_fn_from_registry(registry))
    kick = sf.read(paths["Kick drum"], dtype="float32", always_2d=True)[0].T
    other = sf.read(paths["Other"], dtype="float32", always_2d=True)[0].T
    assert np.max(np.abs(kick - stems["kick"])) < 1e-6  # 24-bit quantisation: 6e-8
    rest = sum(stems[s] for s in DRUMS_SPLIT["Other"])
    assert np.max(np.abs(other - rest)) < 1e-5


def test_progress_is_monotonic_and_ends_at_one(tmp_path: Path) -> None:
    source = tmp_path / "in.wav"
    _write(source, _noise(2, 25 * 44_100, scale=0.2), 44_100)
    seen: list[float] = []
    separate_to_files(
        source, tmp_path / "out", DRUMS_SPLIT, progress=seen.append, registry=_registry(tmp_path)
    )
    assert len(seen) >= 3
    assert all(0.0 < a < b for a, b in itertools.pairwise(seen))
    assert seen[-1] == 1.0 and max(seen[:-1]) < 1.0


def test_a_very_short_input_is_separated(tmp_path: Path) -> None:
    source = tmp_path / "in.wav"
    x = _write(source, _noise(2, 1500, scale=0.2), 44_100)  # under one STFT window
    limits = AudioLimits(min_duration_s=0.0)
    paths = separate_to_files(
        source, tmp_path / "out", DRUMS_SPLIT, registry=_registry(tmp_path), limits=limits
    )
    total = sum(sf.read(p, dtype="float32", always_2d=True)[0].T for p in paths.values())
    assert total.shape == x.shape and np.max(np.abs(total - x)) < 1e-5


def test_a_missing_model_is_model_unavailable(tmp_path: Path) -> None:
    source = tmp_path / "in.wav"
    _write(source, _noise(2, 44_100, scale=0.2), 44_100)
    with pytest.raises(ModelUnavailableError):
        separate_to_files(
            source, tmp_path / "out", DRUMS_SPLIT, registry=_registry(tmp_path, with_file=False)
        )
    assert not (tmp_path / "out").exists()


def test_a_refused_input_leaves_no_files(tmp_path: Path) -> None:
    source = tmp_path / "in.wav"
    sf.write(source, np.zeros((44_100, 2), np.float32), 44_100, subtype="PCM_24")
    with pytest.raises(SilentAudioError):
        separate_to_files(source, tmp_path / "out", DRUMS_SPLIT, registry=_registry(tmp_path))
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize(
    "outputs",
    [
        {"Kick drum": ("kick",)},
        {"Kick drum": ("kick",), "Other": ("snare", "bass")},
        {"Kick drum": ("kick", "snare"), "Other": ("snare", "drums_other", "bass", "vocals", "other")},
        {"Kick drum": ("kick",), "Other": ("cowbell", "snare", "drums_other", "bass", "vocals", "other")},
        {"Kick drum": "kick", "Other": ("snare", "drums_other", "bass", "vocals", "other")},
    ],
)
def test_outputs_must_share_out_the_stems(outputs: dict[str, tuple[str, ...]]) -> None:
    with pytest.raises(ParameterError):
        output_groups(outputs)


def test_vocals_accompaniment_groups() -> None:
    groups = output_groups(
        {"vocals": ("vocals",), "accompaniment": ("kick", "snare", "drums_other", "bass", "other")}
    )
    assert groups == [(4,), (0, 1, 2, 3, 5)]
