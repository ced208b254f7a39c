"""``tonearm``: the command line (``tonearm serve`` runs the local stack)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from tonearm.api.app import create_app
    from tonearm.local.runtime import build_local_runtime

    base_url = f"http://{args.host}:{args.port}"
    runtime = build_local_runtime(
        project_root=Path(args.project_root),
        data_dir=Path(args.data_dir),
        base_url=base_url,
        api_key=os.environ.get("TONEARM_API_KEY") or None,
        webhook_secret=os.environ.get("TONEARM_WEBHOOK_SECRET") or None,
        webhook_base_delay_s=float(os.environ.get("WEBHOOK_BASE_DELAY_SECONDS", "1.0")),
    )
    ingest = runtime.watcher.folder
    print(
        f"tonearm local stack on {base_url}  (docs: {base_url}/docs)\n"
        f"  API key:        {runtime.api_key}\n"
        f"  webhook secret: {runtime.webhook_secret}\n"
        f"  Music.AI SDK:   client = MusicAiClient(api_key=...); client.base_url = '{base_url}/v1'\n"
        f"  ingest folder:  {ingest}/<workflow-slug>/  (e.g. {ingest}/tonearm/audio-info/song.mp3)\n"
        f"  data:           {Path(args.data_dir).resolve()}",
        flush=True,
    )
    try:
        uvicorn.run(create_app(runtime.services), host=args.host, port=args.port, log_level=args.log_level)
    finally:
        runtime.close()
    return 0


def _app_create(args: argparse.Namespace) -> int:
    import re
    import secrets

    from tonearm.events.signing import generate_webhook_secret
    from tonearm.jobs.service import hash_api_key
    from tonearm.ports import Application, JobStore
    from tonearm.settings import Settings

    settings = Settings.from_env()
    store: JobStore
    if settings.runtime == "aws":
        from tonearm.adapters.aws import build_aws_services

        store = build_aws_services(settings).store
    else:
        from tonearm.adapters.local.sqlite_jobs import SqliteJobStore

        store = SqliteJobStore(Path(args.data_dir) / "jobs.sqlite3")
    app_id = args.id or re.sub(r"[^a-z0-9]+", "-", args.name.lower()).strip("-") or "app"
    key = secrets.token_urlsafe(32)
    secret = generate_webhook_secret()
    store.put_application(
        Application(
            id=app_id,
            name=args.name,
            key_sha256=hash_api_key(key),
            webhook_url=args.webhook_url,
            webhook_secret=secret,
        )
    )
    where = (
        f"table {settings.table_name}" if settings.runtime == "aws" else str(Path(args.data_dir).resolve())
    )
    print(f"application {app_id!r} created in {where}\n  API key:        {key}\n  webhook secret: {secret}")
    if settings.runtime == "aws":
        print("  also create an API Gateway API key with this value and add it to the stack's usage plan")
    return 0


def _analyze(args: argparse.Namespace) -> int:
    import json

    from tonearm.analysis.analyze import analyze_source
    from tonearm.errors import TonearmError

    path = Path(args.file)
    try:
        info, analysis = analyze_source(path, size_bytes=path.stat().st_size)
        result = analysis.to_result()
    except FileNotFoundError:
        print(f"tonearm: no such file: {path}", file=sys.stderr)
        return 2
    except TonearmError as exc:
        print(f"tonearm: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result.model_dump(mode="json"), indent=2))
        return 0
    f = result.features
    print(
        f"{path.name}: {result.duration:.1f} s, {info.format}, {info.sample_rate} Hz, {info.channels} ch\n"
        f"  tempo     {result.bpm:.1f} BPM (confidence {result.bpmConfidence:.2f}), "
        f"{result.timeSignature}/4, {len(result.beats)} beats, {len(result.downbeats)} bars\n"
        f"  key       {result.key} (confidence {result.keyConfidence:.2f})\n"
        f"  loudness  {result.loudnessLufs} LUFS, range {result.loudnessRangeLu} LU, "
        f"true peak {result.truePeakDb} dBTP\n"
        f"  features  "
        + ", ".join(f"{k} {v:.2f}" for k, v in f.items() if isinstance(v, float) and 0 <= v <= 1)
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tonearm`` command."""
    parser = argparse.ArgumentParser(prog="tonearm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the whole API locally with local adapters")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument("--data-dir", default=os.environ.get("TONEARM_DATA_DIR", ".tonearm"))
    serve.add_argument("--project-root", default=".", help="folder holding template.yaml")
    serve.add_argument("--log-level", default="warning")
    serve.set_defaults(func=_serve)
    analyze = sub.add_parser("analyze", help="tempo, beats, key, loudness and features of an audio file")
    analyze.add_argument("file")
    analyze.add_argument(
        "--json", action="store_true", help="print the JSON the tonearm/analyze workflow returns"
    )
    analyze.set_defaults(func=_analyze)
    apps = sub.add_parser("app", help="manage applications (API keys)")
    app_sub = apps.add_subparsers(dest="app_command", required=True)
    create = app_sub.add_parser(
        "create", help="create an application and print its API key (AWS when TONEARM_RUNTIME=aws)"
    )
    create.add_argument("--name", required=True)
    create.add_argument("--id", help="application id (default: from the name)")
    create.add_argument("--webhook-url", help="default webhook URL for the application's jobs")
    create.add_argument("--data-dir", default=os.environ.get("TONEARM_DATA_DIR", ".tonearm"))
    create.set_defaults(func=_app_create)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
