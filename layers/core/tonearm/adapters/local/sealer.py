"""``SecretSealer`` for the local runtime: AES-256-GCM with a key kept in the data folder.

The key file (``<data folder>/.secrets-key``, 32 random bytes, mode 0600) is made on first use. A sealed
value is ``sealed:v1:aesgcm:<base64url(12-byte nonce + ciphertext + tag)>``; the record it belongs to
(its context) is the associated data, so a sealed secret copied into another record does not open.
Uses ``cryptography`` (installed with the dev extra that ``make serve`` installs); nothing in AWS imports
this module.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from pathlib import Path

from tonearm.adapters.local.private_files import key_file
from tonearm.ports import SEALED_PREFIX, SecretSealError

SCHEME = "aesgcm"
KEY_FILE = ".secrets-key"
_NONCE_BYTES = 12


def _associated_data(context: Mapping[str, str]) -> bytes:
    return b"tonearm-secret\n" + json.dumps(dict(context), sort_keys=True, separators=(",", ":")).encode()


class FileKeySealer:
    """Seals with AES-256-GCM under a key from the data folder (see the module docstring)."""

    def __init__(self, key: bytes) -> None:
        try:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        except ImportError as exc:  # pragma: no cover - the dev extra installs it
            raise SecretSealError(
                "sealing secrets locally needs the 'cryptography' package (pip install -e '.[dev]')"
            ) from exc
        self._aead = AESGCM(key)

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> FileKeySealer:
        """The sealer of the data folder ``data_dir`` (its key file made on first use)."""
        return cls(key_file(data_dir / KEY_FILE, size=32))

    def seal(self, plaintext: str, *, context: Mapping[str, str]) -> str:
        """Encrypt ``plaintext`` bound to ``context``."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), _associated_data(context))
        return f"{SEALED_PREFIX}{SCHEME}:" + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, sealed: str, *, context: Mapping[str, str]) -> str:
        """Decrypt a value :meth:`seal` made with the same key and context; ``SecretSealError`` otherwise."""
        from cryptography.exceptions import InvalidTag

        scheme, _, payload = sealed.removeprefix(SEALED_PREFIX).partition(":")
        if not sealed.startswith(SEALED_PREFIX) or scheme != SCHEME:
            raise SecretSealError(f"this secret was sealed with {scheme or 'nothing'!r}, not the local key")
        try:
            raw = base64.urlsafe_b64decode(payload.encode("ascii"))
            plaintext = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _associated_data(context))
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise SecretSealError(
                "a sealed secret does not open with this data folder's key (another key, another record, "
                "or altered)"
            ) from exc
        return plaintext.decode("utf-8")
