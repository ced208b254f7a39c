"""The one place that builds adapters: AWS (boto3) or local (files, SQLite) services for this process.

The Lambda handlers call :func:`get_services` (built from the environment on first use, in AWS); the local
runtime builds its stack and installs it with :func:`install_services`; the command line builds only what
a command needs (:func:`local_blob_store`, :func:`metadata_source`). Nothing else constructs an adapter.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from tonearm.errors import ParameterError
from tonearm.events.sealing import SealingJobStore
from tonearm.jobs.store import JobStore
from tonearm.ports import BlobStore
from tonearm.runtime import Services
from tonearm.settings import Settings

if TYPE_CHECKING:
    from tonearm.adapters.aws.apigateway import UsagePlanKeys
    from tonearm.adapters.local.files import FileBlobStore
    from tonearm.prediction.service import MusicFlowService
    from tonearm.prediction.sources import MetadataSource


def build_aws_services(settings: Settings) -> Services:
    """Services backed by the resources the template names in the environment."""
    import boto3
    from botocore.config import Config

    from tonearm.adapters.aws.dynamodb import DynamoJobStore, DynamoRateCounter
    from tonearm.adapters.aws.eventbridge import EventBridgeBus
    from tonearm.adapters.aws.s3 import S3BlobStore
    from tonearm.adapters.aws.sqs import SqsDeadLetterSink
    from tonearm.adapters.aws.stepfunctions import StepFunctionsOrchestrator

    config = Config(retries={"mode": "standard", "max_attempts": 5}, signature_version="s3v4")
    table = boto3.resource("dynamodb", config=config).Table(settings.table_name)
    return Services(
        settings=settings,
        store=_sealed_in_aws(DynamoJobStore(table), settings, config=config),
        rate_counter=DynamoRateCounter(table),
        blobs=S3BlobStore(boto3.client("s3", config=config), settings.bucket_name),
        orchestrator=StepFunctionsOrchestrator(
            boto3.client("stepfunctions", config=config), settings.state_machine_arn_prefix
        ),
        bus=EventBridgeBus(boto3.client("events", config=config), settings.event_bus_name),
        dead_letters=SqsDeadLetterSink(boto3.client("sqs", config=config), settings.webhook_dlq_url),
        make_metadata_source=lambda: metadata_source(settings),
    )


def _sealed_in_aws(store: JobStore, settings: Settings, *, config: Any = None) -> JobStore:
    """``store`` sealing webhook and callback secrets with the template's KMS key (``SECRETS_KEY_ARN``);
    as it is where no key is configured (a stack from before the key: its secrets stay as they were)."""
    if not settings.secrets_key_arn:
        return store
    import boto3

    from tonearm.adapters.aws.kms import KmsSealer

    client = boto3.client("kms", config=config) if config is not None else boto3.client("kms")
    return SealingJobStore(store, KmsSealer(client, settings.secrets_key_arn))


def url_signing_key(data_dir: Path) -> bytes:
    """The local bucket's URL-signing key, made once and kept in the data folder (0600).

    Kept across restarts (and shared by ``tonearm serve`` and the command line) so URLs handed out before
    a restart stay valid.
    """
    from tonearm.adapters.local.private_files import key_file

    return key_file(private_data_dir(data_dir) / ".url-signing-key", size=32)


def private_data_dir(data_dir: Path) -> Path:
    """The local data folder, 0700 (made so, or tightened when something else made it first): it holds
    the bucket, the jobs database, dead letters and keys, which are its owner's alone."""
    from tonearm.adapters.local.private_files import DIR_MODE, make_private, private_dirs

    make_private(private_dirs(data_dir), DIR_MODE)
    return data_dir


def local_blob_store(data_dir: Path, *, base_url: str) -> FileBlobStore:
    """The local bucket (``<data_dir>/bucket``), its URLs served by the local API at ``base_url``."""
    from tonearm.adapters.local.files import FileBlobStore

    return FileBlobStore(data_dir / "bucket", base_url=base_url, secret=url_signing_key(data_dir))


def local_job_store(data_dir: Path) -> JobStore:
    """The local jobs and applications database (``<data_dir>/jobs.sqlite3``, 0600), sealing webhook and
    callback secrets with the data folder's key (``<data_dir>/.secrets-key``, 0600)."""
    from tonearm.adapters.local.private_files import make_private, open_private
    from tonearm.adapters.local.sealer import FileKeySealer
    from tonearm.adapters.local.sqlite_jobs import SqliteJobStore

    path = private_data_dir(data_dir) / "jobs.sqlite3"
    # made (or tightened) 0600 before SQLite opens it: its -wal and -shm files take the database's mode
    open_private(path, "ab").close()
    for companion in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        make_private(companion)
    return SealingJobStore(SqliteJobStore(path), FileKeySealer.from_data_dir(data_dir))


def job_store(settings: Settings, *, data_dir: Path) -> JobStore:
    """The job store for the command line: the deployed table in AWS, else the local data folder's."""
    if settings.runtime != "aws":
        return local_job_store(data_dir)
    import boto3

    from tonearm.adapters.aws.dynamodb import DynamoJobStore

    return _sealed_in_aws(DynamoJobStore(boto3.resource("dynamodb").Table(settings.table_name)), settings)


def stack_settings(settings: Settings, stack: str) -> Settings:
    """``settings`` completed from a deployed stack's outputs (table, bucket, bus, usage plan, secrets key).

    For the command line in AWS mode: ``tonearm app create --stack tonearm`` needs no variables copied
    from the console.
    """
    import boto3

    described = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    wanted = {
        "table_name": "JobsTableName",
        "bucket_name": "BucketName",
        "event_bus_name": "EventBusName",
        "usage_plan_id": "UsagePlanId",
        "secrets_key_arn": "SecretsKeyArn",
    }
    found = {field: outputs[output] for field, output in wanted.items() if output in outputs}
    return settings.model_copy(update={"runtime": "aws", **found})


def usage_plan_keys(settings: Settings) -> UsagePlanKeys:
    """The usage plan that API keys go on (``USAGE_PLAN_ID``, or the stack output ``UsagePlanId``)."""
    import boto3

    from tonearm.adapters.aws.apigateway import UsagePlanKeys

    if not settings.usage_plan_id:
        raise ParameterError(
            "no usage plan: pass --stack <stack name> or set USAGE_PLAN_ID (the stack output UsagePlanId); "
            "without its API key on the usage plan, API Gateway refuses every /v1 call with 403"
        )
    return UsagePlanKeys(boto3.client("apigateway"), settings.usage_plan_id)


def metadata_source(settings: Settings) -> MetadataSource | None:
    """Spotify's Web API (client credentials, directly or from Secrets Manager), or ``None`` without them.

    Called lazily (``Services.spotify``, on the first lookup): a broken secret fails that lookup with
    ``spotify_secret_invalid`` instead of the process's start-up.
    """
    client_id, client_secret = settings.spotify_client_id, settings.spotify_client_secret
    if settings.spotify_secret_id and not (client_id and client_secret):
        from tonearm.adapters.aws.secrets import spotify_credentials

        client_id, client_secret = spotify_credentials(settings.spotify_secret_id)
    if not (client_id and client_secret):
        return None
    from tonearm.adapters.spotify import SpotifyMetadata

    return SpotifyMetadata(
        client_id=client_id,
        client_secret=client_secret,
        api_url=settings.spotify_api_url,
        token_url=settings.spotify_token_url,
        max_wait_s=settings.spotify_max_wait_s,
    )


def musicflow_service(settings: Settings, *, data_dir: Path) -> MusicFlowService:
    """The MusicFlow service for the command line: the deployed bucket in AWS, else the local data folder."""
    from tonearm.prediction.service import MusicFlowService

    blobs: BlobStore
    if settings.runtime == "aws":
        import boto3

        from tonearm.adapters.aws.s3 import S3BlobStore

        blobs = S3BlobStore(boto3.client("s3"), settings.bucket_name)
    else:
        blobs = local_blob_store(data_dir, base_url="http://127.0.0.1")
    return MusicFlowService(blobs=blobs, metadata=metadata_source(settings))


_services: Services | None = None


def install_services(services: Services | None) -> None:
    """Use ``services`` for this process (the local runtime and tests); ``None`` resets."""
    global _services
    _services = services


def get_services() -> Services:
    """The process's services, built from the environment on first use (AWS Lambda)."""
    global _services
    if _services is None:
        settings = Settings.from_env()
        if settings.runtime != "aws":
            raise RuntimeError(
                "no local services installed: start the local runtime (`tonearm serve`) "
                "or set TONEARM_RUNTIME=aws with the template's environment"
            )
        _services = build_aws_services(settings)
    return _services
