"""``BlobStore.list_keys`` (a batch's items under a prefix) on S3 (moto) and on the local folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tonearm.adapters.aws.s3 import S3BlobStore
from tonearm.adapters.local.files import FileBlobStore

KEYS = ["uploads/app/b/2.wav", "uploads/app/b/10.wav", "uploads/app/b/sub/1.wav", "uploads/app/bb.wav"]


def _check(store: Any) -> None:
    for key in [*KEYS, "ingest/x.wav"]:
        store.put_bytes(key, b"RIFF", content_type="audio/wav")
    # a key prefix, as S3 matches it, in S3's (byte) order, nested "folders" included
    assert store.list_keys("uploads/app/b", limit=10) == sorted(KEYS)
    assert store.list_keys("uploads/app/b/", limit=10) == sorted(KEYS[:3])
    assert store.list_keys("uploads/app/b/", limit=2) == sorted(KEYS[:3])[:2]
    assert store.list_keys("uploads/nobody/", limit=10) == []


def test_s3_lists_keys_under_a_prefix(aws: dict[str, Any]) -> None:
    _check(S3BlobStore(aws["s3"], aws["bucket"]))


def test_the_local_folder_lists_keys_under_a_prefix(tmp_path: Path) -> None:
    _check(FileBlobStore(tmp_path / "bucket", base_url="http://127.0.0.1:1", secret=b"k"))
