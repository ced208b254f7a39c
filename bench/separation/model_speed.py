"""One measured separation (issue 19 benchmark worker): the service path on one file, in its own process.

``python -m bench.separation.model_speed --model M --input F`` runs
:func:`tonearm.separation.service.separate_to_files` (decode, resampling, streaming separation, three WAV
outputs: kick / snare / the rest) on ``F`` with the ONNX file ``M``, one thread, and prints one JSON line:
``{"seconds": wall time of the call, "peak_rss_mb": VmHWM of this process, "audio_s": ...}``. Started
by ``bench.separation.run`` once per input, so each peak is that of one separation alone.
"""

from __future__ import annotations

from bench.common import cap_thread_pools, peak_rss_mb, pin

cap_thread_pools()  # before numpy loads its BLAS

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import soundfile as sf  # noqa: E402

from tonearm.models.registry import ModelRegistry  # noqa: E402
from tonearm.separation.masking import STEMS  # noqa: E402
from tonearm.separation.service import MODEL_NAME, separate_to_files  # noqa: E402

OUTPUTS = {"Kick drum": ("kick",), "Snare drum": ("snare",), "Other": STEMS[2:]}


def registry_for(model: Path, folder: Path) -> ModelRegistry:
    """A registry whose ``separation`` entry is ``model`` (digest taken from the file itself)."""
    entry = {
        "name": MODEL_NAME,
        "path": str(model.resolve()),
        "sha256": hashlib.sha256(model.read_bytes()).hexdigest(),
        "input": "magnitude",
        "outputs": ["masks"],
        "labels": list(STEMS),
    }
    (folder / "registry.json").write_text(json.dumps({"models": [entry]}))
    return ModelRegistry(folder)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--input", type=Path, required=True)
    ap.add_argument("--cpu", type=int, default=None)
    args = ap.parse_args(argv)
    pin(args.cpu)
    with tempfile.TemporaryDirectory() as tmp:
        registry = registry_for(args.model, Path(tmp))
        registry.get(MODEL_NAME)  # loading is not part of the separation's time
        t0 = time.perf_counter()
        separate_to_files(args.input, Path(tmp) / "out", OUTPUTS, registry=registry)
        seconds = time.perf_counter() - t0
    info = sf.info(args.input)
    print(
        json.dumps(
            {
                "seconds": round(seconds, 2),
                "peak_rss_mb": round(peak_rss_mb(), 1),
                "audio_s": round(info.frames / info.samplerate, 2),
                "input": {"format": info.format, "subtype": info.subtype, "channels": info.channels},
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
