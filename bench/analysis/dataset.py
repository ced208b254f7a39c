"""Build (or reuse) the rendered benchmark sets and their manifests.

* ``constant`` (``bench/analysis/data/``): constant tempo, FluidR3_GM, WAV + 192 kbit/s MP3, plus the
  10-minute track.
* ``realistic`` (``bench/analysis/data/realistic/``): the same clip specifications played with tempo maps,
  swing, humanisation, three SoundFonts, production and MP3/AAC/Opus (``performance.py``); WAV (after
  production) + the coded file (files key ``coded``). No 10-minute track.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from . import performance
from .corpus import ClipSpec, plan
from .render import SOUNDFONT, SR, encode_mp3, render_clip, render_key

DATA_DIR = Path(__file__).resolve().parent / "data"
LONG_SECONDS = 600.0
SETS = ("constant", "realistic")
#: Bumped when the realistic set's rendering changes (part of its clips' cache keys).
REALISTIC_VERSION = 1


def set_dir(name: str, data_dir: Path = DATA_DIR) -> Path:
    """Where a set's clips and manifest live (the constant set keeps the historical location)."""
    return data_dir if name == "constant" else data_dir / name


def renderer_env(soundfont: Path = SOUNDFONT) -> dict[str, str]:
    """Versions that affect the rendered audio (part of every clip's cache key)."""
    import music21

    if shutil.which("fluidsynth") is None:
        raise SystemExit(
            "fluidsynth not found: apt-get install -y fluidsynth fluid-soundfont-gm (or `make bench`)"
        )
    if not soundfont.is_file():
        raise SystemExit(f"SoundFont {soundfont} not found: apt-get install -y fluid-soundfont-gm")
    fs = subprocess.run(["fluidsynth", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    st = soundfont.stat()
    return {
        "fluidsynth": fs.strip(),
        "soundfont": f"{soundfont.name}:{st.st_size}",
        "music21": music21.__version__,
    }


def _render_one(args: tuple[ClipSpec, str, str, str, performance.Performance | None]) -> dict[str, Any]:
    spec, data_dir, soundfont, key, perf = args
    clip_dir = Path(data_dir) / spec.clip_id
    labels_path = clip_dir / "labels.json"
    if labels_path.is_file():
        try:
            old = json.loads(labels_path.read_text())
            if old.get("render_key") == key and all((clip_dir / f).is_file() for f in old["files"].values()):
                old["cached"] = True
                return old
        except (json.JSONDecodeError, KeyError):
            pass
    labels = render_clip(spec, clip_dir, Path(soundfont), perf)
    labels["render_key"] = key
    labels_path.write_text(json.dumps(labels, indent=1))
    labels["cached"] = False
    return labels


def _realistic_key(spec: ClipSpec, env: dict[str, str], perf: performance.Performance) -> str:
    blob = json.dumps(
        {"base": render_key(spec, env), "perf": perf.as_dict(), "v": REALISTIC_VERSION}, sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def build(
    n_clips: int,
    data_dir: Path = DATA_DIR,
    jobs: int = 2,
    soundfont: Path = SOUNDFONT,
    force: bool = False,
    set_name: str = "constant",
) -> dict[str, Any]:
    """Render every clip (in ``jobs`` processes, cached by spec + renderer versions) and, for the constant
    set, the 10-min track. ``data_dir`` is the set's own directory (:func:`set_dir`)."""
    t0 = time.perf_counter()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = renderer_env(soundfont)
    specs = plan(n_clips)
    if force:
        for s in specs:
            shutil.rmtree(data_dir / s.clip_id, ignore_errors=True)
    if set_name == "realistic":
        for name, files in performance.SOUNDFONTS.items():
            for f in files:
                path = performance.SOUNDFONT_DIR / f
                if not path.is_file():
                    raise SystemExit(
                        f"SoundFont {path} ({name}) not found: "
                        "apt-get install -y fluid-soundfont-gs timgm6mb-soundfont"
                    )
                env[f"soundfont:{f}"] = str(path.stat().st_size)
        perfs = [performance.draw(s) for s in specs]
        work = [
            (s, str(data_dir), str(soundfont), _realistic_key(s, env, pf), pf)
            for s, pf in zip(specs, perfs, strict=True)
        ]
    elif set_name == "constant":
        work = [(s, str(data_dir), str(soundfont), render_key(s, env), None) for s in specs]
    else:
        raise ValueError(f"unknown set {set_name!r}")
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as ex:
            clips = list(ex.map(_render_one, work))
    else:
        clips = [_render_one(w) for w in work]
    render_s = time.perf_counter() - t0
    long_info = build_long(clips, data_dir) if set_name == "constant" else None
    set_digest = hashlib.sha256(
        json.dumps(
            [[c["clip_id"], c["sha256"], c["beats"], c["downbeats"], c["key"], c["chords"]] for c in clips]
        ).encode()
    ).hexdigest()[:16]
    manifest = {
        "set": set_name,
        "renderer": env,
        "set_sha256": set_digest,
        "clips": clips,
        "long": long_info,
        "render_wall_s": round(render_s, 2),
        "rendered": sum(1 for c in clips if not c.get("cached")),
        "total_wall_s": round(time.perf_counter() - t0, 2),
    }
    (data_dir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def build_long(clips: list[dict[str, Any]], data_dir: Path, seconds: float = LONG_SECONDS) -> dict[str, Any]:
    """A 10-minute track: the clips' WAVs concatenated in order (cycled if there are fewer than 20)."""
    ids = [c["clip_id"] for c in clips]
    digest = hashlib.sha256(json.dumps([c["sha256"]["wav"] for c in clips]).encode()).hexdigest()[:16]
    wav, mp3 = data_dir / "long_10min.wav", data_dir / "long_10min.mp3"
    meta_path = data_dir / "long_10min.json"
    if meta_path.is_file() and wav.is_file() and mp3.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("digest") == digest:
            return meta
    n_total = int(seconds * SR)
    parts: list[np.ndarray] = []
    have, i, used = 0, 0, []
    while have < n_total:
        cid = ids[i % len(ids)]
        y, sr = sf.read(data_dir / cid / "clip.wav", dtype="int16", always_2d=True)
        if sr != SR:
            raise RuntimeError(f"{cid}: {sr} Hz")
        parts.append(y[: n_total - have])
        have += len(parts[-1])
        used.append(cid)
        i += 1
    pcm = np.concatenate(parts)
    sf.write(wav, pcm, SR, subtype="PCM_16")
    encode_mp3(pcm, SR, mp3)
    meta = {
        "digest": digest,
        "seconds": seconds,
        "clips": used,
        "files": {"wav": wav.name, "mp3": mp3.name},
        "bytes": {"wav": wav.stat().st_size, "mp3": mp3.stat().st_size},
    }
    meta_path.write_text(json.dumps(meta, indent=1))
    return meta


if __name__ == "__main__":  # pragma: no cover - manual use: python -m bench.analysis.dataset 48
    import sys

    name = sys.argv[2] if len(sys.argv) > 2 else "constant"
    m = build(
        int(sys.argv[1]) if len(sys.argv) > 1 else 48,
        set_dir(name),
        jobs=int(os.environ.get("JOBS", "2")),
        set_name=name,
    )
    print(json.dumps({k: v for k, v in m.items() if k != "clips"}, indent=1))
