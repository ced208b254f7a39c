"""Benchmark: the cold start of every Lambda function in ``template.yaml``, zip and image (issue 21).

For each function, in a clean interpreter bound to one CPU with every thread pool at 1
(:mod:`bench.common`):

* **import**: the time to import its handler module (``functions/<name>/app.py``, as Lambda's runtime
  does at a cold start), the median of ``--runs`` fresh interpreters, two ways:

  - *cached*: with the bytecode caches Python and pip leave (``__pycache__``; a first unmeasured run
    writes any that are missing), as a deployed zip or image holds them;
  - *uncached*: every module compiled from source (``PYTHONPYCACHEPREFIX`` at an empty folder and
    ``-B``; the standard library included, so an upper bound).

  The target (issue 21): zip functions <= 0.35 s, image functions <= 0.6 s, cached, on one quiet core.
  A 512 MB Lambda gets about a third of a core: multiply by ~3 for the time a user waits there.
* **first request**: in one more interpreter, after the import, the local stack (files and SQLite
  instead of S3 and DynamoDB, as ``make serve`` runs) is built and seeded with the records the sample
  events name (``tests/contract/seed.py``); the function's sample event (``events/<name>/``, the first
  that is not a refusal) is handled once (*first*: services, FastAPI app, models loaded lazily on first
  use, plus the work) and again on fresh records in the same process (*warm*: the work alone). *init* =
  first - warm is what a cold start adds to the first request. The local adapters stand in for boto3's
  clients, whose construction (~50-100 ms per client) is not in these numbers.
  Zip functions run with the packages their layer lacks (numpy, scipy, onnxruntime, soundfile, av,
  soxr) hidden, as in Lambda; this venv has them, and the API function would otherwise add the
  model routes it serves only where they are installed.
  Also reported: the heavy packages (numpy, scipy, onnxruntime, ...) loaded by the import and after the
  first request, the peak RSS (``VmHWM``, for choosing the memory size) and the imports that cost most
  (``-X importtime``, cumulative, top-level packages).

Usage::

    python -m bench.cold_start [--runs 7] [--only ApiFunction,AuthorizerFunction] [--skip-uncached]
        [--no-requests] [--out bench/results/cold_start.json]

writes the JSON and a Markdown table beside it (``cold_start.md``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, default_cpu, single_thread_env

TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events"
#: Targets of issue 21 for the cached import [s].
TARGET_S = {"zip": 0.35, "image": 0.6}
#: What the zip functions' layer lacks (``layers/core/requirements.txt``), hidden from their interpreters.
ZIP_ABSENT = ["numpy", "scipy", "onnxruntime", "soundfile", "av", "soxr"]
HEAVY = ("numpy", "scipy", "onnxruntime", "soundfile", "av", "soxr", "fastapi", "boto3", "pydantic")
#: Sample events that are refusals (bad key, unknown workflow) or destructive are not "a first request".
_NOT_REPRESENTATIVE = ("bad", "unknown", "failed", "delete", "no_model")

#: Child: bind to one CPU, import the handler module, report its import time and what it loaded.
_IMPORT_CHILD = r"""
import importlib.util, json, os, sys, time
from pathlib import Path
cpu = int(sys.argv[2])
if cpu >= 0:
    os.sched_setaffinity(0, {cpu})
for name in json.loads(os.environ.get("COLD_START_ABSENT", "[]")):
    sys.modules[name] = None  # not in the zip functions' layer: absent, as in Lambda
module_file = Path(sys.argv[1])
sys.path.insert(0, str(module_file.parent))
t0 = time.perf_counter()
spec = importlib.util.spec_from_file_location("app", module_file)
module = importlib.util.module_from_spec(spec)
sys.modules["app"] = module
spec.loader.exec_module(module)
elapsed = time.perf_counter() - t0
loaded = {n.partition(".")[0] for n, m in sys.modules.items() if m is not None}
heavy = sorted(loaded & set(json.loads(sys.argv[3])))
print(json.dumps({"import_s": elapsed, "modules": len(sys.modules), "heavy": heavy}))
"""

#: Child: the import, then the sample event handled twice on the local stack (see the module docstring).
#: The records are seeded by the parent, which holds the data folders (so the child recovers nothing).
_REQUEST_CHILD = r"""
import importlib.util, json, os, sys, time
from pathlib import Path
cpu = int(sys.argv[2])
if cpu >= 0:
    os.sched_setaffinity(0, {cpu})
for name in json.loads(os.environ.get("COLD_START_ABSENT", "[]")):
    sys.modules[name] = None  # not in the zip functions' layer: absent, as in Lambda
module_file, attribute, event_file = Path(sys.argv[1]), sys.argv[4], Path(sys.argv[5])
logical_id, folders = sys.argv[6], [Path(p) for p in json.loads(sys.argv[7])]
HEAVY = set(json.loads(sys.argv[3]))
heavy = lambda names: sorted({n.partition(".")[0] for n in names if sys.modules.get(n)} & HEAVY)
sys.path.insert(0, str(module_file.parent))
t0 = time.perf_counter()
spec = importlib.util.spec_from_file_location("app", module_file)
module = importlib.util.module_from_spec(spec)
sys.modules["app"] = module
spec.loader.exec_module(module)
out = {"import_s": time.perf_counter() - t0, "heavy_after_import": heavy(sys.modules)}
handler = getattr(module, attribute)
event = json.loads(event_file.read_text())

def invoke(data_dir):
    from tonearm.local_stack.lambda_context import LocalLambdaContext
    from tonearm.local_stack.runtime import build_local_runtime

    t = time.perf_counter()
    rt = build_local_runtime(project_root=Path.cwd(), data_dir=data_dir, base_url=sys.argv[8],
                             api_key="local-key", sleep=lambda _s: None)
    services_s = time.perf_counter() - t
    t = time.perf_counter()
    try:
        handler(json.loads(json.dumps(event)), LocalLambdaContext(function_name=logical_id))
        error = None
    except Exception as exc:  # a refusal is an answer too; the time still counts
        error = f"{type(exc).__name__}: {str(exc)[:200]}"
    elapsed = time.perf_counter() - t
    rt.close()
    return services_s, elapsed, error

before = set(sys.modules)
out["services_s"], out["first_s"], out["first_error"] = invoke(folders[0])
out["heavy_loaded_by_first"] = heavy(set(sys.modules) - before)
_, out["warm_s"], out["warm_error"] = invoke(folders[1])
for line in Path("/proc/self/status").read_text().splitlines():
    if line.startswith("VmHWM:"):
        out["peak_rss_mb"] = int(line.split()[1]) / 1024.0
print("COLD-START " + json.dumps(out))
"""
#: The local stack's base URL in the seeded records and the child (nothing listens: files are local).
_BASE_URL = "http://127.0.0.1:3997"


def functions() -> list[dict[str, Any]]:
    """Every function of the template: logical id, zip or image, handler module and attribute, event."""
    from tonearm.local_stack.template import LocalTemplate

    template = LocalTemplate(TEMPLATE)
    default_memory = template.data.get("Globals", {}).get("Function", {}).get("MemorySize", 128)
    found = []
    for logical_id, definition in template.functions().items():
        props = template.resources[logical_id].get("Properties", {})
        events = sorted((EVENTS / logical_id).glob("*.json"))
        usable = [e for e in events if not any(word in e.stem for word in _NOT_REPRESENTATIVE)] or events
        found.append(
            {
                "function": logical_id,
                "package": "image" if props.get("PackageType") == "Image" else "zip",
                "module": str(definition.module_file.relative_to(ROOT)),
                "attribute": definition.attribute,
                "memory_mb": int(props.get("MemorySize", default_memory)),
                "event": str(usable[0].relative_to(ROOT)) if usable else None,
            }
        )
    return sorted(found, key=lambda f: (f["package"] != "zip", f["function"]))


def _child_env(package: str, *, cached: bool, prefix: Path | None = None) -> dict[str, str]:
    from tonearm.local_stack.runtime import _POWERTOOLS_ENV  # as the template sets them in AWS

    # the allocator settings are the images' (their Dockerfiles), not the zips'
    env = single_thread_env(bytecode_caches=cached, image_allocator=package == "image")
    env.update(_POWERTOOLS_ENV)
    # the zip functions' layer holds none of the audio and model stack (this venv does): hidden from them
    env["COLD_START_ABSENT"] = json.dumps(ZIP_ABSENT if package == "zip" else [])
    env.pop("PYTHONPYCACHEPREFIX", None)
    if prefix is not None:
        env["PYTHONPYCACHEPREFIX"] = str(prefix)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _run_child(code: str, args: list[str], env: dict[str, str], extra: list[str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, *(extra or []), "-c", code, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"child failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout + "\n" + done.stderr


def _last_json(text: str, marker: str = "") -> dict[str, Any]:
    for line in reversed(text.strip().splitlines()):
        if line.startswith(marker + "{") or (marker and line.startswith(marker)):
            return dict(json.loads(line[len(marker) :].strip()))
    raise RuntimeError(f"no result in the child's output: {text[-1000:]}")


def measure_import(fn: dict[str, Any], runs: int, cpu: int | None, *, uncached: bool) -> dict[str, Any]:
    """Median import time over ``runs`` fresh interpreters (cached, and uncached unless told not)."""
    module = str(ROOT / fn["module"])
    args = [module, str(-1 if cpu is None else cpu), json.dumps(HEAVY)]
    _run_child(
        _IMPORT_CHILD, args, _child_env(fn["package"], cached=True)
    )  # writes any missing caches; not measured
    cached = [
        _last_json(_run_child(_IMPORT_CHILD, args, _child_env(fn["package"], cached=True)))
        for _ in range(runs)
    ]
    out: dict[str, Any] = {
        "import_cached_s": statistics.median(r["import_s"] for r in cached),
        "import_cached_runs_s": [round(r["import_s"], 4) for r in cached],
        "modules": cached[0]["modules"],
        "heavy_after_import": cached[0]["heavy"],
    }
    if uncached:
        times = []
        for _ in range(runs):
            with tempfile.TemporaryDirectory(prefix="cold-start-pyc-") as empty:
                env = _child_env(fn["package"], cached=False, prefix=Path(empty))
                times.append(_last_json(_run_child(_IMPORT_CHILD, args, env, ["-B"]))["import_s"])
        out["import_uncached_s"] = statistics.median(times)
        out["import_uncached_runs_s"] = [round(t, 4) for t in times]
    # the costliest imports: the largest cumulative time of any module of each package (one cached run)
    text = _run_child(_IMPORT_CHILD, args, _child_env(fn["package"], cached=True), ["-X", "importtime"])
    top = sorted(_package_costs(text).items(), key=lambda kv: -kv[1])[:5]
    out["top_imports_ms"] = {name: round(us / 1000, 1) for name, us in top}
    return out


def _package_costs(text: str) -> dict[str, int]:
    """``-X importtime`` output -> top-level package -> the largest cumulative time [us] of its modules
    (tonearm and the handler module itself left out: they hold everything)."""
    costs: dict[str, int] = {}
    for line in text.splitlines():
        parts = line[len("import time:") :].split("|") if line.startswith("import time:") else []
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        package = parts[2].strip().partition(".")[0]
        if package not in ("tonearm", "app"):
            costs[package] = max(costs.get(package, 0), int(parts[1]))
    return costs


def measure_first_request(fn: dict[str, Any], cpu: int | None) -> dict[str, Any]:
    """The sample event handled cold and warm in one interpreter (see the module docstring)."""
    if fn["event"] is None:
        return {"first_error": "no sample event"}
    from tests.contract.seed import seed_contract_fixtures
    from tonearm.local_stack.runtime import build_local_runtime

    with tempfile.TemporaryDirectory(prefix="cold-start-") as tmp:
        folders, holders = [Path(tmp) / "first", Path(tmp) / "warm"], []
        try:
            for folder in folders:  # seeded here, and held: the child recovers and sweeps nothing
                rt = build_local_runtime(
                    project_root=ROOT,
                    data_dir=folder,
                    base_url=_BASE_URL,
                    api_key="local-key",
                    sweep_interval_s=1e9,
                    sleep=lambda _s: None,
                )
                holders.append(rt)
                seed_contract_fixtures(rt.services.store, rt.services.blobs, webhook_secret=rt.webhook_secret)
            args = [
                str(ROOT / fn["module"]),
                str(-1 if cpu is None else cpu),
                json.dumps(HEAVY),
                fn["attribute"],
                str(ROOT / fn["event"]),
                fn["function"],
                json.dumps([str(f) for f in folders]),
                _BASE_URL,
            ]
            text = _run_child(_REQUEST_CHILD, args, _child_env(fn["package"], cached=True))
        finally:
            for rt in holders:
                rt.close()
    result = _last_json(text, "COLD-START ")
    result["init_s"] = result["services_s"] + max(0.0, result["first_s"] - result["warm_s"])
    result.pop("import_s", None)
    return result


#: Lambda's CPU share grows in proportion to the memory size and reaches one full vCPU at 1,769 MB
#: (AWS Lambda documentation, "Memory and computing power"); tonearm's work runs on one thread, so a
#: larger size adds a second vCPU nothing uses.
ONE_VCPU_MB = 1769


def estimated_cold_start_s(row: dict[str, Any]) -> float | None:
    """Import + services + first request on one full core, scaled to the function's CPU share."""
    parts = [row.get("import_cached_s"), row.get("services_s"), row.get("first_s")]
    if any(p is None for p in parts) or not row.get("memory_mb"):
        return None
    full_core = float(sum(p for p in parts if p is not None))
    return full_core * max(1.0, ONE_VCPU_MB / float(row["memory_mb"]))


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


_HEADER = (
    "function",
    "package",
    "import cached [s]",
    "target",
    "import uncached [s]",
    "services [s]",
    "first request [s]",
    "warm [s]",
    "init [s]",
    "peak RSS [MiB]",
    "memory [MB]",
    "cold start at that size, est. [s]",
    "heavy after import",
    "loaded by the first request",
    "costliest imports [ms]",
)


def markdown(report: dict[str, Any]) -> str:
    """The cold-start table."""
    lines = [
        "# Cold start",
        "",
        f"{report['machine']}; one CPU ({report['cpu']}), thread pools at 1; median of {report['runs']} "
        "fresh interpreters. Import: the handler module (`functions/*/app.py`), as Lambda imports it; "
        f"target zip <= {TARGET_S['zip']} s, image <= {TARGET_S['image']} s (cached bytecode). "
        "Services: building the local stack's services (the stand-in for `get_services()` on a first "
        "request in AWS). First request: the sample event, cold; warm: the same on fresh records in the "
        "same process; init = services + first - warm. Lambda's CPU share is proportional to the memory "
        f"size, one vCPU at {ONE_VCPU_MB} MB: the estimate scales import + services + first request by "
        f"max(1, {ONE_VCPU_MB} / memory).",
        "",
        "**Memory sizes (template.yaml), chosen from this table:** every image function gets "
        f"{ONE_VCPU_MB} MB, one full vCPU: its work runs on one thread (the benchmarks' speed targets are "
        "one-thread figures), so more memory buys a second vCPU that stays idle, and less memory slows "
        "the job in proportion for the same cost per job (CPU-bound work costs GB-seconds x duration, "
        "and the duration grows as the share shrinks); the peak RSS of a 10-minute input is 0.36-0.5 GB "
        "(tagging, transcription, analysis, generation; separation 0.31 GB; bench/results/*.md), well "
        "inside. The HTTP functions users wait on, ApiFunction and AuthorizerFunction, get 1024 MB: "
        "their cold start is about half of what 512 MB gives, and a warm request (tens of ms of CPU) "
        "costs about the same GB-seconds, since it runs about twice as fast. The background zip "
        "functions (job status, batch, ingest, webhooks, watchdog) stay at 512 MB: nobody waits on their "
        "cold start, and most of their time is spent waiting on AWS calls, which more memory does not "
        "shorten.",
        "",
        "| " + " | ".join(_HEADER) + " |",
        "| --- | --- | ---: | :---: |" + " ---: |" * 8 + " --- | --- | --- |",
    ]
    for row in report["functions"]:
        target = TARGET_S[row["package"]]
        cached = row.get("import_cached_s")
        met = "n/a" if cached is None else ("ok" if cached <= target else f"over ({target})")
        first = _fmt(row.get("first_s")) + (" (error)" if row.get("first_error") else "")
        cells = [
            row["function"],
            row["package"],
            _fmt(cached),
            met,
            _fmt(row.get("import_uncached_s")),
            _fmt(row.get("services_s")),
            first,
            _fmt(row.get("warm_s")),
            _fmt(row.get("init_s")),
            _fmt(row.get("peak_rss_mb"), 0),
            str(row.get("memory_mb") or "n/a"),
            _fmt(estimated_cold_start_s(row), 2),
            ", ".join(row.get("heavy_after_import") or []) or "-",
            ", ".join(row.get("heavy_loaded_by_first") or []) or "-",
            ", ".join(f"{k} {v}" for k, v in (row.get("top_imports_ms") or {}).items()),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    errors = [(r["function"], r["first_error"]) for r in report["functions"] if r.get("first_error")]
    if errors:
        lines += ["", "Sample events answered with an error (timed all the same):", ""]
        lines += [f"- {name}: {error}" for name, error in errors]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh interpreters per import median")
    parser.add_argument("--only", default="", help="comma-separated logical ids (default: every function)")
    parser.add_argument("--skip-uncached", action="store_true", help="leave out the uncached imports")
    parser.add_argument("--no-requests", action="store_true", help="leave out the first-request runs")
    parser.add_argument("--cpu", type=int, default=None, help="CPU to bind to (default: the highest)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "cold_start.json")
    args = parser.parse_args(argv)
    cpu = args.cpu if args.cpu is not None else default_cpu()
    chosen = [f for f in functions() if not args.only or f["function"] in args.only.split(",")]
    if not chosen:
        parser.error(f"no function named {args.only!r} in template.yaml")
    rows = []
    for fn in chosen:
        started = time.perf_counter()
        row = {**fn, **measure_import(fn, args.runs, cpu, uncached=not args.skip_uncached)}
        if not args.no_requests:
            row.update(measure_first_request(fn, cpu))
        row["target_s"] = TARGET_S[fn["package"]]
        row["meets_target"] = row["import_cached_s"] <= row["target_s"]
        rows.append(row)
        print(
            f"{fn['function']:<28} {fn['package']:<5} import {row['import_cached_s']:.3f} s"
            f" (target {row['target_s']}), first request {_fmt(row.get('first_s'))} s"
            f" [{time.perf_counter() - started:.0f} s]",
            file=sys.stderr,
        )
    report = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}",
        "cpu": cpu,
        "runs": args.runs,
        "targets_s": TARGET_S,
        "functions": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
