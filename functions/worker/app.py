"""Container-image entry points (template.yaml: ImageConfig.Command ``app.<name>``)."""

from tonearm.handlers.api import handler as model_api_handler
from tonearm.handlers.tasks import (
    analyze_handler,
    audio_info_handler,
    beats_and_chords_handler,
    generate_handler,
    tagging_handler,
    transcribe_handler,
)

__all__ = [
    "analyze_handler",
    "audio_info_handler",
    "beats_and_chords_handler",
    "generate_handler",
    "model_api_handler",
    "tagging_handler",
    "transcribe_handler",
]
