"""Peak memory of one request, per audio route, for a corpus of hostile inputs (issue 18, part 3).

Builds the corpus in a folder (kept with ``--corpus DIR`` so later runs reuse it), then measures every
(route, file) pair in a fresh worker process: the worker builds the local stack in a temp folder, warms
the route up with a small valid file (models loaded, caches filled), returns freed memory to the system
(``malloc_trim``), resets the kernel's peak-RSS mark (``/proc/self/clear_refs`` 5), sends the hostile
request once and reads the peak (``VmHWM``; ``getrusage``'s ``ru_maxrss`` would also carry the driver's
peak from before the exec, see ``bench.common.vm_hwm_mb``). The table
gives the growth of the peak over the resident size just before the request: what that one request cost.

Routes: the synchronous ones through the real app (FastAPI TestClient, in process) and the job tasks
called as the task runner calls them:

========================  ===========================================================================
``sami``                  SAMI ``POST /api/v1/invoke``, the file base64 in ``data`` (MTT + Genre)
``acousticsense``         AcousticSense ``POST /analyze-audio`` (multipart)
``musicflow``             MusicFlow ``POST /api/prediction`` (multipart, a key, a trained model)
``job:<workflow>``        the task of ``tonearm/audio-info``, ``analyze``, ``tagging``, ``genre``,
                          ``beats-and-chords``, ``transcribe`` on the file
========================  ===========================================================================

Usage::

    .venv/bin/python bench/hostile_memory.py                          # every route x every file
    .venv/bin/python bench/hostile_memory.py --routes sami,acousticsense --cases flac-8ch-96k-9min
    .venv/bin/python bench/hostile_memory.py --corpus /tmp/hostile --json out.json
    .venv/bin/python bench/hostile_memory.py --list                   # the routes and the corpus

``--code DIR`` puts ``DIR`` (a ``layers/core`` of another checkout, e.g. from ``git archive``) first on
the workers' path, to measure other code against the same corpus. Each worker runs on one thread (the
BLAS/OpenMP pools capped, as the other benchmarks do); the whole corpus on every route takes about
20 minutes (two cores), most of it the 9-minute files on the analysis routes.

A plain stereo 44.1 kHz file of the same length is the yardstick: what a request costs should depend on
the length of the audio and on the route's analysis, never on the input's channel count or rate.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fractions
import functools
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import cap_thread_pools, single_thread_env  # noqa: E402

__all__ = ["CASES", "ROUTES", "Case", "build_case", "measure"]

#: The API key of the workers' local stack.
KEY = "bench-key"
#: The jobs measured, by route name: ``job:<name>`` runs the task of workflow ``tonearm/<name>``.
JOB_WORKFLOWS = {
    "audio-info": "tonearm/audio-info",
    "analyze": "tonearm/analyze",
    "tagging": "tonearm/tagging",
    "genre": "tonearm/genre",
    "beats-and-chords": "tonearm/beats-and-chords",
    "transcribe": "tonearm/transcribe",
}
ROUTES = ("sami", "acousticsense", "musicflow", *(f"job:{name}" for name in JOB_WORKFLOWS))


# --- the corpus -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One hostile file: how to build it and what it is."""

    name: str
    suffix: str
    note: str
    build: Callable[[], bytes]


def _music(*, sr: int, seconds: float, channels: int, seed: int = 1) -> Any:
    """Shape (n, channels) float32: a chord and a little noise, peak about 0.5."""
    import numpy as np

    rng = np.random.default_rng(seed)
    t = np.arange(round(sr * seconds)) / sr
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.18, 329.63)) / 3
    y = 0.45 * chord[:, np.newaxis] + 0.02 * rng.standard_normal((t.size, channels))
    return y.astype(np.float32)


@functools.lru_cache(maxsize=2)  # two cases share the 96 kHz file
def _clicks_flac(*, sr: int, channels: int, seconds: int, every_s: int = 10) -> bytes:
    """FLAC, 16-bit: digital silence with a 3-LSB click (-80 dBFS, so not "silent") every ``every_s``.

    Compresses to a few hundred kB whatever its decoded size, which is the point; written second by
    second so building it never holds the signal.
    """
    import numpy as np
    import soundfile as sf

    quiet = np.zeros((sr, channels), dtype=np.int16)
    click = quiet.copy()
    click[100, :], click[2000, :] = 3, -3
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", samplerate=sr, channels=channels, format="FLAC", subtype="PCM_16") as f:
        for second in range(seconds):
            f.write(click if second % every_s == 0 else quiet)
    return buf.getvalue()


def _patch_streaminfo(data: bytes, *, total_samples: int) -> bytes:
    """Set STREAMINFO's 36-bit total-samples field (0: unknown) and clear its MD5."""
    out = bytearray(data)
    assert out[:4] == b"fLaC" and out[4] & 0x7F == 0, "STREAMINFO must be the first metadata block"
    info = 8  # after "fLaC" and the block header
    packed = int.from_bytes(out[info + 10 : info + 18], "big")
    packed = (packed & ~((1 << 36) - 1)) | (total_samples & ((1 << 36) - 1))
    out[info + 10 : info + 18] = packed.to_bytes(8, "big")
    out[info + 18 : info + 34] = bytes(16)
    return bytes(out)


def _mp3_frames(data: bytes) -> list[bytes]:
    """Split an MPEG-1 Layer III stream into frames (ID3 tags skipped), dropping a Xing/Info frame."""
    bitrates = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
    rates = (44100, 48000, 32000)
    pos, frames = 0, []
    if data[:3] == b"ID3":
        size = (data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9]
        pos = 10 + size
    while pos + 4 <= len(data):
        h = struct.unpack(">I", data[pos : pos + 4])[0]
        if (h >> 21) & 0x7FF != 0x7FF:
            pos += 1
            continue
        bitrate = bitrates[(h >> 12) & 0xF] * 1000
        sr = rates[(h >> 10) & 0x3]
        length = 144 * bitrate // sr + ((h >> 9) & 1)
        if length <= 4:
            break
        frame = data[pos : pos + length]
        if b"Xing" not in frame[:64] and b"Info" not in frame[:64]:
            frames.append(frame)
        pos += length
    return frames


def _mp3_no_xing(seconds: int) -> bytes:
    """Stereo 48 kHz MP3 frames without a Xing/Info header: libmpg123 can only estimate the length."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, _music(sr=48000, seconds=10.0, channels=2), 48000, format="MP3")
    frames = _mp3_frames(buf.getvalue())
    per_copy = 10
    return b"".join(frames) * (seconds // per_copy)


def _adts_71_96k(seconds: int) -> bytes:
    """7.1 AAC at 96 kHz in ADTS (no length field: FFmpeg estimates it), 10 s of frames repeated."""
    import av
    import numpy as np

    sr, channels, piece = 96000, 8, 10
    y = np.zeros((sr * piece, channels), dtype=np.float32)
    y[100 :: sr // 2, :] = 0.01
    buf = io.BytesIO()
    with av.open(buf, "w", format="adts") as out:
        stream = out.add_stream("aac", rate=sr, layout="7.1")  # type: ignore[call-overload]
        for start in range(0, y.shape[0], 4096):
            # packed ("flt"): PyAV 18 cannot build planar frames of 8 channels
            block = np.ascontiguousarray(y[start : start + 4096]).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(block, format="flt", layout=stream.layout)
            frame.sample_rate, frame.pts, frame.time_base = sr, start, fractions.Fraction(1, sr)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue() * (seconds // piece)


def _mka_vorbis(channels: int, seconds: float) -> bytes:
    """Vorbis with many channels remuxed from Ogg into Matroska, so FFmpeg (not libsndfile) decodes it."""
    import av
    import soundfile as sf

    ogg = io.BytesIO()
    sf.write(ogg, 0.1 * _music(sr=48000, seconds=seconds, channels=channels), 48000, format="OGG")
    ogg.seek(0)
    buf = io.BytesIO()
    with av.open(ogg) as src, av.open(buf, "w", format="matroska") as out:
        source = src.streams.audio[0]
        target = out.add_stream_from_template(source)
        for packet in src.demux(source):
            if packet.dts is None:
                continue
            packet.stream = target
            out.mux(packet)
    return buf.getvalue()


def _wav_header(
    *, sr: int, channels: int, bits: int, data_bytes: int, riff_bytes: int | None = None
) -> bytes:
    block_align = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 1, channels, sr, sr * block_align, block_align, bits)
    riff = riff_bytes if riff_bytes is not None else min(4 + 8 + len(fmt) + 8 + data_bytes, 0xFFFFFFFF)
    return (
        b"RIFF"
        + struct.pack("<I", riff)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + (b"data" + struct.pack("<I", data_bytes))
    )


def _wav_many_channels(channels: int, *, sr: int, seconds: float) -> bytes:
    import numpy as np
    import soundfile as sf

    y = np.zeros((round(sr * seconds), channels), dtype=np.int16)
    y[:: sr // 10, :] = 1000
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _wav_unknown_size(*, sr: int, channels: int, seconds: float) -> bytes:
    """16-bit WAV whose RIFF and data sizes are 0xFFFFFFFF, as a streaming writer leaves them."""
    y = _music(sr=sr, seconds=seconds, channels=channels)
    pcm = (y * 32767).astype("<i2").tobytes()
    return _wav_header(sr=sr, channels=channels, bits=16, data_bytes=0xFFFFFFFF, riff_bytes=0xFFFFFFFF) + pcm


def _float_wav(peak: float) -> bytes:
    import numpy as np
    import soundfile as sf

    y = _music(sr=44100, seconds=10.0, channels=2).astype(np.float64)
    y *= peak / np.abs(y).max()
    buf = io.BytesIO()
    sf.write(buf, y.astype(np.float32), 44100, format="WAV", subtype="FLOAT")
    return buf.getvalue()


def _ogg_255_channels() -> bytes:
    import numpy as np
    import soundfile as sf

    y = np.zeros((48000 * 3, 255), dtype=np.float32)
    y[100::24000, :] = 0.01
    buf = io.BytesIO()
    sf.write(buf, y, 48000, format="OGG", subtype="VORBIS")
    return buf.getvalue()


CASES: tuple[Case, ...] = (
    Case(
        "flac-8ch-96k-9min",
        ".flac",
        "8 ch, 96 kHz, 9 min, within every limit: 1.66 GB as float32 channels",
        lambda: _clicks_flac(sr=96000, channels=8, seconds=540),
    ),
    Case(
        "flac-8ch-96k-9min-header-says-10s",
        ".flac",
        "the same, STREAMINFO claiming 10 s (libsndfile decodes what it declares: 10 s)",
        lambda: _patch_streaminfo(_clicks_flac(sr=96000, channels=8, seconds=540), total_samples=960000),
    ),
    Case(
        "flac-8ch-192k-unknown-length-7min",
        ".flac",
        "STREAMINFO total 0 (unknown): over the 2 GiB budget after 5.8 min, refused while decoding",
        lambda: _patch_streaminfo(_clicks_flac(sr=192000, channels=8, seconds=420), total_samples=0),
    ),
    Case(
        "mp3-no-xing-9.5min",
        ".mp3",
        "stereo 48 kHz VBR MP3 frames without a Xing header: the length is an estimate (libsndfile stops "
        "at it: 253 of 572 s decoded)",
        lambda: _mp3_no_xing(570),
    ),
    Case(
        "adts-aac-7.1-96k-9min",
        ".aac",
        "7.1 AAC, 96 kHz, in ADTS (no length field): 1.66 GB as float32 channels",
        lambda: _adts_71_96k(540),
    ),
    Case(
        "mka-vorbis-16ch-48k-20s",
        ".mka",
        "16-channel Vorbis in Matroska (FFmpeg's path; PyAV lists garbage planes past 8 channels)",
        lambda: _mka_vorbis(16, 20.0),
    ),
    Case(
        "ogg-vorbis-255ch-3s",
        ".ogg",
        "255-channel Ogg Vorbis (libsndfile's path): 147 MB as float32 channels",
        _ogg_255_channels,
    ),
    Case(
        "wav-1024ch-8k-2s",
        ".wav",
        "1024-channel 16-bit WAV (libsndfile's maximum): 64 k-frame blocks would be 256 MiB each",
        lambda: _wav_many_channels(1024, sr=8000, seconds=2.0),
    ),
    Case(
        "wav-header-1024ch-384k-claims-4gb",
        ".wav",
        "a 1024-channel 384 kHz WAV header claiming 4 GB of data, 64 kB actually sent",
        lambda: _wav_header(sr=384000, channels=1024, bits=16, data_bytes=0xFFFFFF00) + bytes(65536),
    ),
    Case(
        "wav-sizes-unknown-2ch-48k-60s",
        ".wav",
        "RIFF and data sizes 0xFFFFFFFF (a streaming writer's WAV), 60 s",
        lambda: _wav_unknown_size(sr=48000, channels=2, seconds=60.0),
    ),
    Case("float-wav-peak-4", ".wav", "float WAV, 10 s, peak 4.0 (+12 dBFS)", lambda: _float_wav(4.0)),
    Case("float-wav-peak-1e30", ".wav", "float WAV, 10 s, peak 1e30", lambda: _float_wav(1e30)),
    Case(
        "float-wav-peak-3e38",
        ".wav",
        "float WAV, 10 s, peak 3e38 (float32's largest: 3.4e38)",
        lambda: _float_wav(3e38),
    ),
)


def build_case(case: Case, folder: Path) -> Path:
    """The file of ``case`` in ``folder``, built unless already there."""
    path = folder / f"{case.name}{case.suffix}"
    if not path.exists():
        data = case.build()
        tmp = path.with_suffix(path.suffix + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path


def _warmup_wav(folder: Path) -> Path:
    import numpy as np
    import soundfile as sf

    path = folder / "warmup.wav"
    if not path.exists():
        y = _music(sr=44100, seconds=4.0, channels=2)
        sf.write(path, (y * 32767).astype(np.int16), 44100, subtype="PCM_16")
    return path


# --- the worker ----------------------------------------------------------------------------------------


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} missing from /proc/self/status")


def _reset_peak() -> None:
    # Give freed heap back (else a later request reuses it without a trace in RSS), then make the peak
    # mark the current RSS: VmHWM and ru_maxrss both restart from here.
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")


_MIME = {".wav": "audio/wav", ".flac": "audio/flac", ".mp3": "audio/mpeg", ".ogg": "audio/ogg"}


def _upload_name(path: Path) -> str:
    # AcousticSense filters on the extension (mp3, wav, flac, ogg, m4a); the content picks the decoder,
    # so raw AAC and Matroska go as .m4a, as a client would send them.
    return path.stem + (path.suffix if path.suffix in _MIME else ".m4a")


class _Runner:
    """Sends one file through one route (the app in process, or the job's task)."""

    def __init__(self, route: str, work: Path) -> None:
        self.route = route
        self.work = work
        self.client: Any = None
        self.runtime: Any = None
        if not route.startswith("job:"):
            from fastapi.testclient import TestClient

            from tonearm.api.app import create_app
            from tonearm.local_stack.runtime import build_local_runtime

            self.runtime = build_local_runtime(
                project_root=ROOT,
                data_dir=work / "data",
                base_url="http://127.0.0.1:3999",
                api_key=KEY,
                webhook_base_delay_s=0.01,
                watch_interval_s=0.05,
                sleep=lambda _s: None,
            )
            self.client = TestClient(create_app(self.runtime.services))
        if route == "musicflow":
            from tests.fakes.listener import fill_library, history_file, make_catalogue

            catalogue = make_catalogue(60, seed=11)
            fill_library(self.runtime.services.musicflow.library, catalogue)
            export = history_file(catalogue, extended=False)
            history = ("StreamingHistory_music_0.json", export, "application/json")
            reply = self.client.post(
                "/api/model", files=[("history", history)], headers={"Authorization": KEY}
            )
            assert reply.status_code == 201, reply.text

    def prepare(self, path: Path) -> tuple[str, bytes, dict[str, str]] | Path:
        """What the client sends: (URL, body bytes, headers), built before the measurement starts.

        The client runs in this process (TestClient), so the body it encodes (base64 JSON, multipart)
        would otherwise count as the server's; a real client holds it in its own process.
        """
        if self.route.startswith("job:"):
            return path
        data = path.read_bytes()
        if self.route == "sami":
            import base64

            payload = {"task_flow": {"task": [{"task_type": "MusicTaggingMTT"}, {"task_type": "Genre"}]}}
            body = {
                "appkey": "local",
                "token": KEY,
                "namespace": "MusicTagging",
                "payload": json.dumps(payload),
                "data": base64.b64encode(data).decode(),
            }
            return (
                "/api/v1/invoke?version=v4",
                json.dumps(body).encode(),
                {"content-type": "application/json"},
            )
        import httpx

        files = {"file": (_upload_name(path), data, _MIME.get(path.suffix, "application/octet-stream"))}
        request = httpx.Request("POST", "http://testserver/", files=files)
        headers = {"content-type": request.headers["content-type"], "Authorization": KEY}
        url = "/analyze-audio" if self.route == "acousticsense" else "/api/prediction"
        return url, request.read(), headers

    def run(self, prepared: tuple[str, bytes, dict[str, str]] | Path) -> tuple[str, str, bool]:
        """Send what :meth:`prepare` built; (HTTP status or job outcome, error code, NaN in the reply)."""
        if isinstance(prepared, Path):
            return self._job(prepared)
        url, content, headers = prepared
        reply = self.client.post(url, content=content, headers=headers)
        body = reply.json()
        if self.route == "sami":
            error = body.get("error_code") or "" if reply.status_code >= 400 else ""
            return str(reply.status_code), error, _has_nan(reply.text) or _has_nan(body.get("payload") or "")
        error = (body.get("error") or {}).get("code", "") if reply.status_code >= 400 else ""
        return str(reply.status_code), error, _has_nan(reply.text)

    def _job(self, path: Path) -> tuple[str, str, bool]:
        from tonearm.errors import TonearmError
        from tonearm.workflows import CATALOGUE

        slug = JOB_WORKFLOWS[self.route.removeprefix("job:")]
        spec = next(s for s in CATALOGUE if s.slug == slug)
        out = self.work / f"out-{time.monotonic_ns()}"
        out.mkdir()
        try:
            result = spec.task(path, out, {}, lambda _p: None)
        except TonearmError as exc:
            return ("failed" if exc.status < 500 else "error"), exc.code, False
        text = json.dumps(result.values, allow_nan=True)
        return "ok", "", _has_nan(text)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.runtime is not None:
            self.runtime.close()


def _has_nan(text: str) -> bool:
    return "NaN" in text or "Infinity" in text


def _worker(route: str, path: Path, warmup: Path) -> dict[str, Any]:
    import gc

    with tempfile.TemporaryDirectory(prefix="tonearm-hostile-") as tmp:
        runner = _Runner(route, Path(tmp))
        try:
            runner.run(runner.prepare(warmup))  # models loaded, first-call caches filled: not this request's
            prepared = runner.prepare(path)
            gc.collect()
            _reset_peak()
            before_kb = _status_kb("VmRSS")
            started = time.perf_counter()
            try:
                status, code, nan = runner.run(prepared)
            except Exception as exc:  # a crash is a result here (and a bug elsewhere)
                status, code, nan = "crash", f"{type(exc).__name__}: {exc}"[:200], False
            seconds = time.perf_counter() - started
            # VmHWM, not getrusage's ru_maxrss: the latter keeps the parent's peak from before the exec
            # (the driver's, which built the corpus), which clear_refs does not reset.
            peak_kb = _status_kb("VmHWM")
        finally:
            runner.close()
    return {
        "route": route,
        "case": path.stem,
        "status": status,
        "code": code,
        "nan": nan,
        "seconds": round(seconds, 2),
        "rss_before_mb": round(before_kb / 1024, 1),
        "peak_mb": round(peak_kb / 1024, 1),
        "growth_mb": round((peak_kb - before_kb) / 1024, 1),
    }


# --- the driver ----------------------------------------------------------------------------------------


def measure(
    route: str, path: Path, *, warmup: Path, code: str | None = None, timeout_s: float = 1800
) -> dict[str, Any]:
    """Measure one (route, file) pair in a fresh worker process.

    Parameters
    ----------
    route : str
        One of :data:`ROUTES`.
    path : Path
        The hostile file.
    warmup : Path
        A small valid file the route gets first.
    code : str, optional
        A ``layers/core`` to import tonearm from instead of this checkout's.
    timeout_s : float
        The worker's time limit [s].

    Returns
    -------
    dict
        ``route``, ``case``, ``status`` (HTTP status, ``ok``/``failed``/``error`` for a job, ``crash``,
        ``timeout``), ``code`` (the error code), ``nan`` (NaN or Infinity in the reply), ``seconds``,
        ``rss_before_mb``, ``peak_mb`` and ``growth_mb`` (MiB).
    """
    env = single_thread_env()
    if code:
        env["PYTHONPATH"] = os.pathsep.join([code, env["PYTHONPATH"]])
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", route, str(path), str(warmup)]
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        return {"route": route, "case": path.stem, "status": "timeout", "code": "", "nan": False}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            result: dict[str, Any] = json.loads(line)
            return result
    tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
    return {
        "route": route,
        "case": path.stem,
        "status": f"worker-exit-{done.returncode}",
        "code": tail[0][:200],
    }


def _table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"| {'route':<22} | {'file':<36} | {'answer':<26} | {'growth MiB':>10} | {'peak MiB':>8} | {'s':>6} |"
    )
    lines = [head, "|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|"]
    for r in rows:
        answer = r["status"] + (f" {r['code']}" if r.get("code") else "") + (" NaN!" if r.get("nan") else "")
        growth = f"{r['growth_mb']:.0f}" if "growth_mb" in r else "-"
        peak = f"{r['peak_mb']:.0f}" if "peak_mb" in r else "-"
        secs = f"{r['seconds']:.1f}" if "seconds" in r else "-"
        lines.append(
            f"| {r['route']:<22} | {r['case']:<36} | {answer[:26]:<26} "
            f"| {growth:>10} | {peak:>8} | {secs:>6} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--routes", default=",".join(ROUTES), help="comma-separated; default: all")
    parser.add_argument("--cases", default="", help="comma-separated case names; default: all")
    parser.add_argument(
        "--corpus", type=Path, help="folder to build the corpus in (kept); default: a temp one"
    )
    parser.add_argument("--code", help="a layers/core to import tonearm from in the workers")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--list", action="store_true", help="list the routes and the corpus, then stop")
    parser.add_argument("--worker", nargs=3, metavar=("ROUTE", "FILE", "WARMUP"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        route, path, warmup = args.worker
        print(json.dumps(_worker(route, Path(path), Path(warmup))), flush=True)
        return 0
    if args.list:
        print("routes:", ", ".join(ROUTES))
        for case in CASES:
            print(f"{case.name:<36} {case.note}")
        return 0
    routes = [r for r in args.routes.split(",") if r]
    unknown = sorted(set(routes) - set(ROUTES))
    wanted = [c for c in args.cases.split(",") if c]
    names = {c.name for c in CASES}
    if unknown or set(wanted) - names:
        parser.error(f"unknown routes {unknown} or cases {sorted(set(wanted) - names)}")
    cases = [c for c in CASES if not wanted or c.name in wanted]
    with tempfile.TemporaryDirectory(prefix="tonearm-hostile-corpus-") as tmp:
        folder = args.corpus or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for case in cases:
            started = time.perf_counter()
            path = build_case(case, folder)
            print(
                f"built {path.name} ({path.stat().st_size / 1e6:.2f} MB, "
                f"{time.perf_counter() - started:.1f} s)"
            )
            paths.append(path)
        warmup = _warmup_wav(folder)
        rows = []
        for route in routes:
            for path in paths:
                row = measure(route, path, warmup=warmup, code=args.code)
                rows.append(row)
                print(json.dumps(row), flush=True)
    print(_table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    cap_thread_pools()
    sys.exit(main())
