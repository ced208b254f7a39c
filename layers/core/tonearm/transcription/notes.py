"""Note events from basic-pitch's note and onset posteriors.

The decoding is basic-pitch's (``note_creation.output_to_notes_polyphonic``, Bittner et al., ICASSP 2022),
reimplemented so that the work inside each note is done by numpy; it gives the same notes as the original
on the recorded golden clips (``tests/unit/test_transcription.py``). On frame indices:

1. **Inferred onsets.** Where a key's note probability rises over one and over two frames
   (``min(p[t] - p[t-1], p[t] - p[t-2])``, clipped at 0, zero in the first two frames), the rise is
   rescaled so that its maximum over the track equals the largest onset probability, and the onset
   posterior becomes the larger of the two.
2. **Onset notes.** Every strict local maximum in time of that onset posterior that reaches
   ``onset_threshold`` starts a candidate. Candidates are taken from the last to the first (within one
   frame, from the highest key down). A note at key ``p`` lasts from its onset frame until the first run
   of ``energy_tolerance`` frames whose *remaining energy* at ``p`` is below ``frame_threshold`` (the run
   is not part of the note; the last frame of the track is never reached). The remaining energy starts as
   the note posterior; every accepted note sets it to 0 over its frames at its key and the two
   neighbouring keys, so an earlier note at the same or a neighbouring key ends where a later one starts.
   Notes of ``min_note_frames`` frames or fewer are dropped (and clear nothing).
3. **Melodia trick.** Then, while some remaining energy exceeds ``frame_threshold``, its largest value
   (first in row-major order among equals) seeds a note: from there the track follows the key forwards
   and backwards until ``energy_tolerance`` quiet frames in a row (frame 0 and the last frame are never
   reached), clearing the key and its two neighbours over everything it walked, quiet frames included.
   The note spans the frames between the two quiet runs; again only notes longer than
   ``min_note_frames`` frames are kept.
4. **Amplitude** of a note: the mean note probability over its frames at its key (0..1);
   ``round(127 * amplitude)`` is its MIDI velocity.

The candidate loops are Python loops over notes (each accepted note changes what the earlier ones see),
never over frames: each note's extent is found by a vectorised search of its key's column, in chunks
that double until the quiet run is found.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tonearm.errors import ParameterError
from tonearm.transcription.posteriors import HOP, LOWEST_PITCH, N_PITCHES, SAMPLE_RATE

__all__ = [
    "ENERGY_TOLERANCE",
    "FRAME_THRESHOLD",
    "MIN_NOTE_MS",
    "ONSET_THRESHOLD",
    "NoteFrames",
    "extract_notes",
    "infer_onsets",
    "min_note_frames",
]

#: Onset probability a peak must reach to start a note (basic-pitch's default).
ONSET_THRESHOLD = 0.5
#: Note probability below which a frame counts as quiet (basic-pitch's default).
FRAME_THRESHOLD = 0.3
#: Minimum note length [ms] of basic-pitch's command line: rounds to 11 frames at 86.13 frames/s; notes
#: must be longer than that (12 frames or more, >= 139 ms).
MIN_NOTE_MS = 127.70
#: Quiet frames in a row that end a note.
ENERGY_TOLERANCE = 11
#: Differences (over 1..N frames) used to infer onsets from the note posterior.
ONSET_DIFFS = 2
#: First chunk searched for the quiet run that ends a note [frames]; doubled until found.
_CHUNK = 64


@dataclass(frozen=True)
class NoteFrames:
    """Notes as frame indices into the posteriors, in the order they were found.

    Attributes
    ----------
    start : np.ndarray [shape=(n,)], int64
        First frame of each note.
    end : np.ndarray [shape=(n,)], int64
        Frame where the note ends (onset notes: the first quiet frame; melodia notes: the last loud one).
    pitch : np.ndarray [shape=(n,)], int64
        MIDI key number (21..108).
    amplitude : np.ndarray [shape=(n,)], float64 in [0, 1]
        Mean note probability over ``start:end`` at the note's key.
    """

    start: npt.NDArray[np.int64]
    end: npt.NDArray[np.int64]
    pitch: npt.NDArray[np.int64]
    amplitude: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.start.shape[0])


def min_note_frames(ms: float = MIN_NOTE_MS) -> int:
    """A minimum note length in model frames, as basic-pitch rounds it.

    Parameters
    ----------
    ms : float >= 0 [ms]

    Returns
    -------
    int
        ``round(ms / 1000 * SAMPLE_RATE / HOP)``: 11 for the default 127.70 ms.
    """
    if not ms >= 0:
        raise ParameterError(f"the minimum note length must be >= 0 ms, got {ms}")
    return int(np.round(ms / 1000.0 * SAMPLE_RATE / HOP))


def infer_onsets(
    onset: npt.NDArray[np.floating], note: npt.NDArray[np.floating], *, n_diff: int = ONSET_DIFFS
) -> npt.NDArray[np.float64]:
    """The onset posterior, raised where the note posterior rises sharply (step 1 of the module docstring).

    Parameters
    ----------
    onset : np.ndarray [shape=(t, keys)], float in [0, 1]
    note : np.ndarray [shape=(t, keys)], float in [0, 1]
    n_diff : int >= 1
        Rises over 1..n_diff frames are compared; the smallest counts.

    Returns
    -------
    np.ndarray [shape=(t, keys)], float64
    """
    if onset.shape != note.shape or onset.ndim != 2:
        raise ParameterError(f"onset and note must have one shape (t, keys), got {onset.shape}, {note.shape}")
    if n_diff < 1:
        raise ParameterError(f"n_diff must be >= 1, got {n_diff}")
    x = note.astype(np.float64)
    rise = x.copy()
    rise[1:] -= x[:-1]  # p[t] - p[t-1], with p = 0 before the first frame
    for n in range(2, n_diff + 1):
        step = x.copy()
        step[n:] -= x[:-n]
        np.minimum(rise, step, out=rise)
    del x
    np.maximum(rise, 0.0, out=rise)
    rise[:n_diff] = 0.0
    top = rise.max(initial=0.0)
    if top > 0.0:
        rise *= onset.max()
        rise /= top
    return np.maximum(onset.astype(np.float64), rise, out=rise)


def _quiet_run(
    column: npt.NDArray[np.floating], start: int, stop: int, *, threshold: float, tolerance: int
) -> int:
    """First ``i`` in ``[start, stop]`` with ``column[i : i + tolerance] < threshold`` (frames >= stop quiet).

    This is where a frame-by-frame walk from ``start`` that counts quiet frames (and resets on a loud one)
    stops: the start of the first run of ``tolerance`` quiet frames, or of the quiet run reaching ``stop``.
    ``column`` may be a reversed view.
    """
    lo, width = start, _CHUNK
    while lo < stop:
        hi = min(stop, lo + width)
        quiet = column[lo:hi] < threshold
        if hi == stop:
            quiet = np.concatenate([quiet, np.ones(tolerance, dtype=bool)])
        # Length of the quiet run ending at each position; the first that reaches ``tolerance`` ends it.
        index = np.arange(quiet.shape[0])
        last_loud = np.maximum.accumulate(np.where(quiet, -1, index))
        hits = np.flatnonzero(index - last_loud >= tolerance)
        if hits.size:
            return lo + int(hits[0]) - tolerance + 1
        lo, width = hi - (tolerance - 1), width * 2
    return start  # nothing to walk: start >= stop


def extract_notes(
    note: npt.NDArray[np.floating],
    onset: npt.NDArray[np.floating],
    *,
    onset_threshold: float = ONSET_THRESHOLD,
    frame_threshold: float = FRAME_THRESHOLD,
    min_frames: int | None = None,
    energy_tolerance: int = ENERGY_TOLERANCE,
    inferred_onsets: bool = True,
    melodia: bool = True,
) -> NoteFrames:
    """Decode note events from the posteriors (method in the module docstring).

    Parameters
    ----------
    note : np.ndarray [shape=(t, 88)], float in [0, 1]
        Note posterior (:attr:`tonearm.transcription.posteriors.Posteriors.note`).
    onset : np.ndarray [shape=(t, 88)], float in [0, 1]
        Onset posterior.
    onset_threshold : float in (0, 1]
    frame_threshold : float in (0, 1]
    min_frames : int >= 0, optional
        Notes must be longer than this many frames; default :func:`min_note_frames` () = 11.
    energy_tolerance : int >= 1
        Quiet frames in a row that end a note.
    inferred_onsets : bool
        Raise the onset posterior where the note posterior rises (step 1).
    melodia : bool
        Add the notes without a detected onset (step 3).

    Returns
    -------
    NoteFrames
        Onset notes from the last to the first, then melodia notes from the most to the least salient.
    """
    if note.ndim != 2 or note.shape[1] != N_PITCHES or onset.shape != note.shape:
        raise ParameterError(
            f"note and onset must both have shape (t, {N_PITCHES}), got {note.shape}, {onset.shape}"
        )
    if not (0.0 < onset_threshold <= 1.0 and 0.0 < frame_threshold <= 1.0):
        raise ParameterError(f"thresholds must lie in (0, 1], got {onset_threshold}, {frame_threshold}")
    if energy_tolerance < 1:
        raise ParameterError(f"energy_tolerance must be >= 1 frame, got {energy_tolerance}")
    min_len = min_note_frames() if min_frames is None else int(min_frames)
    if min_len < 0:
        raise ParameterError(f"min_frames must be >= 0, got {min_frames}")
    n, keys = note.shape
    found: list[tuple[int, int, int]] = []
    if n == 0:
        return _as_frames(found, note)
    frames = np.ascontiguousarray(note, dtype=np.float32)
    energy = frames.copy()  # remaining energy, cleared by each accepted note
    energy_t = energy.T  # column views: energy_t[p] is key p over time (strided)
    # float64 comparisons, as the original's: a float32 0.3 would make a value of exactly float32(0.3) quiet.
    tol, thr = energy_tolerance, np.float64(frame_threshold)

    # --- onset notes --------------------------------------------------------------------------------
    on = infer_onsets(onset, frames) if inferred_onsets else onset.astype(np.float64)
    peak = np.zeros_like(on, dtype=bool)
    peak[1:-1] = (on[1:-1] > on[:-2]) & (on[1:-1] > on[2:])
    times, pitches = np.nonzero(peak & (on >= onset_threshold))
    for t, p in zip(times[::-1].tolist(), pitches[::-1].tolist(), strict=True):
        if t >= n - 1:
            continue
        end = _quiet_run(energy_t[p], t + 1, n - 1, threshold=thr, tolerance=tol)
        if end - t <= min_len:
            continue
        energy[t:end, max(p - 1, 0) : p + 2] = 0.0
        found.append((t, end, p))

    # --- melodia trick ------------------------------------------------------------------------------
    if melodia:
        flat = np.flatnonzero(energy > thr)
        seeds = flat[np.argsort(-energy.ravel()[flat], kind="stable")]
        for mid, p in zip(*np.divmod(seeds, keys), strict=True):
            t, p = int(mid), int(p)
            if not energy[t, p] > thr:
                continue  # cleared by an earlier walk
            energy[t, p] = 0.0
            column = energy_t[p]
            quiet = _quiet_run(column, t + 1, n - 1, threshold=thr, tolerance=tol)
            energy[t + 1 : min(quiet + tol, n - 1), max(p - 1, 0) : p + 2] = 0.0
            end = quiet - 1
            # Backwards: frames t-1, t-2, ..., 1 as a reversed view.
            back = column[t - 1 :: -1] if t >= 1 else column[:0]
            quiet_back = _quiet_run(back, 0, max(t - 1, 0), threshold=thr, tolerance=tol)
            energy[max(t - quiet_back - tol, 1) : t, max(p - 1, 0) : p + 2] = 0.0
            begin = t - quiet_back
            if end - begin <= min_len:
                continue
            found.append((begin, end, p))
    return _as_frames(found, frames)


def _as_frames(found: list[tuple[int, int, int]], frames: npt.NDArray[np.floating]) -> NoteFrames:
    """Pack ``(start, end, key index)`` triples, with each note's mean note probability."""
    arr = np.array(found, dtype=np.int64).reshape(-1, 3)
    start, end, key = arr[:, 0], arr[:, 1], arr[:, 2]
    cumulative = np.zeros((frames.shape[0] + 1, frames.shape[1]))
    np.cumsum(frames, axis=0, dtype=np.float64, out=cumulative[1:])
    amplitude = (cumulative[end, key] - cumulative[start, key]) / np.maximum(end - start, 1)
    return NoteFrames(start=start, end=end, pitch=key + LOWEST_PITCH, amplitude=amplitude)
