"""The local runtime: every adapter of the AWS deployment, in one process, wired from template.yaml."""

from __future__ import annotations

import fcntl
import importlib
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tonearm.adapters.local.asl import ExecutionResult, TaskCallable
from tonearm.adapters.local.asl_map import FolderBuckets
from tonearm.adapters.local.bus import LOCAL_ACCOUNT, LOCAL_REGION, LocalBus
from tonearm.adapters.local.dead_letters import FileDeadLetterSink
from tonearm.adapters.local.journal import RuntimeJournal
from tonearm.adapters.local.orchestrator import LocalOrchestrator
from tonearm.bootstrap import install_services, local_blob_store, local_job_store, metadata_source
from tonearm.events.signing import generate_webhook_secret
from tonearm.jobs.service import hash_api_key
from tonearm.jobs.watchdog import JobWatchdog
from tonearm.local_stack.functions import LocalFunctions
from tonearm.local_stack.ingest import IngestWatcher
from tonearm.local_stack.recovery import RecoveryReport, recover
from tonearm.local_stack.sweeper import PeriodicSweep
from tonearm.local_stack.template import LocalTemplate, function_from_arn
from tonearm.ports import Application
from tonearm.runtime import Services
from tonearm.settings import Settings

LOCAL_APP_ID = "local"

#: Powertools settings for in-process handlers: no X-Ray daemon and no CloudWatch EMF locally.
_POWERTOOLS_ENV = {
    "POWERTOOLS_SERVICE_NAME": "tonearm",
    "POWERTOOLS_METRICS_NAMESPACE": "tonearm",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}


@dataclass
class LocalRuntime:
    """The running local stack; ``close()`` stops its threads."""

    services: Services
    template: LocalTemplate
    functions: LocalFunctions
    orchestrator: LocalOrchestrator
    bus: LocalBus
    dead_letters: FileDeadLetterSink
    watcher: IngestWatcher
    executor: ThreadPoolExecutor
    subscriber_pools: SubscriberPools
    journal: RuntimeJournal
    sweeper: PeriodicSweep
    recovery: RecoveryReport
    #: held while this runtime owns the data folder's unfinished work (recovery and the sweep)
    owner: DataFolderLock | None
    api_key: str
    webhook_secret: str

    def close(self) -> None:
        """Stop watching, finish running work, and uninstall the services."""
        self.watcher.stop()
        self.sweeper.stop()
        self.executor.shutdown(wait=True, cancel_futures=False)
        self.subscriber_pools.shutdown()
        if self.owner is not None:
            self.owner.release()
        install_services(None)


class DataFolderLock:
    """An exclusive ``flock`` on ``<data_dir>/runtime.lock``: one process recovers and sweeps a folder.

    The kernel drops the lock when its holder dies, even by ``kill -9``, so a restarted server always
    gets it back and never waits on a stale lock file.
    """

    FILE = "runtime.lock"

    def __init__(self, fd: int) -> None:
        self._fd = fd

    @classmethod
    def acquire(cls, data_dir: Path) -> DataFolderLock | None:
        """The lock, or ``None`` when another live process holds it."""
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(data_dir / cls.FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return cls(fd)

    def release(self) -> None:
        """Unlock (closing the descriptor releases the flock)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class SubscriberPools:
    """One thread pool per bus subscriber function, as each Lambda function has its own concurrency.

    Executions run in the runtime's own pool; a receiver that answers slowly (webhook retries with
    backoff, a ``Retry-After: 60``) fills only the webhook function's pool, never the executions' or
    the ingest function's.
    """

    def __init__(self, *, workers: int) -> None:
        self.workers = workers
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._lock = threading.Lock()

    def __call__(self, target: str) -> Executor:
        """The pool of ``target`` (a function's logical id), made on first use."""
        with self._lock:
            pool = self._pools.get(target)
            if pool is None:
                pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=f"tonearm-{target}")
                self._pools[target] = pool
            return pool

    def shutdown(self) -> None:
        """Finish queued deliveries and stop every pool."""
        with self._lock:
            pools = list(self._pools.values())
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=False)


#: The local application's API key and webhook secret, made once per data folder (mode 0600).
CREDENTIALS_FILE = "local-credentials.json"


def local_credentials(
    data_dir: Path, *, api_key: str | None = None, webhook_secret: str | None = None
) -> tuple[str, str]:
    """The local application's ``(API key, webhook secret)``: kept in ``data_dir`` across restarts, so
    clients and webhook receivers set up once keep working; ``api_key``/``webhook_secret`` (from
    ``TONEARM_API_KEY``/``TONEARM_WEBHOOK_SECRET``) override them for this run without changing the file."""
    path = data_dir / CREDENTIALS_FILE
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    if not (stored.get("api_key") and stored.get("webhook_secret")):
        stored = {"api_key": secrets.token_urlsafe(24), "webhook_secret": generate_webhook_secret()}
        data_dir.mkdir(parents=True, exist_ok=True)
        # created private, never world-readable even for a moment
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({**stored, "application": LOCAL_APP_ID}, f, indent=2)
    return api_key or stored["api_key"], webhook_secret or stored["webhook_secret"]


#: Third-party packages the workflows import lazily from the worker threads. Importing them in the
#: thread that builds the runtime, before any job runs, keeps two threads from importing one of them
#: for the first time at once: CPython's per-module import locks can then report a deadlock between
#: scipy's subpackages, which import each other, and fail one thread's import, after which the other
#: thread sees ``KeyError: 'scipy'``. That happened in the kill -9 chaos test: recovery resumed jobs
#: on the workers while ``tonearm serve`` was still building the app.
PRELOADED_PACKAGES = (
    "numpy",
    "scipy.fft",
    "scipy.signal",
    "scipy.ndimage",
    "scipy.sparse",
    "scipy.optimize",
    "onnxruntime",
    "soundfile",
    "soxr",
    "av",
)


def preload_shared_packages() -> None:
    """Import :data:`PRELOADED_PACKAGES` in this thread; those not installed are skipped (an install
    without the scientific stack cannot run the workflows that need it anyway)."""
    for name in PRELOADED_PACKAGES:
        try:
            importlib.import_module(name)
        except ImportError:
            continue


def build_local_runtime(
    *,
    project_root: Path,
    data_dir: Path,
    base_url: str,
    api_key: str | None = None,
    webhook_secret: str | None = None,
    webhook_base_delay_s: float = 1.0,
    webhook_max_attempts: int = 6,
    watch_interval_s: float = 0.25,
    workers: int = 8,
    subscriber_workers: int = 16,
    sweep_interval_s: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> LocalRuntime:
    """Build and install the local stack. Nothing is served yet: pass ``services`` to ``create_app``."""
    for name, value in _POWERTOOLS_ENV.items():
        os.environ.setdefault(name, value)
    data_dir = data_dir.resolve()
    template = LocalTemplate(project_root / "template.yaml")
    # Sofy's and the rate limiter's knobs come from the environment as in AWS (SOFY_REQUIRE_API_KEY,
    # RATE_LIMIT_PER_MINUTE, RATE_LIMIT_PER_HOUR, API_RATE_LIMIT_PER_MINUTE, API_RATE_LIMIT_PER_HOUR,
    # TRUSTED_PROXIES, METRICS_API_KEY), and Spotify's (SPOTIFY_CLIENT_ID, SPOTIFY_CLIENT_SECRET,
    # SPOTIFY_API_URL, SPOTIFY_TOKEN_URL); everything else is the local stack's own
    from_env = Settings.from_env()
    settings = Settings(
        runtime="local",
        sofy_app=LOCAL_APP_ID,  # keyless Sofy tasks show up in the one local app's job list
        sofy_require_api_key=from_env.sofy_require_api_key,
        rate_limit_per_minute=from_env.rate_limit_per_minute,
        rate_limit_per_hour=from_env.rate_limit_per_hour,
        api_rate_limit_per_minute=from_env.api_rate_limit_per_minute,
        api_rate_limit_per_hour=from_env.api_rate_limit_per_hour,
        trusted_proxies=from_env.trusted_proxies,
        metrics_api_key=from_env.metrics_api_key,
        spotify_client_id=from_env.spotify_client_id,
        spotify_client_secret=from_env.spotify_client_secret,
        spotify_api_url=from_env.spotify_api_url,
        spotify_token_url=from_env.spotify_token_url,
        allow_loopback_egress=from_env.local_allow_loopback_egress,  # TONEARM_ALLOW_LOOPBACK_EGRESS
        allow_private_egress=False,
        allow_http_egress=True,
        webhook_base_delay_s=webhook_base_delay_s,
        webhook_max_attempts=webhook_max_attempts,
        retention_days=int(template.resolve({"Ref": "RetentionDays"}) or 7),
        ingest_app=LOCAL_APP_ID,  # locally, dropped files show up in the one local app's job list
    )
    preload_shared_packages()  # before any worker thread runs a job (recovery resumes some below)
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tonearm-local")
    subscriber_pools = SubscriberPools(workers=subscriber_workers)
    journal = RuntimeJournal(data_dir / "runtime.sqlite3")
    functions = LocalFunctions(template)

    def resolve_task(resource: str) -> TaskCallable:
        logical_id = function_from_arn(resource)
        functions.handler(logical_id)  # fail at resolution time if the handler does not exist

        def call(payload: Any) -> Any:
            return functions.invoke(logical_id, payload)

        return call

    bus = LocalBus(
        bus_name=str(template.resolve({"Ref": "EventBus"})),
        rules=template.rules(),
        invoke=functions.invoke,
        executor=subscriber_pools,
        journal=journal,
    )

    def execution_finished(
        machine: str, name: str, execution_input: Mapping[str, Any], outcome: ExecutionResult | BaseException
    ) -> None:
        # what Step Functions puts on the default bus when an execution ends
        error: str | None
        cause: str | None
        if isinstance(outcome, BaseException):
            status, error, cause = "FAILED", type(outcome).__name__, str(outcome)
        else:
            status, error, cause = outcome.status, outcome.error, outcome.cause
        bus.publish_raw(
            bus="default",
            source="aws.states",
            detail_type="Step Functions Execution Status Change",
            detail={
                "executionArn": f"arn:aws:states:{LOCAL_REGION}:{LOCAL_ACCOUNT}:execution:{machine}:{name}",
                "stateMachineArn": str(template.resolve({"Ref": machine})),
                "name": name,
                "status": status,
                "input": json.dumps(dict(execution_input)),
                "error": error,
                "cause": cause,
            },
        )

    blobs = local_blob_store(data_dir, base_url=base_url)
    orchestrator = LocalOrchestrator(
        definitions=template.state_machine_definition,
        resolve_task=resolve_task,
        executor=executor,
        sleep=sleep,
        on_finished=execution_finished,
        # a distributed Map's ItemReader/ResultWriter address the template's Bucket: the local folder
        buckets=FolderBuckets({str(template.resolve({"Ref": "Bucket"})): blobs.root}),
        journal=journal,
    )
    for machine in template.state_machines():
        orchestrator.runner(machine)  # unsupported ASL is reported at start-up, not on the first job
    dead_letters = FileDeadLetterSink(data_dir / "dead-letters.jsonl")
    services = Services(
        settings=settings,
        store=local_job_store(data_dir),
        blobs=blobs,
        orchestrator=orchestrator,
        bus=bus,
        dead_letters=dead_letters,
        make_metadata_source=lambda: metadata_source(settings),
    )
    install_services(services)
    key, secret = local_credentials(data_dir, api_key=api_key, webhook_secret=webhook_secret)
    services.store.put_application(
        Application(id=LOCAL_APP_ID, name="local", key_sha256=hash_api_key(key), webhook_secret=secret)
    )
    watchdog = JobWatchdog(jobs=services.jobs, workflows=services.jobs.workflows, orchestrator=orchestrator)
    sweeper = PeriodicSweep(watchdog, interval_s=sweep_interval_s)
    owner = DataFolderLock.acquire(data_dir)
    if owner is not None:
        recovery = recover(
            journal=journal,
            orchestrator=orchestrator,
            bus=bus,
            jobs=services.jobs,
            watchdog=watchdog,
            bucket_root=blobs.root,
        )
        sweeper.start()
    else:
        # another process (a running `tonearm serve`) owns this data folder and its unfinished work; a
        # `tonearm invoke` beside it must not re-run that work
        recovery = RecoveryReport()
    watcher = IngestWatcher(
        bucket_root=blobs.root,
        bucket_name=str(template.resolve({"Ref": "Bucket"})),
        bus=bus,
        interval_s=watch_interval_s,
    )
    watcher.start()
    return LocalRuntime(
        services=services,
        template=template,
        functions=functions,
        orchestrator=orchestrator,
        bus=bus,
        dead_letters=dead_letters,
        watcher=watcher,
        executor=executor,
        subscriber_pools=subscriber_pools,
        journal=journal,
        sweeper=sweeper,
        recovery=recovery,
        owner=owner,
        api_key=key,
        webhook_secret=secret,
    )
