"""Resource bounds of decoding (issue 18, part 3): the decoded-size budget, bounded blocks, decoding
straight to mono, the decode slots, and samples far outside [-1, 1].

Memory is measured with tracemalloc here (numpy's allocations are traced); the real peak RSS of a whole
request, per route, is ``tests/api/test_audio_bounds.py``'s and ``bench/hostile_memory.py``'s.
"""

from __future__ import annotations

import fractions
import io
import threading
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import av
import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf

from tonearm.audio.decode import BLOCK_BYTES, decode, decode_stream
from tonearm.audio.decode_slots import DecoderBusyError, DecodeSlots, decode_slot, queue_wait
from tonearm.audio.errors import InputTooLargeError
from tonearm.audio.limits import AudioLimits
from tonearm.audio.mono import (
    HEADROOM,
    MonoResampleStream,
    decode_mono,
    fix_length,
    mono_at_rate,
    resample,
    resampled_length,
    to_mono,
)
from tonearm.errors import ParameterError

SR = 44100


def music(*, sr: int = SR, seconds: float = 3.0, channels: int = 2, seed: int = 1) -> npt.NDArray[np.float32]:
    """Shape (n, channels) float32: a chord plus a little noise per channel, peak about 0.5."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(sr * seconds)) / sr
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.18, 329.63)) / 3
    return (0.45 * chord[:, np.newaxis] + 0.02 * rng.standard_normal((t.size, channels))).astype(np.float32)


def clicks_flac(*, sr: int, channels: int, seconds: int) -> bytes:
    """16-bit FLAC of digital silence with a -80 dBFS click each second: tiny, however long it decodes."""
    quiet = np.zeros((sr, channels), dtype=np.int16)
    quiet[100, :], quiet[2000, :] = 3, -3
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", samplerate=sr, channels=channels, format="FLAC", subtype="PCM_16") as f:
        for _ in range(seconds):
            f.write(quiet)
    return buf.getvalue()


def unknown_length(flac: bytes) -> bytes:
    """The FLAC with STREAMINFO's total-samples field 0 (unknown, as a streaming encoder writes it)."""
    out = bytearray(flac)
    packed = int.from_bytes(out[18:26], "big") & ~((1 << 36) - 1)
    out[18:26] = packed.to_bytes(8, "big")
    out[26:42] = bytes(16)  # MD5
    return bytes(out)


def float_wav(y: npt.NDArray[np.float32], *, sr: int = SR) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype="FLOAT")
    return buf.getvalue()


def traced_peak(action: Callable[[], Any]) -> tuple[Any, BaseException | None, int]:
    """Run ``action`` under tracemalloc: its result or exception, and the allocation peak in bytes."""
    tracemalloc.start()
    try:
        try:
            return action(), None, tracemalloc.get_traced_memory()[1]
        except Exception as exc:
            return None, exc, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


class Counter:
    """A BlockConsumer that keeps nothing: counts frames and records the largest block."""

    def __init__(self) -> None:
        self.frames = 0
        self.largest_bytes = 0

    def start(self, *, sr: int, channels: int) -> None:
        self.frames = 0

    def feed(self, block: npt.NDArray[np.float32]) -> None:
        self.frames += block.shape[1]
        self.largest_bytes = max(self.largest_bytes, block.nbytes)


# --- decoding straight to mono ---------------------------------------------------------------------------


@pytest.mark.parametrize("target_sr", [16000, 22050, SR])
def test_decode_mono_equals_the_mono_of_the_whole_decode(target_sr: int) -> None:
    data = float_wav(music(seconds=4.0, channels=3))
    whole = decode(data)
    mono = decode_mono(data, target_sr=target_sr)
    np.testing.assert_array_equal(mono.y[0], mono_at_rate(whole.y, sr=SR, target_sr=target_sr))
    assert mono.y.shape == (1, resampled_length(whole.frames, sr=SR, target_sr=target_sr))
    assert mono.sr == target_sr and mono.info == whole.info


def test_mono_within_the_headroom_is_what_it_always_was() -> None:
    # The fixed working gain (2**-32) is a power of two: the samples are bit for bit those of a plain
    # channel mean resampled with soxr, as before the headroom existed (peak 1.9 < HEADROOM).
    y = music(seconds=3.0).T
    y *= 1.9 / np.abs(y).max()
    plain = fix_length(
        resample(to_mono(y), sr=SR, target_sr=16000), resampled_length(y.shape[1], sr=SR, target_sr=16000)
    )
    np.testing.assert_array_equal(mono_at_rate(y, sr=SR, target_sr=16000), plain)
    np.testing.assert_array_equal(decode_mono(float_wav(y.T), target_sr=16000).y[0], plain)


def test_8_channel_96k_decodes_to_mono_holding_little_more_than_the_mono_signal() -> None:
    # 60 s of 8-channel 96 kHz: 184 MB as float32 channels, 3.8 MB as 16 kHz mono.
    data = clicks_flac(sr=96000, channels=8, seconds=60)
    # The output's room is reserved for the duration limit up front: address space, which tracemalloc
    # counts as allocated but which costs no memory until written. A limit near the length keeps the
    # traced figure to what is really held.
    limits = AudioLimits(max_duration_s=61.0)
    audio, error, peak = traced_peak(lambda: decode_mono(data, target_sr=16000, limits=limits))
    assert error is None
    assert audio.y.shape == (1, 960000) and audio.info.channels == 8 and audio.info.sample_rate == 96000
    assert peak < audio.y.nbytes + 3 * BLOCK_BYTES, f"{peak / 2**20:.1f} MiB"


def test_unknown_length_is_refused_at_the_budget_holding_no_more_than_a_block() -> None:
    # No length in the header: nothing to refuse up front; the running total passes the budget after
    # 32 MiB of decoded float32 (11 s of 8 x 96 kHz) and the decode stops there, having kept only mono.
    data = unknown_length(clicks_flac(sr=96000, channels=8, seconds=60))
    limits = AudioLimits(max_decoded_bytes=32 * 2**20, max_duration_s=60.0)  # (see the test above)
    counter = Counter()
    _, error, peak = traced_peak(lambda: decode_stream(data, counter, limits=limits))
    assert isinstance(error, InputTooLargeError) and "decoding found" in error.message, error
    assert counter.frames * 8 * 4 <= limits.max_decoded_bytes
    # stopped at the first read past it (the consumer lags by at most one block and one read)
    assert counter.frames * 8 * 4 > limits.max_decoded_bytes - 2 * BLOCK_BYTES
    assert peak < 3 * BLOCK_BYTES, f"{peak / 2**20:.1f} MiB"
    _, error, peak = traced_peak(lambda: decode_mono(data, target_sr=16000, limits=limits))
    assert isinstance(error, InputTooLargeError)
    assert peak < 4 * BLOCK_BYTES, f"{peak / 2**20:.1f} MiB"  # the whole decode would hold the 32 MiB


def test_a_length_estimate_far_over_the_budget_is_refused_before_decoding() -> None:
    # ADTS AAC has no length field; FFmpeg estimates it from the bitrate. Twice the budget even at the
    # estimate's slack: refused from the header.
    data = encode_71_aac(seconds=10)
    with pytest.raises(InputTooLargeError, match="length estimate"):
        decode_stream(data, Counter(), limits=AudioLimits(max_decoded_bytes=2**20))


def test_blocks_hold_at_most_block_bytes_whatever_the_channel_count() -> None:
    y = np.zeros((16000, 1024), dtype=np.int16)
    y[::800, :] = 1000
    buf = io.BytesIO()
    sf.write(buf, y, 8000, format="WAV", subtype="PCM_16")
    data = buf.getvalue()
    counter = Counter()
    info, error, peak = traced_peak(lambda: decode_stream(data, counter))
    assert error is None and info.channels == 1024 and counter.frames == 16000
    assert 0 < counter.largest_bytes <= BLOCK_BYTES
    assert peak < 3 * BLOCK_BYTES, f"{peak / 2**20:.1f} MiB"


# --- many channels through FFmpeg ------------------------------------------------------------------------


def encode_71_aac(*, seconds: int, sr: int = 96000) -> bytes:
    """7.1 AAC in ADTS: a tone per channel (packed frames: PyAV 18 cannot build planar ones of 8 channels)."""
    t = np.arange(sr * seconds) / sr
    y = np.stack([0.1 * np.sin(2 * np.pi * (200 + 100 * c) * t) for c in range(8)], axis=1).astype(np.float32)
    buf = io.BytesIO()
    with av.open(buf, "w", format="adts") as out:
        stream = out.add_stream("aac", rate=sr, layout="7.1")  # type: ignore[call-overload]
        for start in range(0, y.shape[0], 4096):
            block = np.ascontiguousarray(y[start : start + 4096]).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(block, format="flt", layout=stream.layout)
            frame.sample_rate, frame.pts, frame.time_base = sr, start, fractions.Fraction(1, sr)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def vorbis_in_matroska(channels: int, *, seconds: float = 1.0, sr: int = 48000) -> bytes:
    """Ogg Vorbis remuxed into Matroska, so FFmpeg (not libsndfile) decodes it; channel c is a tone."""
    t = np.arange(round(sr * seconds)) / sr
    y = np.stack([0.1 * np.sin(2 * np.pi * (150 + 50 * c) * t) for c in range(channels)], axis=1)
    ogg = io.BytesIO()
    sf.write(ogg, y.astype(np.float32), sr, format="OGG")
    ogg.seek(0)
    buf = io.BytesIO()
    with av.open(ogg) as src, av.open(buf, "w", format="matroska") as out:
        target = out.add_stream_from_template(src.streams.audio[0])
        for packet in src.demux(src.streams.audio[0]):
            if packet.dts is not None:
                packet.stream = target
                out.mux(packet)
    return buf.getvalue()


def dominant_hz(x: npt.NDArray[np.float32], sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.argmax(spectrum) * sr / x.size)


def test_7_1_aac_decodes_every_channel() -> None:
    # PyAV lists a ninth, garbage plane for 8-channel planar frames: iterating it failed every 7.1 upload.
    audio = decode(encode_71_aac(seconds=2))
    assert audio.channels == 8 and audio.sr == 96000
    middle = audio.y[:, 48000:144000]
    assert np.all(np.abs(middle).max(axis=1) > 0.05)


@pytest.mark.parametrize("channels", [8, 16])
def test_many_channel_vorbis_through_ffmpeg_keeps_each_channel_apart(channels: int) -> None:
    audio = decode(vorbis_in_matroska(channels))
    assert audio.info.format == "mka" and audio.channels == channels
    # every channel its own tone (FFmpeg reorders Vorbis's 7.1 into its own order, hence sorted)
    found = sorted(dominant_hz(audio.y[c, 4800:43200], audio.sr) for c in range(channels))
    assert found == pytest.approx([150 + 50 * c for c in range(channels)], abs=2.5)


# --- samples outside [-1, 1] -----------------------------------------------------------------------------


@pytest.mark.parametrize("peak", [4.0, 1e30, 3e38])
def test_hot_float_sources_are_scaled_to_the_headroom_keeping_their_shape(peak: float) -> None:
    y = music(seconds=3.0)
    reference = decode_mono(float_wav(y * (HEADROOM / np.abs(y).max())), target_sr=16000).y[0]
    hot = y.astype(np.float64) * (peak / float(np.abs(y).max()))
    audio = decode_mono(float_wav(hot.astype(np.float32)), target_sr=16000)
    mono = audio.y[0]
    assert np.isfinite(mono).all()
    assert np.abs(mono).max() <= HEADROOM * 1.05  # soxr's overshoot on top of the source's peak
    np.testing.assert_allclose(mono, reference, rtol=0, atol=1e-5 * HEADROOM)
    np.testing.assert_array_equal(
        mono_at_rate(decode(float_wav(hot.astype(np.float32))).y, sr=SR, target_sr=16000), mono
    )


def test_the_stream_scales_once_at_the_end_by_the_peak_of_every_block() -> None:
    # A quiet start and a hot end: the gain comes from the whole input, applied once, so the quiet part
    # is scaled as much as the hot part (the stream cannot know the peak before the last block).
    y = music(seconds=2.0, channels=2).T.copy()
    y[:, SR:] *= 1e6
    stream = MonoResampleStream(16000)
    stream.start(sr=SR, channels=2)
    for start in range(0, y.shape[1], 10000):
        stream.feed(y[:, start : start + 10000])
    mono = stream.finish_to_length(resampled_length(y.shape[1], sr=SR, target_sr=16000))
    np.testing.assert_allclose(mono, mono_at_rate(y, sr=SR, target_sr=16000), rtol=1e-6, atol=1e-12)
    assert stream.peak == pytest.approx(float(np.abs(y).max()))
    assert np.abs(mono[:15000]).max() == pytest.approx(
        np.abs(y[:, :SR]).max() * HEADROOM / stream.peak, rel=0.1
    )


def test_stream_finish_pads_and_trims_in_place() -> None:
    stream = MonoResampleStream(SR)  # same rate: no resampler, the mean passes through
    stream.start(sr=SR, channels=1)
    stream.feed(np.full((1, 1000), 0.5, dtype=np.float32))
    longer = stream.finish_to_length(1200)
    assert longer.shape == (1200,) and np.all(longer[:1000] == 0.5) and np.all(longer[1000:] == 0.0)
    stream.start(sr=SR, channels=1)
    stream.feed(np.full((1, 1000), 0.25, dtype=np.float32))
    assert np.all(stream.finish_to_length(10) == 0.25)
    with pytest.raises(ParameterError):
        MonoResampleStream(16000, headroom=0.0)


# --- decode slots ----------------------------------------------------------------------------------------


def test_slots_turn_away_a_caller_after_the_wait_with_a_retry_hint() -> None:
    slots = DecodeSlots(1)
    turned_away: list[tuple[BaseException, float]] = []

    def other() -> None:
        started = time.monotonic()
        try:
            with slots.hold(wait_s=0.05):
                pass
        except DecoderBusyError as exc:
            turned_away.append((exc, time.monotonic() - started))

    with slots.hold():
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    ((error, waited),) = turned_away
    assert waited >= 0.05
    assert isinstance(error, DecoderBusyError) and error.status == 503 and error.code == "busy"
    assert 1 <= error.retry_after_s <= 60
    with slots.hold(wait_s=0.0):  # free again
        assert slots.in_use == 1
    assert slots.in_use == 0


def test_slots_are_reentrant_per_thread_and_shared_between_threads() -> None:
    slots = DecodeSlots(1)
    seen: list[BaseException] = []

    def other() -> None:
        try:
            with slots.hold(wait_s=0.05):
                pass
        except BaseException as exc:  # the assertion is made in the main thread
            seen.append(exc)

    with slots.hold(), slots.hold(wait_s=0.0):  # the same thread: no second slot, no wait
        assert slots.in_use == 1
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert len(seen) == 1 and isinstance(seen[0], DecoderBusyError)
    assert slots.in_use == 0


def test_a_waiter_gets_the_slot_when_it_is_released_or_the_capacity_grows() -> None:
    slots = DecodeSlots(1)
    got: list[float] = []

    def waiter() -> None:
        with slots.hold(wait_s=5.0):
            got.append(time.monotonic())

    with slots.hold():
        thread = threading.Thread(target=waiter)
        thread.start()
        time.sleep(0.05)
        assert not got
        slots.resize(2)  # more room: the waiter goes ahead while the first slot is still held
        thread.join(timeout=5.0)
        assert got and slots.in_use == 1
    with pytest.raises(ParameterError):
        slots.resize(0)


def test_decodes_take_a_process_slot_and_wait_as_the_context_says(monkeypatch: pytest.MonkeyPatch) -> None:
    slots = DecodeSlots(1)
    monkeypatch.setattr("tonearm.audio.decode_slots.SLOTS", slots)
    data = float_wav(music(seconds=1.0))
    held = threading.Event()
    release = threading.Event()

    def hog() -> None:
        with decode_slot():
            held.set()
            release.wait(5.0)

    thread = threading.Thread(target=hog)
    thread.start()
    held.wait(5.0)
    try:
        with queue_wait(0.05), pytest.raises(DecoderBusyError):
            decode(data)
        with queue_wait(0.05), pytest.raises(DecoderBusyError):
            decode_mono(data, target_sr=16000)
    finally:
        release.set()
        thread.join()
    assert decode(data).channels == 2  # outside queue_wait: waits as long as it takes (here: not at all)
    assert slots.in_use == 0
