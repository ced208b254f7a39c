"""What MusicFlow adds to other capabilities' workflows: analyses recorded in its library.

``tonearm/analyze`` jobs (API and S3 drops) feed the library that ``/api/features`` and
``/api/prediction`` look audio features up in; ``tonearm.workflows`` attaches :func:`record_in_library`
to that workflow with :func:`feeding_library`, so ``tonearm.analysis`` never imports MusicFlow.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tonearm.jobs.model import Job
from tonearm.jobs.spec import OutputSpec, WorkflowSpec
from tonearm.ports import BlobStore

logger = logging.getLogger(__name__)

LIBRARY_OUTPUT = OutputSpec(
    "value",
    "How the track was recorded in the library: {title, artist, isrc}, or null when neither params nor "
    "tags identify it.",
)


def record_in_library(
    *, blobs: BlobStore, job: Job, params: Mapping[str, Any], input_path: Path, values: Mapping[str, Any]
) -> dict[str, Any]:
    """Record the analysis in the MusicFlow library: ``{"library": identity recorded, or None}``.

    The track is identified by the ``title``/``artist``/``isrc`` params, else by the file's own tags. A
    failure here is logged and leaves the job's own result intact: the library is a cache of analyses,
    and the job's output is the analysis.
    """
    from tonearm.audio.tags import read_tags
    from tonearm.prediction.library import TrackLibrary, entry_from_analysis

    try:
        tags = read_tags(input_path)
        entry = entry_from_analysis(
            dict(values),
            title=params.get("title") or tags.title,
            artist=params.get("artist") or tags.artist,
            album=tags.album,
            isrc=params.get("isrc") or tags.isrc,
            source=f"job:{job.id}",
        )
        if not TrackLibrary(blobs).put(entry):
            return {"library": None}
    except Exception:
        logger.warning("job %s: could not record the analysis in the library", job.id, exc_info=True)
        return {"library": None}
    return {"library": {"title": entry.title, "artist": entry.artist, "isrc": entry.isrc}}


def feeding_library(spec: WorkflowSpec) -> WorkflowSpec:
    """``spec`` (an analysis workflow), also recording each finished job's analysis in the library."""
    return spec.with_result_hook(
        record_in_library,
        outputs={"library": LIBRARY_OUTPUT},
        description=(
            "A track identified by the title/artist/isrc params or by its own tags is recorded in the "
            "library MusicFlow's /api/features and /api/prediction look audio features up in."
        ),
    )
