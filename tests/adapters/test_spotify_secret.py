"""Spotify client credentials from Secrets Manager (moto), as ``SPOTIFY_SECRET_ID`` names them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, cast

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from tonearm.adapters.aws.secrets import SpotifySecretError, spotify_credentials
from tonearm.bootstrap import metadata_source
from tonearm.settings import Settings

from .conftest import REGION


@pytest.fixture
def secrets() -> Iterator[Any]:
    """A Secrets Manager client in moto; Powertools' per-process secret cache is empty before and after."""
    parameters.clear_caches()
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)
    parameters.clear_caches()


def _create(client: Any, name: str, value: Any) -> str:
    arn: str = client.create_secret(Name=name, SecretString=json.dumps(value))["ARN"]
    return arn


def test_credentials_come_from_the_json_secret(secrets: Any) -> None:
    _create(secrets, "tonearm/spotify", {"client_id": "a", "client_secret": "b"})
    assert spotify_credentials("tonearm/spotify") == ("a", "b")


def test_the_secret_can_be_named_by_its_arn(secrets: Any) -> None:
    arn = _create(secrets, "tonearm/spotify-by-arn", {"client_id": "a", "client_secret": "b"})
    assert spotify_credentials(arn) == ("a", "b")


def test_the_environment_variable_spellings_are_accepted(secrets: Any) -> None:
    _create(secrets, "tonearm/spotify-env", {"SPOTIFY_CLIENT_ID": "a", "SPOTIFY_CLIENT_SECRET": "b"})
    assert spotify_credentials("tonearm/spotify-env") == ("a", "b")


@pytest.mark.parametrize(
    "value",
    [
        {"client_id": "a"},
        {"client_id": "a", "client_secret": ""},
        {"SPOTIFY_CLIENT_SECRET": "b"},
        ["a", "b"],
    ],
)
def test_a_secret_without_both_credentials_is_refused(secrets: Any, value: Any) -> None:
    _create(secrets, "tonearm/spotify-incomplete", value)
    with pytest.raises(SpotifySecretError) as raised:
        spotify_credentials("tonearm/spotify-incomplete")
    assert raised.value.code == "spotify_secret_invalid" and raised.value.status == 500


def _rotate(client: Any, name: str, client_secret: str) -> None:
    client.put_secret_value(
        SecretId=name, SecretString=json.dumps({"client_id": "a", "client_secret": client_secret})
    )


def test_the_secret_is_cached_per_process(secrets: Any) -> None:
    _create(secrets, "tonearm/spotify-cached", {"client_id": "a", "client_secret": "b"})
    assert spotify_credentials("tonearm/spotify-cached") == ("a", "b")
    _rotate(secrets, "tonearm/spotify-cached", "c")
    assert spotify_credentials("tonearm/spotify-cached") == ("a", "b")  # within max_age_s


def test_a_rotated_secret_is_read_again_once_its_cache_entry_expires(secrets: Any) -> None:
    _create(secrets, "tonearm/spotify-rotated", {"client_id": "a", "client_secret": "b"})
    assert spotify_credentials("tonearm/spotify-rotated", max_age_s=0) == ("a", "b")
    _rotate(secrets, "tonearm/spotify-rotated", "c")
    assert spotify_credentials("tonearm/spotify-rotated", max_age_s=0) == ("a", "c")


def test_bootstrap_builds_the_spotify_client_from_the_secret(secrets: Any) -> None:
    _create(secrets, "tonearm/spotify-services", {"client_id": "a", "client_secret": "b"})
    settings = Settings.from_env({"TONEARM_RUNTIME": "aws", "SPOTIFY_SECRET_ID": "tonearm/spotify-services"})
    spotify = cast(Any, metadata_source(settings))
    assert spotify is not None
    auth = spotify.client.auth_manager
    assert (auth.client_id, auth.client_secret) == ("a", "b")


def test_no_secret_id_means_no_spotify() -> None:
    settings = Settings.from_env({"TONEARM_RUNTIME": "aws", "SPOTIFY_SECRET_ID": ""})
    assert metadata_source(settings) is None
