"""Container-image entry points (template.yaml: ImageConfig.Command ``app.<name>``)."""

from tonearm.handlers.tasks import audio_info_handler

__all__ = ["audio_info_handler"]
