"""Tests for webhook signing (tonearm.events.signing), cross-checked with the standardwebhooks library."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest
from standardwebhooks.webhooks import Webhook

from tonearm.errors import ParameterError
from tonearm.events.signing import (
    WebhookVerificationError,
    generate_webhook_secret,
    secret_key_bytes,
    sign_webhook,
    verify_webhook,
)

BODY = b'{"type":"job.completed","data":{"jobId":"j-123","status":"SUCCEEDED"}}'
MSG_ID = "msg_2Z6bq0xX"


def _signed(secret: str, timestamp: int | None = None, body: bytes = BODY) -> dict[str, str]:
    return sign_webhook(body, secret=secret, message_id=MSG_ID, timestamp=timestamp or int(time.time()))


def test_generate_secret_format() -> None:
    secret = generate_webhook_secret()
    assert secret.startswith("whsec_")
    assert len(secret_key_bytes(secret)) == 32
    assert generate_webhook_secret() != secret


def test_secret_key_bytes_with_and_without_prefix() -> None:
    key = b"k" * 24
    encoded = base64.b64encode(key).decode()
    assert secret_key_bytes("whsec_" + encoded) == key
    assert secret_key_bytes(encoded) == key
    assert secret_key_bytes("whsec_" + encoded.rstrip("=")) == key  # tolerate missing padding


@pytest.mark.parametrize("bad", ["whsec_not base64!", "whsec_", "", "whsec_@@@@"])
def test_secret_key_bytes_rejects_garbage(bad: str) -> None:
    with pytest.raises(ParameterError):
        secret_key_bytes(bad)


def test_headers_present() -> None:
    headers = _signed(generate_webhook_secret(), timestamp=1_700_000_000)
    assert headers["webhook-id"] == MSG_ID
    assert headers["webhook-timestamp"] == "1700000000"
    assert headers["webhook-signature"].startswith("v1,")
    assert headers["Content-Type"] == "application/json"
    assert len(headers["X-Signature"]) == 64


def test_sign_then_verify() -> None:
    secret = generate_webhook_secret()
    verify_webhook(BODY, _signed(secret), secret=secret)


def test_verify_is_case_insensitive_on_header_names() -> None:
    secret = generate_webhook_secret()
    headers = {k.upper(): v for k, v in _signed(secret).items()}
    verify_webhook(BODY, headers, secret=secret)


def test_independent_standardwebhooks_library_accepts_signature() -> None:
    secret = generate_webhook_secret()
    headers = _signed(secret)
    parsed = Webhook(secret).verify(BODY, headers)
    assert parsed["data"]["jobId"] == "j-123"


def test_we_accept_standardwebhooks_signature_with_rotation_list() -> None:
    # The library's signature for the same message equals ours; several space-separated v1 entries work.
    secret = generate_webhook_secret()
    ts = int(time.time())
    ours = _signed(secret, timestamp=ts)
    from datetime import UTC, datetime

    theirs = Webhook(secret).sign(MSG_ID, datetime.fromtimestamp(ts, tz=UTC), BODY.decode())
    assert theirs == ours["webhook-signature"]
    other = _signed(generate_webhook_secret(), timestamp=ts)["webhook-signature"]
    ours["webhook-signature"] = f"v2,abc {other} {theirs}"
    verify_webhook(BODY, ours, secret=secret)


def test_x_signature_is_hex_hmac_of_body() -> None:
    secret = generate_webhook_secret()
    key = base64.b64decode(secret.removeprefix("whsec_"))
    assert _signed(secret)["X-Signature"] == hmac.new(key, BODY, hashlib.sha256).hexdigest()


def test_tampered_body_rejected() -> None:
    secret = generate_webhook_secret()
    headers = _signed(secret)
    with pytest.raises(WebhookVerificationError) as excinfo:
        verify_webhook(BODY.replace(b"SUCCEEDED", b"FAILED"), headers, secret=secret)
    assert (excinfo.value.code, excinfo.value.status) == ("invalid_signature", 401)


def test_tampered_timestamp_rejected() -> None:
    secret = generate_webhook_secret()
    headers = _signed(secret)
    headers["webhook-timestamp"] = str(int(headers["webhook-timestamp"]) + 1)
    with pytest.raises(WebhookVerificationError, match="webhook-signature"):
        verify_webhook(BODY, headers, secret=secret)


def test_tampered_id_rejected() -> None:
    secret = generate_webhook_secret()
    headers = _signed(secret)
    headers["webhook-id"] = "msg_other"
    with pytest.raises(WebhookVerificationError):
        verify_webhook(BODY, headers, secret=secret)


def test_old_and_future_timestamps_rejected() -> None:
    secret = generate_webhook_secret()
    now = 1_700_000_000.0
    verify_webhook(BODY, _signed(secret, timestamp=int(now) - 299), secret=secret, now=now)
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify_webhook(BODY, _signed(secret, timestamp=int(now) - 301), secret=secret, now=now)
    with pytest.raises(WebhookVerificationError, match="too new"):
        verify_webhook(BODY, _signed(secret, timestamp=int(now) + 301), secret=secret, now=now)
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify_webhook(BODY, _signed(secret, timestamp=int(now) - 61), secret=secret, tolerance_s=60, now=now)


def test_wrong_secret_rejected() -> None:
    headers = _signed(generate_webhook_secret())
    with pytest.raises(WebhookVerificationError):
        verify_webhook(BODY, headers, secret=generate_webhook_secret())


def test_bad_x_signature_rejected() -> None:
    secret = generate_webhook_secret()
    headers = _signed(secret)
    headers["X-Signature"] = "0" * 64
    with pytest.raises(WebhookVerificationError, match="X-Signature"):
        verify_webhook(BODY, headers, secret=secret)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature", "X-Signature"])
def test_missing_header_rejected(missing: str) -> None:
    secret = generate_webhook_secret()
    headers = _signed(secret)
    del headers[missing]
    with pytest.raises(WebhookVerificationError, match="missing"):
        verify_webhook(BODY, headers, secret=secret)


# The fullwidth digits pass str.isdigit() but are not an integer header value.
@pytest.mark.parametrize("value", ["12.5", "abc", "-5", "\uff11\uff12\uff13"])
def test_malformed_timestamp_rejected(value: str) -> None:
    secret = generate_webhook_secret()
    headers = _signed(secret)
    headers["webhook-timestamp"] = value
    with pytest.raises(WebhookVerificationError):
        verify_webhook(BODY, headers, secret=secret)


def test_non_utf8_body_signs_and_verifies() -> None:
    secret = generate_webhook_secret()
    body = b"\xff\xfe binary"
    verify_webhook(body, _signed(secret, body=body), secret=secret)
