"""``analyze``: every analysis of a track from one mono signal, one STFT and one onset envelope.

``analyze_source`` decodes and analyses in one streaming pass (what the ``tonearm/analyze`` task and the
CLI use); ``analyze`` takes audio already decoded.

The wire form (``AnalysisResult``) is what the ``tonearm/analyze`` workflow returns and what
``tonearm analyze FILE --json`` prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from tonearm.analysis.features import AudioFeatures, audio_features
from tonearm.analysis.key import KeyEstimate, estimate_key, tonal_analysis
from tonearm.analysis.prepare import PreparedSignal, SignalPreparer, prepare_signal
from tonearm.analysis.rhythm import RhythmAnalysis, analyze_rhythm, onset_envelope
from tonearm.analysis.schema import AnalysisResult, finite_or_none
from tonearm.analysis.spectral import ANALYSIS_SR, stft_magnitude
from tonearm.audio.decode import PcmFormat, decode_stream
from tonearm.audio.limits import DEFAULT_LIMITS, AudioLimits
from tonearm.audio.loudness import LoudnessSummary
from tonearm.audio.probe import AudioInfo
from tonearm.audio.progress import FractionProgress, span
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
            beatTempos=[round(float(t), 2) for t in r.beat_tempos],
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
    return analyze_prepared(prepare_signal(y, sr=sr))


def analyze_source(
    source: str | os.PathLike[str] | BinaryIO | bytes,
    *,
    pcm: PcmFormat | None = None,
    size_bytes: int | None = None,
    limits: AudioLimits = DEFAULT_LIMITS,
    progress: FractionProgress | None = None,
) -> tuple[AudioInfo, Analysis]:
    """Decode and analyse an input in one streaming pass, never holding the full-rate signal.

    Same results as ``analyze(decode(source).y, sr=...)``, with the decoded audio's memory (212 MB for
    10 minutes of 44.1 kHz stereo) replaced by the 22.05 kHz mono signal (53 MB).

    Parameters
    ----------
    source, pcm, size_bytes, limits
        As for :func:`tonearm.audio.decode.decode`.
    progress : callable, optional
        ``progress(fraction)`` (0-1) per decoded block, then per analysis stage.

    Returns
    -------
    tuple of (AudioInfo, Analysis)
        The decoded input's description and its analysis.

    Raises
    ------
    TonearmError
        Every error :func:`tonearm.audio.decode.decode` raises, in the same cases.
    """
    preparer = SignalPreparer()
    info = decode_stream(
        source, preparer, pcm=pcm, size_bytes=size_bytes, limits=limits, progress=span(progress, 0.0, 0.6)
    )
    return info, analyze_prepared(preparer.finish(), progress=span(progress, 0.6, 1.0))


def analyze_prepared(prepared: PreparedSignal, *, progress: FractionProgress | None = None) -> Analysis:
    """Everything :func:`analyze` reports, from the prepared mono signal and loudness.

    Parameters
    ----------
    prepared : PreparedSignal
        From :func:`tonearm.analysis.prepare.prepare_signal` or a fed
        :class:`tonearm.analysis.prepare.SignalPreparer`.

    progress : callable, optional
        ``progress(fraction)`` (0-1) after each stage (shares measured on a 3-minute track).

    Returns
    -------
    Analysis
    """
    done = progress or _no_progress
    spec = stft_magnitude(prepared.mono, sr=ANALYSIS_SR)
    envelope = onset_envelope(spec)
    done(0.2)
    rhythm = analyze_rhythm(spec, envelope=envelope)
    done(0.3)
    tonal = tonal_analysis(spec)
    key = estimate_key(spec, tonal=tonal)
    done(0.8)
    loudness = prepared.loudness
    features = audio_features(
        spec,
        onset_env=envelope,
        beats=rhythm.beats,
        bpm=rhythm.bpm,
        # the raw salience, clipped, as danceability was tuned with (bpm_confidence is now a probability)
        bpm_confidence=float(np.clip(rhythm.bpm_salience, 0.0, 1.0)),
        time_signature=rhythm.time_signature,
        key=key,
        loudness_lufs=loudness.integrated_lufs,
        duration_s=prepared.duration_s,
        chroma=tonal.chroma,
    )
    done(1.0)
    return Analysis(
        duration_s=prepared.duration_s, rhythm=rhythm, key=key, loudness=loudness, features=features
    )


def _no_progress(fraction: float) -> None:
    """Report nowhere."""
