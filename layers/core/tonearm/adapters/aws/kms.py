"""``SecretSealer`` on KMS: webhook and callback secrets encrypted with the template's ``SecretsKey``.

A sealed value is ``sealed:v1:kms:<base64 of KMS's ciphertext blob>``. Each call names the key and an
encryption context naming the record (``tonearm:application`` or ``tonearm:job`` plus its id, and
``tonearm:purpose``): it is bound to the ciphertext, so a sealed secret copied into another record does not
decrypt, and CloudTrail shows which record each Decrypt was for. The API function encrypts
(``kms:Encrypt``), the webhook function decrypts (``kms:Decrypt``); nothing else holds either right.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from tonearm.ports import SEALED_PREFIX, SecretSealError

SCHEME = "kms"
#: KMS errors that mean this ciphertext will never open here (anything else, e.g. throttling, is raised
#: as it is, so the Lambda invocation is retried).
_PERMANENT = frozenset({"InvalidCiphertextException", "IncorrectKeyException", "NotFoundException"})


def _encryption_context(context: Mapping[str, str]) -> dict[str, str]:
    return {"tonearm:purpose": "webhook-secret", **{f"tonearm:{k}": str(v) for k, v in context.items()}}


class KmsSealer:
    """Encrypts with one symmetric KMS key (its ARN or id)."""

    def __init__(self, client: Any, key_id: str) -> None:
        self.client = client
        self.key_id = key_id

    def seal(self, plaintext: str, *, context: Mapping[str, str]) -> str:
        """KMS Encrypt (a secret is at most a few hundred bytes: KMS takes up to 4 KB)."""
        blob = self.client.encrypt(
            KeyId=self.key_id,
            Plaintext=plaintext.encode("utf-8"),
            EncryptionContext=_encryption_context(context),
        )["CiphertextBlob"]
        return f"{SEALED_PREFIX}{SCHEME}:" + base64.b64encode(blob).decode("ascii")

    def open(self, sealed: str, *, context: Mapping[str, str]) -> str:
        """KMS Decrypt with the same key and context; ``SecretSealError`` when it cannot ever succeed."""
        scheme, _, payload = sealed.removeprefix(SEALED_PREFIX).partition(":")
        if not sealed.startswith(SEALED_PREFIX) or scheme != SCHEME:
            raise SecretSealError(f"this secret was sealed with {scheme or 'nothing'!r}, not KMS")
        try:
            blob = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SecretSealError("a sealed secret is not valid base64") from exc
        try:
            plaintext = self.client.decrypt(
                KeyId=self.key_id, CiphertextBlob=blob, EncryptionContext=_encryption_context(context)
            )["Plaintext"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _PERMANENT:
                raise SecretSealError(
                    f"KMS cannot open this sealed secret ({code}): another key, another record, or altered"
                ) from exc
            raise
        return bytes(plaintext).decode("utf-8")
