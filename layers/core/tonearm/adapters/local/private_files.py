"""Files and folders of the local data folder, private to the user running tonearm (0600 and 0700).

The data folder holds the jobs database (callback and webhook secrets, sealed), the local bucket (every
upload and result), the dead letters and the key files. Their mode is set explicitly after creation, so
it does not depend on the process's umask (a umask of 022 would otherwise leave them world-readable).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path
from typing import BinaryIO, cast

#: Files in the data folder: read and write for the owner only.
FILE_MODE = 0o600
#: Folders in the data folder: the owner only.
DIR_MODE = 0o700


def private_dirs(path: Path) -> Path:
    """``path`` as a folder, creating each missing folder (and missing parent) with mode 0700.

    Folders that already exist keep their mode (the data folder may be one the user chose).
    """
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:  # made by another thread or process meanwhile
            continue
        os.chmod(folder, DIR_MODE)  # mkdir's mode is masked by the umask
    return path


def make_private(path: Path, mode: int = FILE_MODE) -> None:
    """Set ``path``'s mode to ``mode`` if it exists and has another (existing data from before)."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_IMODE(path.stat().st_mode) != mode:
            os.chmod(path, mode)


def open_private(path: Path, mode: str = "ab") -> BinaryIO:
    """Open ``path`` for writing (``"ab"``: append, ``"wb"``: truncate), creating it 0600 if missing and
    making an existing file 0600."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode.startswith("a") else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        return cast(BinaryIO, os.fdopen(fd, mode))
    except BaseException:
        os.close(fd)
        raise


def _temporary_beside(path: Path) -> tuple[Path, BinaryIO]:
    """A new private file next to ``path`` (same folder, so it can be renamed or linked into place)."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        except FileExistsError:
            continue
        os.fchmod(fd, FILE_MODE)
        return tmp, os.fdopen(fd, "wb")


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (a private temporary file renamed into place), mode 0600."""
    tmp, f = _temporary_beside(path)
    try:
        with f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def key_file(path: Path, *, size: int = 32) -> bytes:
    """The random key kept in ``path`` (``size`` bytes), made once with mode 0600.

    Two processes starting at once on a new data folder agree on one key: each writes a private temporary
    file and links it into place, which fails if the other's is already there, and then both read the
    one that won. The file is never visible half-written, nor readable by others for a moment.
    """
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        key = b""
    if len(key) >= size:
        make_private(path)
        return key
    private_dirs(path.parent)
    tmp, f = _temporary_beside(path)
    try:
        with f:
            f.write(secrets.token_bytes(size))
            f.flush()
            os.fsync(f.fileno())
        if key:  # a file too short to be a key (an interrupted write of an older version): replace it
            os.replace(tmp, path)
        else:
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_bytes()
