"""Rendering MIDI to audio with the FluidSynth command-line synthesiser and a General MIDI SoundFont.

FluidSynth and the FluidR3 GM SoundFont are Debian packages (``fluidsynth``, ``fluid-soundfont-gm``)
installed by the set-up commands; the SoundFont is looked for in ``$TONEARM_SOUNDFONT`` and then in
the Debian locations.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf

from tonearm.errors import TonearmError
from tonearm.settings import Settings

__all__ = ["FluidSynthUnavailableError", "find_soundfont", "render_midi"]

_SOUNDFONTS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
)


class FluidSynthUnavailableError(TonearmError):
    """The fluidsynth binary or a GM SoundFont is missing (a set-up fault)."""

    code = "synth_unavailable"
    status = 503


def find_soundfont() -> Path:
    """The GM SoundFont to render with.

    Raises
    ------
    FluidSynthUnavailableError
        When none is installed.
    """
    configured = Settings.from_env().soundfont
    for candidate in ([configured] if configured else []) + list(_SOUNDFONTS):
        if Path(candidate).is_file():
            return Path(candidate)
    raise FluidSynthUnavailableError(
        "no General MIDI SoundFont found: install fluid-soundfont-gm or set TONEARM_SOUNDFONT"
    )


def render_midi(
    midi: Path, *, sr: int = 44100, gain: float = 0.6, soundfont: Path | None = None
) -> npt.NDArray[np.float32]:
    """Render a Standard MIDI File.

    Parameters
    ----------
    midi : Path
    sr : int > 0 [Hz]
    gain : float
        FluidSynth's master gain (its default, 0.2, renders quietly).
    soundfont : Path, optional
        Default: :func:`find_soundfont`.

    Returns
    -------
    np.ndarray [shape=(2, n)], float32
        Stereo, as rendered (reverb and chorus tails included).
    """
    binary = shutil.which("fluidsynth")
    if binary is None:
        raise FluidSynthUnavailableError(
            "the fluidsynth program is not installed (Debian package fluidsynth)"
        )
    font = soundfont or find_soundfont()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "render.wav"
        cmd = [binary, "-ni", "-q", "-g", str(gain), "-r", str(sr), "-T", "wav", "-O", "float"]
        subprocess.run(
            [*cmd, "-F", str(out), str(font), str(midi)], check=True, capture_output=True, timeout=300
        )
        y, got = sf.read(out, dtype="float32", always_2d=True)
    if got != sr:
        raise FluidSynthUnavailableError(f"fluidsynth rendered at {got} Hz instead of {sr} Hz")
    return np.ascontiguousarray(y.T)
