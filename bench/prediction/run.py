"""MusicFlow bench: training time and cross-validated error on a made-up listener, prediction latency.

The listener (``tests/fakes/listener.py``) streams tracks by a known rule of energy, danceability and
popularity; the features come from tonearm's library alone, or from a local fake Spotify (metadata;
audio features 403) plus the library. MusicFlow itself cannot run as a peer: its features came from
Spotify's audio-features endpoint, which now answers 403. The reference is the predict-the-mean
baseline, as in the model card.

    python -m bench.prediction.run --tracks 1000 --out bench/results/prediction.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.api.test_musicflow_api import song_wav  # noqa: E402
from tests.fakes.listener import fill_library, fill_spotify, history_file, make_catalogue  # noqa: E402
from tests.fakes.spotify_server import serve_fake_spotify  # noqa: E402
from tonearm.adapters.local.files import FileBlobStore  # noqa: E402
from tonearm.adapters.spotify import SpotifyMetadata  # noqa: E402
from tonearm.prediction.service import MusicFlowService  # noqa: E402
from tonearm.prediction.vector import feature_matrix  # noqa: E402


def _ms(samples: list[float]) -> float:
    return round(1000 * statistics.median(samples), 2)


def scenario(
    name: str, flow: MusicFlowService, train: list[Any], held: list[Any], *, extended: bool
) -> dict[str, Any]:
    t0 = time.perf_counter()
    card = flow.train([("history.json", history_file(train, extended=extended))])
    train_s = time.perf_counter() - t0
    model = flow.models.require()
    lookups, predictions = [], []
    features = []
    for t in held:
        t1 = time.perf_counter()
        f = flow.features(t.title, t.artist)
        lookups.append(time.perf_counter() - t1)
        features.append(f)
        t2 = time.perf_counter()
        flow.predict(t.title, t.artist)
        predictions.append(time.perf_counter() - t2)
    x = feature_matrix(features)
    y = np.array([t.streams for t in held], dtype=float)
    held_mae = float(np.mean(np.abs(model.predict(x) - y)))
    base_mae = float(np.mean(np.abs(card.target_mean - y)))
    cv = card.cross_validation
    return {
        "scenario": name,
        "tracks": card.tracks,
        "train_s": round(train_s, 2),
        "cv_mae": cv.mae,
        "cv_baseline_mae": cv.baseline_mae,
        "cv_improvement": cv.improvement,
        "held_out_mae": round(held_mae, 3),
        "held_out_baseline_mae": round(base_mae, 3),
        "held_out_ratio": round(held_mae / base_mae, 3),
        "features_lookup_ms": _ms(lookups),
        "prediction_ms": _ms(predictions),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tracks", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/prediction.json")
    args = parser.parse_args()
    train, held = make_catalogue(args.tracks, seed=0), make_catalogue(200, seed=99, offset=100_000)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        blobs = FileBlobStore(Path(tmp) / "a", base_url="http://x", secret=b"x")
        flow = MusicFlowService(blobs=blobs, metadata=None)
        fill_library(flow.library, train + held)
        results.append(scenario("library only", flow, train, held, extended=False))
        with serve_fake_spotify() as fake:
            fill_spotify(fake, train + held)
            spotify = SpotifyMetadata(
                client_id=fake.client_id,
                client_secret=fake.client_secret,
                api_url=fake.api_url,
                token_url=fake.token_url,
            )
            blobs2 = FileBlobStore(Path(tmp) / "b", base_url="http://x", secret=b"x")
            flow2 = MusicFlowService(blobs=blobs2, metadata=spotify)
            fill_library(flow2.library, train + held, with_isrc=True)
            results.append(scenario("Spotify (fake, loopback) + library", flow2, train, held, extended=True))
        audio = Path(tmp) / "song.wav"
        audio.write_bytes(song_wav(seconds=30.0, title="Bench", artist="Bench"))
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            flow.predict_audio(audio, song=None, artist=None, size_bytes=audio.stat().st_size)
            times.append(time.perf_counter() - t0)
    report = {"scenarios": results, "post_prediction_30s_wav_ms": _ms(times)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    lines = [
        "# MusicFlow bench (`python -m bench.prediction.run`)",
        "",
        f"Made-up listener, {args.tracks} training tracks, 200 held-out tracks; one process on this machine.",
        "",
        "| scenario | train [s] | CV MAE | CV baseline | held-out MAE / baseline | lookup [ms] "
        "| predict [ms] |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['scenario']} | {r['train_s']} | {r['cv_mae']} | {r['cv_baseline_mae']} | "
            f"{r['held_out_mae']} / {r['held_out_baseline_mae']} ({r['held_out_ratio']}) | "
            f"{r['features_lookup_ms']} | {r['prediction_ms']} |"
        )
    lines += ["", f"POST /api/prediction path with a 30 s WAV (analysis + library + predict): "
              f"{report['post_prediction_30s_wav_ms']} ms median of 5.", ""]  # fmt: skip
    args.out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
