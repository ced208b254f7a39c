"""``make image-check``: each Lambda container image, checked without a Docker engine.

For every Dockerfile that template.yaml's image functions name (``Metadata.Dockerfile``), the check

1. parses the Dockerfile (FROM, ENV, WORKDIR, COPY, RUN, ENTRYPOINT/CMD) and maps its base image to the
   platform pip inside it would see (CPython version, glibc, architecture); a base it does not know is
   refused rather than guessed;
2. installs the image's lock for that platform (``pip install --target --platform ... --only-binary``),
   cached under ``.venv-images/<sha256>/`` by the lock's requirements, and lays out the COPY lines in a
   staging root as Docker would, through ``.dockerignore``;
3. runs each function's ENTRYPOINT + ``ImageConfig.Command`` (awslambdaric) in an interpreter that sees only
   the staging root and the stdlib, against a local Lambda Runtime API, with the function's template
   environment and its AWS calls going to moto (server mode), and invokes every ``events/<Function>/*.json``;
4. checks the shared libraries: libsndfile (soundfile), FFmpeg (av) and onnxruntime load from their wheels,
   the ONNX models load, and every system library the wheels' shared objects need (``ldd``) is one the base
   is known to have; that boto3 and awslambdaric are installed; and that the apt packages exist in the
   base's Debian release and provide the program and SoundFont tonearm renders with;
5. writes ``bench/results/images.md`` (sizes, cold starts, peak memory) and prints it.

It exits 1 with a message naming the image and the cause on any failure. What it cannot see without
Docker: the base image's own files (this machine's CPython 3.11 and glibc stand in for the image's, and
this machine's FluidSynth, the same Debian version, for the apt-installed one), RUN lines other than pip
and apt-get, file ownership and the non-root Lambda user, a read-only file system (writes into the image
are detected afterwards instead), and the real image size (the base and apt layers are not built).

    python -m tools.image_check                 # every image in template.yaml
    python -m tools.image_check --dockerfile functions/generator/Dockerfile
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import hashlib
import http.server
import importlib.util
import io
import json
import logging
import math
import os
import queue
import re
import shlex
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import types
import uuid
import wave
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from packaging.tags import Tag, compatible_tags, cpython_tags, parse_tag
from packaging.utils import canonicalize_name

if TYPE_CHECKING:
    from tonearm.runtime import Services

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events"
CACHE = ROOT / ".venv-images"  # .gitignore's .venv-*/ keeps it out of git; .dockerignore out of the context
REPORT = ROOT / "bench" / "results" / "images.md"
#: bump when the staged layout of a cached install changes, so old caches are not reused
CACHE_FORMAT = "1"


class CheckError(Exception):
    """A check failed; the message says which image and why."""


def _shown(path: Path) -> str:
    """A path as messages show it: relative to the repository when inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


# --- platforms ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Platform:
    """What pip inside a base image sees, and what the image provides around it.

    Attributes
    ----------
    image : str
        The base image reference as the Dockerfile writes it (``name:tag``).
    python : tuple of int
        CPython ``(major, minor)`` of the image's ``python``.
    glibc : tuple of int
        The C library's ``(major, minor)``: manylinux wheels up to it install.
    arch : str
        Wheel architecture (``x86_64``).
    description : str
        For messages and the report.
    apt_codename : str or None
        The Debian release whose archive ``apt-get`` installs from; None where apt is not the package manager.
    site_packages : str
        Where the image's pip installs (an absolute path in the image).
    env : tuple of (str, str)
        The base image's own ENV that matters to Python (LANG).
    system_libraries : frozenset of str
        Sonames the base provides that wheels may link against: a wheel needing any other is refused.
    """

    image: str
    python: tuple[int, int]
    glibc: tuple[int, int]
    arch: str
    description: str
    apt_codename: str | None
    site_packages: str
    env: tuple[tuple[str, str], ...] = ()
    system_libraries: frozenset[str] = frozenset()


_GLIBC = frozenset(
    {
        "ld-linux-x86-64.so.2",
        "libc.so.6",
        "libm.so.6",
        "libmvec.so.1",
        "libdl.so.2",
        "librt.so.1",
        "libpthread.so.0",
        "libutil.so.1",
        "libnsl.so.1",
        "libresolv.so.2",
    }
)
#: What manylinux wheels may take from any base: the PEP 599/600 policy's glibc libraries, libgcc_s, libstdc++
_MANYLINUX_LIBRARIES = _GLIBC | {"libgcc_s.so.1", "libstdc++.so.6"}

#: The bases this check knows. Each is a fact about that image, checked by hand: a new base needs a new row
#: (`docker run --rm IMAGE python -c "import platform; print(platform.libc_ver())"`), not a guess.
BASE_IMAGES: dict[str, Platform] = {
    "python:3.11-slim-bookworm": Platform(
        image="python:3.11-slim-bookworm",
        python=(3, 11),
        glibc=(2, 36),
        arch="x86_64",
        description="Debian 12 bookworm, CPython 3.11, glibc 2.36",
        apt_codename="bookworm",
        site_packages="/usr/local/lib/python3.11/site-packages",
        env=(("LANG", "C.UTF-8"),),
        # zlib1g, liblzma5, libbz2-1.0 and libzstd1 are Debian's required set (dpkg depends on them), so
        # bookworm-slim has them; libstdc++6 comes with apt
        system_libraries=_MANYLINUX_LIBRARIES
        | {"libz.so.1", "liblzma.so.5", "libbz2.so.1.0", "libzstd.so.1"},
    ),
    # AWS's own Python base: Amazon Linux 2, whose glibc 2.26 predates manylinux_2_27/2_28 (onnxruntime
    # >= 1.20 and av ship only those), so the worker lock cannot install there; kept so that switching to it
    # fails by naming those packages rather than as an unknown base.
    "public.ecr.aws/lambda/python:3.11": Platform(
        image="public.ecr.aws/lambda/python:3.11",
        python=(3, 11),
        glibc=(2, 26),
        arch="x86_64",
        description="Amazon Linux 2, CPython 3.11, glibc 2.26",
        apt_codename=None,
        site_packages="/var/lang/lib/python3.11/site-packages",
        env=(("LANG", "en_US.UTF-8"),),
        system_libraries=_MANYLINUX_LIBRARIES | {"libz.so.1"},
    ),
}

# PEP 600 names manylinux by glibc version; the three older names are aliases pip still matches separately
_LEGACY_MANYLINUX = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}


def platform_for(image: str) -> Platform:
    """The platform of a base image reference (``name:tag``, an ``@sha256:`` digest allowed)."""
    name = image.split("@", 1)[0]
    for prefix in ("docker.io/library/", "library/"):
        name = name.removeprefix(prefix)
    platform = BASE_IMAGES.get(name)
    if platform is None:
        known = ", ".join(sorted(BASE_IMAGES))
        raise CheckError(
            f"unknown base image {image!r}: its glibc and Python decide which wheels install, so the check "
            f"will not guess them. Known: {known} (add a row to BASE_IMAGES in tools/image_check.py)"
        )
    return platform


def pip_platforms(platform: Platform) -> list[str]:
    """pip's ``--platform`` values for the base, most specific first (as pip on that machine ranks them).

    pip does not widen ``manylinux_2_36`` to older glibc versions by itself, so every one is listed, with the
    legacy alias after its PEP 600 name and ``linux_<arch>`` last, as ``packaging.tags`` orders them.
    """
    major, newest = platform.glibc
    tags: list[str] = []
    for minor in range(newest, 4, -1):
        tags.append(f"manylinux_{major}_{minor}_{platform.arch}")
        legacy = _LEGACY_MANYLINUX.get((major, minor))
        if legacy:
            tags.append(f"{legacy}_{platform.arch}")
    tags.append(f"linux_{platform.arch}")
    return tags


def supported_tags(platform: Platform) -> frozenset[Tag]:
    """Every wheel tag the base's pip installs: CPython-specific, abi3 and pure-Python ones."""
    abi = f"cp{platform.python[0]}{platform.python[1]}"
    platforms = pip_platforms(platform)
    return frozenset(
        [
            *cpython_tags(platform.python, abis=[abi], platforms=platforms),
            *compatible_tags(platform.python, abi, platforms),
        ]
    )


def wheel_fits(wheel_tags: Iterable[Tag], platform: Platform) -> bool:
    """Whether a wheel with these tags installs on the base."""
    return not supported_tags(platform).isdisjoint(wheel_tags)


def pip_target_args(platform: Platform) -> list[str]:
    """pip options that install for the base's platform instead of this machine's."""
    args = [f"--platform={tag}" for tag in pip_platforms(platform)]
    return [
        *args,
        f"--python-version={platform.python[0]}.{platform.python[1]}",
        "--implementation=cp",
        f"--abi=cp{platform.python[0]}{platform.python[1]}",
        "--only-binary=:all:",
    ]


# --- Dockerfile -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, continuation lines joined."""

    line: int
    keyword: str
    args: str


@dataclass(frozen=True)
class Copy:
    """``COPY src... dest``: sources relative to the build context, dest absolute in the image."""

    line: int
    sources: tuple[str, ...]
    dest: str


@dataclass(frozen=True)
class PipInstall:
    """``pip install -r FILE``: the requirement files as paths in the image."""

    line: int
    requirements: tuple[str, ...]
    require_hashes: bool


@dataclass(frozen=True)
class AptInstall:
    """``apt-get install PACKAGE...``."""

    line: int
    packages: tuple[str, ...]


Step = Copy | PipInstall | AptInstall


@dataclass(frozen=True)
class Dockerfile:
    """What the check needs from a Dockerfile, variables expanded."""

    path: Path
    base: str
    env: dict[str, str]
    workdir: str
    steps: tuple[Step, ...]
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    #: RUN commands that are neither pip nor apt-get installs: not emulated, listed in the report
    not_emulated: tuple[str, ...] = ()


def parse_instructions(text: str) -> list[Instruction]:
    """Instructions, continuation lines joined; comments (in continuations too) dropped, as BuildKit does."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        joined = " ".join(part for part in pending if part)
        pending = []
        keyword, _, args = joined.partition(" ")
        instructions.append(Instruction(line=start, keyword=keyword.upper(), args=args.strip()))
    if pending:
        raise CheckError(f"line {start}: the last instruction ends with a line continuation")
    return instructions


_VARIABLE = re.compile(r"\\\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def expand(value: str, env: Mapping[str, str]) -> str:
    """Docker's variable substitution: ``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR:+alt}``, ``\\$``."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "\\$":
            return "$"
        name = match.group(1) or match.group(4)
        current = env.get(name, "")
        if match.group(2) == "-":
            return current or match.group(3)
        if match.group(2) == "+":
            return match.group(3) if current else ""
        return current

    return _VARIABLE.sub(replace, value)


def _exec_form(args: str) -> list[str] | None:
    """The JSON-array (exec) form's words, or None for the shell form."""
    if not args.startswith("["):
        return None
    try:
        words = json.loads(args)
    except ValueError:
        return None
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        return None
    return list(words)


def _parse_env(args: str, env: Mapping[str, str]) -> dict[str, str]:
    """``ENV k=v k2="v 2"`` or the legacy ``ENV k v``; values see the environment before the instruction."""
    words = shlex.split(args)
    if words and "=" not in words[0]:
        return {words[0]: expand(" ".join(words[1:]), env)}
    pairs: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep:
            raise CheckError(f"ENV {args!r}: {word!r} is not KEY=VALUE")
        pairs[key] = expand(value, env)
    return pairs


def _image_path(path: str, workdir: str) -> str:
    """An image path made absolute against WORKDIR, a trailing slash kept (it means "a directory")."""
    absolute = str(PurePosixPath(workdir) / path) if not path.startswith("/") else path
    normalised = os.path.normpath(absolute)
    return normalised + "/" if path.endswith("/") and normalised != "/" else normalised


def _commands(script: str) -> list[list[str]]:
    """The simple commands of a RUN line's shell script (split at ``&&``, ``||``, ``;`` and ``|``)."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in ("&&", "||", ";", "|", "&"):
            commands.append([])
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def _pip_install(words: list[str], line: int, workdir: str) -> PipInstall | None:
    """A ``pip install`` (or ``python -m pip install``) command, or None."""
    if words[:1] in (["pip"], ["pip3"]):
        rest = words[1:]
    elif len(words) >= 3 and words[0].startswith("python") and words[1:3] == ["-m", "pip"]:
        rest = words[3:]
    else:
        return None
    if rest[:1] != ["install"]:
        return None
    requirements: list[str] = []
    loose: list[str] = []
    args = iter(rest[1:])
    for arg in args:
        if arg in ("-r", "--requirement"):
            requirements.append(_image_path(next(args, ""), workdir))
        elif arg.startswith("--requirement="):
            requirements.append(_image_path(arg.partition("=")[2], workdir))
        elif not arg.startswith("-"):
            loose.append(arg)
    if loose:
        raise CheckError(
            f"line {line}: pip install {' '.join(loose)}: packages outside a lock are not reproducible "
            "(add them to the image's requirements.in and run `make lock`)"
        )
    return PipInstall(line=line, requirements=tuple(requirements), require_hashes="--require-hashes" in rest)


def _apt_install(words: list[str], line: int) -> AptInstall | None:
    """An ``apt-get install`` (or ``apt install``) command, or None."""
    if words[:1] not in (["apt-get"], ["apt"]) or "install" not in words:
        return None
    after = words[words.index("install") + 1 :]
    return AptInstall(line=line, packages=tuple(w for w in after if not w.startswith("-")))


def parse_dockerfile(path: Path) -> Dockerfile:
    """The parts of a single-stage Dockerfile the check emulates; anything it cannot emulate is refused."""
    base: str | None = None
    env: dict[str, str] = {}
    workdir = "/"
    steps: list[Step] = []
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    not_emulated: list[str] = []
    for ins in parse_instructions(path.read_text()):
        where = f"{path.name}:{ins.line}"
        if ins.keyword == "FROM":
            if base is not None:
                raise CheckError(f"{where}: multi-stage builds are not emulated (one FROM only)")
            words = [w for w in ins.args.split() if not w.startswith("--platform")]
            base = words[0]
            env = {k: v for k, v in platform_for(base).env}
        elif ins.keyword == "ENV":
            env.update(_parse_env(ins.args, env))
        elif ins.keyword == "WORKDIR":
            workdir = _image_path(expand(ins.args, env), workdir).rstrip("/") or "/"
        elif ins.keyword in ("COPY", "ADD"):
            words = _exec_form(ins.args) or ins.args.split()
            flags = [w for w in words if w.startswith("--")]
            words = [expand(w, env) for w in words if not w.startswith("--")]
            if ins.keyword == "ADD" or any(f.startswith("--from") for f in flags):
                raise CheckError(
                    f"{where}: {ins.keyword} {ins.args}: only COPY from the build context is emulated"
                )
            if len(words) < 2:
                raise CheckError(f"{where}: COPY needs a source and a destination")
            steps.append(Copy(ins.line, tuple(words[:-1]), _image_path(words[-1], workdir)))
        elif ins.keyword == "RUN":
            script = " ".join(_exec_form(ins.args) or [ins.args])
            for words in _commands(script):
                step: Step | None = _pip_install(words, ins.line, workdir) or _apt_install(words, ins.line)
                if step is not None:
                    steps.append(step)
                else:
                    not_emulated.append(" ".join(words))
        elif ins.keyword in ("ENTRYPOINT", "CMD"):
            form = _exec_form(ins.args)
            words_t = tuple(form) if form is not None else ("/bin/sh", "-c", ins.args)
            if ins.keyword == "ENTRYPOINT":
                entrypoint = words_t
            else:
                cmd = words_t
        elif ins.keyword in ("ARG", "USER", "VOLUME", "SHELL", "ONBUILD"):
            raise CheckError(f"{where}: {ins.keyword} is not emulated by the image check")
        # LABEL, EXPOSE, STOPSIGNAL, HEALTHCHECK do not change what runs
    if base is None:
        raise CheckError(f"{path}: no FROM")
    return Dockerfile(
        path=path,
        base=base,
        env=env,
        workdir=workdir,
        steps=tuple(steps),
        entrypoint=entrypoint,
        cmd=cmd,
        not_emulated=tuple(not_emulated),
    )


# --- .dockerignore and the build context -------------------------------------------------------------------


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex (Go's filepath.Match plus ``**``, as moby's patternmatcher)."""
    out = "^"
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            if pattern[i + 1 : i + 2] == "*":
                i += 1
                if pattern[i + 1 : i + 2] == "/":  # "**/": any number of directories, none included
                    i += 1
                    out += "(?:.*/)?"
                else:
                    out += ".*"
            else:
                out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out += re.escape(c)
            else:
                body = pattern[i + 1 : end]
                out += "[" + ("^" + body[1:] if body.startswith("^") else body) + "]"
                i = end
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out + "$")


class DockerIgnore:
    """A .dockerignore: which context paths Docker leaves out of the build context."""

    def __init__(self, text: str = "") -> None:
        self.rules: list[tuple[bool, re.Pattern[str]]] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            pattern = os.path.normpath(line[1:].strip() if negated else line).lstrip("/")
            self.rules.append((negated, _ignore_regex(pattern)))

    @classmethod
    def from_context(cls, context: Path) -> DockerIgnore:
        """The context's .dockerignore (none: nothing is left out)."""
        path = context / ".dockerignore"
        return cls(path.read_text() if path.is_file() else "")

    def excluded(self, rel: str) -> bool:
        """Whether ``rel`` (slash-separated, relative to the context) is left out.

        As in moby's patternmatcher, a pattern matches a path or any of its parent directories, and the last
        matching pattern decides (``!`` patterns re-include).
        """
        parts = rel.strip("/").split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        result = False
        for negated, regex in self.rules:
            if any(regex.match(p) for p in prefixes):
                result = not negated
        return result


def _has_glob(part: str) -> bool:
    return any(c in part for c in "*?[")


def context_matches(context: Path, source: str, ignore: DockerIgnore) -> list[str]:
    """The context paths (relative) a COPY source names that reach the build, after .dockerignore.

    Globs follow Go's filepath.Match segment by segment (``*`` also matches dotfiles). A directory counts only
    if at least one file under it is sent.
    """
    parts = [p for p in PurePosixPath(os.path.normpath(source.lstrip("/"))).parts if p not in (".", "")]
    candidates = [""]
    for part in parts:
        nxt: list[str] = []
        for base in candidates:
            folder = context / base if base else context
            if _has_glob(part):
                if folder.is_dir():
                    nxt += [
                        f"{base}/{n}".lstrip("/")
                        for n in sorted(os.listdir(folder))
                        if fnmatch.fnmatchcase(n, part)
                    ]
            elif (folder / part).exists():
                nxt.append(f"{base}/{part}".lstrip("/"))
        candidates = nxt
    sent: list[str] = []
    for rel in candidates:
        path = context / rel
        if path.is_dir():
            if any(True for _ in _context_files(path, rel, ignore)):
                sent.append(rel)
        elif not ignore.excluded(rel):
            sent.append(rel)
    return sent


def _context_files(folder: Path, rel: str, ignore: DockerIgnore) -> Iterator[tuple[Path, str]]:
    """Every file under ``folder`` (context-relative ``rel``) that reaches the build."""
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        sub = os.path.relpath(dirpath, folder)
        for name in sorted(filenames):
            file_rel = name if sub == "." else f"{sub}/{name}"
            if not ignore.excluded(f"{rel}/{file_rel}"):
                yield Path(dirpath) / name, file_rel


def _staged(stage: Path, image_path: str) -> Path:
    """Where an image path lives in the staging root."""
    return stage / image_path.lstrip("/")


def lay_out(copy: Copy, context: Path, ignore: DockerIgnore, stage: Path) -> list[tuple[str, str]]:
    """Apply one COPY to the staging root as Docker does; return (context source, image path) per file.

    A directory source copies its contents; a file goes to ``dest/<name>`` when dest ends with ``/`` (required
    for several sources) or is an existing directory, else to ``dest`` itself.
    """
    sources: list[str] = []
    for source in copy.sources:
        found = context_matches(context, source, ignore)
        if not found:
            raise CheckError(
                f"line {copy.line}: COPY {source}: nothing in the build context (after .dockerignore)"
            )
        sources += found
    into_dir = copy.dest.endswith("/")
    if len(sources) > 1 and not into_dir:
        raise CheckError(f"line {copy.line}: COPY of several files needs a destination ending in /")
    dest = _staged(stage, copy.dest)
    placed: list[tuple[str, str]] = []
    for rel in sources:
        src = context / rel
        if src.is_dir():
            for file, file_rel in _context_files(src, rel, ignore):
                target = dest / file_rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, target)
                placed.append((f"{rel}/{file_rel}", "/" + str(target.relative_to(stage))))
        else:
            target = dest / src.name if into_dir or dest.is_dir() else dest
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
            placed.append((rel, "/" + str(target.relative_to(stage))))
    return placed


# --- locks and installing them ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Pin:
    """One requirement of a hash-pinned lock."""

    name: str
    version: str
    text: str  # the logical line, hashes included

    @property
    def spec(self) -> str:
        return f"{self.name}=={self.version}"


_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def parse_lock(text: str) -> list[Pin]:
    """The pins of a ``--generate-hashes`` lock (comments and ``# via`` lines dropped)."""
    pins: list[Pin] = []
    logical = ""
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        if line.endswith("\\"):
            logical += line[:-1].strip() + " "
            continue
        logical += line.strip()
        if not logical.startswith("-"):  # options such as --index-url are not pins
            match = _PIN.match(logical)
            if match is None:
                raise CheckError(f"lock line {logical[:80]!r} is not NAME==VERSION with hashes")
            pins.append(Pin(str(canonicalize_name(match.group(1))), match.group(2), logical))
        logical = ""
    return pins


def cache_key(lock_text: str, platform: Platform) -> str:
    """The install's cache key: the lock's requirements (comments dropped, so two locks with the same pins
    share an install) and the platform they were installed for."""
    pins = "\n".join(p.text for p in parse_lock(lock_text))
    material = "\n".join([CACHE_FORMAT, *pip_target_args(platform), pins])
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def _pip(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    # this interpreter's pip (the dev lock's), with this machine's pip configuration: the lock's hashes fix
    # which files install whatever index or find-links serve them
    cmd = [sys.executable, "-m", "pip", *args, "--disable-pip-version-check", "--no-input"]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


_NO_MATCH = re.compile(r"No matching distribution found for ([A-Za-z0-9][A-Za-z0-9._-]*)")


def _tail(text: str, lines: int = 25) -> str:
    kept = [line for line in text.splitlines() if not line.startswith("WARNING: Location ")]
    return "\n".join(kept[-lines:])


def unavailable_pins(lock_text: str, platform: Platform) -> list[Pin]:
    """The lock's pins with no file (among the lock's hashes) that installs on the platform.

    pip stops at the first such pin, so this asks again without it until the rest resolve; ``--no-deps``
    because the lock is complete and a dropped pin must not come back as an unhashed dependency.
    """
    remaining = parse_lock(lock_text)
    total = len(remaining)
    missing: list[Pin] = []
    with tempfile.TemporaryDirectory(prefix="image-check-") as tmp:
        while remaining:
            lock = Path(tmp) / "requirements.txt"
            lock.write_text("\n".join(p.text for p in remaining) + "\n")
            done = _pip(
                [
                    "install",
                    "--dry-run",
                    "--ignore-installed",
                    "--no-deps",
                    "--quiet",
                    "--require-hashes",
                    *pip_target_args(platform),
                    "-r",
                    str(lock),
                ]
            )
            if done.returncode == 0:
                break
            match = _NO_MATCH.search(done.stderr + done.stdout)
            name = str(canonicalize_name(match.group(1))) if match else None
            pin = next((p for p in remaining if p.name == name), None)
            if pin is None:
                raise CheckError(f"pip could not resolve the lock:\n{_tail(done.stderr + done.stdout)}")
            missing.append(pin)
            remaining.remove(pin)
    if missing and len(missing) == total:
        raise CheckError("pip found none of the lock's packages: is the package index reachable?")
    return missing


def install_lock(
    lock_text: str, lock_name: str, platform: Platform, cache: Path
) -> tuple[Path, float | None]:
    """The lock installed for the platform: ``(site-packages, seconds it took, or None when cached)``.

    Installed with ``--target`` into a temporary folder renamed into place once complete, so an interrupted
    install is never mistaken for a cached one.
    """
    key = cache_key(lock_text, platform)
    final = cache / key
    site = final / "site-packages"
    if site.is_dir():
        return site, None
    started = time.perf_counter()
    partial = cache / f"{key}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    lock = partial / "requirements.txt"
    lock.write_text(lock_text)
    done = _pip(
        [
            "install",
            "--quiet",
            "--require-hashes",
            "--target",
            str(partial / "site-packages"),
            *pip_target_args(platform),
            "-r",
            str(lock),
        ]
    )
    if done.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        missing = unavailable_pins(lock_text, platform)
        if missing:
            raise CheckError(
                f"{lock_name} cannot install on {platform.image} ({platform.description}): no wheel among "
                f"the lock's files for this platform: {', '.join(p.spec for p in missing)}"
            )
        raise CheckError(f"pip install -r {lock_name} failed:\n{_tail(done.stderr + done.stdout)}")
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    return site, time.perf_counter() - started


def check_installed(site: Path, pins: Sequence[Pin], platform: Platform) -> None:
    """Every pin is installed at its version, and every installed wheel's tags fit the platform."""
    installed: dict[str, str] = {}
    for dist_info in site.glob("*.dist-info"):
        meta = dist_info / "METADATA"
        fields = dict(
            line.split(": ", 1)
            for line in meta.read_text(errors="replace").split("\n\n", 1)[0].splitlines()
            if ": " in line
        )
        installed[str(canonicalize_name(fields.get("Name", "")))] = fields.get("Version", "")
        wheel = dist_info / "WHEEL"
        tags = [
            tag
            for line in wheel.read_text().splitlines()
            if line.startswith("Tag: ")
            for tag in parse_tag(line[5:].strip())
        ]
        if tags and not wheel_fits(tags, platform):
            raise CheckError(
                f"{dist_info.name} was installed from a wheel for {tags[0]}, not {platform.image}"
            )
    wrong = [p.spec for p in pins if installed.get(p.name) != p.version]
    if wrong:
        raise CheckError(f"not installed as locked: {', '.join(wrong)}")


# --- template.yaml --------------------------------------------------------------------------------------

STACK = "tonearm-image-check"
REGION = "us-east-1"
ACCOUNT = "123456789012"
PSEUDO = {
    "AWS::StackName": STACK,
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}


@dataclass(frozen=True)
class ImageFunction:
    """An image function of the template, Globals applied."""

    logical_id: str
    dockerfile: Path
    context: Path
    command: tuple[str, ...]
    entrypoint: tuple[str, ...] | None
    environment: dict[str, Any]
    timeout_s: int
    memory_mb: int


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """template.yaml with CloudFormation's short-form tags as long-form dicts."""
    from tonearm.local_stack.template import load_template as load

    return load(path)


def image_functions(template: Mapping[str, Any], root: Path = ROOT) -> list[ImageFunction]:
    """Every ``PackageType: Image`` function, with the Globals it inherits."""
    glob = template.get("Globals", {}).get("Function", {})
    found: list[ImageFunction] = []
    for logical_id, resource in template.get("Resources", {}).items():
        props = resource.get("Properties", {})
        if resource.get("Type") != "AWS::Serverless::Function" or props.get("PackageType") != "Image":
            continue
        meta = resource.get("Metadata", {})
        config = props.get("ImageConfig", {})
        if "Dockerfile" not in meta or not config.get("Command"):
            raise CheckError(
                f"{logical_id}: an image function needs Metadata.Dockerfile and ImageConfig.Command"
            )
        context = (root / str(meta.get("DockerContext", "."))).resolve()
        env = {
            **glob.get("Environment", {}).get("Variables", {}),
            **props.get("Environment", {}).get("Variables", {}),
        }
        entry = config.get("EntryPoint")
        found.append(
            ImageFunction(
                logical_id=logical_id,
                dockerfile=(context / str(meta["Dockerfile"])).resolve(),
                context=context,
                command=tuple(str(c) for c in config["Command"]),
                entrypoint=tuple(str(e) for e in entry) if entry else None,
                environment=env,
                timeout_s=int(props.get("Timeout", glob.get("Timeout", 3))),
                memory_mb=int(props.get("MemorySize", glob.get("MemorySize", 128))),
            )
        )
    return found


def referenced_resources(value: Any) -> set[str]:
    """Logical ids (and pseudo parameters) that ``Ref``, ``Fn::GetAtt`` and ``Fn::Sub`` name in ``value``."""
    if isinstance(value, list):
        return set().union(*(referenced_resources(v) for v in value)) if value else set()
    if not isinstance(value, dict):
        return set()
    if len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            return {str(arg)}
        if key == "Fn::GetAtt":
            return {str(arg[0] if isinstance(arg, list) else str(arg).split(".")[0])}
        if key == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            names = {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", str(text)) if m not in variables}
            return names | referenced_resources(list(variables.values()))
    return set().union(*(referenced_resources(v) for v in value.values())) if value else set()


def resolve(value: Any, parameters: Mapping[str, Any], physical: Mapping[str, str]) -> str:
    """An environment value with its intrinsics resolved: parameters to their defaults, resources to the
    names they have in moto (``physical``: ``Ref`` by logical id, ``Fn::GetAtt`` by ``Id.Attribute``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            return _ref(str(arg), parameters, physical)
        if key == "Fn::GetAtt":
            name, attribute = (arg if isinstance(arg, list) else str(arg).split(".", 1))[:2]
            got = physical.get(f"{name}.{attribute}")
            if got is None:
                raise CheckError(f"!GetAtt {name}.{attribute}: not emulated")
            return got
        if key == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

            def sub(match: re.Match[str]) -> str:
                ref = match.group(1)
                if ref.startswith("!"):
                    return "${" + ref[1:] + "}"
                if ref in variables:
                    return resolve(variables[ref], parameters, physical)
                if "." in ref and not ref.startswith("AWS::"):
                    return resolve({"Fn::GetAtt": ref.split(".", 1)}, parameters, physical)
                return _ref(ref, parameters, physical)

            return re.sub(r"\$\{([^}]+)\}", sub, str(text))
    raise CheckError(f"cannot resolve {value!r} locally (only Ref, Fn::GetAtt and Fn::Sub are emulated)")


def _ref(name: str, parameters: Mapping[str, Any], physical: Mapping[str, str]) -> str:
    if name in parameters:
        return resolve(parameters[name].get("Default", ""), parameters, physical)
    if name in PSEUDO:
        return PSEUDO[name]
    if name in physical:
        return physical[name]
    raise CheckError(f"!Ref {name}: no such parameter, or a resource the image check does not create")


# --- AWS in moto ------------------------------------------------------------------------------------------


def _no_cors(*_args: object, **_kwargs: object) -> None:
    raise RuntimeError("CORS is disabled for the image check's moto server")


def start_moto() -> tuple[Any, str]:
    """moto in server mode on 127.0.0.1 (a free port), for the child processes' boto3: (server, endpoint)."""
    # moto's server imports flask_cors (its moto[server] extra, not in the dev lock) only to add CORS headers,
    # which matter to browsers alone: they are switched off and the import satisfied by an empty module
    os.environ["MOTO_DISABLE_GLOBAL_CORS"] = "true"
    if importlib.util.find_spec("flask_cors") is None:
        stub = types.ModuleType("flask_cors")
        stub.CORS = _no_cors  # type: ignore[attr-defined]
        sys.modules["flask_cors"] = stub
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def aws_env(endpoint: str, scratch: Path) -> dict[str, str]:
    """Dummy credentials and moto's endpoint; no AWS config or credentials file of this machine is read."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(scratch / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(scratch / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def provision(template: Mapping[str, Any], logical_ids: Iterable[str]) -> dict[str, str]:
    """Create in moto the resources the functions' environment names; return their Ref (and GetAtt) values."""
    import boto3

    resources = template.get("Resources", {})
    parameters = template.get("Parameters", {})
    physical: dict[str, str] = {}
    for logical_id in sorted(set(logical_ids)):
        if logical_id in parameters or logical_id in PSEUDO:
            continue
        resource = resources.get(logical_id)
        if resource is None:
            raise CheckError(f"!Ref {logical_id}: no such resource")
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::S3::Bucket":
            name = f"{STACK}-{logical_id.lower()}"
            s3 = boto3.client("s3")
            s3.create_bucket(Bucket=name)
            if "VersioningConfiguration" in props:
                status = props["VersioningConfiguration"]["Status"]
                s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": status})
            physical[logical_id] = name
        elif kind == "AWS::DynamoDB::Table":
            name = f"{STACK}-{logical_id}"
            table: dict[str, Any] = {
                k: props[k]
                for k in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes")
                if k in props
            }
            boto3.client("dynamodb").create_table(
                TableName=name, BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"), **table
            )
            physical[logical_id] = name
        elif kind == "AWS::Events::EventBus":
            name = resolve(props.get("Name", f"{STACK}-{logical_id}"), parameters, physical)
            boto3.client("events").create_event_bus(Name=name)
            physical[logical_id] = name
        elif kind == "AWS::SQS::Queue":
            name = f"{STACK}-{logical_id}"
            url = boto3.client("sqs").create_queue(QueueName=name)["QueueUrl"]
            physical |= {logical_id: url, f"{logical_id}.QueueName": name}
            physical[f"{logical_id}.Arn"] = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
        else:
            raise CheckError(
                f"{logical_id} ({kind}): the image check does not create this resource type in moto"
            )
    return physical


#: The records the sample events refer to (tests/contract/test_contract.py seeds the same ones locally):
#: job id -> (workflow, params). ``inputUrl`` is filled in with the test clip's S3 URL.
SEED_JOBS: dict[str, tuple[str, dict[str, Any]]] = {
    "00000000-0000-4000-8000-000000000001": ("tonearm/audio-info", {}),
    "00000000-0000-4000-8000-000000000002": (
        "tonearm/tagging",
        {"taskTypes": ["Genre", "Mood"], "topNum": 3},
    ),
    "00000000-0000-4000-8000-000000000003": ("music-ai/generate-chords", {}),
    "00000000-0000-4000-8000-000000000004": ("tonearm/transcribe", {}),
    "00000000-0000-4000-8000-000000000005": (
        "tonearm/generate",
        {"prompt": "calm piano", "duration_seconds": 2, "seed": 7},
    ),
    "00000000-0000-4000-8000-000000000006": ("tonearm/analyze", {}),
    "00000000-0000-4000-8000-000000000009": ("music-ai/isolate-drums", {}),
}
#: The application the API sample events authenticate as (appkey / token in their bodies).
SEED_APP = ("local", "contract-key")
CLIP_KEY = "uploads/image-check/song.wav"


def tone_wav(seconds: float = 1.0, sr: int = 22050, freq: float = 440.0) -> bytes:
    """A stereo 16-bit sine like the contract test's clip (stdlib only)."""
    frames = bytearray()
    for n in range(int(seconds * sr)):
        sample = int(0.5 * 32767 * math.sin(2 * math.pi * freq * n / sr))
        frames += struct.pack("<hh", sample, sample)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(bytes(frames))
    return buf.getvalue()


def seed(function_env: Mapping[str, str], job_ids: Iterable[str]) -> Services:
    """Put the clip, the application and the jobs the events name into moto; return the services used.

    Written through tonearm's own AWS adapters, configured from a function's environment, so the records have
    exactly the shape the functions read.
    """
    from tonearm.bootstrap import build_aws_services
    from tonearm.jobs.model import Job, JobStatus
    from tonearm.jobs.service import hash_api_key
    from tonearm.ports import Application
    from tonearm.settings import Settings
    from tonearm.workflows import CATALOGUE

    services = build_aws_services(Settings.from_env(function_env))
    app_id, key = SEED_APP
    services.store.put_application(Application(id=app_id, name=app_id, key_sha256=hash_api_key(key)))
    services.blobs.put_bytes(CLIP_KEY, tone_wav(), content_type="audio/wav")
    # the task reads a URL of its own bucket through S3 (key_for_url), not over HTTP
    clip_url = f"https://{services.settings.bucket_name}.s3.amazonaws.com/{CLIP_KEY}"
    for job_id in sorted(set(job_ids)):
        if job_id not in SEED_JOBS:
            raise CheckError(
                f"a sample event names job {job_id}: add it to SEED_JOBS in tools/image_check.py"
            )
        workflow, params = SEED_JOBS[job_id]
        if CATALOGUE.get(workflow).takes_input:
            params = {"inputUrl": clip_url, **params}
        # STARTED, as the state machine leaves a job before its task runs
        job = Job(id=job_id, app=app_id, name=workflow, workflow=workflow, workflow_params=params)
        services.store.create(
            job.model_copy(update={"status": JobStatus.STARTED, "started_at": job.created_at})
        )
    return services


# --- a local Lambda Runtime API --------------------------------------------------------------------------


@dataclass
class Invocation:
    request_id: str
    body: bytes
    deadline_ms: int
    function_arn: str
    trace_id: str


@dataclass
class _Session:
    """One function's process: the events it is handed and what it answers."""

    events: queue.Queue[Invocation | None] = field(default_factory=queue.Queue)
    outcomes: queue.Queue[tuple[str, str, bytes]] = field(default_factory=queue.Queue)
    polled: threading.Event = field(default_factory=threading.Event)
    polled_at: float = 0.0


class _QuietServer(http.server.ThreadingHTTPServer):
    """Quiet about dropped connections: a function's process is killed while it waits for an event."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class RuntimeApi:
    """The Runtime API endpoints awslambdaric uses (next invocation, response, error, init error).

    Lambda's own service for a container image's runtime client; here it hands a function's process one
    sample event at a time and records the answers, and the first ``next`` call marks the end of its init.
    """

    PREFIX = "/2018-06-01/runtime"

    def __init__(self) -> None:
        api = self
        self.session = _Session()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _answer(
                self, status: int, body: bytes = b"", headers: Mapping[str, str] | None = None
            ) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path != f"{api.PREFIX}/invocation/next":
                    self._answer(404)
                    return
                session = api.session
                if not session.polled.is_set():
                    session.polled_at = time.perf_counter()
                    session.polled.set()
                invocation = session.events.get()
                if invocation is None:  # the function is being stopped
                    with contextlib.suppress(OSError):
                        self._answer(500, b'{"errorMessage": "stopped"}')
                    return
                self._answer(
                    200,
                    invocation.body,
                    {
                        "Content-Type": "application/json",
                        "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                        "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                        "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
                        "Lambda-Runtime-Trace-Id": invocation.trace_id,
                    },
                )

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = self.path.removeprefix(api.PREFIX).strip("/").split("/")
                if parts == ["init", "error"]:
                    api.session.outcomes.put(("init_error", "", body))
                elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    api.session.outcomes.put((parts[2], parts[1], body))
                else:
                    self._answer(404)
                    return
                self._answer(202, b"{}")

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host!s}:{port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class XRaySink:
    """A UDP socket standing in for the X-Ray daemon: counts the segments the functions emit."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.count = 0
        threading.Thread(target=self._receive, daemon=True).start()

    @property
    def address(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"{host}:{port}"

    def _receive(self) -> None:
        while True:
            try:
                self.sock.recv(65536)
            except OSError:
                return
            self.count += 1


# --- the clean interpreter -------------------------------------------------------------------------------

# Run with `python -S -c BOOTSTRAP CONFIG ...` in the workdir, environment built from nothing: -S keeps this
# machine's site-packages out, and the image's are added the way its site.py would (after the stdlib, .pth
# files run). Not -I: that would also ignore the Dockerfile's PYTHON* ENV, which the image's python honours.
BOOTSTRAP = r"""
import json, runpy, site, sys
config = json.loads(sys.argv[1])
site.addsitedir(config["site_packages"])
if config["module"]:
    sys.argv = [config["module"], *config["args"]]
    runpy.run_module(config["module"], run_name="__main__", alter_sys=True)
else:
    exec(compile(config["code"], "<image-check probe>", "exec"))
"""

# The probe, run in the same clean interpreter: what the image's handlers and wheels need at run time.
PROBE = r"""
import importlib, importlib.metadata, os, sys, sysconfig
report = {"handlers": {}, "packages": {}, "libraries": {}}
for handler in config["handlers"]:
    module, _, attr = handler.rpartition(".")
    report["handlers"][handler] = callable(getattr(importlib.import_module(module), attr, None))
for dist in config["distributions"]:
    try:
        report["packages"][dist] = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        report["packages"][dist] = None
libs = report["libraries"]
if "soundfile" in config["checks"]:
    import soundfile
    libs["libsndfile"] = soundfile.__libsndfile_version__
if "av" in config["checks"]:
    import av
    codec = av.codec.Codec("mp3", "r")
    version = ".".join(str(v) for v in av.library_versions["libavcodec"])
    libs["ffmpeg"] = "libavcodec " + version + ", mp3 decoder: " + codec.long_name
if "onnxruntime" in config["checks"]:
    import onnxruntime
    providers = ", ".join(onnxruntime.get_available_providers())
    libs["onnxruntime"] = onnxruntime.__version__ + " (" + providers + ")"
if "onnx_model" in config["checks"]:
    session = onnxruntime.InferenceSession(config["onnx_model"], providers=["CPUExecutionProvider"])
    inputs = ", ".join(i.name for i in session.get_inputs())
    libs["onnx_model"] = os.path.basename(config["onnx_model"]) + " (input " + inputs + ")"
if "models" in config["checks"]:
    from tonearm.models.registry import ModelRegistry, models_dir
    registry = ModelRegistry()
    for name in registry.specs:
        registry.get(name)
    report["models"] = {"dir": str(models_dir()), "loaded": registry.loaded}
if "soundfonts" in config["checks"]:
    from tonearm.midi import fluidsynth
    report["soundfonts"] = list(fluidsynth._SOUNDFONTS)
# every shared object the process has mapped: the wheels' own, and what they take from the system
with open("/proc/self/maps") as maps:
    report["shared_objects"] = sorted({line.split()[-1] for line in maps if ".so" in line.split()[-1]})
paths = sysconfig.get_paths()
stdlib = [os.path.realpath(paths["stdlib"]), os.path.realpath(paths["platstdlib"])]
foreign = [os.path.realpath(paths["purelib"]), os.path.realpath(paths["platlib"])]
allowed = [os.path.realpath(p) for p in config["roots"]]
def inside(path, roots):
    return any(path == r or path.startswith(r + os.sep) for r in roots)
strays = set()
for module in list(sys.modules.values()):
    file = getattr(module, "__file__", None)
    if not file:
        continue
    real = os.path.realpath(file)
    if inside(real, allowed) or (inside(real, stdlib) and not inside(real, foreign)):
        continue
    strays.add(real)
report["strays"] = sorted(strays)
report["sys_path"] = sys.path
report["venv"] = sys.prefix != sys.base_prefix
print("IMAGE-CHECK-PROBE " + json.dumps(report))
"""


@dataclass
class Stage:
    """One image laid out on this machine."""

    dockerfile: Dockerfile
    platform: Platform
    root: Path  # the staging root: the image's / for what the Dockerfile adds
    site_packages: Path  # the cached install (the staging root links to it)
    lock_name: str
    pins: list[Pin]
    install_s: float | None
    apt_packages: tuple[str, ...]
    bin_dir: Path  # what the child's PATH holds: python and the apt packages' programs
    copied: list[tuple[str, str]] = field(default_factory=list)

    @property
    def workdir(self) -> Path:
        return _staged(self.root, self.dockerfile.workdir)

    @property
    def image_site_packages(self) -> Path:
        """The install where the image has it (a link to the cached one)."""
        return _staged(self.root, self.platform.site_packages)


def clean_python() -> str:
    """This machine's CPython itself (not the .venv's wrapper), whose stdlib the child sees."""
    base = getattr(sys, "_base_executable", sys.executable)
    return str(Path(base).resolve())


def child_command(stage: Stage, module: str | None, args: Sequence[str], code: str = "") -> list[str]:
    config = {
        "site_packages": str(stage.image_site_packages),
        "module": module,
        "args": list(args),
        "code": code,
    }
    return [clean_python(), "-S", "-c", BOOTSTRAP, json.dumps(config)]


def base_env(stage: Stage) -> dict[str, str]:
    """The image's ENV (base + Dockerfile), with paths inside the workdir moved to the staging root."""
    env = dict(stage.dockerfile.env)
    workdir = stage.dockerfile.workdir
    for key, value in env.items():
        if workdir != "/" and (value == workdir or value.startswith(workdir + "/")):
            env[key] = str(_staged(stage.root, value))
    # only what the image has on its PATH: python and the apt packages' programs, so a program this machine
    # has and the image lacks cannot be found (fluidsynth for the worker image, say)
    env["PATH"] = str(stage.bin_dir)
    return env


# --- building the stage ----------------------------------------------------------------------------------


def build_stage(dockerfile: Dockerfile, context: Path, cache: Path) -> Stage:
    """Lay out the image's files and install its locks, as the Dockerfile's steps would."""
    platform = platform_for(dockerfile.base)
    # this machine's CPython and glibc stand in for the image's: the same minor version, and a glibc at least
    # as new, or the image's wheels could not load here
    here = tuple(
        int(part) for part in (os.confstr("CS_GNU_LIBC_VERSION") or "glibc 0.0").split()[1].split(".")
    )
    if sys.version_info[:2] != platform.python or here[:2] < platform.glibc:
        raise CheckError(
            f"{_shown(dockerfile.path)}: this machine (CPython {sys.version_info[0]}.{sys.version_info[1]}, "
            f"glibc {'.'.join(map(str, here))}) cannot stand in for {platform.image} ({platform.description})"
        )
    ignore = DockerIgnore.from_context(context)
    name = dockerfile.path.parent.name
    root = cache / "stage" / name
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    _staged(root, dockerfile.workdir).mkdir(parents=True, exist_ok=True)
    copied: list[tuple[str, str]] = []
    site: Path | None = None
    lock_name, pins, install_s = "", [], None
    apt: list[str] = []
    for step in dockerfile.steps:
        try:
            if isinstance(step, Copy):
                copied += lay_out(step, context, ignore, root)
            elif isinstance(step, PipInstall):
                if not step.require_hashes:
                    raise CheckError(
                        f"line {step.line}: pip install without --require-hashes installs unpinned files"
                    )
                if site is not None or len(step.requirements) != 1:
                    raise CheckError(f"line {step.line}: the check emulates one pip install of one lock")
                staged_lock = _staged(root, step.requirements[0])
                if not staged_lock.is_file():
                    raise CheckError(
                        f"line {step.line}: {step.requirements[0]} is not in the image (COPY it first)"
                    )
                lock_name = next(
                    (src for src, dst in copied if dst == step.requirements[0]), step.requirements[0]
                )
                lock_text = staged_lock.read_text()
                pins = parse_lock(lock_text)
                site, install_s = install_lock(lock_text, lock_name, platform, cache)
                check_installed(site, pins, platform)
            else:
                if platform.apt_codename is None:
                    raise CheckError(f"line {step.line}: apt-get on {platform.image}, which has no apt")
                apt += step.packages
        except CheckError as exc:
            raise CheckError(f"{_shown(dockerfile.path)}: {exc}") from exc
    if site is None:
        raise CheckError(f"{_shown(dockerfile.path)}: no `pip install --require-hashes -r <lock>`")
    link = _staged(root, platform.site_packages)
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(site, target_is_directory=True)
    bin_dir = root / ".image-path"
    bin_dir.mkdir()
    for alias in ("python", "python3", f"python{platform.python[0]}.{platform.python[1]}"):
        (bin_dir / alias).symlink_to(clean_python())
    return Stage(
        dockerfile=dockerfile,
        platform=platform,
        root=root,
        site_packages=site,
        lock_name=lock_name,
        pins=pins,
        install_s=install_s,
        apt_packages=tuple(apt),
        bin_dir=bin_dir,
        copied=copied,
    )


# --- apt packages ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AptPackage:
    """A Debian package the image installs, as its release's archive has it."""

    name: str
    version: str
    archive: str  # e.g. bookworm/main
    files: tuple[str, ...]
    size_kb: int


def parse_apt_policy(text: str) -> dict[str, tuple[str, str, list[str]]]:
    """``apt-cache policy`` output: package -> (installed, candidate, the candidate's source lines)."""
    found: dict[str, tuple[str, str, list[str]]] = {}
    name = installed = candidate = ""
    sources: list[str] = []
    in_candidate = False
    for line in text.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            if name:
                found[name] = (installed, candidate, sources)
            name, installed, candidate, sources, in_candidate = line[:-1], "", "", [], False
        elif line.strip().startswith("Installed:"):
            installed = line.split(":", 1)[1].strip()
        elif line.strip().startswith("Candidate:"):
            candidate = line.split(":", 1)[1].strip()
        elif version := re.match(r"^ (?:\*\*\*| {3}) (\S+) -?\d+$", line):  # the version table
            in_candidate = version.group(1) == candidate
        elif in_candidate and re.match(r"^ {8}-?\d+ ", line):
            sources.append(line.strip())
    if name:
        found[name] = (installed, candidate, sources)
    return found


def apt_packages(packages: Sequence[str], codename: str) -> list[AptPackage]:
    """The packages as the image's ``apt-get install`` gets them from Debian ``codename``, with their files.

    Needs this machine to be that Debian release: its apt cache says what the archive holds, and the file
    lists come from the same versions installed here (``make system-deps``).
    """
    release = _os_release()
    if release.get("ID") != "debian" or release.get("VERSION_CODENAME") != codename:
        raise CheckError(
            f"the image's apt packages come from Debian {codename}; this machine is "
            f"{release.get('PRETTY_NAME', 'unknown')}, whose apt cache cannot say what {codename} holds"
        )
    lists = Path("/var/lib/apt/lists")
    # an empty cache (a fresh container) is filled once
    empty = not any(lists.glob("*_Packages*"))
    if empty and subprocess.run(["apt-get", "update", "-qq"], check=False).returncode != 0:
        raise CheckError("the apt cache is empty and `apt-get update` failed: run `sudo apt-get update`")
    policy = parse_apt_policy(
        subprocess.run(["apt-cache", "policy", *packages], capture_output=True, text=True, check=True).stdout
    )
    found: list[AptPackage] = []
    for name in packages:
        installed, candidate, sources = policy.get(name, ("", "(none)", []))
        if not candidate or candidate == "(none)":
            raise CheckError(f"apt package {name!r} is not in Debian {codename}")
        archive = [w for s in sources for w in s.split() if w.startswith((f"{codename}/", f"{codename}-"))]
        if not archive:
            raise CheckError(f"apt package {name} {candidate} comes from {sources}, not Debian {codename}")
        if installed != candidate:
            raise CheckError(
                f"apt package {name} {candidate} is not installed here ({installed}): `make system-deps` "
                "installs it, so its file list can be read"
            )
        files = subprocess.run(["dpkg", "-L", name], capture_output=True, text=True, check=True).stdout
        size = subprocess.run(
            ["dpkg-query", "-W", "-f=${Installed-Size}", name], capture_output=True, text=True, check=True
        ).stdout
        found.append(
            AptPackage(name, candidate, archive[0], tuple(files.splitlines()), int(size.strip() or 0))
        )
    return found


def _os_release() -> dict[str, str]:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return {}
    return {k: v.strip('"') for k, _, v in (line.partition("=") for line in text.splitlines()) if k}


# --- running the functions ---------------------------------------------------------------------------------


@dataclass
class EventRun:
    name: str
    ms: float


@dataclass
class FunctionRun:
    logical_id: str
    handler: str
    init_ms: float
    events: list[EventRun]
    peak_rss_mb: float
    memory_mb: int
    xray_segments: int


#: Sample events answered with an HTTP error on purpose; any other API event must answer 2xx-4xx (a 5xx means
#: the image is missing something: a module, a model, a library).
EXPECTED_STATUS = {
    "ModelApiFunction/flow_prediction_no_model.json": 409,
    "ModelApiFunction/sami_invoke_bad_token.json": 401,
    "ModelApiFunction/flow_health.json": 200,
    "ModelApiFunction/sami_invoke.json": 200,
}


def check_answer(function: str, event: str, answer: Any, services: Services) -> None:
    """The function's answer to one sample event is a success of its kind."""
    where = f"{function} {event}"
    if not isinstance(answer, dict):
        raise CheckError(f"{where}: answered {answer!r}")
    if "statusCode" in answer:
        status = int(answer["statusCode"])
        expected = EXPECTED_STATUS.get(f"{function}/{event}")
        if (expected is not None and status != expected) or (expected is None and status >= 500):
            raise CheckError(
                f"{where}: HTTP {status} (expected {expected or '< 500'}): {str(answer.get('body'))[:400]}"
            )
        return
    if not isinstance(answer.get("result"), dict) or not isinstance(answer.get("outputs"), dict):
        raise CheckError(f"{where}: not a task's {{result, outputs}}: {str(answer)[:400]}")
    for name, key in answer["outputs"].items():
        # written to S3 by the function: its boto3 reached the bucket the template names
        if not _object_exists(services, str(key)):
            raise CheckError(f"{where}: output {name} ({key}) is not in the bucket")


def _object_exists(services: Services, key: str) -> bool:
    import boto3
    from botocore.exceptions import ClientError

    try:
        boto3.client("s3").head_object(Bucket=services.settings.bucket_name, Key=key)
    except ClientError:
        return False
    return True


MAX_EVENT_S = 120


def _trace_id() -> str:
    """An X-Ray trace header, sampled: the functions' Tracer (template: Tracing: Active) emits segments."""
    return f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=1"


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _stop(proc: subprocess.Popen[bytes]) -> float:
    """Stop a function's process; its peak resident memory in MB (from the kernel's accounting)."""
    if proc.poll() is None:
        proc.terminate()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    except ChildProcessError:  # already reaped by poll(): its usage is in RUSAGE_CHILDREN only
        return 0.0
    return usage.ru_maxrss / 1024


def run_function(
    stage: Stage,
    function: ImageFunction,
    env: Mapping[str, str],
    api: RuntimeApi,
    xray: XRaySink,
    services: Services,
    logs: Path,
) -> FunctionRun:
    """Start the function as Lambda would (ENTRYPOINT + Command), then hand it each sample event."""
    entrypoint = function.entrypoint or stage.dockerfile.entrypoint
    if len(entrypoint) < 3 or not entrypoint[0].startswith("python") or entrypoint[1] != "-m":
        raise CheckError(
            f"{function.logical_id}: ENTRYPOINT {list(entrypoint)} is not `python -m <runtime client>`"
        )
    module, args = entrypoint[2], [*entrypoint[3:], *function.command]
    events = sorted((EVENTS / function.logical_id).glob("*.json"))
    if not events:
        raise CheckError(f"{function.logical_id}: no sample events in events/{function.logical_id}/")
    api.session = session = _Session()
    log = logs / f"{function.logical_id}.log"
    name = f"{STACK}-{function.logical_id}"
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    child_env = {
        **env,
        # what Lambda sets in every function's environment
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "image-check",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "AWS_XRAY_DAEMON_ADDRESS": xray.address,
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "_HANDLER": function.command[0],
        "TZ": ":UTC",
    }
    segments_before = xray.count
    with log.open("wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            child_command(stage, module, args), cwd=stage.workdir, env=child_env, stdout=out, stderr=out
        )
    peak_mb = 0.0
    try:
        while not session.polled.wait(0.05):
            if not session.outcomes.empty() or proc.poll() is not None:
                _, _, body = session.outcomes.get() if not session.outcomes.empty() else ("", "", b"")
                raise CheckError(
                    f"{function.logical_id}: the runtime client did not start ({function.command[0]}): "
                    f"{body.decode(errors='replace')[:600]}\n{_log_tail(log)}"
                )
            if time.perf_counter() - started > MAX_EVENT_S:
                raise CheckError(
                    f"{function.logical_id}: no call for an event within {MAX_EVENT_S} s\n{_log_tail(log)}"
                )
        init_ms = (session.polled_at - started) * 1000
        runs: list[EventRun] = []
        for path in events:
            request_id = str(uuid.uuid4())
            t0 = time.perf_counter()
            session.events.put(
                Invocation(
                    request_id=request_id,
                    body=path.read_bytes(),
                    deadline_ms=int(time.time() * 1000) + function.timeout_s * 1000,
                    function_arn=arn,
                    trace_id=_trace_id(),
                )
            )
            # the sample events are small: a function busy for two minutes is stuck, whatever its Timeout
            limit = min(function.timeout_s, MAX_EVENT_S)
            try:
                kind, answered, body = session.outcomes.get(timeout=limit)
            except queue.Empty:
                raise CheckError(
                    f"{function.logical_id} {path.name}: no answer within {limit} s\n{_log_tail(log)}"
                ) from None
            ms = (time.perf_counter() - t0) * 1000
            if kind != "response" or answered != request_id:
                raise CheckError(
                    f"{function.logical_id} {path.name}: {kind}: "
                    f"{body.decode(errors='replace')[:1500]}\n{_log_tail(log)}"
                )
            check_answer(function.logical_id, path.name, json.loads(body), services)
            runs.append(EventRun(path.name, ms))
    finally:
        peak_mb = _stop(proc)
        session.events.put(None)  # releases the server thread still waiting to hand it a next event
    if peak_mb > function.memory_mb:
        raise CheckError(
            f"{function.logical_id}: peak memory {peak_mb:.0f} MB > MemorySize {function.memory_mb} MB"
        )
    return FunctionRun(
        logical_id=function.logical_id,
        handler=function.command[0],
        init_ms=init_ms,
        events=runs,
        peak_rss_mb=peak_mb,
        memory_mb=function.memory_mb,
        xray_segments=xray.count - segments_before,
    )


def probe(stage: Stage, env: Mapping[str, str], handlers: Sequence[str], logs: Path) -> dict[str, Any]:
    """Import every handler and check the wheels' shared libraries, in the clean interpreter."""
    installed = {p.name for p in stage.pins}
    checks: list[str] = [name for name in ("soundfile", "av", "onnxruntime") if name in installed]
    models = stage.workdir / "models"
    model = models / "musicnn" / "mtt_musicnn.onnx"
    if "onnxruntime" in checks and model.is_file():
        checks.append("onnx_model")
    if "onnxruntime" in checks and (models / "registry.json").is_file():
        checks.append("models")  # every model of the manifest, loaded and sha256-checked as tonearm does
    if stage.apt_packages:
        checks.append("soundfonts")
    config = {
        "handlers": list(handlers),
        "distributions": ["boto3", "awslambdaric"],
        "checks": checks,
        "onnx_model": str(model),
        "roots": [str(stage.root), str(stage.site_packages)],
    }
    code = f"import json\nconfig = json.loads({json.dumps(json.dumps(config))})\n{PROBE}"
    done = subprocess.run(
        child_command(stage, None, [], code), cwd=stage.workdir, env=dict(env), capture_output=True, text=True
    )
    (logs / "probe.log").write_text(done.stdout + done.stderr)
    line = next((x for x in done.stdout.splitlines() if x.startswith("IMAGE-CHECK-PROBE ")), None)
    if done.returncode != 0 or line is None:
        raise CheckError(f"the image's handlers or libraries do not load:\n{_tail(done.stderr, 30)}")
    report: dict[str, Any] = json.loads(line.removeprefix("IMAGE-CHECK-PROBE "))
    missing = [h for h, ok in report["handlers"].items() if not ok]
    if missing:
        raise CheckError(f"handlers not found: {', '.join(missing)}")
    absent = [d for d, v in report["packages"].items() if v is None]
    if absent:
        raise CheckError(
            f"the image does not install {', '.join(absent)} (add it to the image's requirements.in)"
        )
    if report["strays"] or report["venv"]:
        raise CheckError(f"modules loaded from outside the image: {report['strays'][:10]}")
    if "models" in checks and not str(report["models"]["dir"]).startswith(str(stage.root)):
        raise CheckError(f"tonearm found its models at {report['models']['dir']}, outside the image")
    return report


#: The libraries behind the Python packages whose wheels must bring their own (or they would load this
#: machine's copy, which the image does not have): a substring of the file name -> the package
BUNDLED_LIBRARIES = {
    "libsndfile": "soundfile",
    "libavcodec": "av",
    "onnxruntime_pybind11_state": "onnxruntime",
}


def _owner(path: str, site: Path) -> str:
    """The site-packages folder a shared object belongs to (``av.libs`` -> ``av``)."""
    return PurePosixPath(os.path.relpath(path, site)).parts[0].split(".")[0]


def check_shared_objects(stage: Stage, mapped: Sequence[str]) -> tuple[dict[str, str], dict[str, set[str]]]:
    """Where the bundled libraries were loaded from, and the system libraries the wheels need.

    ``ldd`` resolves each shared object the probe had mapped from the staging root as the dynamic loader does:
    what resolves inside the root came with a wheel; anything else must be one of the base's known libraries.
    Returns (library -> path in site-packages, soname -> the packages that need it).
    """
    roots = [str(stage.root.resolve()), str(stage.site_packages.resolve())]

    def staged(path: str) -> bool:
        real = os.path.realpath(path)
        return any(real.startswith(r + os.sep) for r in roots)

    bundled: dict[str, str] = {}
    for marker, package in BUNDLED_LIBRARIES.items():
        loaded = [p for p in mapped if marker in PurePosixPath(p).name]
        if package in {p.name for p in stage.pins} and not loaded:
            raise CheckError(f"{package} loaded no {marker}: the check could not see which one it uses")
        for path in loaded:
            if not staged(path):
                raise CheckError(f"{package} loaded {path} from this machine; the image has no such file")
            bundled[marker] = os.path.relpath(os.path.realpath(path), stage.site_packages.resolve())
    if shutil.which("ldd") is None:
        raise CheckError("ldd (glibc's libc-bin) is needed to read the wheels' shared-library needs")
    site = stage.site_packages.resolve()
    # ldd's answers about the install's files change only with the install (and this machine's libraries), so
    # they are kept beside it: a cached run skips ~100 ldd calls
    known_file = site.parent / "ldd.json"
    try:
        known: dict[str, str] = json.loads(known_file.read_text())
    except (OSError, ValueError):
        known = {}
    asked = len(known)
    needs: dict[str, set[str]] = {}
    for path in (os.path.realpath(p) for p in mapped if staged(p)):
        key = os.path.relpath(path, site)
        if key not in known:
            known[key] = subprocess.run(["ldd", path], capture_output=True, text=True, check=False).stdout
        for line in known[key].splitlines():
            words = line.split()
            if not words or words[0].startswith("linux-vdso"):
                continue
            soname, target = (
                (words[0], words[2]) if "=>" in words else (PurePosixPath(words[0]).name, words[0])
            )
            if target == "not":
                raise CheckError(f"{path} needs {soname}, which is neither in a wheel nor on this machine")
            if not staged(target):
                needs.setdefault(soname, set()).add(_owner(path, site))
    if len(known) != asked:
        known_file.write_text(json.dumps(known))
    unknown = {name: owners for name, owners in needs.items() if name not in stage.platform.system_libraries}
    if unknown:
        listed = "; ".join(f"{name} (for {', '.join(sorted(o))})" for name, o in sorted(unknown.items()))
        raise CheckError(
            f"the wheels need system libraries {stage.platform.image} is not known to have: {listed}. Check "
            "the base has them and add them to its system_libraries in tools/image_check.py"
        )
    return bundled, needs


def check_programs(stage: Stage, packages: Sequence[AptPackage], soundfonts: Sequence[str]) -> dict[str, str]:
    """The apt packages provide the program and SoundFont tonearm renders with; link the programs for PATH."""
    files = {f for p in packages for f in p.files}
    image_path = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
    programs = sorted(
        f for f in files if str(PurePosixPath(f).parent) in image_path and os.access(f, os.X_OK)
    )
    for program in programs:
        link = stage.bin_dir / PurePosixPath(program).name
        if not link.exists():
            link.symlink_to(program)
    found: dict[str, str] = {}
    if not soundfonts:  # the image does not carry tonearm's MIDI renderer
        return found
    if "fluidsynth" not in {PurePosixPath(p).name for p in programs}:
        raise CheckError(f"no fluidsynth program on PATH from the apt packages {[p.name for p in packages]}")
    found["fluidsynth"] = next(p for p in programs if p.endswith("/fluidsynth"))
    font = next((f for f in soundfonts if f in files), None)
    if font is None:
        raise CheckError(
            f"none of tonearm's SoundFont paths {list(soundfonts)} is installed by "
            f"{[p.name for p in packages]}"
        )
    found["soundfont"] = font
    return found


# --- the whole check -------------------------------------------------------------------------------------


@dataclass
class ImageReport:
    stage: Stage
    functions: list[FunctionRun]
    probe: dict[str, Any]
    apt: list[AptPackage]
    programs: dict[str, str]
    bundled: dict[str, str]
    system_libraries: dict[str, set[str]]
    site_mb: float
    task_mb: float


def _snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime) of every file under the roots (not following links)."""
    seen: dict[str, tuple[int, int]] = {}
    for root in roots:
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                path = os.path.join(dirpath, name)
                st = os.lstat(path)
                seen[path] = (st.st_size, st.st_mtime_ns)
    return seen


def _mb(snapshot: Mapping[str, tuple[int, int]], root: Path) -> float:
    prefix = str(root) + os.sep
    return sum(size for path, (size, _) in snapshot.items() if path.startswith(prefix)) / 1e6


def check_image(
    dockerfile_path: Path,
    functions: Sequence[ImageFunction],
    template: Mapping[str, Any],
    aws: Mapping[str, str],
    physical: Mapping[str, str],
    services: Services,
    api: RuntimeApi,
    xray: XRaySink,
    cache: Path,
) -> ImageReport:
    """Stage one image, probe it, and run every function it serves on its sample events."""
    rel = _shown(dockerfile_path)
    dockerfile = parse_dockerfile(dockerfile_path)
    stage = build_stage(dockerfile, functions[0].context, cache)
    logs = cache / "logs" / dockerfile_path.parent.name
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    try:
        env = {**base_env(stage), **aws}
        parameters = template.get("Parameters", {})
        envs = {
            # the template's environment overrides the image's ENV, as Lambda applies it
            f.logical_id: {**env, **{k: resolve(v, parameters, physical) for k, v in f.environment.items()}}
            for f in functions
        }
        apt = (
            apt_packages(stage.apt_packages, stage.platform.apt_codename or "") if stage.apt_packages else []
        )
        report = probe(stage, envs[functions[0].logical_id], [f.command[0] for f in functions], logs)
        bundled, system_libraries = check_shared_objects(stage, report["shared_objects"])
        programs = check_programs(stage, apt, report.get("soundfonts", [])) if apt else {}
        runs: list[FunctionRun] = []
        before = _snapshot(stage.workdir, stage.site_packages)
        for function in functions:
            runs.append(run_function(stage, function, envs[function.logical_id], api, xray, services, logs))
        changed = set(_snapshot(stage.workdir, stage.site_packages).items()) - set(before.items())
        # a bytecode cache that cannot be written is skipped by Python; anything else would fail in Lambda
        written = sorted(path for path, _ in changed if f"{os.sep}__pycache__{os.sep}" not in path)
        if written:
            raise CheckError(f"the functions wrote into the image (read-only in Lambda): {written[:5]}")
    except CheckError as exc:
        raise CheckError(f"{rel}: {exc}") from exc
    return ImageReport(
        stage=stage,
        functions=runs,
        probe=report,
        apt=apt,
        programs=programs,
        bundled=bundled,
        system_libraries=system_libraries,
        site_mb=_mb(before, stage.site_packages),
        task_mb=_mb(before, stage.workdir),
    )


def render_report(images: Sequence[ImageReport]) -> str:
    """The Markdown report: one section per image."""
    lines = [
        "# Container images (`make image-check`)",
        "",
        "Written by `make image-check` (`tools/image_check.py`), which checks each Lambda image without",
        "Docker: the lock installed for the base image's platform, the COPY lines laid out through",
        "`.dockerignore`, each function started by its ENTRYPOINT and `ImageConfig.Command` (awslambdaric",
        "against a local Runtime API) in an interpreter that sees only the staged image and the stdlib, and",
        "every sample event in `events/<Function>/` invoked against AWS in moto.",
        "",
        "Sizes are the staged files (MB = 10^6 bytes) without the base image and apt layers. Init is process",
        "start to the runtime client's first call for an event: Python, awslambdaric, the handler module's",
        "imports and module-level set-up, as Lambda's Init Duration, but on this machine's CPU with a warm",
        "disk cache. Each event's time is its first (cold) invocation: lazy imports, model loads included.",
        "",
    ]
    for image in images:
        stage = image.stage
        platform = stage.platform
        libs = image.probe.get("libraries", {})
        packages = image.probe.get("packages", {})
        installed = "cached install" if stage.install_s is None else f"installed in {stage.install_s:.0f} s"
        lines += [
            f"## `{_shown(stage.dockerfile.path)}`",
            "",
            f"- Base `{platform.image}`: {platform.description}; pip platforms "
            f"`manylinux_2_{platform.glibc[1]}` down to `manylinux_2_5` and `linux_{platform.arch}`",
            f"- `{stage.lock_name}`: {len(stage.pins)} packages ({installed}); "
            f"boto3 {packages.get('boto3')}, awslambdaric {packages.get('awslambdaric')}",
            f"- Staged size: {image.site_mb + image.task_mb:.0f} MB (site-packages {image.site_mb:.0f} MB, "
            f"`{stage.dockerfile.workdir}` {image.task_mb:.1f} MB); COPY laid out {len(stage.copied)} files "
            "through `.dockerignore`",
        ]
        described = {
            "libsndfile": ("libsndfile", libs.get("libsndfile")),
            "libavcodec": ("FFmpeg", libs.get("ffmpeg")),
            "onnxruntime_pybind11_state": ("onnxruntime", libs.get("onnxruntime")),
        }
        for marker, path in image.bundled.items():
            name, version = described[marker]
            lines.append(f"- {name} {version}, from the wheel: `{path}`")
        if "onnx_model" in libs:
            lines.append(f"- ONNX session: {libs['onnx_model']}")
        if "models" in image.probe:
            loaded = ", ".join(image.probe["models"]["loaded"])
            lines.append(
                f"- Models loaded (sha256-checked) from `{stage.dockerfile.workdir}/models`: {loaded}"
            )
        glibc = sorted(n for n in image.system_libraries if n in _GLIBC)
        others = [
            f"{name} ({', '.join(sorted(owners))})"
            for name, owners in sorted(image.system_libraries.items())
            if name not in _GLIBC
        ]
        lines.append(
            f"- System libraries the wheels load, all known in the base: {', '.join(others)}; glibc's"
        )
        lines.append(f"  {', '.join(glibc)}")
        for package in image.apt:
            lines.append(
                f"- apt `{package.name}` {package.version} from Debian {package.archive} "
                f"({package.size_kb * 1024 / 1e6:.1f} MB installed, its dependencies not counted)"
            )
        for what, path in image.programs.items():
            lines.append(f"- {what}: `{path}`, installed by the apt packages")
        if stage.dockerfile.not_emulated:
            lines.append(f"- RUN commands not emulated: `{'`, `'.join(stage.dockerfile.not_emulated)}`")
        lines += [
            "",
            "| Function | Handler | Init (ms) | Sample events (ms) | Peak RSS / MemorySize (MB) | X-Ray |",
            "|---|---|---:|---|---:|---:|",
        ]
        for run in image.functions:
            events = ", ".join(f"{e.name} {e.ms:.0f}" for e in run.events)
            lines.append(
                f"| {run.logical_id} | `{run.handler}` | {run.init_ms:.0f} | {events} | "
                f"{run.peak_rss_mb:.0f} / {run.memory_mb} | {run.xray_segments} |"
            )
        lines.append("")
    return "\n".join(lines)


def prune_cache(cache: Path, keep: Iterable[Path]) -> None:
    """Drop cached installs no image uses any more (each is hundreds of MB)."""
    kept = {p.resolve() for p in keep}
    for entry in cache.iterdir():
        if entry.name in ("stage", "logs") or entry.resolve() in kept:
            continue
        if entry.is_dir() and re.fullmatch(r"[0-9a-f]{16}(\.partial-\d+)?", entry.name):
            shutil.rmtree(entry, ignore_errors=True)


def _event_job_ids(functions: Iterable[ImageFunction]) -> set[str]:
    """The job ids the functions' sample task events name."""
    events = (json.loads(p.read_text()) for f in functions for p in (EVENTS / f.logical_id).glob("*.json"))
    return {str(event["jobId"]) for event in events if isinstance(event, dict) and "jobId" in event}


def main(argv: Sequence[str] | None = None) -> int:
    """Check every image (or those named); 0 when all pass, 1 with the reason on stderr otherwise."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--dockerfile", action="append", help="check only this Dockerfile (repeatable)")
    parser.add_argument(
        "--report", type=Path, help=f"where to write the report (default {_shown(REPORT)} when checking all)"
    )
    parser.add_argument("--cache", type=Path, default=CACHE, help="installs and staging roots")
    args = parser.parse_args(argv)

    template = load_template()
    by_dockerfile: dict[Path, list[ImageFunction]] = {}
    for function in image_functions(template):
        by_dockerfile.setdefault(function.dockerfile, []).append(function)
    if args.dockerfile:
        wanted = {(ROOT / d).resolve() for d in args.dockerfile}
        by_dockerfile = {k: v for k, v in by_dockerfile.items() if k in wanted}
    if not by_dockerfile:
        print("image-check: no image functions to check", file=sys.stderr)
        return 1
    args.cache.mkdir(parents=True, exist_ok=True)
    server, endpoint = start_moto()
    aws = aws_env(endpoint, args.cache)
    os.environ.update(aws)  # this process's own boto3 (provision, seed) talks to moto too
    api, xray = RuntimeApi(), XRaySink()
    images: list[ImageReport] = []
    try:
        everyone = [f for functions in by_dockerfile.values() for f in functions]
        physical = provision(template, set().union(*(referenced_resources(f.environment) for f in everyone)))
        parameters = template.get("Parameters", {})
        seed_env = {k: resolve(v, parameters, physical) for k, v in everyone[0].environment.items()}
        services = seed(seed_env, _event_job_ids(everyone))
        for dockerfile, functions in sorted(by_dockerfile.items()):
            started = time.perf_counter()
            print(f"image-check: {_shown(dockerfile)} ({', '.join(f.logical_id for f in functions)})")
            images.append(
                check_image(dockerfile, functions, template, aws, physical, services, api, xray, args.cache)
            )
            print(f"image-check: {_shown(dockerfile)} ok in {time.perf_counter() - started:.1f} s")
    except CheckError as exc:
        print(f"image-check FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        api.close()
        server.stop()
    if not args.dockerfile:
        prune_cache(args.cache, [i.stage.site_packages.parent for i in images])
    report = render_report(images)
    path = args.report or (None if args.dockerfile else REPORT)  # a partial check leaves the report alone
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
