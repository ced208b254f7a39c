"""``tonearm``: the command line (``tonearm serve`` runs the local stack)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def _key_hint(key: str) -> str:
    """Enough of an API key to tell which one it is (its first 4 characters), never the key."""
    return f"{key[:4]}... ({len(key)} characters)" if len(key) >= 16 else f"({len(key)} characters)"


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from tonearm.api.app import create_app
    from tonearm.local_stack.runtime import build_local_runtime
    from tonearm.settings import Settings

    settings = Settings.from_env()
    tls = None
    if args.https:
        from tonearm.local_stack.tls import local_tls

        tls = local_tls(Path(args.data_dir).resolve())
    base_url = f"{'https' if tls else 'http'}://{args.host}:{args.port}"
    runtime = build_local_runtime(
        project_root=Path(args.project_root),
        data_dir=Path(args.data_dir),
        base_url=base_url,
        api_key=settings.api_key or None,
        webhook_secret=settings.webhook_secret or None,
        webhook_base_delay_s=settings.webhook_base_delay_s,
    )
    ingest = runtime.watcher.folder
    from tonearm.local_stack.runtime import CREDENTIALS_FILE, LOCAL_APP_ID

    kept = Path(args.data_dir).resolve() / CREDENTIALS_FILE
    # never the key or the secret themselves: start-up output ends up in terminals' scrollback, CI logs
    # and service journals. The credentials file (0600) holds both.
    key_from = "TONEARM_API_KEY" if settings.api_key else f"{kept}, api_key"
    secret_from = "TONEARM_WEBHOOK_SECRET" if settings.webhook_secret else f"{kept}, webhook_secret"
    print(
        f"tonearm local stack on {base_url}  (docs: {base_url}/docs)\n"
        f"  API key:        {_key_hint(runtime.api_key)}  (in {key_from})\n"
        f"  application id: {LOCAL_APP_ID}  (SAMI's appkey)\n"
        f"  webhook secret: in {secret_from}\n"
        f"  credentials:    {kept}  (yours only, kept across restarts)\n"
        f"  Music.AI SDK:   client = MusicAiClient(api_key=...); client.base_url = '{base_url}/v1'\n"
        f"  ingest folder:  {ingest}/<workflow-slug>/  (e.g. {ingest}/tonearm/audio-info/song.mp3)\n"
        f"  data:           {Path(args.data_dir).resolve()}"
        + (f"\n  HTTPS:          trust the local CA: export REQUESTS_CA_BUNDLE={tls.ca_cert}" if tls else ""),
        flush=True,
    )
    try:
        uvicorn.run(
            create_app(runtime.services),
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            # the app reads X-Forwarded-For itself, from TRUSTED_PROXIES only: uvicorn's own reading
            # trusts every loopback client, so a local client could pose as any address
            proxy_headers=False,
            ssl_certfile=str(tls.server_cert) if tls else None,
            ssl_keyfile=str(tls.server_key) if tls else None,
        )
    finally:
        runtime.close()
    return 0


def _invoke(args: argparse.Namespace) -> int:
    """Run one template function's handler on an event, in process: ``sam local invoke`` without Docker."""
    import json

    from tonearm.local_stack.runtime import build_local_runtime
    from tonearm.settings import Settings

    settings = Settings.from_env()
    event = json.loads(_input_file(args.event).read_text()) if args.event != "-" else json.load(sys.stdin)
    runtime = build_local_runtime(
        project_root=Path(args.project_root),
        data_dir=Path(args.data_dir),
        base_url="http://127.0.0.1:3000",
        api_key=settings.api_key or None,
        webhook_secret=settings.webhook_secret or None,
    )
    try:
        # the local stack's function invoker: the template's handler, a Lambda context, JSON in and out
        result = runtime.functions.invoke(args.function, event)
    finally:
        runtime.close()
    print(json.dumps(result, indent=2))
    return 0


def _app_create(args: argparse.Namespace) -> int:
    import re
    import secrets

    from tonearm.bootstrap import job_store, stack_settings, usage_plan_keys
    from tonearm.events.signing import generate_webhook_secret
    from tonearm.jobs.service import hash_api_key
    from tonearm.ports import Application
    from tonearm.settings import Settings

    settings = Settings.from_env()
    if args.stack:
        settings = stack_settings(settings, args.stack)
    # in AWS the key must also be an API Gateway key on the usage plan: checked before anything is written
    keys = usage_plan_keys(settings) if settings.runtime == "aws" else None
    store = job_store(settings, data_dir=Path(args.data_dir))
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
    if keys is not None:
        key_id = keys.register(app_id=app_id, key=key)
        where += f", API key {key_id} on usage plan {settings.usage_plan_id}"
    print(f"application {app_id!r} created in {where}\n  API key:        {key}\n  webhook secret: {secret}")
    return 0


class _NoSuchFileError(Exception):
    """An input file named on the command line does not exist (exit status 2)."""


def _input_file(name: str) -> Path:
    """The input file ``name``; raises :class:`_NoSuchFileError` if it is not a file."""
    path = Path(name)
    if not path.is_file():
        raise _NoSuchFileError(path)
    return path


def _analyze(args: argparse.Namespace) -> int:
    import json

    from tonearm.analysis.analyze import analyze_source

    path = _input_file(args.file)
    info, analysis = analyze_source(path, size_bytes=path.stat().st_size)
    result = analysis.to_result()
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


def _chords(args: argparse.Namespace) -> int:
    import json
    import tempfile

    from tonearm.chords.workflow import beats_and_chords
    from tonearm.jobs.spec import no_progress

    path = _input_file(args.file)
    with tempfile.TemporaryDirectory(prefix="tonearm-chords-") as tmp:
        out_dir = Path(args.out) if args.out else Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        produced = beats_and_chords(path, out_dir, {}, no_progress)
        if args.json:
            document = {
                **produced.values,
                "beatMap": json.loads(produced.files["beatMap"].read_text()),
                "chordMap": json.loads(produced.files["chordMap"].read_text()),
            }
            print(json.dumps(document, indent=2))
        else:
            print(produced.files["chordsText"].read_text(), end="")
        if args.out:
            names = ", ".join(sorted(p.name for p in produced.files.values()))
            print(f"wrote {names} to {out_dir}", file=sys.stderr)
    return 0


def _transcribe(args: argparse.Namespace) -> int:
    import json
    import shutil
    import tempfile

    from tonearm.jobs.spec import no_progress
    from tonearm.transcription.workflow import transcribe

    path = _input_file(args.file)
    with tempfile.TemporaryDirectory(prefix="tonearm-transcribe-") as tmp:
        produced = transcribe(path, Path(tmp), {}, no_progress)
        midi_out = Path(args.output) if args.output else path.with_suffix(".mid")
        shutil.copyfile(produced.files["midi"], midi_out)
        if args.notes:
            shutil.copyfile(produced.files["notes"], args.notes)
        notes = json.loads(produced.files["notes"].read_text()) if args.json else None
    if notes is not None:  # like `analyze --json` and `chords --json`: the result on stdout, nothing else
        print(json.dumps({**produced.values, "midi": str(midi_out), "notes": notes}, indent=2))
        return 0
    bpm = produced.values["bpm"]
    print(f"{path.name}: {produced.values['noteCount']} notes, {bpm if bpm else 'no'} BPM -> {midi_out}")
    return 0


def _heads_train(args: argparse.Namespace) -> int:
    from tonearm.errors import TonearmError
    from tonearm.tagging.heads.lookup import HeadNameError, check_head_name, heads_dir
    from tonearm.tagging.heads.train import HeadDataError, train_head

    data_dir = Path(args.data_dir)
    name = args.name or data_dir.resolve().name
    out = Path(args.out) if args.out else heads_dir()
    try:
        if not args.name:
            try:
                check_head_name(name)
            except HeadNameError as exc:
                raise HeadNameError(f"{exc.message} (it comes from the folder name: pass --name)") from None
        if out is None:
            raise HeadDataError("no heads folder: pass --out or set TONEARM_HEADS_DIR")
        print(f"training head {name!r} on {data_dir}", flush=True)
        report = train_head(
            data_dir,
            name=name,
            heads_root=out,
            test_fraction=args.test_fraction,
            seed=args.seed,
            l2=args.l2,
            overwrite=args.force,
            progress=lambda line: print(f"  embedding {line}", file=sys.stderr, flush=True),
        )
    except HeadNameError as exc:
        hint = "; pass --force to replace it" if "already exists" in exc.message else ""
        print(f"tonearm: {exc.code}: {exc.message}{hint}", file=sys.stderr)
        return 2
    except TonearmError as exc:
        print(f"tonearm: {exc.code}: {exc.message}", file=sys.stderr)
        # bad data or arguments are the caller's to fix (2); a missing model or package is not (1)
        return 2 if exc.status < 500 and exc.code != "missing_dependency" else 1
    m = report.manifest
    width = max(len("label"), *(len(label) for label in m.labels))
    print(f"  {'label':<{width}}  files  train  test  held-out correct")
    for label, c in m.label_counts.items():
        print(f"  {label:<{width}}  {c.train + c.test:5d}  {c.train:5d}  {c.test:4d}  {c.correct}/{c.test}")
    n_correct = sum(c.correct for c in m.label_counts.values())
    print(
        f"held-out accuracy: {m.accuracy:.3f} ({n_correct}/{m.n_test_files} files; "
        f"{m.test_fraction:g} of each label held out, seed {m.seed})"
    )
    for path, truth, predicted in report.misclassified:
        print(f"  wrong: {path} is {truth!r}, predicted {predicted!r}")
    if m.n_test_files < 10:
        print(f"  note: {m.n_test_files} held-out files make a coarse estimate; more files per label help")
    print(f"wrote {report.folder / 'head.onnx'} and head.json")
    print(
        f"use it: task_type: {name}  (POST /api/v1/invoke task_flow.task[].task_type, "
        "or taskTypes of the tonearm/tagging workflow)"
    )
    default = heads_dir()
    if default is None or default.resolve() != out.resolve():
        print(f"  serve it with TONEARM_HEADS_DIR={out.resolve()}")
    return 0


def _musicflow_service(args: argparse.Namespace) -> Any:
    """The MusicFlow service on the local data folder (``tonearm serve``'s) or, in AWS, the bucket."""
    from tonearm.bootstrap import musicflow_service
    from tonearm.settings import Settings

    return musicflow_service(Settings.from_env(), data_dir=Path(args.data_dir))


def _musicflow_train(args: argparse.Namespace) -> int:
    paths = [_input_file(name) for name in args.history]
    files = [(path.name, path.read_bytes()) for path in paths]
    flow = _musicflow_service(args)
    source = "Spotify + library" if flow.metadata is not None else "library only (no Spotify credentials)"
    print(f"training on {len(files)} file(s); features from {source}", file=sys.stderr, flush=True)

    def progress(done: int, total: int) -> None:
        if done == total or done % 100 == 0:
            print(f"  resolved {done}/{total} tracks", file=sys.stderr, flush=True)

    card = flow.train(files, progress=progress, make_current=not args.no_current, force=args.force)
    cv = card.cross_validation
    window = f"{card.data_window[0][:10]} to {card.data_window[1][:10]}" if card.data_window else "n/a"
    print(f"model {card.version}{'' if args.no_current else ' (now current)'}")
    print(f"  history: {card.plays} plays, {card.tracks} tracks, {window}, {', '.join(card.history_formats)}")
    print(f"  trained on {card.tracks_used} tracks with features ({card.tracks_without_features} without)")
    print(
        f"  {cv.folds}-fold CV MAE {cv.mae:.3f} streams vs predict-the-mean {cv.baseline_mae:.3f} "
        f"({cv.improvement:+.1%})"
    )
    return 0


def _musicflow_add(args: argparse.Namespace) -> int:
    path = _input_file(args.file)
    entry = _musicflow_service(args).analyse_file(
        path,
        title=args.title,
        artist=args.artist,
        isrc=args.isrc,
        source="cli",
        size_bytes=path.stat().st_size,
    )
    if not entry.identified:
        print(
            f"tonearm: {path.name} has no title/artist/ISRC tags: pass --title and --artist", file=sys.stderr
        )
        return 2
    print(f"{path.name}: {entry.title!r} by {entry.artist!r} (ISRC {entry.isrc or '-'}) added to the library")
    return 0


def _musicflow_predict(args: argparse.Namespace) -> int:
    flow = _musicflow_service(args)
    if args.file:
        path = _input_file(args.file)
        result = flow.predict_audio(path, song=args.song, artist=args.artist, size_bytes=path.stat().st_size)
    elif args.song and args.artist:
        result = flow.predict(args.song, args.artist)
    else:
        print("tonearm: pass --song and --artist, or an audio FILE", file=sys.stderr)
        return 2
    print(result.model_dump_json(indent=2))
    return 0


def _heads_list(args: argparse.Namespace) -> int:
    from tonearm.tagging.heads.lookup import Head, HeadStore, HeadUnavailableError, heads_dir

    root = Path(args.dir) if args.dir else heads_dir()
    names = HeadStore(root).names()
    if root is None or not names:
        print(f"no heads in {root} (train one with `tonearm heads train DATA_DIR`)")
        return 0
    print(f"heads in {root}:")
    for name in names:
        try:
            m = Head.load(root / name).manifest
        except HeadUnavailableError as exc:
            print(f"  {name}  DAMAGED: {exc.message}")
            continue
        print(
            f"  {name}  accuracy {m.accuracy:.3f} on {m.n_test_files} held-out files "
            f"({m.n_train_files} trained on), trained {m.trained_at:%Y-%m-%d %H:%M}Z\n"
            f"    labels: {', '.join(m.labels)}"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tonearm`` command."""
    from tonearm.settings import Settings

    data_dir = Settings.from_env().data_dir
    parser = argparse.ArgumentParser(prog="tonearm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    invoke = sub.add_parser(
        "invoke",
        help="run a template function's handler on an event in process (sam local invoke, without Docker)",
    )
    invoke.add_argument("function", help="the function's logical id in template.yaml, e.g. ApiFunction")
    invoke.add_argument("-e", "--event", required=True, help="the event JSON file (- for standard input)")
    invoke.add_argument("--data-dir", default=data_dir, help="the local stack's data folder")
    invoke.add_argument("--project-root", default=".", help="folder holding template.yaml")
    invoke.set_defaults(func=_invoke)
    serve = sub.add_parser("serve", help="run the whole API locally with local adapters")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument("--data-dir", default=data_dir)
    serve.add_argument("--project-root", default=".", help="folder holding template.yaml")
    serve.add_argument("--log-level", default="warning")
    serve.add_argument(
        "--https",
        action="store_true",
        help="serve HTTPS with a local CA made once in the data folder (Music.AI's SDK downloads https only)",
    )
    serve.set_defaults(func=_serve)
    analyze = sub.add_parser("analyze", help="tempo, beats, key, loudness and features of an audio file")
    analyze.add_argument("file")
    analyze.add_argument(
        "--json", action="store_true", help="print the JSON the tonearm/analyze workflow returns"
    )
    analyze.set_defaults(func=_analyze)
    chords = sub.add_parser("chords", help="beats, tempo, key and chords of an audio file (a lead sheet)")
    chords.add_argument("file")
    chords.add_argument("--json", action="store_true", help="print bpm, key, beatMap and chordMap as JSON")
    chords.add_argument(
        "-o", "--out", help="also write beatMap.json, chordMap.json, chords.mid and chords.txt to this folder"
    )
    chords.set_defaults(func=_chords)
    transcribe = sub.add_parser("transcribe", help="the notes of an audio file as MIDI (basic-pitch)")
    transcribe.add_argument("file")
    transcribe.add_argument("-o", "--output", help="the MIDI file to write (default: FILE with .mid)")
    transcribe.add_argument("--notes", help="also write the notes as JSON to this file")
    transcribe.add_argument(
        "--json", action="store_true", help="print noteCount, bpm, the MIDI file's path and the notes as JSON"
    )
    transcribe.set_defaults(func=_transcribe)
    apps = sub.add_parser("app", help="manage applications (API keys)")
    app_sub = apps.add_subparsers(dest="app_command", required=True)
    create = app_sub.add_parser(
        "create", help="create an application and print its API key (AWS when TONEARM_RUNTIME=aws)"
    )
    create.add_argument("--name", required=True)
    create.add_argument("--id", help="application id (default: from the name)")
    create.add_argument("--webhook-url", help="default webhook URL for the application's jobs")
    create.add_argument("--data-dir", default=data_dir)
    create.add_argument(
        "--stack",
        help="in AWS (TONEARM_RUNTIME=aws): read the table and usage plan from this stack's outputs",
    )
    create.set_defaults(func=_app_create)
    heads = sub.add_parser("heads", help="custom task types: heads trained on the musicnn embeddings")
    heads_sub = heads.add_subparsers(dest="heads_command", required=True)
    train = heads_sub.add_parser(
        "train",
        help="train a head on DATA_DIR/<label>/<audio files> and install it as a task type",
        description="Train a classification head on the musicnn embeddings of DATA_DIR/<label>/<audio "
        "files>, report its held-out accuracy, and install it as the task type NAME.",
    )
    train.add_argument("data_dir", metavar="DATA_DIR")
    train.add_argument("--name", help="task type name (default: the folder's name)")
    train.add_argument(
        "--out", metavar="HEADS_DIR", help="heads folder (default: $TONEARM_HEADS_DIR or models/heads)"
    )
    train.add_argument(
        "--test-fraction", type=float, default=0.25, help="share of each label's files held out (0.25)"
    )
    train.add_argument("--seed", type=int, default=0, help="seed of the held-out split (0)")
    train.add_argument("--l2", type=float, default=1e-2, help="L2 penalty on the weights (0.01)")
    train.add_argument("--force", action="store_true", help="replace an installed head of that name")
    train.set_defaults(func=_heads_train)
    heads_list = heads_sub.add_parser("list", help="the installed heads and their held-out accuracy")
    heads_list.add_argument(
        "--dir", metavar="HEADS_DIR", help="heads folder (default: $TONEARM_HEADS_DIR or models/heads)"
    )
    heads_list.set_defaults(func=_heads_list)
    _add_musicflow_commands(sub, data_dir)
    args = parser.parse_args(argv)
    from tonearm.errors import TonearmError

    # a missing input is a usage error (2); audio or processing the command refuses is 1
    try:
        return int(args.func(args))
    except _NoSuchFileError as exc:
        print(f"tonearm: no such file: {exc}", file=sys.stderr)
        return 2
    except TonearmError as exc:
        print(f"tonearm: {exc.code}: {exc.message}", file=sys.stderr)
        return 1


def _add_musicflow_commands(sub: Any, data_dir: str) -> None:
    flow = sub.add_parser(
        "flow", aliases=["musicflow"], help="MusicFlow: stream-count models from Spotify streaming history"
    )
    flow_sub = flow.add_subparsers(dest="flow_command", required=True)
    train = flow_sub.add_parser(
        "train",
        help="train a model on Spotify export files and make it current",
        description="Read StreamingHistory_music_*.json (account data) and/or Streaming_History_Audio_*.json "
        "(extended history), count streams (plays >= 30 s, capped at 30) per track, join each track's "
        "features (Spotify when SPOTIFY_CLIENT_ID/SPOTIFY_CLIENT_SECRET are set, tonearm's library of "
        "analysed audio always), cross-validate, and store the model (ONNX + card) as the current one.",
    )
    train.add_argument("--history", nargs="+", required=True, metavar="PATH", help="export files")
    train.add_argument("--data-dir", default=data_dir, help="the local data folder (as `tonearm serve`)")
    train.add_argument("--no-current", action="store_true", help="store the model without making it current")
    train.add_argument(
        "--force",
        action="store_true",
        help="make the model current even if it does not beat predicting the mean",
    )
    train.set_defaults(func=_musicflow_train)
    add = flow_sub.add_parser("add", help="analyse an audio file into the library (its tags identify it)")
    add.add_argument("file")
    add.add_argument("--title")
    add.add_argument("--artist")
    add.add_argument("--isrc")
    add.add_argument("--data-dir", default=data_dir)
    add.set_defaults(func=_musicflow_add)
    predict = flow_sub.add_parser("predict", help="predict streams for --song/--artist or an audio FILE")
    predict.add_argument("file", nargs="?")
    predict.add_argument("--song")
    predict.add_argument("--artist")
    predict.add_argument("--data-dir", default=data_dir)
    predict.set_defaults(func=_musicflow_predict)


if __name__ == "__main__":
    sys.exit(main())
