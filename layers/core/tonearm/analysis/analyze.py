"""``analyze``: every analysis of a track from one mono signal, one STFT and one onset envelope.

The wire form (``AnalysisResult``) is what the ``tonearm/analyze`` workflow returns and what
``tonearm analyze FILE --json`` prints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tonearm.analysis.features import AudioFeatures, audio_features
from tonearm.analysis.key import KeyEstimate, estimate_key, tonal_analysis
from tonearm.analysis.loudness import LoudnessSummary, loudness_summary
from tonearm.analysis.rhythm import RhythmAnalysis, analyze_rhythm, onset_envelope
from tonearm.analysis.schema import AnalysisResult, finite_or_none
from tonearm.analysis.spectral import ANALYSIS_SR, analysis_signal, stft_magnitude
from tonearm.errors import ParameterError


@dataclass(frozen=True)
class Analysis:
    """Everything ``analyze`` found, as numpy-friendly values."""

    duration_s: float
    rhythm: RhythmAnalysis
    key: KeyEstimate
    loudness: LoudnessSummary
    features: AudioFeatures

    def to_result(self) -> AnalysisResult:
        """The wire form."""
        r, k, loud = self.rhythm, self.key, self.loudness
        return AnalysisResult(
            duration=round(self.duration_s, 3),
            bpm=round(float(r.bpm), 2),
            bpmConfidence=round(float(r.bpm_confidence), 3),
            beats=[round(float(t), 3) for t in r.beats],
            downbeats=[round(float(t), 3) for t in r.downbeats],
            beatNumbers=[int(b) for b in r.beat_numbers],
            timeSignature=int(r.time_signature),
            key=k.name,
            keyIndex=int(k.tonic),
            mode=int(k.mode),
            keyConfidence=round(float(k.confidence), 3),
            loudnessLufs=finite_or_none(loud.integrated_lufs),
            loudnessRangeLu=finite_or_none(loud.range_lu),
            samplePeakDb=finite_or_none(loud.sample_peak_dbfs),
            truePeakDb=finite_or_none(loud.true_peak_dbtp),
            features=self.features.to_dict(),
        )

    def to_json(self) -> dict[str, object]:
        """The wire form as a JSON-ready dict."""
        return self.to_result().model_dump(mode="json")


def analyze(y: np.ndarray, *, sr: int) -> Analysis:
    """Tempo, beats, downbeats, metre, key, loudness and audio features of one track.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n)], float
        Decoded audio (``tonearm.audio.decode``), any sample rate.
    sr : int > 0 [Hz]

    Returns
    -------
    Analysis
        Shares one mono ``ANALYSIS_SR`` signal, one STFT and one onset envelope between rhythm,
        key and features; loudness is measured on the original channels and rate, as BS.1770 asks.
    """
    if sr <= 0:
        raise ParameterError(f"sr must be positive, got {sr}")
    if y.ndim not in (1, 2) or y.shape[-1] == 0:
        raise ParameterError(f"audio must have shape (n,) or (channels, n) with n > 0, got {y.shape}")
    duration_s = y.shape[-1] / sr
    spec = stft_magnitude(analysis_signal(y, sr=sr), sr=ANALYSIS_SR)
    envelope = onset_envelope(spec)
    rhythm = analyze_rhythm(spec, envelope=envelope)
    tonal = tonal_analysis(spec)
    key = estimate_key(spec, tonal=tonal)
    # the loudness meter takes (n, channels); a transposed view, not a copy
    loudness = loudness_summary(y if y.ndim == 1 else y.T, sr=sr)
    features = audio_features(
        spec,
        onset_env=envelope,
        beats=rhythm.beats,
        bpm=rhythm.bpm,
        bpm_confidence=rhythm.bpm_confidence,
        time_signature=rhythm.time_signature,
        key=key,
        loudness_lufs=loudness.integrated_lufs,
        duration_s=duration_s,
        chroma=tonal.chroma,
    )
    return Analysis(duration_s=duration_s, rhythm=rhythm, key=key, loudness=loudness, features=features)
