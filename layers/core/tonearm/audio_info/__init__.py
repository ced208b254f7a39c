"""The audio-info capability: decode a file, check its limits, summarise it, re-encode it as WAV."""
