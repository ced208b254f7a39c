"""Container-image entry points (template.yaml: ImageConfig.Command ``app.<name>``)."""

from tonearm.handlers.api import handler as model_api_handler
from tonearm.handlers.tasks import handler_for

audio_info_handler = handler_for("AudioInfoFunction")
analyze_handler = handler_for("AnalyzeFunction")
tagging_handler = handler_for("TaggingFunction")
beats_and_chords_handler = handler_for("BeatsAndChordsFunction")
transcribe_handler = handler_for("TranscribeFunction")
separate_handler = handler_for("SeparateFunction")

__all__ = [
    "analyze_handler",
    "audio_info_handler",
    "beats_and_chords_handler",
    "model_api_handler",
    "separate_handler",
    "tagging_handler",
    "transcribe_handler",
]
