"""Every workflow this deployment serves: the one list the job API, the ingest path and the task
handlers read.

A capability declares its workflows in its own ``workflow.py`` (slug, params, outputs, task, and the
template's function and state machine that run it); adding one means adding it here and its resources to
``template.yaml``, which a contract test checks against this list. Cross-capability additions (the
MusicFlow library recording analyses) are attached here, so capabilities never import each other.
"""

from __future__ import annotations

from tonearm.analysis.workflow import ANALYZE
from tonearm.audio_info.workflow import AUDIO_INFO
from tonearm.batch.workflow import batch_workflow
from tonearm.chords.workflow import BEATS_AND_CHORDS, GENERATE_CHORDS
from tonearm.generation.workflow import GENERATE
from tonearm.jobs.catalogue import Catalogue
from tonearm.prediction.workflow import feeding_library
from tonearm.separation.workflow import (
    ISOLATE_DRUMS,
    STEMS_WORKFLOW,
    VOCALS_ACCOMPANIMENT,
    VOCALS_ACCOMPANIMENT_MUSIC_AI,
)
from tonearm.tagging.workflow import GENRE, TAGGING
from tonearm.transcription.workflow import TRANSCRIBE

_WORKFLOWS = [
    AUDIO_INFO,
    feeding_library(ANALYZE),
    TAGGING,
    GENRE,
    BEATS_AND_CHORDS,
    GENERATE_CHORDS,
    TRANSCRIBE,
    ISOLATE_DRUMS,
    VOCALS_ACCOMPANIMENT,
    VOCALS_ACCOMPANIMENT_MUSIC_AI,
    STEMS_WORKFLOW,
    GENERATE,
]
#: ``tonearm/batch`` runs any of the workflows above that take an input file over many objects
CATALOGUE = Catalogue([*_WORKFLOWS, batch_workflow(_WORKFLOWS)])
