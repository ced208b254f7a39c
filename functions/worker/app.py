"""Container-image entry points (template.yaml: ImageConfig.Command ``app.<name>``)."""

from typing import Any

from tonearm.handlers.tasks import handler_for

audio_info_handler = handler_for("AudioInfoFunction")
analyze_handler = handler_for("AnalyzeFunction")
tagging_handler = handler_for("TaggingFunction")
beats_and_chords_handler = handler_for("BeatsAndChordsFunction")
transcribe_handler = handler_for("TranscribeFunction")
separate_handler = handler_for("SeparateFunction")


def model_api_handler(event: dict[str, Any], context: Any) -> Any:
    """ModelApiFunction: the API app, imported on its first call.

    Every function of the image imports this module; importing FastAPI here at module level cost each
    task function about 0.2 s of its cold start (``bench/results/cold_start.md``) for an app only
    ModelApiFunction serves.
    """
    from tonearm.handlers.api import handler

    return handler(event, context)


__all__ = [
    "analyze_handler",
    "audio_info_handler",
    "beats_and_chords_handler",
    "model_api_handler",
    "separate_handler",
    "tagging_handler",
    "transcribe_handler",
]
