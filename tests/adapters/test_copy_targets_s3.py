"""``copyResultsTo`` against S3 URLs (issue 18: a read-only link granted write access across applications).

An S3 presigned URL does not show the method it was signed for (SigV4 signs it, S3 checks it, nobody else
can), so on S3 the rule is by key: the only write targets in this bucket are the caller's own
``uploads/<app>/`` objects, exactly what the caller's own upload URLs may PUT anyway. A result's download
URL and another application's upload are refused, whichever method they were signed for.
"""

from __future__ import annotations

from typing import Any

import pytest

from tonearm.adapters.aws.s3 import S3BlobStore
from tonearm.jobs.errors import InvalidParamsError
from tonearm.jobs.service import copy_target_key


def test_only_the_callers_own_uploads_are_write_targets_on_s3(aws: dict[str, Any]) -> None:
    blobs = S3BlobStore(aws["s3"], aws["bucket"])
    own = blobs.presign_put("uploads/app-a/1234", ttl_s=600)
    assert copy_target_key(blobs, own, app_id="app-a") == "uploads/app-a/1234"
    refused = [
        blobs.presign_put("uploads/app-b/5678", ttl_s=600),  # another application's upload URL
        blobs.presign_get("uploads/app-b/5678", ttl_s=600),  # ... or its download URL
        blobs.presign_get("results/job-1/audio.wav", ttl_s=600),  # a result, read-only by nature
        blobs.presign_put("results/job-1/audio.wav", ttl_s=600),  # not even with a PUT signature
    ]
    for url in refused:
        with pytest.raises(InvalidParamsError, match="uploadUrl from your own GET /v1/upload"):
            copy_target_key(blobs, url, app_id="app-a")
    # a URL of another host is external: the egress guard decides (None here)
    assert copy_target_key(blobs, "https://example.com/put-here", app_id="app-a") is None
