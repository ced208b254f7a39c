"""A bounded schemathesis run over the app's OpenAPI, against the real app on the local stack (issue 18).

Every operation of ``/openapi.json`` gets ``EXAMPLES`` generated requests in each of schemathesis's two
modes (positive: valid by the schema; negative: invalid on purpose), derandomized (the same requests
every run) and sent in-process over ASGI to the app ``tonearm serve`` serves, on a temp data folder,
with the API key in ``Authorization``/``X-API-Key`` (and SAMI's body ``token``), a trained MusicFlow
model, and the rate limits out of reach. Nothing the requests start ever runs: the orchestrator only
records executions (a fuzzed ``/generate-music`` would otherwise synthesise for real), so the run
checks the synchronous answers alone.

Each response goes through schemathesis's checks: no 5xx, the status code documented, the content type
and headers documented, the body valid against the documented schema, an invalid JSON body refused (a
4xx, not a 2xx), and (ours) no ``NaN``/``Infinity`` in a JSON body. The run happens once per module
(about 2,900 requests, 30-45 s on two cores); each test below asserts one family of failures, listing
every distinct one (operation, check, status) with a curl reproducer (base URL ``http://testserver``).
A last test sends every documented path each method it does not document: 405 with ``Allow``.

By hand, with more examples per operation and mode: ``python -m tests.fuzz.test_openapi_fuzz 1000``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from schemathesis.python.asgi import get_client
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fakes.listener import fill_library, history_file, make_catalogue
from tests.fuzz.conftest import API_KEY, build_runtime, short, strict_json

pytestmark = pytest.mark.slow  # about 40 s

#: generated requests per operation and mode, at most: about 3,000 requests in all (hypothesis stops early
#: on operations with few distinct inputs, such as GET /health)
EXAMPLES = 100
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
#: which test reports which check
FAMILIES = {
    "server_error": {"not_a_server_error", "exception", "schema"},
    "status_code": {"status_code_conformance"},
    "body": {
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "json_constants",
    },
    "invalid_accepted": {"negative_data_rejection"},
}


class RecordingOrchestrator:
    """Records every execution start and runs none; anything else is the real orchestrator's."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.started: list[str] = []

    def start(self, *, state_machine: str, execution_name: str, execution_input: Mapping[str, Any]) -> None:
        self.started.append(execution_name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class ServeErrors:
    """ASGI wrapper: an exception a handler raised after the 500 was sent (Starlette re-raises it for the
    server's log) stays here, as a real server keeps it in its log, so the client sees the 500."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        started = False

        async def tracking_send(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            if scope["type"] != "http":
                raise
            if not started:
                body = b'{"error":{"code":"internal_error","message":"unhandled exception"}}'
                await send(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await send({"type": "http.response.body", "body": body})


@dataclass
class FuzzFailure:
    """One distinct failure: the first request that showed it, and how often it was seen."""

    operation: str
    check: str
    status: int | None
    title: str
    message: str
    curl: str
    count: int = 1

    def describe(self) -> str:
        return (
            f"{self.operation} [{self.check}] HTTP {self.status} x{self.count}: {self.title}\n"
            f"    {short(self.message, 400)}\n    reproduce: {short(self.curl, 600)}"
        )


@dataclass
class FuzzRun:
    """What the run did and found."""

    requests: int = 0
    seconds: float = 0.0
    per_operation: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[tuple[str, str, int | None, str], FuzzFailure] = field(default_factory=dict)
    executions_started: int = 0

    def add(self, failure: FuzzFailure) -> None:
        key = (failure.operation, failure.check, failure.status, failure.title)
        if key in self.failures:
            self.failures[key].count += 1
        else:
            self.failures[key] = failure

    def of(self, family: str) -> list[FuzzFailure]:
        return [f for f in self.failures.values() if f.check in FAMILIES[family]]


def _check_name(failure: Failure) -> str:
    checks = getattr(failure, "checks", ()) or ()
    for name in checks:
        if any(name in family for family in FAMILIES.values()):
            return str(name)
    return str(checks[0]) if checks else type(failure).__name__


def _json_body_negated_only(case: Any) -> bool:
    """Whether only the JSON body of a negative case was made invalid (where a wrong type is one)."""
    meta = case.meta
    if meta is None or "json" not in str(case.media_type or ""):
        return False
    negated = {location.name for location, info in meta.components.items() if info.mode.is_negative}
    return negated == {"BODY"}


def _authenticate(case: Any) -> None:
    """SAMI's credentials travel in the body: make them the real ones where the body carries them."""
    if isinstance(case.body, dict):
        if "token" in case.body:
            case.body["token"] = API_KEY
        if "appkey" in case.body:
            case.body["appkey"] = "local"
    if isinstance(case.query, dict):
        if "token" in case.query:
            case.query["token"] = API_KEY
        if "appkey" in case.query:
            case.query["appkey"] = "local"


def _train_musicflow(client: TestClient, runtime: Any) -> None:
    catalogue = make_catalogue(40, seed=5)
    fill_library(runtime.services.musicflow.library, catalogue)
    reply = client.post(
        "/api/model",
        files=[("history", ("StreamingHistory_music_0.json", history_file(catalogue, extended=False)))],
        headers={"Authorization": API_KEY},
    )
    assert reply.status_code == 201, reply.text


FIXED_HEADERS = {"Authorization": API_KEY, "X-API-Key": API_KEY}


def _send(run: FuzzRun, client: Any, label: str, case: Any) -> None:
    """Send one generated request and record whatever the checks say about its answer."""
    _authenticate(case)
    run.requests += 1
    run.per_operation[label] += 1
    curl = case.as_curl_command(headers=FIXED_HEADERS)
    try:
        response = case.call(session=client, timeout=60)
    except Exception as exc:  # the app could not answer at all
        run.add(FuzzFailure(label, "exception", None, type(exc).__name__, str(exc), curl))
        return
    run.statuses[response.status_code] += 1
    failures: list[Failure] = []
    try:
        case.validate_response(response, checks=CHECKS)
    except FailureGroup as group:
        failures = list(group.exceptions)
    except Failure as single:
        failures = [single]
    for failure in failures:
        if _check_name(failure) == "negative_data_rejection" and not _json_body_negated_only(case):
            continue  # a query, header or form value is text on the wire: its "wrong type" often is not
        run.add(
            FuzzFailure(
                label, _check_name(failure), response.status_code, failure.title, failure.message, curl
            )
        )
    content_type = response.headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    if "json" in str(content_type):
        try:
            strict_json(response.content)
        except ValueError as exc:
            title = "body is not strict JSON (NaN/Infinity?)"
            message = f"{exc}: {short(response.text)}"
            run.add(FuzzFailure(label, "json_constants", response.status_code, title, message, curl))


def _fuzz_operation(run: FuzzRun, client: Any, operation: Any, mode: GenerationMode, examples: int) -> None:
    strategy = operation.as_strategy(generation_mode=mode, headers=FIXED_HEADERS)

    @hypothesis.settings(
        max_examples=examples,
        derandomize=True,  # the same requests every run
        database=None,
        deadline=None,
        phases=[Phase.generate],  # failures are collected, never raised: nothing to shrink
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @hypothesis.given(case=strategy)
    def one(case: Any) -> None:
        _send(run, client, operation.label, case)

    with contextlib.suppress(hypothesis.errors.Unsatisfiable):  # e.g. no invalid request to GET /health
        one()


def run_fuzz(app: Any, *, examples: int = EXAMPLES, progress: Callable[[str], None] | None = None) -> FuzzRun:
    """Fuzz every operation of ``app``'s OpenAPI; collect failures without stopping (nor shrinking)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.config.output.sanitization.enabled = False  # reproducers show the (test) key they need
    client = get_client(app)
    run = FuzzRun()
    started = time.monotonic()
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):  # an operation schemathesis cannot generate requests for
            error = result.err()
            run.add(FuzzFailure(str(error.path), "schema", None, "invalid schema", str(error), ""))
            continue
        operation = result.ok()
        for mode in MODES:
            _fuzz_operation(run, client, operation, mode, examples)
            if progress is not None:
                progress(f"{operation.label} {mode.value}: {run.per_operation[operation.label]} requests")
    run.seconds = time.monotonic() - started
    return run


@dataclass
class FuzzApp:
    """The app under test, and the orchestrator that records (and never runs) its executions."""

    app: Any
    orchestrator: RecordingOrchestrator


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzApp]:
    from tonearm.api.app import create_app

    runtime = build_runtime(tmp_path_factory.mktemp("fuzz") / "data")
    try:
        orchestrator = RecordingOrchestrator(runtime.services.orchestrator)
        app = create_app(dataclasses.replace(runtime.services, orchestrator=orchestrator))
        with TestClient(app) as client:
            _train_musicflow(client, runtime)
        yield FuzzApp(ServeErrors(app), orchestrator)
    finally:
        runtime.close()


@pytest.fixture(scope="module")
def fuzz_run(fuzz_app: FuzzApp) -> FuzzRun:
    run = run_fuzz(fuzz_app.app)
    run.executions_started = len(fuzz_app.orchestrator.started)
    print(
        f"\nschemathesis: {run.requests} requests over {len(run.per_operation)} operations in "
        f"{run.seconds:.1f} s; statuses {dict(sorted(run.statuses.items()))}; "
        f"{run.executions_started} executions recorded (none run); "
        f"{len(run.failures)} distinct failures"
    )
    for failure in run.failures.values():
        print(failure.describe())
    return run


def _report(failures: list[FuzzFailure]) -> str:
    return f"{len(failures)} distinct failures:\n" + "\n".join(f.describe() for f in failures)


def test_fuzz_run_is_bounded_and_covers_every_operation(fuzz_run: FuzzRun) -> None:
    assert len(fuzz_run.per_operation) >= 20, fuzz_run.per_operation
    assert 2000 <= fuzz_run.requests <= 6000, fuzz_run.requests
    # every operation with a parameter or a body got a full run in both modes
    assert sum(n >= EXAMPLES for n in fuzz_run.per_operation.values()) >= 15, fuzz_run.per_operation


def test_no_5xx(fuzz_run: FuzzRun) -> None:
    failures = fuzz_run.of("server_error")
    assert not failures, _report(failures)


def test_every_status_code_is_documented(fuzz_run: FuzzRun) -> None:
    failures = fuzz_run.of("status_code")
    assert not failures, _report(failures)


def test_every_body_matches_its_schema(fuzz_run: FuzzRun) -> None:
    failures = fuzz_run.of("body")
    assert not failures, _report(failures)


def test_invalid_requests_are_refused(fuzz_run: FuzzRun) -> None:
    """JSON bodies schemathesis made invalid on purpose (wrong types, values out of range, missing fields)
    get a 4xx, not a 2xx: booleans and numeric strings are not integers. (Query, header and form values
    are text on the wire, where a "wrong type" is often a valid string: those are not judged.)"""
    failures = fuzz_run.of("invalid_accepted")
    assert not failures, _report(failures)


METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def test_undeclared_methods_get_405_with_allow(fuzz_app: FuzzApp) -> None:
    """Every documented path answers a method it does not document with 405, an ``Allow`` header naming
    what it does take, and a body in the error shape (RFC 9110; issue 18: "405 without Allow")."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app.app).raw_schema
    client = get_client(fuzz_app.app)
    # MusicFlow's routes also answer with (or without) the trailing slash: one resource, both spellings
    methods: dict[str, set[str]] = {}
    for path, operations in schema["paths"].items():
        methods.setdefault(path.rstrip("/"), set()).update(
            m.upper() for m in operations if m.upper() in METHODS
        )
    problems = []
    for path in schema["paths"]:
        declared = methods[path.rstrip("/")]
        concrete = path.replace("{job_id}", "00000000-0000-0000-0000-000000000000").replace(
            "{task_id}", "00000000-0000-0000-0000-000000000000"
        )
        for method in sorted(set(METHODS) - declared):
            reply = client.request(method, concrete, headers=FIXED_HEADERS, timeout=30)
            allow = {m.strip().upper() for m in reply.headers.get("allow", "").split(",") if m.strip()}
            if reply.status_code != 405:
                problems.append(
                    f"{method} {concrete}: HTTP {reply.status_code}, not 405: {short(reply.text)}"
                )
            elif not declared <= allow:
                problems.append(
                    f"{method} {concrete}: 405 with Allow {sorted(allow)}, not {sorted(declared)}"
                )
            else:
                try:
                    body = strict_json(reply.content)
                    assert isinstance(body, dict) and (body.get("error") or body.get("detail"))
                except (ValueError, AssertionError):
                    problems.append(f"{method} {concrete}: 405 body in no error shape: {short(reply.text)}")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)


if __name__ == "__main__":  # a bigger run by hand: python -m tests.fuzz.test_openapi_fuzz [examples]
    import sys
    import tempfile

    from tonearm.api.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        rt = build_runtime(Path(tmp) / "data")
        rec = RecordingOrchestrator(rt.services.orchestrator)
        application = create_app(dataclasses.replace(rt.services, orchestrator=rec))
        with TestClient(application) as c:
            _train_musicflow(c, rt)
        n = int(sys.argv[1]) if len(sys.argv) > 1 else EXAMPLES
        found = run_fuzz(ServeErrors(application), examples=n, progress=print)
        print(f"{found.requests} requests in {found.seconds:.1f} s; {dict(found.statuses)}")
        print(_report(list(found.failures.values())))
        rt.close()
