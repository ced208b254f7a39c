"""Webhook signatures: the Standard Webhooks scheme plus a plain hex HMAC of the body.

Standard Webhooks (https://www.standardwebhooks.com) headers:

* ``webhook-id``: the message id; the same on every retry so receivers can deduplicate.
* ``webhook-timestamp``: integer unix seconds; receivers reject stale messages (replay protection).
* ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``; may hold several
  space-separated signatures (key rotation).

The secret is ``whsec_<base64 key>`` and the HMAC key is the decoded bytes. tonearm also sends
``X-Signature: <hex HMAC-SHA256 of the raw body>`` with the same key, for receivers with simpler tooling.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

from tonearm.errors import ParameterError, TonearmError

__all__ = [
    "SECRET_PREFIX",
    "WebhookVerificationError",
    "generate_webhook_secret",
    "secret_key_bytes",
    "sign_webhook",
    "verify_webhook",
]

SECRET_PREFIX = "whsec_"
_SECRET_KEY_BYTES = 32


class WebhookVerificationError(TonearmError):
    """A webhook's signature headers are missing, malformed, stale, or do not match."""

    code = "invalid_signature"
    status = 401


def generate_webhook_secret() -> str:
    """Return a new random secret: ``"whsec_" + base64(32 random bytes)``."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_KEY_BYTES)).decode("ascii")


def secret_key_bytes(secret: str | bytes) -> bytes:
    """Decode a webhook secret (with or without the ``whsec_`` prefix) to the HMAC key bytes.

    ``bytes`` are the key itself: a caller-chosen secret (AcousticSense's ``secret_token``) is used as
    its UTF-8 bytes, as its receivers compute ``HMAC(secret_token, body)``.
    Raises :class:`ParameterError` if the secret is empty or not base64.
    """
    if isinstance(secret, bytes):
        if not secret:
            raise ParameterError("webhook secret must not be empty")
        return secret
    encoded = secret.strip()
    if encoded.startswith(SECRET_PREFIX):
        encoded = encoded[len(SECRET_PREFIX) :]
    # Be lenient about missing padding, as the reference libraries are.
    encoded += "=" * (-len(encoded) % 4)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        # Never echo the secret itself in the message.
        raise ParameterError("webhook secret must be 'whsec_' followed by base64") from exc
    if not key:
        raise ParameterError("webhook secret must not be empty")
    return key


def _v1_signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> bytes:
    # Sign bytes, not a decoded str, so non-UTF-8 bodies cannot make signing fail.
    signed = message_id.encode("utf-8") + b"." + str(timestamp).encode("ascii") + b"." + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def _body_signature_hex(key: bytes, body: bytes) -> str:
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def sign_webhook(body: bytes, *, secret: str | bytes, message_id: str, timestamp: int) -> dict[str, str]:
    """Return the headers for one delivery of ``body``.

    ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``, ``X-Signature`` and
    ``Content-Type: application/json``.
    """
    key = secret_key_bytes(secret)
    signature = base64.b64encode(_v1_signature(key, message_id, timestamp, body)).decode("ascii")
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{signature}",
        "X-Signature": _body_signature_hex(key, body),
        "Content-Type": "application/json",
    }


def verify_webhook(
    body: bytes,
    headers: Mapping[str, str],
    *,
    secret: str | bytes,
    tolerance_s: int = 300,
    now: float | None = None,
) -> None:
    """Verify a tonearm webhook; raise :class:`WebhookVerificationError` if it is not authentic.

    Checks that the timestamp is within ``tolerance_s`` of ``now`` (default: the current time), that one
    of the ``v1`` entries in ``webhook-signature`` matches, and that ``X-Signature`` matches. Header
    names are case-insensitive. Comparisons are constant-time.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    message_id = lowered.get("webhook-id")
    timestamp_header = lowered.get("webhook-timestamp")
    signature_header = lowered.get("webhook-signature")
    body_signature = lowered.get("x-signature")
    if not (message_id and timestamp_header and signature_header and body_signature):
        raise WebhookVerificationError("missing webhook signature headers")

    timestamp_text = timestamp_header.strip()
    if not timestamp_text.isascii() or not timestamp_text.isdigit():
        raise WebhookVerificationError("webhook-timestamp must be integer unix seconds")
    timestamp = int(timestamp_text)
    current = time.time() if now is None else now
    if timestamp < current - tolerance_s:
        raise WebhookVerificationError("webhook timestamp is too old")
    if timestamp > current + tolerance_s:
        raise WebhookVerificationError("webhook timestamp is too new")

    key = secret_key_bytes(secret)
    expected = _v1_signature(key, message_id, timestamp, body)
    matched = False
    for entry in signature_header.split():
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue  # unknown versions are ignored so the scheme can evolve
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        # Don't short-circuit: check every entry so timing does not reveal which one matched.
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise WebhookVerificationError("webhook-signature does not match")

    expected_hex = _body_signature_hex(key, body).encode("ascii")
    provided_hex = body_signature.strip().lower().encode("utf-8", "replace")
    if not hmac.compare_digest(expected_hex, provided_hex):
        raise WebhookVerificationError("X-Signature does not match")
