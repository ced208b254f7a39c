"""Spotify client credentials from AWS Secrets Manager (Powertools' cached ``get_secret``)."""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters

from tonearm.errors import TonearmError


class SpotifySecretError(TonearmError):
    """The Spotify secret exists but does not hold client credentials."""

    code = "spotify_secret_invalid"
    status = 500


def spotify_credentials(secret_id: str, *, max_age_s: int = 300) -> tuple[str, str]:
    """``(client_id, client_secret)`` from a JSON secret ``{"client_id", "client_secret"}``.

    The ``SPOTIFY_CLIENT_ID``/``SPOTIFY_CLIENT_SECRET`` spellings are accepted too. Cached for
    ``max_age_s`` per process, so a rotated secret is picked up within that time.
    """
    try:
        value = parameters.get_secret(secret_id, transform="json", max_age=max_age_s)
    except (parameters.exceptions.GetParameterError, parameters.exceptions.TransformParameterError) as exc:
        raise SpotifySecretError(f"cannot read the Spotify secret {secret_id}: {exc}") from None
    if not isinstance(value, dict):
        raise SpotifySecretError(f"secret {secret_id} must be a JSON object with client_id and client_secret")
    client_id = value.get("client_id") or value.get("SPOTIFY_CLIENT_ID")
    client_secret = value.get("client_secret") or value.get("SPOTIFY_CLIENT_SECRET")
    if not client_id or not client_secret:
        raise SpotifySecretError(f"secret {secret_id} lacks client_id or client_secret")
    return str(client_id), str(client_secret)
