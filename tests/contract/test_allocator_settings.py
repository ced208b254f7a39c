"""The glibc allocator settings: both images set the same, and `make serve` and the benchmarks use them."""

from __future__ import annotations

import re
from pathlib import Path

from tools.image_check import parse_dockerfile

ROOT = Path(__file__).resolve().parents[2]


def _image_settings(name: str) -> dict[str, str]:
    env = parse_dockerfile(ROOT / "functions" / name / "Dockerfile").env
    return {k: v for k, v in env.items() if k.startswith("MALLOC_")}


def test_both_images_keep_large_temporaries_on_the_heap() -> None:
    worker = _image_settings("worker")
    assert worker == _image_settings("generator")
    assert int(worker["MALLOC_MMAP_THRESHOLD_"]) >= 32 * 2**20
    # the trim threshold must exceed the mmap threshold, or freed blocks go back to the OS at once
    assert int(worker["MALLOC_TRIM_THRESHOLD_"]) > int(worker["MALLOC_MMAP_THRESHOLD_"])


def test_make_serve_and_the_benchmarks_use_the_images_settings() -> None:
    from bench.common import image_allocator_env, single_thread_env

    worker = _image_settings("worker")
    serve = re.search(r"^serve:.*?\n((?:\t.*\n|#.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert serve is not None
    assert dict(re.findall(r"(MALLOC_[A-Z_]+)=(\d+)", serve.group(1))) == worker
    assert image_allocator_env() == worker
    assert {k: v for k, v in single_thread_env().items() if k.startswith("MALLOC_")} == worker
