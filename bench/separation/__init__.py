"""Separation benchmark (issue 19): DSP baselines on held-out renders, WAV and MP3 (see ``run.py``)."""
