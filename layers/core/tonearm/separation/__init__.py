"""Source separation (issue 19): the separation model's engine, its workflows, DSP baselines and metrics.

:mod:`~tonearm.separation.service` (``separate_to_files``) runs the model over a file into one WAV per
output; :mod:`~tonearm.separation.workflow` declares the workflows (``music-ai/isolate-drums``,
``tonearm/vocals-accompaniment``, ``tonearm/stems``); :mod:`~tonearm.separation.baselines` holds the DSP
baselines a trained model is measured against (they take and return ``(channels, n)`` float32 signals,
and the stems each one returns sum to its input) and :mod:`~tonearm.separation.sdr` the SDR metrics. Import
them from their modules (``from tonearm.separation.baselines import hpss``): nothing is imported here, so
the light API function can read the workflow declarations without numpy.
"""
