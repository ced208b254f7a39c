"""Score → audio: FluidSynth renders a Standard MIDI File to 48 kHz stereo float32.

The command line is FluidSynth's fast file renderer with two settings that matter for speed on one core:
a large period (``-z 4096``: fewer per-block overheads) and dynamic sample loading (only the samples the
song uses are read from the 140 MB SoundFont). Progress is the real render position: the raw output file
grows as FluidSynth writes it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tonearm.midi.fluidsynth import FluidSynthUnavailableError, find_soundfont
from tonearm.midi.smf import read

SAMPLE_RATE = 48_000
#: FluidSynth's master gain; mastering sets the final level, this only keeps the mix well inside float range.
GAIN = 0.5
_POLL_S = 0.05
#: Voices sounding at once (FluidSynth's default is 256). Each FluidR3 note is two voices (stereo samples)
#: and plucked strings ring for seconds after their note-off, so dense strumming keeps 100+ voices
#: alive; 64 halves render time there, and the voices stolen first are the quietest released ones.
POLYPHONY = 64


def render_song(
    midi: bytes,
    *,
    sr: int = SAMPLE_RATE,
    progress: Callable[[float], None] | None = None,
    soundfont: Path | None = None,
    frames: int | None = None,
    timeout_s: float = 600.0,
) -> npt.NDArray[np.float32]:
    """Render a Standard MIDI File.

    Parameters
    ----------
    midi : bytes
        A Standard MIDI File (one tempo).
    sr : int [Hz]
    progress : callable, optional
        Called with the fraction of the song rendered so far (0-1).
    soundfont : Path, optional
        Default: :func:`tonearm.midi.fluidsynth.find_soundfont`.
    frames : int, optional
        Stop once this many frames are rendered. FluidSynth otherwise goes on until every voice has
        died away, which for long releases and reverb is many seconds past the end of the song.

    Returns
    -------
    np.ndarray [shape=(2, n)], float32
        As rendered; ``n`` covers the song (FluidSynth stops at the end-of-track event).
    """
    binary = shutil.which("fluidsynth")
    if binary is None:
        raise FluidSynthUnavailableError(
            "the fluidsynth program is not installed (Debian package fluidsynth)"
        )
    font = soundfont or find_soundfont()
    if frames is None:  # progress is measured against the song's own length
        parsed = read(midi)
        end_tick = max([n.start + n.duration for n in parsed.notes], default=0)
        expected = max(8.0, end_tick * parsed.seconds_per_tick * sr * 8)  # bytes of float32 stereo
    else:
        expected = max(8.0, frames * 8.0)
    with tempfile.TemporaryDirectory(prefix="tonearm-render-") as tmp:
        midi_path, out = Path(tmp) / "song.mid", Path(tmp) / "song.raw"
        midi_path.write_bytes(midi)
        settings = ["-o", "synth.dynamic-sample-loading=1", "-o", f"synth.polyphony={POLYPHONY}"]
        cmd = [binary, "-ni", "-q", "-g", str(GAIN), "-r", str(sr), "-T", "raw", "-O", "float", "-z", "4096"]
        cmd += [*settings, "-F", str(out), str(font), str(midi_path)]
        process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout_s
        try:
            while process.poll() is None:
                if time.monotonic() > deadline:
                    process.kill()
                    raise FluidSynthUnavailableError(f"fluidsynth did not finish within {timeout_s:.0f} s")
                size = out.stat().st_size if out.exists() else 0
                if progress is not None:
                    progress(min(1.0, size / expected))
                if frames is not None and size >= expected:
                    process.kill()
                    process.wait()
                    break
                time.sleep(_POLL_S)
        finally:
            if process.poll() is None:
                process.kill()
            stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
            if process.stderr:
                process.stderr.close()
        complete = frames is not None and out.exists() and out.stat().st_size >= expected
        if (process.returncode != 0 and not complete) or not out.exists():
            raise FluidSynthUnavailableError(
                f"fluidsynth failed ({process.returncode}): {stderr.strip()[:300]}"
            )
        interleaved = np.fromfile(out, dtype="<f4")
    if progress is not None:
        progress(1.0)
    stereo = interleaved[: interleaved.size // 2 * 2].reshape(-1, 2).T
    return np.ascontiguousarray(stereo if frames is None else stereo[:, :frames])
