"""Stream-count prediction (MusicFlow): a listener's history, track features, and a model trained on them.

``history`` reads Spotify's export files into per-track stream counts; ``library`` holds the audio
features tonearm measured for tracks it has analysed; ``resolve`` joins Spotify metadata (when a
``MetadataSource`` is configured) with those measurements; ``vector`` is the model's feature pipeline;
``train`` fits and cross-validates the regressor and ``onnx_export`` writes it as ONNX; ``model`` keeps
versioned models and runs the current one; ``service`` is what the API and the command line call.
"""
