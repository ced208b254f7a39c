#!/usr/bin/env python3
"""Fetch Spotify's basic-pitch transcription model (``nmp.onnx``) from its PyPI wheel; record golden outputs.

Run from the repository root with any Python 3.11 that has pip (the project venv will do)::

    .venv/bin/python models/basic_pitch/fetch.py                   # model + licence
    .venv/bin/python models/basic_pitch/fetch.py --record-golden   # ... and golden/*.npz

Default stage (stdlib + pip only):

1. ``pip download basic-pitch==0.4.0 --no-deps --only-binary=:all:`` into a temporary folder; the wheel
   (``py2.py3-none-any``) must have the pinned sha256;
2. extract ``basic_pitch/saved_models/icassp_2022/nmp.onnx``, check its pinned sha256 and write it to
   ``models/basic_pitch/nmp.onnx``;
3. write ``LICENSE-basic-pitch.md`` from the wheel's ``LICENSE`` (Apache-2.0) and ``NOTICE``, verbatim;
4. check that ``models/registry.json`` and ``MODEL_CARD.md`` carry the same sha256.

``--record-golden`` then creates the throwaway venv ``models/.venv-basic-pitch`` (git-ignored) from the
pinned lock ``requirements-golden.txt`` (basic-pitch 0.4.0 and its run-time libraries, without
TensorFlow: basic-pitch falls back to onnxruntime and its own ``nmp.onnx``), and re-runs this script in
it with ``--golden-worker``, which for every clip of ``fixture_clips.py``:

* writes the clip to a 32-bit float WAV (no quantisation) and runs the ORIGINAL inference code path,
  ``basic_pitch.inference.run_inference(wav, Model(<wheel>/nmp.onnx))`` (``librosa.load`` at 22050 Hz
  mono with soxr_hq, basic-pitch's windowing, batching and unwrapping);
* runs the original note creation, ``basic_pitch.note_creation.output_to_notes_polyphonic`` with
  ``predict()``'s defaults (onset 0.5, frame 0.3, minimum length round(127.70 ms * 22050 / 256) = 11
  frames, inferred onsets, melodia trick, energy tolerance 11);
* stores ``note``, ``onset``, ``contour`` [frames, bins] float32 and the note events (frame indices,
  MIDI pitch, amplitude) in ``golden/<clip>.npz``, and the library versions in ``golden/versions.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
VENV = REPO / "models" / ".venv-basic-pitch"
VENV_PY = VENV / "bin" / "python"
REQS = HERE / "requirements-golden.txt"
STAMP = VENV / ".requirements-golden.sha256"
GOLDEN = HERE / "golden"

PACKAGE = "basic-pitch"
VERSION = "0.4.0"
WHEEL = f"basic_pitch-{VERSION}-py2.py3-none-any.whl"
WHEEL_SHA256 = "738adb503aae7fdfc7d1e1511aa0ce35052315f260a19531ef4c356708425db0"
MEMBER = "basic_pitch/saved_models/icassp_2022/nmp.onnx"
MODEL_SHA256 = "2c3c1d144bfa61ad236e92e169c13535c880469a12a047d4e73451f2c059a0ec"
MODEL_OUT = HERE / "nmp.onnx"
LICENSE_OUT = HERE / "LICENSE-basic-pitch.md"
SOURCE_URL = f"https://pypi.org/project/{PACKAGE}/{VERSION}/"

#: Note-creation parameters of basic-pitch's ``predict()`` (the ones tonearm uses too).
ONSET_THRESHOLD = 0.5
FRAME_THRESHOLD = 0.3
MIN_NOTE_FRAMES = 11  # int(round(127.70 / 1000 * (22050 / 256)))
ENERGY_TOLERANCE = 11


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download_wheel(folder: Path) -> Path:
    """``pip download`` the pinned wheel into ``folder`` and check its digest."""
    cmd = [sys.executable, "-m", "pip", "download", f"{PACKAGE}=={VERSION}", "--no-deps"]
    cmd += ["--only-binary=:all:", "--disable-pip-version-check", "-q", "-d", str(folder)]
    subprocess.run(cmd, check=True)
    wheel = folder / WHEEL
    if not wheel.is_file():
        raise SystemExit(f"pip did not fetch {WHEEL}; got {sorted(p.name for p in folder.iterdir())}")
    digest = _sha256(wheel.read_bytes())
    if digest != WHEEL_SHA256:
        raise SystemExit(f"{WHEEL} has sha256 {digest}, expected {WHEEL_SHA256}")
    return wheel


def extract(wheel: Path) -> None:
    """Write ``nmp.onnx`` and ``LICENSE-basic-pitch.md`` from the wheel, checking the model digest."""
    with zipfile.ZipFile(wheel) as zf:
        model = zf.read(MEMBER)
        info = f"basic_pitch-{VERSION}.dist-info"
        license_text = zf.read(f"{info}/LICENSE").decode()
        notice = zf.read(f"{info}/NOTICE").decode()
    digest = _sha256(model)
    if digest != MODEL_SHA256:
        raise SystemExit(f"{MEMBER} has sha256 {digest}, expected {MODEL_SHA256}")
    MODEL_OUT.write_bytes(model)
    LICENSE_OUT.write_text(
        "# basic-pitch licence (Apache-2.0) and NOTICE\n\n"
        f"Copied verbatim from the basic-pitch {VERSION} wheel (`{info}/LICENSE` and `{info}/NOTICE`) by\n"
        "`models/basic_pitch/fetch.py`; they apply to `nmp.onnx`, which is taken unchanged from that wheel\n"
        f"(`{MEMBER}`). Keep this file with the model.\n\n"
        "## NOTICE\n\n```text\n" + notice.strip("\n") + "\n```\n\n"
        "## LICENSE\n\n```text\n" + license_text.strip("\n") + "\n```\n"
    )
    print(f"wrote {MODEL_OUT.relative_to(REPO)} ({len(model)} bytes, sha256 {digest})")
    print(f"wrote {LICENSE_OUT.relative_to(REPO)}")


def check_manifest() -> None:
    """The registry entry and the model card must name the digest of the file."""
    entries = json.loads((REPO / "models" / "registry.json").read_text())["models"]
    entry = next((e for e in entries if e["path"] == "basic_pitch/nmp.onnx"), None)
    if entry is None or entry["sha256"] != MODEL_SHA256:
        raise SystemExit("models/registry.json: the basic_pitch/nmp.onnx entry must carry " + MODEL_SHA256)
    if MODEL_SHA256 not in (HERE / "MODEL_CARD.md").read_text():
        raise SystemExit("MODEL_CARD.md must carry the sha256 " + MODEL_SHA256)
    print("registry.json and MODEL_CARD.md carry the model's sha256")


def _bootstrap_golden_venv() -> None:
    """Create/refresh the recording venv and re-run this script inside it as the golden worker."""
    if not VENV_PY.exists():
        if sys.version_info[:2] != (3, 11):
            sys.exit(f"fetch.py: create {VENV} with Python 3.11 (this is {sys.version.split()[0]})")
        print(f"[golden] creating {VENV}", flush=True)
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
    want = _sha256(REQS.read_bytes())
    if not STAMP.exists() or STAMP.read_text().strip() != want:
        print(f"[golden] installing {REQS.relative_to(REPO)}", flush=True)
        pip = [str(VENV_PY), "-m", "pip", "install", "--disable-pip-version-check", "-q", "--no-deps"]
        subprocess.check_call([*pip, "-r", str(REQS)])
        STAMP.write_text(want + "\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    subprocess.check_call([str(VENV_PY), str(Path(__file__).resolve()), "--golden-worker"], env=env)


def golden_worker() -> None:  # pragma: no cover - runs inside models/.venv-basic-pitch
    """Record the original basic-pitch outputs on the fixture clips (see the module docstring)."""
    import importlib.metadata as md
    import importlib.util
    import logging
    import platform

    logging.disable(logging.WARNING)  # basic-pitch warns about every backend it does not find
    import numpy as np
    import soundfile as sf
    from basic_pitch import inference, note_creation

    spec = importlib.util.spec_from_file_location("fixture_clips", HERE / "fixture_clips.py")
    assert spec is not None and spec.loader is not None
    fixtures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fixtures)

    wheel_model = Path(inference.__file__).parent / "saved_models" / "icassp_2022" / "nmp.onnx"
    if _sha256(wheel_model.read_bytes()) != MODEL_SHA256:
        raise SystemExit(f"{wheel_model} is not the pinned model")
    model = inference.Model(wheel_model)
    if model.model_type != inference.Model.MODEL_TYPES.ONNX:
        raise SystemExit(f"basic-pitch picked the {model.model_type} backend; the venv must not have TF")
    GOLDEN.mkdir(exist_ok=True)
    for name, y, sr, _notes in fixtures.fixture_clips():
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / f"{name}.wav"
            sf.write(wav, np.atleast_2d(y).T, sr, subtype="FLOAT")
            out = inference.run_inference(wav, model)
        events = note_creation.output_to_notes_polyphonic(
            out["note"].copy(),
            out["onset"].copy(),
            onset_thresh=ONSET_THRESHOLD,
            frame_thresh=FRAME_THRESHOLD,
            min_note_len=MIN_NOTE_FRAMES,
            infer_onsets=True,
            max_freq=None,
            min_freq=None,
            melodia_trick=True,
            energy_tol=ENERGY_TOLERANCE,
        )
        arr = np.array([(s, e, p) for s, e, p, _ in events], dtype=np.int64).reshape(-1, 3)
        np.savez_compressed(
            GOLDEN / f"{name}.npz",
            note=out["note"].astype(np.float32),
            onset=out["onset"].astype(np.float32),
            contour=out["contour"].astype(np.float32),
            events=arr,
            amplitudes=np.array([a for *_, a in events], dtype=np.float64),
            sr=np.int64(sr),
            n_samples=np.int64(np.asarray(y).shape[-1]),
        )
        print(f"[golden] {name}: {out['note'].shape[0]} frames, {len(events)} notes", flush=True)
    versions = {
        "python": platform.python_version(),
        **{p: md.version(p) for p in ("basic-pitch", "librosa", "numpy", "scipy", "soxr", "onnxruntime")},
        "soundfile": md.version("soundfile"),
        "libsndfile": sf.__libsndfile_version__,
        "model_sha256": MODEL_SHA256,
        "backend": "basic_pitch.inference.Model (onnxruntime, CPUExecutionProvider)",
        "inference": "basic_pitch.inference.run_inference(wav, model) on a 32-bit float WAV of the clip",
        "notes": (
            "basic_pitch.note_creation.output_to_notes_polyphonic(note, onset, onset_thresh=0.5, "
            "frame_thresh=0.3, min_note_len=11, infer_onsets=True, melodia_trick=True, energy_tol=11)"
        ),
    }
    (GOLDEN / "versions.json").write_text(json.dumps(versions, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--record-golden", action="store_true", help="also record golden/*.npz (see above)")
    ap.add_argument("--golden-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.golden_worker:
        golden_worker()
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        extract(download_wheel(Path(tmp)))
    check_manifest()
    if args.record_golden:
        _bootstrap_golden_venv()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
