"""Generator-image entry point (template.yaml: GenerateFunction, Command ``app.generate_handler``).

Its own module rather than functions/worker/app.py: the generator image is Debian-based (FluidSynth and
the GM SoundFont are Debian packages) and runs only generation, so it imports nothing else.
"""

from tonearm.handlers.tasks import handler_for

generate_handler = handler_for("GenerateFunction")

__all__ = ["generate_handler"]
