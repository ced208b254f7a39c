"""The quick loop for tonearm's chord recogniser: a separate dev set, and tonearm-only scoring.

The chord method's free choices (weights, transition probabilities, thresholds) were made on a *dev set*
rendered exactly like the benchmark (``render.render_clip``: same renderer, ensembles, drums, labels)
from other music21 corpus pieces -- other Bach chorales, other quartet/piano movements, other Essen
folk tunes -- so that the benchmark itself stays a held-out test::

    python -m bench.analysis.chords_dev render            # ~40 dev clips into data/chords_dev/ (cached)
    python -m bench.analysis.chords_dev score --set dev   # tonearm only: majmin / sevenths WCSR
    python -m bench.analysis.chords_dev render --set train  # the 95-clip validation set
    python -m bench.analysis.chords_dev score --set train # checked there, once the choices are made
    python -m bench.analysis.chords_dev score --set dev --param chroma_power=0.5  # vary a constant

Scoring decodes each WAV with ``tonearm.audio.decode`` and runs
``tonearm.chords.recognize.beats_and_chords``; it reports means per category and the worst clips.
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from .corpus import ENSEMBLES, FOLK_ENSEMBLES, MAJOR_NAMES, MINOR_NAMES, ClipSpec, Piece, split_key
from .dataset import DATA_DIR

DEV_DIR = DATA_DIR / "chords_dev"
DEV_SEED = 777

#: Dev pieces (none is in ``corpus.py``). Meters are checked at render time; a piece that fails
#: (compound meter, key change inside 30 s) is skipped.
DEV_CHORALES = [
    "bach/bwv1.6.mxl",
    "bach/bwv10.7.mxl",
    "bach/bwv101.7.mxl",
    "bach/bwv102.7.mxl",
    "bach/bwv103.6.mxl",
    "bach/bwv104.6.mxl",
    "bach/bwv108.6.mxl",
    "bach/bwv11.6.mxl",
    "bach/bwv110.7.mxl",
    "bach/bwv111.6.mxl",
    "bach/bwv113.8.mxl",
    "bach/bwv114.7.mxl",
    "bach/bwv115.6.mxl",
    "bach/bwv116.6.mxl",
    "bach/bwv117.4.mxl",
    "bach/bwv119.9.mxl",
]
DEV_CLASSICAL = [
    "mozart/k80/movement1.mxl",
    "mozart/k80/movement2.mxl",
    "mozart/k155/movement2.mxl",
    "mozart/k156/movement1.mxl",
    "mozart/k458/movement1.mxl",
    "mozart/k458/movement4.mxl",
    "haydn/opus1no1/movement1.mxl",
    "haydn/opus1no1/movement4.mxl",
    "haydn/opus74no1/movement2.mxl",
    "haydn/opus74no1/movement4.mxl",
    "schumann_clara/polonaise_op1n2.mxl",
    "schumann_clara/polonaise_op1n3.mxl",
    "beethoven/opus18no1/movement3.mxl",
    "beethoven/opus59no1/movement3.mxl",
    "schumann_robert/opus41no1/movement2.mxl",
    "mozart/k545/movement1_exposition.mxl",
    "mozart/k155/movement3.mxl",
    "mozart/k156/movement4.mxl",
    "mozart/k80/movement4.mxl",
    "haydn/opus1no1/movement3.mxl",
    "haydn/opus1no1/movement5.mxl",
    "beethoven/opus18no1/movement2.mxl",
    "beethoven/opus59no1/movement2.mxl",
    "beethoven/opus59no2/movement3.mxl",
    "schumann_robert/opus41no1/movement3.mxl",
    "schumann_robert/opus41no1/movement4.mxl",
    "beethoven/opus59no2/movement2.mxl",
    "beethoven/opus59no1/movement1.mxl",
]
#: Folk tunes from Essen collections the benchmark does not use, x/4 meters only (picked at random
#: among each collection's 3/4 and 4/4 tunes).
DEV_FOLK = [
    ("essenFolksong/erk20.abc", 263),
    ("essenFolksong/erk20.abc", 122),
    ("essenFolksong/erk20.abc", 326),
    ("essenFolksong/ballad20.abc", 77),
    ("essenFolksong/ballad20.abc", 123),
    ("essenFolksong/ballad20.abc", 6),
    ("essenFolksong/altdeu10.abc", 182),
    ("essenFolksong/altdeu10.abc", 303),
    ("essenFolksong/altdeu10.abc", 93),
    ("essenFolksong/boehme20.abc", 287),
    ("essenFolksong/boehme20.abc", 22),
    ("essenFolksong/boehme20.abc", 73),
    ("essenFolksong/han1.abc", 131),
    ("essenFolksong/han1.abc", 327),
    ("essenFolksong/han1.abc", 440),
    ("essenFolksong/dva0.abc", 75),
    ("essenFolksong/dva0.abc", 103),
    ("essenFolksong/dva0.abc", 142),
    ("essenFolksong/erk30.abc", 131),
    ("essenFolksong/erk30.abc", 621),
    ("essenFolksong/erk30.abc", 270),
    ("essenFolksong/ballad30.abc", 5),
    ("essenFolksong/ballad30.abc", 151),
    ("essenFolksong/ballad30.abc", 46),
]


#: A third, larger set for fitting the chord templates (``fit``): again no piece of the benchmark or the
#: dev set.
TRAIN_CHORALES = [
    "bach/bwv145-a.mxl",
    "bach/bwv149.7.mxl",
    "bach/bwv153.9.mxl",
    "bach/bwv156.6.mxl",
    "bach/bwv16.6.mxl",
    "bach/bwv165.6.mxl",
    "bach/bwv17.7.mxl",
    "bach/bwv175.7.mxl",
    "bach/bwv178.7.mxl",
    "bach/bwv180.7.mxl",
    "bach/bwv187.7.mxl",
    "bach/bwv190.7.mxl",
    "bach/bwv197.10.mxl",
    "bach/bwv20.11.mxl",
    "bach/bwv227.11.mxl",
    "bach/bwv24.6.mxl",
    "bach/bwv244.25.mxl",
    "bach/bwv244.37.mxl",
    "bach/bwv244.54.mxl",
    "bach/bwv245.15.mxl",
    "bach/bwv245.28.mxl",
    "bach/bwv245.5.mxl",
    "bach/bwv248.5.mxl",
    "bach/bwv250.mxl",
    "bach/bwv254.mxl",
    "bach/bwv258.mxl",
    "bach/bwv265.mxl",
    "bach/bwv269.mxl",
    "bach/bwv272.mxl",
    "bach/bwv279.mxl",
    "bach/bwv281.mxl",
    "bach/bwv285.mxl",
    "bach/bwv289.mxl",
    "bach/bwv292.mxl",
    "bach/bwv296.mxl",
]
TRAIN_CLASSICAL = [
    "beethoven/opus18no1/movement1.mxl",
    "beethoven/opus18no1/movement4.mxl",
    "beethoven/opus59no1/movement4.mxl",
    "beethoven/opus59no2/movement1.mxl",
    "beethoven/opus59no2/movement4.mxl",
    "beethoven/opus59no3/movement1.mxl",
    "beethoven/opus59no3/movement2.mxl",
    "beethoven/opus59no3/movement4.mxl",
    "haydn/opus1no1/movement5.mxl",
    "schumann_robert/opus41no1/movement1.mxl",
    "schumann_robert/opus41no1/movement5.mxl",
    "schumann_robert/dichterliebe_no2.xml",
    "schumann_robert/opus48no2.mxl",
    "schumann_clara/opus17/movement3.xml",
    "handel/rinaldo/Lascia_chio_pianga.mxl",
    "corelli/opus3no1/1grave.xml",
    "monteverdi/madrigal.3.1.mxl",
    "monteverdi/madrigal.3.2.mxl",
    "monteverdi/madrigal.3.3.mxl",
    "monteverdi/madrigal.3.4.mxl",
    "monteverdi/madrigal.3.5.mxl",
    "monteverdi/madrigal.3.6.mxl",
    "monteverdi/madrigal.3.7.mxl",
    "monteverdi/madrigal.3.8.mxl",
    "mozart/k80/movement3.mxl",
]
TRAIN_FOLK = [
    ("erk5", 15),
    ("erk5", 20),
    ("erk5", 27),
    ("erk5", 22),
    ("altdeu20", 146),
    ("altdeu20", 248),
    ("altdeu20", 71),
    ("altdeu20", 70),
    ("ballad40", 221),
    ("ballad40", 97),
    ("ballad40", 53),
    ("ballad40", 213),
    ("ballad50", 79),
    ("ballad50", 30),
    ("ballad50", 21),
    ("ballad50", 141),
    ("ballad60", 99),
    ("ballad60", 25),
    ("ballad60", 96),
    ("ballad60", 71),
    ("han2", 534),
    ("han2", 636),
    ("han2", 612),
    ("han2", 211),
    ("dva0", 171),
    ("dva0", 3),
    ("dva0", 143),
    ("dva0", 31),
    ("kinder0", 25),
    ("kinder0", 24),
    ("kinder0", 86),
    ("kinder0", 107),
    ("lot", 363),
    ("lot", 10),
    ("lot", 462),
    ("lot", 278),
    ("boehme20", 167),
    ("boehme20", 220),
    ("boehme20", 274),
    ("boehme20", 90),
    ("erk20", 216),
    ("erk20", 108),
    ("erk20", 279),
    ("erk20", 134),
    ("erk30", 519),
    ("erk30", 13),
    ("erk30", 677),
    ("erk30", 105),
]
TRAIN_DIR = DATA_DIR / "chords_train"
TRAIN_SEED = 4242


def _piece_meta(path: str, number: int | None) -> tuple[str, str] | None:
    """(meter "3/4"/"4/4", key "G major") of a corpus piece, or None if its meter is not x/4."""
    from music21 import corpus, meter

    s = corpus.parse(path, number=number) if number is not None else corpus.parse(path)
    part = s.parts[0] if s.parts else s
    tss = list(part.recurse().getElementsByClass(meter.TimeSignature))
    if not tss or tss[0].ratioString not in ("3/4", "4/4"):
        return None
    k = s.analyze("key")
    tonic = k.tonic.name.replace("-", "b")
    return tss[0].ratioString, f"{tonic} {k.mode}"


def dev_specs(which: str = "dev") -> list[ClipSpec]:
    """Clip specifications of the dev (or train) set (deterministic)."""
    if which == "dev":
        rng = random.Random(DEV_SEED)
        entries: list[tuple[str, int | None, str]] = [(p, None, "chorale") for p in DEV_CHORALES]
        entries += [(p, None, "classical") for p in DEV_CLASSICAL]
        entries += [(p, n, "folk") for p, n in DEV_FOLK]
        prefix, seed = "dev", DEV_SEED
    else:
        rng = random.Random(TRAIN_SEED)
        entries = [(p, None, "chorale") for p in TRAIN_CHORALES]
        entries += [(p, None, "classical") for p in TRAIN_CLASSICAL]
        entries += [(f"essenFolksong/{c}.abc", n, "folk") for c, n in TRAIN_FOLK]
        prefix, seed = "trn", TRAIN_SEED
    specs: list[ClipSpec] = []
    for i, (path, number, category) in enumerate(entries):
        try:
            meta = _piece_meta(path, number)
        except Exception as e:  # unparsable piece: skip
            print(f"skip {path} {number}: {e}", file=sys.stderr)
            continue
        if meta is None:
            continue
        meter_, key = meta
        if category == "folk":
            ensemble = rng.choice(sorted(FOLK_ENSEMBLES))
            accompaniment: str | None = rng.choice(["oompah", "block"])
            tempo = rng.randint(84, 170)
        else:
            ensemble = rng.choice(sorted(ENSEMBLES))
            if ensemble == "voice_piano":
                ensemble = "piano"
            accompaniment = None
            tempo = rng.randint(72, 120) if category == "chorale" else rng.randint(80, 150)
        piece = Piece(
            path, number, category, meter_, key, tempo, ensemble, rng.random() < 0.33, accompaniment
        )
        semis = rng.randint(-5, 6)
        tonic, mode = split_key(key)
        target = (tonic + semis) % 12
        names = MAJOR_NAMES if mode == "major" else MINOR_NAMES
        slug = path.split("/")[-1].rsplit(".", 1)[0].replace(".", "-") + (f"_{number}" if number else "")
        specs.append(
            ClipSpec(
                clip_id=f"{prefix}{i:03d}_{slug}" if prefix == "trn" else f"dev{i:02d}_{slug}",
                index=i,
                piece=piece,
                semitones=semis,
                key=f"{names[target]} {mode}",
                tonic_pc=target,
                mode=mode,
                seed=seed + 1000 * i,
            )
        )
    return specs


def _render(spec: ClipSpec) -> dict[str, Any] | None:
    from .render import render_clip

    clip_dir = (TRAIN_DIR if spec.clip_id.startswith("trn") else DEV_DIR) / spec.clip_id
    labels = clip_dir / "labels.json"
    if labels.is_file():
        return dict(json.loads(labels.read_text()))
    try:
        return render_clip(spec, clip_dir)
    except Exception as e:  # a piece the renderer refuses (meter/key change, off-grid bars): skip it
        print(f"skip {spec.clip_id}: {type(e).__name__}: {e}", file=sys.stderr)
        return None


def render(jobs: int, which: str = "dev") -> list[dict[str, Any]]:
    """Render the dev (or train) set (cached) and write its manifest."""
    root = DEV_DIR if which == "dev" else TRAIN_DIR
    root.mkdir(parents=True, exist_ok=True)
    specs = dev_specs(which)
    with ProcessPoolExecutor(jobs) as ex:
        clips = [c for c in ex.map(_render, specs) if c is not None]
    (root / "manifest.json").write_text(json.dumps({"clips": clips}, indent=1))
    return clips


def _clips(which: str) -> tuple[Path, list[dict[str, Any]]]:
    root = {"dev": DEV_DIR, "train": TRAIN_DIR}.get(which, DATA_DIR)
    return root, list(json.loads((root / "manifest.json").read_text())["clips"])


def score(
    which: str, limit: int, verbose: bool, fmt: str = "wav", overrides: dict[str, Any] | None = None
) -> dict[str, float]:
    """tonearm's chords on one set: majmin and sevenths WCSR per category (``overrides``: constants)."""
    from tonearm.audio.decode import decode
    from tonearm.chords.recognize import beats_and_chords, with_params

    params = with_params(**(overrides or {}))
    from .metrics import chord_scores

    root, clips = _clips(which)
    clips = clips[:limit] if limit else clips
    per: list[tuple[str, str, float, float, float]] = []
    times = []
    for c in clips:
        audio = decode(root / c["clip_id"] / c["files"][fmt])
        t0 = time.perf_counter()
        res = beats_and_chords(audio.y, audio.sr, params=params)
        times.append(time.perf_counter() - t0)
        sc = chord_scores(c["chords"], [(s.start_s, s.end_s, s.label_harte) for s in res.chords])
        assert sc is not None
        per.append((c["clip_id"], c["category"], sc["majmin"], sc["sevenths"], sc["root"]))
    out: dict[str, float] = {}
    for cat in ("chorale", "classical", "folk", "all"):
        rows = [r for r in per if cat in ("all", r[1])]
        if rows:
            out[cat] = float(np.mean([r[2] for r in rows]))
            print(
                f"{cat:10s} n={len(rows):2d} majmin {np.mean([r[2] for r in rows]):.3f} "
                f"sevenths {np.mean([r[3] for r in rows]):.3f} root {np.mean([r[4] for r in rows]):.3f}"
            )
    print(f"median time {np.median(times) * 1000:.0f} ms")
    if verbose:
        for r in sorted(per, key=lambda r: r[2]):
            print(f"  {r[0]:32s} {r[1]:9s} majmin {r[2]:.3f} sevenths {r[3]:.3f} root {r[4]:.3f}")
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("render")
    r.add_argument("--jobs", type=int, default=2)
    r.add_argument("--set", choices=["dev", "train"], default="dev")
    s = sub.add_parser("score")
    s.add_argument("--set", choices=["dev", "train", "bench"], default="dev")
    s.add_argument(
        "--param", action="append", default=[], help="NAME=VALUE: vary a constant, e.g. chroma_power=0.5"
    )
    s.add_argument("--limit", type=int, default=0)
    s.add_argument("--format", choices=["wav", "mp3"], default="wav")
    s.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    if args.cmd == "render":
        clips = render(args.jobs, args.set)
        print(f"{len(clips)} {args.set} clips")
    else:
        overrides = {k: ast.literal_eval(v) for k, v in (p.split("=", 1) for p in args.param)}
        score(args.set, args.limit, args.verbose, args.format, overrides)
    return 0


if __name__ == "__main__":
    sys.exit(main())
