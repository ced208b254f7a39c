"""The hostile-audio corpus of tests/fuzz/test_hostile_audio.py, every file built here, deterministically.

Issue 18 measured 28 hostile files on every audio-taking surface; this rebuilds that corpus (and a few
more) so the suite can post it again. Each :class:`Hostile` is a name, the bytes, the file name a client
would send (the extension often lies on purpose), and whether it is *heavy*: a file whose decoding
costs gigabytes of memory or tens of seconds on the current code (those run under ``make fuzz`` only).

``CONTROLS`` are valid files that every surface must accept (a 2xx, a SUCCEEDED job): they prove that
the surfaces under test actually decode what they are sent, so a hostile file refused is refused for
what it is, not because the request never reached the decoder.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt
import soundfile as sf

SR = 44100


@dataclass(frozen=True)
class Hostile:
    """One corpus file."""

    name: str
    data: bytes
    filename: str
    heavy: bool = False
    note: str = ""


# --- signals and encoders -------------------------------------------------------------------------------


def music(*, seconds: float = 2.0, sr: int = SR, channels: int = 2, seed: int = 1) -> npt.NDArray[np.float32]:
    """A few seconds of a chord with clicks and a little noise, shape (frames, channels), peak ~0.5."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.18, 329.63, 440.0)) / 4
    clicks = np.zeros_like(t)
    clicks[(np.arange(0, seconds, 0.5) * sr).astype(int)] = 1.0
    y = 0.35 * chord + 0.3 * np.convolve(clicks, np.exp(-np.arange(300) / 50), mode="same")
    y = y + 0.01 * rng.standard_normal(t.size)
    return np.repeat(y.astype(np.float32)[:, None], channels, axis=1)


def encode(
    y: npt.NDArray[np.generic], *, sr: int = SR, fmt: str = "WAV", subtype: str | None = None
) -> bytes:
    """``y`` (frames, channels) encoded by libsndfile."""
    buf = io.BytesIO()
    sf.write(buf, y, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def valid_wav(seconds: float = 2.0) -> bytes:
    """A valid 16-bit stereo WAV of ``seconds`` of music."""
    return encode(music(seconds=seconds), subtype="PCM_16")


def wav_header(
    *,
    channels: int = 2,
    sr: int = SR,
    bits: int = 16,
    fmt_tag: int = 1,
    data_bytes: int,
    riff_bytes: int | None = None,
    fmt_chunk_bytes: int = 16,
) -> bytes:
    """A canonical 44-byte RIFF/WAVE header; every field can lie (values wrap to their field width)."""
    block_align = (channels * bits // 8) & 0xFFFF
    byte_rate = (sr * block_align) & 0xFFFFFFFF
    fmt = struct.pack(
        "<HHIIHH", fmt_tag & 0xFFFF, channels & 0xFFFF, sr & 0xFFFFFFFF, byte_rate, block_align, bits & 0xFFFF
    )
    riff = riff_bytes if riff_bytes is not None else min(4 + 8 + len(fmt) + 8 + data_bytes, 0xFFFFFFFF)
    return (
        b"RIFF"
        + struct.pack("<I", riff & 0xFFFFFFFF)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", fmt_chunk_bytes & 0xFFFFFFFF)
        + fmt
        + b"data"
        + struct.pack("<I", data_bytes & 0xFFFFFFFF)
    )


def pcm16(seconds: float = 1.0, *, channels: int = 2, sr: int = SR) -> bytes:
    """Interleaved 16-bit PCM of music."""
    return (music(seconds=seconds, sr=sr, channels=channels) * 32767).astype("<i2").tobytes()


def float_wav(y: npt.NDArray[np.float32], *, subtype: str = "FLOAT") -> bytes:
    """A float WAV written byte for byte (libsndfile would clip or refuse some of these values)."""
    dtype = "<f4" if subtype == "FLOAT" else "<f8"
    bits = 32 if subtype == "FLOAT" else 64
    data = y.astype(dtype).tobytes()
    return wav_header(channels=y.shape[1], bits=bits, fmt_tag=3, data_bytes=len(data)) + data


def _with_values(value: float, *, every: int = 1000, subtype: str = "FLOAT") -> bytes:
    y = music(seconds=2.0).astype(np.float64)
    y[::every] = value
    return float_wav(y.astype(np.float32) if subtype == "FLOAT" else y, subtype=subtype)  # type: ignore[arg-type]


def _syncsafe(n: int) -> bytes:
    return bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])


def mp3(seconds: float = 2.0) -> bytes:
    """A valid MP3 (libsndfile's LAME)."""
    return encode(music(seconds=seconds), fmt="MP3", subtype="MPEG_LAYER_III")


def flac(y: npt.NDArray[np.float32], *, sr: int = SR) -> bytes:
    """A valid 16-bit FLAC."""
    return encode(y, sr=sr, fmt="FLAC", subtype="PCM_16")


def flac_total_samples(data: bytes, total: int) -> bytes:
    """``data`` (a FLAC whose first metadata block is STREAMINFO) claiming ``total`` samples (0: unknown)."""
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0, "STREAMINFO must come first"
    out = bytearray(data)
    (packed,) = struct.unpack_from(">Q", out, 18)  # 20 bits rate, 3 channels, 5 bps, 36 total samples
    packed = (packed & ~((1 << 36) - 1)) | (total & ((1 << 36) - 1))
    struct.pack_into(">Q", out, 18, packed)
    return bytes(out)


_OGG_CRC_TABLE: list[int] = []


def _ogg_crc(data: bytes) -> int:
    if not _OGG_CRC_TABLE:
        for i in range(256):
            r = i << 24
            for _ in range(8):
                r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else (r << 1)
            _OGG_CRC_TABLE.append(r & 0xFFFFFFFF)
    crc = 0
    for byte in data:
        crc = ((crc << 8) ^ _OGG_CRC_TABLE[((crc >> 24) & 0xFF) ^ byte]) & 0xFFFFFFFF
    return crc


def ogg_unknown_length(data: bytes) -> bytes:
    """``data`` (Ogg) with every page's granule position set to -1 ("no packet ends here"), CRCs fixed:
    a stream whose length cannot be read from the last page."""
    out = bytearray()
    pos = 0
    while pos < len(data):
        assert data[pos : pos + 4] == b"OggS"
        segments = data[pos + 26]
        table = data[pos + 27 : pos + 27 + segments]
        size = 27 + segments + sum(table)
        page = bytearray(data[pos : pos + size])
        header_type = page[5]
        if not header_type & 0x02:  # leave the first (identification) page alone
            struct.pack_into("<q", page, 6, -1)
        struct.pack_into("<I", page, 22, 0)
        struct.pack_into("<I", page, 22, _ogg_crc(bytes(page)))
        out += page
        pos += size
    return bytes(out)


def _zip_of_wav() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("song.wav", valid_wav(1.0))
    return buf.getvalue()


def _pdf() -> bytes:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
    ]
    body = b"%PDF-1.4\n"
    offsets = []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(body))
        body += f"{i} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(body)
    body += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    body += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    body += f"trailer << /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return body


def _html() -> bytes:
    rows = "".join(f"<p>track {i}: <a href='/song{i}.mp3'>download</a></p>\n" for i in range(100))
    return f"<!DOCTYPE html>\n<html><head><title>song.mp3</title></head><body>{rows}</body></html>\n".encode()


def _json() -> bytes:
    return json.dumps({"format": "flac", "sample_rate": 44100, "data": [0.1] * 2000}).encode()


def _mp3_garbage() -> bytes:
    # MPEG-1 Layer III frame headers (128 kbit/s, 44.1 kHz: 417-byte frames) around random payloads
    rng = np.random.default_rng(30)
    frames = [b"\xff\xfb\x90\x64" + rng.bytes(413) for _ in range(200)]
    return b"".join(frames)


def _id3_claiming_256_mib() -> bytes:
    # an ID3v2.4 header declaring the largest tag there is (syncsafe 2^28 - 1 bytes), then a little MP3
    return (
        b"ID3\x04\x00\x00"
        + _syncsafe((1 << 28) - 1)
        + b"TIT2"
        + _syncsafe(10)
        + b"\x00\x00\x03title\x00"
        + mp3(1.0)
    )


def _id3_with_8_mib_picture() -> bytes:
    # a real 8 MiB APIC frame (a "cover picture" of noise) before a valid MP3: legal, and big
    picture = np.random.default_rng(31).bytes(8 << 20)
    body = b"\x00image/jpeg\x00\x03\x00" + picture
    frame = b"APIC" + struct.pack(">I", len(body)) + b"\x00\x00" + body  # ID3v2.3: plain sizes in frames
    return b"ID3\x03\x00\x00" + _syncsafe(len(frame)) + frame + mp3(1.0)


def _flac_8ch_96k_9min() -> bytes:
    return _big_flac(minutes=9.0, total=None)


def _flac_unknown_length_11min() -> bytes:
    return _big_flac(minutes=11.0, total=0)


@cache
def _big_flac(*, minutes: float, total: int | None) -> bytes:
    """8 channels at 96 kHz: a second of music, then digital silence (FLAC packs it to almost nothing)."""
    sr, channels = 96000, 8
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", samplerate=sr, channels=channels, format="FLAC", subtype="PCM_16") as f:
        f.write(music(seconds=1.0, sr=sr, channels=channels))
        block = np.zeros((sr * 10, channels), dtype=np.float32)
        for _ in range(int(minutes * 6) - 1):
            f.write(block)
        f.write(np.zeros((sr * 9, channels), dtype=np.float32))
    data = buf.getvalue()
    return data if total is None else flac_total_samples(data, total)


def _truncated(make: Callable[[], bytes], fraction: float) -> bytes:
    data = make()
    return data[: int(len(data) * fraction)]


def _ogg_vorbis() -> bytes:
    return encode(music(seconds=2.0), fmt="OGG", subtype="VORBIS")


def build_corpus() -> list[Hostile]:
    """Every hostile file: at least 28 kinds, the issue's and more."""
    one_second = pcm16(1.0)
    h = Hostile
    corpus = [
        # nothing, or almost nothing
        h("empty", b"", "empty.wav"),
        h("one-byte", b"\x00", "one.wav"),
        h("riff-magic-only", b"RIFF", "riff.wav"),
        # WAV headers that lie or are cut short
        h("wav-truncated-header", valid_wav(1.0)[:30], "cut.wav"),
        h("wav-header-no-data", wav_header(data_bytes=0), "nodata.wav"),
        h(
            "wav-data-length-4gib",
            wav_header(data_bytes=0xFFFFFFFF, riff_bytes=0xFFFFFFFF) + one_second,
            "liar.wav",
            note="data chunk and RIFF claim 4 GiB; 1 s follows",
        ),
        h(
            "wav-data-length-too-short",
            wav_header(data_bytes=100) + pcm16(2.0),
            "liar2.wav",
            note="data chunk claims 100 bytes; 2 s follow",
        ),
        h(
            "wav-riff-length-zero",
            wav_header(data_bytes=len(one_second), riff_bytes=0) + one_second,
            "r0.wav",
        ),
        h(
            "wav-fmt-chunk-4gib",
            wav_header(data_bytes=len(one_second), fmt_chunk_bytes=0xFFFFFFF0) + one_second,
            "fmt.wav",
        ),
        h("wav-0-channels", wav_header(channels=0, data_bytes=len(one_second)) + one_second, "c0.wav"),
        h(
            "wav-65535-channels",
            wav_header(channels=65535, data_bytes=len(one_second)) + one_second,
            "c65535.wav",
        ),
        h("wav-sample-rate-0", wav_header(sr=0, data_bytes=len(one_second)) + one_second, "sr0.wav"),
        h(
            "wav-sample-rate-1-hz",
            wav_header(sr=1, channels=1, data_bytes=len(one_second)) + one_second,
            "sr1.wav",
            note="88200 samples at 1 Hz: 24.5 hours",
        ),
        h(
            "wav-sample-rate-4-ghz",
            wav_header(sr=0xFFFFFFFF, data_bytes=len(one_second)) + one_second,
            "sr4g.wav",
        ),
        h(
            "wav-sample-rate-1-mhz",
            wav_header(sr=1_000_000, channels=1, data_bytes=2 * 1_000_000)
            + pcm16(1.0, channels=1, sr=1_000_000),
            "sr1m.wav",
            note="a real second at 1 MHz",
        ),
        h(
            "wav-256-channels",
            wav_header(sr=8000, channels=256, data_bytes=256 * 2 * 4800) + pcm16(0.6, channels=256, sr=8000),
            "c256.wav",
        ),
        h("wav-0-bits", wav_header(bits=0, data_bytes=len(one_second)) + one_second, "b0.wav"),
        h("wav-13-bits", wav_header(bits=13, data_bytes=len(one_second)) + one_second, "b13.wav"),
        h(
            "wav-unknown-format-tag",
            wav_header(fmt_tag=0x1234, data_bytes=len(one_second)) + one_second,
            "tag.wav",
        ),
        # float WAV: NaN, infinities, samples far outside full scale
        h("wav-float-nan", _with_values(float("nan")), "nan.wav"),
        h("wav-float-inf", _with_values(float("inf")), "inf.wav"),
        h("wav-float-all-nan", float_wav(np.full((SR, 2), np.nan, dtype=np.float32)), "allnan.wav"),
        h("wav-double-nan", _with_values(float("nan"), subtype="DOUBLE"), "dnan.wav"),
        h("wav-float-amplitude-4", float_wav(music() * 8.0), "loud4.wav", note="peak ~4.0 (+12 dBFS)"),
        h("wav-float-amplitude-1e30", float_wav(music() * 2e30), "huge.wav", note="finite, peak ~1e30"),
        h("wav-float-max", float_wav(np.sign(music()) * np.float32(3.4e38)), "max.wav", note="±3.4e38"),
        h(
            "wav-int32-full-scale-square",
            encode(np.sign(music()).astype(np.float64) * 0.9999999, subtype="PCM_32"),
            "square.wav",
        ),
        # valid containers with hostile content
        h(
            "wav-digital-silence",
            encode(np.zeros((2 * SR, 2), dtype=np.float32), subtype="PCM_16"),
            "silence.wav",
        ),
        h("wav-50-ms", valid_wav(0.05), "short.wav"),
        # other files disguised as audio
        h("zip-as-wav", _zip_of_wav(), "song.wav"),
        h("pdf-as-mp3", _pdf(), "song.mp3"),
        h("html-as-wav", _html(), "song.wav"),
        h("json-as-flac", _json(), "song.flac"),
        h("random-bytes", np.random.default_rng(32).bytes(65536), "noise.wav"),
        # MP3 and ID3
        h("id3-claims-256-mib", _id3_claiming_256_mib(), "id3big.mp3"),
        h("id3-8-mib-picture", _id3_with_8_mib_picture(), "cover.mp3"),
        h("id3-tag-only", b"ID3\x03\x00\x00" + _syncsafe(1000) + bytes(1000), "tagonly.mp3"),
        h("mp3-garbage-frames", _mp3_garbage(), "garbage.mp3"),
        h("mp3-first-300-bytes", mp3()[:300], "cut.mp3"),
        h("mp3-truncated-40-percent", _truncated(mp3, 0.4), "cut40.mp3"),
        # Ogg and FLAC
        h("ogg-unknown-length", ogg_unknown_length(_ogg_vorbis()), "unknown.ogg"),
        h("ogg-capture-pattern-garbage", b"OggS" + np.random.default_rng(33).bytes(20000), "garbage.ogg"),
        h("flac-unknown-length", flac_total_samples(flac(music()), 0), "unknown.flac"),
        h("flac-claims-2pow36-samples", flac_total_samples(flac(music()), (1 << 36) - 1), "liar.flac"),
        h("flac-truncated-half", _truncated(lambda: flac(music()), 0.5), "cut.flac"),
        h(
            "mp4-ftyp-garbage",
            b"\x00\x00\x00\x18ftypM4A \x00\x00\x00\x00M4A mp42" + np.random.default_rng(34).bytes(4000),
            "song.m4a",
        ),
        h(
            "adts-sync-garbage",
            b"".join(b"\xff\xf1\x50\x80" + np.random.default_rng(i).bytes(200) for i in range(50)),
            "song.aac",
        ),
    ]
    return corpus


def build_heavy_corpus() -> list[Hostile]:
    """Files within every limit (or refused only once decoded) that cost gigabytes to decode today."""
    return [
        Hostile(
            "flac-8ch-96k-9min",
            _flac_8ch_96k_9min(),
            "big.flac",
            heavy=True,
            note="8 channels, 96 kHz, 9 min: within every limit, 1.66 GiB of float32 decoded",
        ),
        Hostile(
            "flac-8ch-96k-11min-unknown-length",
            _flac_unknown_length_11min(),
            "unknown-big.flac",
            heavy=True,
            note="STREAMINFO total_samples 0 (unknown); 11 min: too long, known only once decoded",
        ),
    ]


CONTROLS = [
    Hostile("control-wav", valid_wav(2.0), "control.wav", note="valid: must be accepted"),
]
