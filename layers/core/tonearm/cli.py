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


def _local_bar(args: argparse.Namespace, what: str, path: Path) -> Any:
    """The bar of a local analysis: on a terminal, not with ``--json``, gone once the work is done."""
    from tonearm.client.progress import ProgressBar, bars_wanted

    enabled = bars_wanted(json_output=getattr(args, "json", False))
    return ProgressBar(f"{what} {path.name}", enabled=enabled, transient=True)


def _analyze(args: argparse.Namespace) -> int:
    import json

    from tonearm.analysis.analyze import analyze_source

    path = _input_file(args.file)
    with _local_bar(args, "analyze", path) as bar:
        info, analysis = analyze_source(path, size_bytes=path.stat().st_size, progress=bar.fraction)
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

    path = _input_file(args.file)
    with tempfile.TemporaryDirectory(prefix="tonearm-chords-") as tmp:
        out_dir = Path(args.out) if args.out else Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        with _local_bar(args, "chords", path) as bar:
            produced = beats_and_chords(path, out_dir, {"spelling": args.spelling}, bar.percent)
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

    from tonearm.transcription.workflow import transcribe

    path = _input_file(args.file)
    with tempfile.TemporaryDirectory(prefix="tonearm-transcribe-") as tmp:
        with _local_bar(args, "transcribe", path) as bar:
            produced = transcribe(path, Path(tmp), {}, bar.percent)
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


def _separate(args: argparse.Namespace) -> int:
    import json
    import shutil
    import tempfile

    from tonearm.separation.workflow import separate, stem_set

    path = _input_file(args.file)
    try:
        stems = stem_set(args.stems)
    except ValueError as exc:
        print(f"tonearm: {exc}", file=sys.stderr)
        return 2
    out_dir = Path(args.out) if args.out else path.parent / f"{path.stem}-stems"
    written: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="tonearm-separate-") as tmp:
        with _local_bar(args, "separate", path) as bar:
            files = separate(path, Path(tmp), stems, bar.percent)
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, produced in files.items():
            target = out_dir / stems.file_name(name)
            shutil.move(produced, target)
            written[name] = str(target)
    if args.json:  # like the other commands' --json: the result on stdout, nothing else
        print(json.dumps(written, indent=2))
        return 0
    for name, written_to in written.items():
        print(f"{name}: {written_to}")
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
    chords.add_argument(
        "--spelling",
        choices=("key", "sharps", "flats"),
        default="key",
        help="chord roots and key: as the key writes them (Bb in G minor; default), or all sharps or flats",
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
    _add_separate_command(sub)
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
    _add_client_commands(sub)
    _add_deployment_flags(parser)
    args = parser.parse_args(argv)
    args.json = getattr(args, "json", False)
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


def _add_separate_command(sub: Any) -> None:
    from tonearm.separation.workflow import STEM_SETS, STEMS

    sets = "\n".join(
        f"  {name:<21} {', '.join(s.file_name(o) for o in s.outputs)}" for name, s in STEM_SETS.items()
    )
    separate = sub.add_parser(
        "separate",
        help="split an audio file into stems (WAV files that sum to it)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Split FILE into stems with the separation model, locally (no server): one WAV per stem at\n"
            "FILE's sample rate and channel count, written to DIR. The files always sum to FILE: the last\n"
            "one is the input minus the others."
        ),
        epilog=(
            f"--stems takes a set, which writes:\n{sets}\n"
            f"or a comma-separated list of {', '.join(STEMS)} (drums = kick + snare +\n"
            "drums_other), each written to STEM.wav, with whatever the list leaves out in rest.wav.\n"
            "e.g. `tonearm separate song.mp3 --stems vocals,bass -o out/` writes vocals.wav, bass.wav and\n"
            "rest.wav"
        ),
    )
    separate.add_argument("file")
    separate.add_argument(
        "--stems",
        default="stems",
        metavar="SET|STEM,...",
        help=f"which stems: {', '.join(STEM_SETS)}, or a list (default: stems); see below",
    )
    separate.add_argument("-o", "--out", metavar="DIR", help="the folder to write to (default: FILE-stems/)")
    separate.add_argument(
        "--json", action="store_true", help="print {stem: path} of the files written as JSON"
    )
    separate.set_defaults(func=_separate)


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


# --- client commands: talk to a deployment (tonearm.client) ---------------------------------------
#: Exit statuses of the client commands: the job FAILED or the server failed (1), a usage or
#: configuration error (2), the server refused the request (3: 4xx, e.g. unauthorized, job_not_found,
#: invalid_params), the server could not be reached or did not finish in time (4).
EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED, EXIT_UNREACHABLE = 1, 2, 3, 4


def _client(args: argparse.Namespace) -> Any:
    from tonearm.client import Client, load_config

    url, key, timeout = (getattr(args, name, None) for name in ("url", "api_key", "timeout"))
    return Client.from_config(load_config(url, key, timeout_s=timeout))


def _emit(args: argparse.Namespace, document: Any, text: str) -> None:
    """``--json``: ``document`` as JSON on stdout; else ``text``."""
    import json

    if args.json:
        print(json.dumps(document, indent=2))
    elif text:
        print(text)


def _params(pairs: list[str]) -> dict[str, Any]:
    """``-p key=value`` pairs: a value that parses as JSON is that (numbers, lists, true), else a string."""
    import json

    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise _UsageError(f"-p takes key=value, not {pair!r}")
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params


class _UsageError(Exception):
    """A client command's arguments cannot be used (exit status 2)."""


def _scalar_lines(result: dict[str, Any]) -> list[str]:
    """A job's result for people: scalars as they are, lists and objects by size, URLs left out."""
    lines = []
    width = max((len(k) for k in result), default=0)
    for key, value in result.items():
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            continue
        if isinstance(value, list):
            shown = f"[{len(value)} items]"
        elif isinstance(value, dict):
            shown = f"{{{len(value)} keys}}"
        elif isinstance(value, float):
            shown = f"{value:g}"
        else:
            shown = str(value)
        lines.append(f"  {key:<{width}}  {shown}")
    return lines


def _job_line(job: Any) -> str:
    progress = f" {job.progress:.0f}%" if job.progress is not None and not job.status.terminal else ""
    return f"{job.id}  {job.status.value:<9}{progress}  {job.workflow}  {job.name}  {job.createdAt}"


def _job_text(job: Any, *, hint: bool = True) -> str:
    lines = [_job_line(job)]
    if job.error is not None:
        lines.append(f"  error: {job.error.code}: {job.error.message}")
    lines += _scalar_lines(job.result)
    urls = [k for k, v in job.result.items() if isinstance(v, str) and v.startswith(("http://", "https://"))]
    if urls and hint:
        lines.append(f"  files: {', '.join(urls)} (download with `tonearm jobs wait {job.id} -o DIR`)")
    return "\n".join(lines)


def _watch_job(args: argparse.Namespace, client: Any, job_id: str, *, label: str) -> Any:
    """Wait for a job with a live bar (percent when the workflow reports it, the status always)."""
    from tonearm.client.progress import ProgressBar, bars_wanted

    with ProgressBar(label, enabled=bars_wanted(json_output=args.json)) as bar:

        def seen(job: Any) -> None:
            bar.update(
                job.progress or (100.0 if job.status.terminal else 0.0),
                description=f"{label} {job.status.value}",
            )

        return client.wait(job_id, timeout_s=args.wait_timeout, on_update=seen)


def _finish(args: argparse.Namespace, client: Any, job: Any, out: str | None) -> int:
    """Download a finished job's files (``out``) and report it; FAILED is exit status 1."""
    from tonearm.client import JobStatus, RunResult

    done = RunResult(job=job)
    if out is not None and job.status is JobStatus.SUCCEEDED:
        done.files = client.download_outputs(job, out)
    text = _job_text(job, hint=not done.files)
    if done.files:
        text += f"\nwrote {len(done.files)} file(s) to {out}:\n" + "\n".join(
            f"  {name}  {path}" for name, path in done.files.items()
        )
    _emit(args, done.to_json(), text)
    return 0 if job.status is JobStatus.SUCCEEDED else EXIT_FAILED


def _run(args: argparse.Namespace) -> int:
    from tonearm.client.progress import ProgressBar, bars_wanted

    path = _input_file(args.file)
    params = _params(args.param)
    client = _client(args)
    client.workflow(args.workflow)  # an unknown slug fails before the upload
    size = path.stat().st_size
    with ProgressBar(f"upload {path.name}", total=size, enabled=bars_wanted(json_output=args.json)) as bar:
        input_url = client.upload(path, on_bytes=lambda done, _total: bar.update(done))
    job_id = client.create_job(args.workflow, {**params, "inputUrl": input_url}, name=args.name or path.name)
    if not args.json:
        print(f"job {job_id} ({args.workflow}) started", file=sys.stderr, flush=True)
    job = _watch_job(args, client, job_id, label=args.workflow)
    out = args.out or f"{path.stem}-{args.workflow.rsplit('/', 1)[-1]}"
    return _finish(args, client, job, out)


def _jobs_list(args: argparse.Namespace) -> int:
    jobs = _client(args).jobs(status=args.status or (), workflow=args.workflow or (), size=args.limit)
    text = "\n".join(_job_line(j) for j in jobs) if jobs else "no jobs"
    _emit(args, [j.model_dump(mode="json") for j in jobs], text)
    return 0


def _jobs_get(args: argparse.Namespace) -> int:
    job = _client(args).job(args.id)
    _emit(args, job.model_dump(mode="json"), _job_text(job))
    return 0


def _jobs_wait(args: argparse.Namespace) -> int:
    client = _client(args)
    job = _watch_job(args, client, args.id, label=args.id[:8])
    return _finish(args, client, job, args.out)


def _jobs_delete(args: argparse.Namespace) -> int:
    client = _client(args)
    for job_id in args.ids:
        client.delete_job(job_id)
    _emit(args, {"deleted": args.ids}, "\n".join(f"deleted {i}" for i in args.ids))
    return 0


def _workflows(args: argparse.Namespace) -> int:
    found = _client(args).workflows()
    width = max((len(w.slug) for w in found), default=0)
    text = "\n".join(f"{w.slug:<{width}}  {w.name}" for w in found)
    _emit(args, [w.model_dump(mode="json") for w in found], text)
    return 0


def _tag(args: argparse.Namespace) -> int:
    path = _input_file(args.file)
    result = _client(args).tag(path, task_types=args.task or ("Genre", "Mood"), top_num=args.top)
    lines = [f"{path.name}: {result.duration:.1f} s" if result.duration is not None else path.name]
    for task in result.tasks:
        if task.error:
            lines.append(f"  {task.task_type}: {task.error}")
            continue
        lines.append(f"  {task.task_type}: " + ", ".join(f"{label} {p:.2f}" for label, p in task.tags))
    _emit(args, result.model_dump(mode="json"), "\n".join(lines))
    return 0


def _generate(args: argparse.Namespace) -> int:
    from tonearm.client.progress import ProgressBar, bars_wanted

    client = _client(args)
    params = {"duration_seconds": args.duration, "bpm": args.bpm, "scale": args.scale, "seed": args.seed}
    with ProgressBar("generate", enabled=bars_wanted(json_output=args.json)) as bar:
        status, written = client.generate(
            args.prompt,
            args.out,
            timeout_s=args.wait_timeout,
            on_update=lambda s: bar.update(s.progress_percentage, description=f"generate {s.status}"),
            **params,
        )
    document = {**status.model_dump(mode="json"), "file": str(written) if written else None}
    if written is None:
        _emit(args, document, f"generation {status.task_id} failed: {status.error}")
        return EXIT_FAILED
    _emit(args, document, f"wrote {written} (task {status.task_id})")
    return 0


def _client_command(func: Any) -> Any:
    """Wrap a client command: server refusals, unreachable servers and bad settings become a message
    (or, with ``--json``, ``{"error": {...}}`` on stdout) and an exit status."""
    import json

    def run(args: argparse.Namespace) -> int:
        from tonearm.client import ApiError, ConfigError

        try:
            return int(func(args))
        except ApiError as exc:
            error = exc
            if exc.code == "no_api_key":
                status = EXIT_USAGE
            elif exc.status == 0:
                status = EXIT_UNREACHABLE
            else:
                status = EXIT_REFUSED if exc.status < 500 else EXIT_FAILED
        except (ConfigError, _UsageError) as exc:
            error, status = ApiError(0, "usage", str(exc)), EXIT_USAGE
        except _NoSuchFileError as exc:
            error, status = ApiError(0, "no_such_file", f"no such file: {exc}"), EXIT_USAGE
        except TimeoutError as exc:
            error, status = ApiError(0, "timeout", str(exc)), EXIT_UNREACHABLE
        if args.json:
            print(json.dumps(error.to_json(), indent=2))
        else:
            print(f"tonearm: {error.code}: {error.message}", file=sys.stderr)
        return status

    return run


def _add_deployment_flags(parser: argparse.ArgumentParser) -> None:
    """``--url``, ``--api-key``, ``--timeout`` and ``--json``, before or after the command's name (unset
    flags stay absent, so that neither place overrides the other)."""
    group = parser.add_argument_group("deployment (flags > TONEARM_URL/TONEARM_API_KEY > config file)")
    hide = argparse.SUPPRESS
    group.add_argument(
        "--url", default=hide, help="base URL (default http://127.0.0.1:3000, the local stack)"
    )
    group.add_argument(
        "--api-key",
        default=hide,
        help="API key (default: TONEARM_API_KEY, the config file, the local stack's)",
    )
    group.add_argument("--timeout", type=float, default=hide, help="seconds per HTTP request (30)")
    parser.add_argument(
        "--json", action="store_true", default=hide, help="print machine-readable JSON (errors too)"
    )


def _add_client_commands(sub: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    _add_deployment_flags(common)
    waiting = argparse.ArgumentParser(add_help=False)
    waiting.add_argument(
        "--wait-timeout", type=float, metavar="S", help="give up waiting after S seconds (exit status 4)"
    )
    epilog = (
        "exit status: 0 done; 1 the job failed (or the server did); 2 usage or configuration; "
        "3 refused by the server (4xx); 4 unreachable or timed out"
    )

    def add(
        name: str, func: Any, help_text: str, *, parents: list[Any] | None = None, into: Any = sub
    ) -> Any:
        parser = into.add_parser(name, help=help_text, parents=parents or [common], epilog=epilog)
        parser.set_defaults(func=_client_command(func))
        return parser

    run = add(
        "run",
        _run,
        "upload FILE, run WORKFLOW on it with a progress bar, download every output",
        parents=[common, waiting],
    )
    run.add_argument(
        "workflow", metavar="WORKFLOW", help="a workflow slug, e.g. tonearm/analyze (`tonearm workflows`)"
    )
    run.add_argument("file", metavar="FILE")
    run.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a workflow param (repeatable); VALUE is JSON when it parses as JSON, else a string",
    )
    run.add_argument(
        "-o", "--out", metavar="DIR", help="where to write the outputs (default: FILE-WORKFLOW/)"
    )
    run.add_argument("--name", help="the job's name (default: the file's name)")
    add("workflows", _workflows, "the deployment's workflows")
    jobs = sub.add_parser("jobs", help="list, show, wait for and delete jobs on a deployment")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True)
    listing = add("list", _jobs_list, "your jobs, newest first", into=jobs_sub)
    listing.add_argument("--status", action="append", choices=["QUEUED", "STARTED", "SUCCEEDED", "FAILED"])
    listing.add_argument("--workflow", action="append", metavar="SLUG")
    listing.add_argument("--limit", type=int, default=20, help="at most this many (20; up to 100)")
    add("get", _jobs_get, "one job", into=jobs_sub).add_argument("id")
    wait = add(
        "wait", _jobs_wait, "wait for a job with a progress bar", into=jobs_sub, parents=[common, waiting]
    )
    wait.add_argument("id")
    wait.add_argument("-o", "--out", metavar="DIR", help="download its file outputs here")
    add("delete", _jobs_delete, "delete jobs and their outputs", into=jobs_sub).add_argument(
        "ids", nargs="+", metavar="ID"
    )
    tag = add("tag", _tag, "tag an audio clip (genre, mood, ...) through the SAMI route")
    tag.add_argument("file", metavar="FILE")
    tag.add_argument(
        "--task",
        action="append",
        metavar="TYPE",
        help="a task type (repeatable; default Genre and Mood), e.g. MusicTaggingMTT, Instrument",
    )
    tag.add_argument("--top", type=int, default=5, help="each task's most probable labels (5)")
    gen = add(
        "generate",
        _generate,
        "generate music from a text prompt (Sofy's routes) into a WAV",
        parents=[common, waiting],
    )
    gen.add_argument("prompt", metavar="PROMPT")
    gen.add_argument("-o", "--out", required=True, metavar="FILE.wav")
    gen.add_argument("--duration", type=int, help="seconds (default 25)")
    gen.add_argument("--bpm", type=int)
    gen.add_argument("--scale", help="e.g. C major, A minor")
    gen.add_argument("--seed", type=int, help="same seed, same prompt: the same track")


if __name__ == "__main__":
    sys.exit(main())
