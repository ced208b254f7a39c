"""The project's lock files: what each one resolves, for which platform, and whether it is up to date.

Every lock is written by uv (``uv pip compile --generate-hashes``) for the platform that installs it,
and every lock but the dev one is resolved with the dev lock as constraints, so a package shared by two
environments has one version everywhere. The first line of each lock holds a fingerprint of what it was
resolved from (the dependency lists in ``pyproject.toml``, the ``.in`` files with their ``-r``
includes, the target platform and the constraints lock's own fingerprint); ``check`` recomputes it.

    python requirements/lockfiles.py check            # exit 1 naming each stale lock (stdlib only)
    python requirements/lockfiles.py compile          # re-resolve every lock (needs uv and PyPI)
    python requirements/lockfiles.py compile --upgrade

``compile`` keeps the versions already pinned wherever they still satisfy the inputs (uv reads the
existing output file as preferences); ``--upgrade`` lets every package move to its newest version.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON_VERSION = "3.11"
FINGERPRINT_PREFIX = "# inputs-sha256: "


@dataclass(frozen=True)
class Lock:
    """One lock file and what it is resolved from.

    Attributes
    ----------
    output : str
        The lock, relative to the repository root.
    sources : tuple of str
        uv's inputs: ``pyproject.toml`` and/or ``.in`` requirement files.
    extras : tuple of str
        Optional-dependency groups of ``pyproject.toml`` (when it is a source).
    platform : str
        uv's ``--python-platform``: the wheels the installing machine accepts.
    constraints : str or None
        A lock whose pins constrain this one (the dev lock for every other lock).
    """

    output: str
    sources: tuple[str, ...]
    extras: tuple[str, ...]
    platform: str
    constraints: str | None


DEV = "requirements/dev.txt"
LOCKS: tuple[Lock, ...] = (
    # The installer, upgraded from its own lock before anything else is installed.
    Lock("requirements/pip.txt", ("requirements/pip.in",), (), "x86_64-manylinux_2_28", None),
    # `make test` / `make serve`: this machine and CI (x86-64 Linux, glibc >= 2.28).
    Lock(DEV, ("pyproject.toml", "requirements/build.in"), ("dev", "train"), "x86_64-manylinux_2_28", None),
    # `make bench`: the dev set plus the benchmark peers.
    Lock(
        "requirements/bench.txt",
        ("pyproject.toml", "requirements/build.in"),
        ("dev", "train", "bench"),
        "x86_64-manylinux_2_28",
        DEV,
    ),
    # The zip functions' layer: `sam build` installs it with pip for manylinux2014 (glibc 2.17) wheels.
    # It pins botocore (aws-xray-sdk, for Powertools' tracer, asks for it) although the runtime ships one:
    # pip's hash-checking install needs every dependency pinned, and the layer's botocore is the one the
    # suite tested (the runtime's changes with the region and the day).
    Lock(
        "layers/core/requirements.txt",
        ("layers/core/requirements.in",),
        (),
        "x86_64-manylinux_2_17",
        DEV,
    ),
    # The container images: Debian bookworm (glibc 2.36) with CPython 3.11.
    Lock(
        "functions/worker/requirements.txt",
        ("functions/worker/requirements.in",),
        (),
        "x86_64-manylinux_2_36",
        DEV,
    ),
    Lock(
        "functions/generator/requirements.txt",
        ("functions/generator/requirements.in",),
        (),
        "x86_64-manylinux_2_36",
        DEV,
    ),
)


def _requirement_lines(path: Path, seen: set[Path] | None = None) -> list[str]:
    """The requirement lines of a ``.in`` file, ``-r`` includes expanded, comments and blanks dropped."""
    seen = set() if seen is None else seen
    path = path.resolve()
    if path in seen:
        return []
    seen.add(path)
    lines: list[str] = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(("-r ", "--requirement ")):
            lines += _requirement_lines(path.parent / line.split(None, 1)[1], seen)
        else:
            lines.append(line)
    return lines


def _pyproject_inputs(extras: tuple[str, ...]) -> dict[str, object]:
    """The parts of ``pyproject.toml`` a lock depends on (not its tool settings or description)."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = data["project"]
    optional = project.get("optional-dependencies", {})
    return {
        "requires-python": project.get("requires-python"),
        "dependencies": project.get("dependencies", []),
        "extras": {name: optional.get(name, []) for name in extras},
        "build-system": data.get("build-system", {}).get("requires", []),
    }


def fingerprint(lock: Lock) -> str:
    """sha256 of everything ``lock`` is resolved from (see the module docstring)."""
    inputs: dict[str, object] = {
        "python": PYTHON_VERSION,
        "platform": lock.platform,
        "extras": list(lock.extras),
    }
    for source in lock.sources:
        if source == "pyproject.toml":
            inputs[source] = _pyproject_inputs(lock.extras)
        else:
            inputs[source] = _requirement_lines(ROOT / source)
    if lock.constraints is not None:
        inputs["constraints"] = recorded_fingerprint(ROOT / lock.constraints)
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def recorded_fingerprint(path: Path) -> str | None:
    """The fingerprint on a lock's first line, or None when the file or the line is missing."""
    if not path.is_file():
        return None
    first = path.read_text().split("\n", 1)[0]
    return first[len(FINGERPRINT_PREFIX) :].strip() if first.startswith(FINGERPRINT_PREFIX) else None


def stale_locks() -> list[str]:
    """One line for every lock whose inputs changed since it was written (empty when all are fresh)."""
    problems = []
    for lock in LOCKS:
        recorded = recorded_fingerprint(ROOT / lock.output)
        if recorded is None:
            problems.append(f"{lock.output}: missing, or written without `make lock`")
        elif recorded != fingerprint(lock):
            sources = ", ".join(lock.sources + ((lock.constraints,) if lock.constraints else ()))
            problems.append(f"{lock.output}: stale (its inputs changed: {sources})")
    return problems


def _uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if found is None:
        sys.exit("uv is not installed: `make lock` installs the dev environment (which pins uv) first")
    return found


def compile_locks(*, upgrade: bool) -> None:
    """Re-resolve every lock in order (the dev lock first: the others are constrained by it)."""
    uv = _uv()
    env = dict(os.environ)
    env.setdefault("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")
    for lock in LOCKS:
        out = ROOT / lock.output
        command = [uv, "pip", "compile", *lock.sources, "--output-file", lock.output, "--quiet"]
        command += [f"--extra={extra}" for extra in lock.extras]
        command += ["--python-version", PYTHON_VERSION, "--python-platform", lock.platform]
        command += ["--generate-hashes", "--no-header"]
        if lock.constraints is not None:
            command += ["--constraint", lock.constraints]
        if upgrade:
            command.append("--upgrade")
        subprocess.run(command, cwd=ROOT, env=env, check=True)
        header = (
            f"{FINGERPRINT_PREFIX}{fingerprint(lock)}\n"
            f"# Written by `make lock` (requirements/lockfiles.py): {', '.join(lock.sources)}"
            f"{' [' + ','.join(lock.extras) + ']' if lock.extras else ''}, CPython {PYTHON_VERSION}, "
            f"{lock.platform}{', constrained by ' + lock.constraints if lock.constraints else ''}. "
            "Do not edit.\n"
        )
        out.write_text(header + out.read_text())
        print(f"locked {lock.output}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="exit 1 if any lock is stale against its inputs")
    compile_parser = sub.add_parser("compile", help="re-resolve the locks (uv, network)")
    compile_parser.add_argument("--upgrade", action="store_true", help="move every pin to its newest release")
    args = parser.parse_args(argv)
    if args.command == "compile":
        compile_locks(upgrade=args.upgrade)
        return 0
    problems = stale_locks()
    for line in problems:
        print(f"lock check: {line}; run `make lock`", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
