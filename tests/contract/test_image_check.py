"""The image check's parsing and platform logic (tools/image_check.py; `make image-check` runs it all).

Fast: no pip, no child processes, no moto, except the one ``slow`` test, which asks PyPI whether the worker
lock installs on AWS's own Python base image (it must not).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from packaging.tags import parse_tag

from tests.conftest import PROJECT_ROOT
from tools import image_check as ic

WORKER = PROJECT_ROOT / "functions" / "worker" / "Dockerfile"
GENERATOR = PROJECT_ROOT / "functions" / "generator" / "Dockerfile"
WORKER_LOCK = PROJECT_ROOT / "functions" / "worker" / "requirements.txt"
GENERATOR_LOCK = PROJECT_ROOT / "functions" / "generator" / "requirements.txt"
BOOKWORM = ic.platform_for("python:3.11-slim-bookworm")
LAMBDA_AL2 = ic.platform_for("public.ecr.aws/lambda/python:3.11")


# --- platforms ----------------------------------------------------------------------------------------------


def test_bookworm_is_cpython_311_on_glibc_236() -> None:
    assert (BOOKWORM.python, BOOKWORM.glibc, BOOKWORM.arch) == ((3, 11), (2, 36), "x86_64")
    assert BOOKWORM.apt_codename == "bookworm"
    assert ic.platform_for("docker.io/library/python:3.11-slim-bookworm@sha256:" + "0" * 64) == BOOKWORM


def test_an_unknown_base_is_refused_not_guessed() -> None:
    with pytest.raises(ic.CheckError, match=r"unknown base image 'python:3\.11-alpine'"):
        ic.platform_for("python:3.11-alpine")


def test_pip_is_given_every_glibc_version_up_to_the_base() -> None:
    # pip does not widen manylinux_2_36 to older versions itself: every one is listed, newest first
    tags = ic.pip_platforms(BOOKWORM)
    assert tags[0] == "manylinux_2_36_x86_64" and tags[-1] == "linux_x86_64"
    assert {"manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64"} <= set(tags)
    assert {"manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"} <= set(tags)
    assert tags.index("manylinux2014_x86_64") == tags.index("manylinux_2_17_x86_64") + 1
    assert "manylinux_2_37_x86_64" not in tags and len(tags) == len(set(tags))
    old = ic.pip_platforms(LAMBDA_AL2)
    assert old[0] == "manylinux_2_26_x86_64"
    assert "manylinux_2_27_x86_64" not in old and "manylinux_2_28_x86_64" not in old
    args = ic.pip_target_args(BOOKWORM)
    assert {"--python-version=3.11", "--implementation=cp", "--only-binary=:all:"} <= set(args)
    assert args.count("--platform=manylinux_2_36_x86_64") == 1


@pytest.mark.parametrize(
    ("wheel_tag", "on_bookworm", "on_al2"),
    [
        # onnxruntime >= 1.20 ships only these: the reason the worker image is not AWS's base
        ("cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64", True, False),
        ("cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64", True, True),
        ("cp311-cp311-manylinux1_x86_64", True, True),
        ("cp39-abi3-manylinux_2_28_x86_64", True, False),
        ("py3-none-any", True, True),
        ("cp312-cp312-manylinux_2_28_x86_64", False, False),
        ("cp311-cp311-manylinux_2_38_x86_64", False, False),
        ("cp311-cp311-manylinux_2_28_aarch64", False, False),
        ("cp311-cp311-musllinux_1_2_x86_64", False, False),
    ],
)
def test_which_wheels_install_on_which_base(wheel_tag: str, on_bookworm: bool, on_al2: bool) -> None:
    tags = parse_tag(wheel_tag)
    assert ic.wheel_fits(tags, BOOKWORM) is on_bookworm
    assert ic.wheel_fits(tags, LAMBDA_AL2) is on_al2


# --- Dockerfiles --------------------------------------------------------------------------------------------


def test_instructions_join_continuations_and_drop_comments() -> None:
    text = "# header\nFROM python:3.11-slim-bookworm\n\nRUN apt-get update \\\n    # a comment\n    && true\n"
    instructions = ic.parse_instructions(text)
    assert [(i.line, i.keyword, i.args) for i in instructions] == [
        (2, "FROM", "python:3.11-slim-bookworm"),
        (4, "RUN", "apt-get update && true"),
    ]
    with pytest.raises(ic.CheckError, match="continuation"):
        ic.parse_instructions("FROM x \\\n")


def test_variables_expand_as_docker_does() -> None:
    env = {"ROOT": "/var/task", "EMPTY": ""}
    assert ic.expand("${ROOT}/tonearm", env) == "/var/task/tonearm"
    assert ic.expand("$ROOT/app.py", env) == "/var/task/app.py"
    assert ic.expand("${EMPTY:-/opt} ${ROOT:+set} ${MISSING:+x}|", env) == "/opt set |"
    assert ic.expand(r"\$ROOT", env) == "$ROOT"


def test_the_worker_dockerfile() -> None:
    parsed = ic.parse_dockerfile(WORKER)
    assert parsed.base == "python:3.11-slim-bookworm" and parsed.workdir == "/var/task"
    assert parsed.env["LAMBDA_TASK_ROOT"] == "/var/task" and parsed.env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert parsed.env["LANG"] == "C.UTF-8"  # the base image's own
    assert parsed.entrypoint == ("python", "-m", "awslambdaric")
    assert parsed.cmd == ("app.audio_info_handler",)
    pip = [s for s in parsed.steps if isinstance(s, ic.PipInstall)]
    assert pip == [
        ic.PipInstall(line=pip[0].line, requirements=("/tmp/requirements.txt",), require_hashes=True)
    ]
    copies = {s.dest: s.sources for s in parsed.steps if isinstance(s, ic.Copy)}
    assert copies["/tmp/requirements.txt"] == ("functions/worker/requirements.txt",)
    assert copies["/var/task/tonearm"] == ("layers/core/tonearm",)
    assert copies["/var/task/models/musicnn/"] == ("models/musicnn/*.onnx", "models/musicnn/labels.json")
    assert copies["/var/task/"] == ("functions/worker/app.py",)
    assert not [s for s in parsed.steps if isinstance(s, ic.AptInstall)] and not parsed.not_emulated


def test_the_generator_dockerfile_installs_fluidsynth_with_apt() -> None:
    parsed = ic.parse_dockerfile(GENERATOR)
    (apt,) = [s for s in parsed.steps if isinstance(s, ic.AptInstall)]
    assert apt.packages == ("fluidsynth", "fluid-soundfont-gm")
    assert parsed.not_emulated == ("apt-get update", "rm -rf /var/lib/apt/lists/*")
    assert parsed.cmd == ("app.generate_handler",)


def test_what_the_check_cannot_emulate_is_refused(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    for text, message in [
        ("FROM python:3.11-slim-bookworm\nRUN pip install requests\n", "outside a lock"),
        ("FROM python:3.11-slim-bookworm AS build\nFROM python:3.11-slim-bookworm\n", "multi-stage"),
        ("FROM python:3.11-slim-bookworm\nCOPY --from=build /a /b\n", "only COPY from the build context"),
        ("FROM alpine:3.20\n", "unknown base image"),
    ]:
        dockerfile.write_text(text)
        with pytest.raises(ic.CheckError, match=message):
            ic.parse_dockerfile(dockerfile)
    dockerfile.write_text("FROM python:3.11-slim-bookworm\nRUN python -m pip install -r /tmp/r.txt\n")
    (step,) = ic.parse_dockerfile(dockerfile).steps
    assert step == ic.PipInstall(line=2, requirements=("/tmp/r.txt",), require_hashes=False)


# --- .dockerignore and COPY --------------------------------------------------------------------------------


def test_dockerignore_matches_like_moby() -> None:
    ignore = ic.DockerIgnore("# comment\n.venv\n.venv-*\n**/__pycache__\ntests\n!tests/keep.py\n/docs/*.md\n")
    assert ignore.excluded(".venv/bin/python") and ignore.excluded(".venv-images/abc/x.so")
    assert ignore.excluded("layers/core/tonearm/__pycache__/x.cpython-311.pyc")
    assert ignore.excluded("tests/unit/test_x.py") and not ignore.excluded("tests/keep.py")
    assert ignore.excluded("docs/api.md") and not ignore.excluded("docs/img/a.md")
    assert not ignore.excluded("layers/core/tonearm/__init__.py")
    assert not ignore.excluded("functions/worker/tests")  # patterns are anchored at the context root


def test_every_copy_source_reaches_the_build_context() -> None:
    ignore = ic.DockerIgnore.from_context(PROJECT_ROOT)
    assert ignore.rules, "the repository root needs a .dockerignore"
    for dockerfile in (WORKER, GENERATOR):
        for step in ic.parse_dockerfile(dockerfile).steps:
            if isinstance(step, ic.Copy):
                for source in step.sources:
                    assert ic.context_matches(PROJECT_ROOT, source, ignore), f"{dockerfile}: COPY {source}"
    package = "layers/core/tonearm"
    sent = {rel for _path, rel in ic._context_files(PROJECT_ROOT / package, package, ignore)}
    assert "__init__.py" in sent and "handlers/tasks.py" in sent
    assert not [rel for rel in sent if "__pycache__" in rel]
    for local in (".venv/pyvenv.cfg", ".venv-images/x", ".git/HEAD", ".tonearm/jobs.sqlite3", ".aws-sam/b"):
        assert ignore.excluded(local), local
    for elsewhere in ("tests/conftest.py", "bench/common.py", "docs/x.md", "tools/image_check.py"):
        assert ignore.excluded(elsewhere), elsewhere


def test_copy_lays_files_out_as_docker_does(tmp_path: Path) -> None:
    context, stage = tmp_path / "ctx", tmp_path / "stage"
    (context / "pkg" / "sub").mkdir(parents=True)
    (context / "pkg" / "__init__.py").write_text("")
    (context / "pkg" / "sub" / "m.py").write_text("")
    (context / "pkg" / "skip.pyc").write_text("")
    for name in ("a.onnx", "b.onnx", "labels.json", ".hidden.onnx"):
        (context / name).write_text(name)
    ignore = ic.DockerIgnore("**/*.pyc\n")

    def copy(sources: tuple[str, ...], dest: str) -> list[str]:
        return [dst for _src, dst in ic.lay_out(ic.Copy(1, sources, dest), context, ignore, stage)]

    # a directory copies its contents; ignored files stay out
    assert copy(("pkg",), "/var/task/pkg") == ["/var/task/pkg/__init__.py", "/var/task/pkg/sub/m.py"]
    # a glob (Go's filepath.Match: * matches dotfiles too) into a directory
    assert copy(("*.onnx",), "/var/task/models/") == [
        "/var/task/models/.hidden.onnx",
        "/var/task/models/a.onnx",
        "/var/task/models/b.onnx",
    ]
    # one file to a path that is not a directory: that path is the file
    assert copy(("labels.json",), "/tmp/l.json") == ["/tmp/l.json"]
    with pytest.raises(ic.CheckError, match="ending in /"):
        copy(("a.onnx", "b.onnx"), "/opt/x")
    with pytest.raises(ic.CheckError, match="nothing in the build context"):
        copy(("pkg/skip.pyc",), "/x/")


# --- locks -------------------------------------------------------------------------------------------------


def test_the_image_locks_parse_and_share_one_install() -> None:
    worker, generator = WORKER_LOCK.read_text(), GENERATOR_LOCK.read_text()
    pins = {p.name: p for p in ic.parse_lock(worker)}
    for needed in ("boto3", "awslambdaric", "onnxruntime", "soundfile", "av"):
        assert needed in pins, f"the worker image must install {needed}"
    assert all("--hash=sha256:" in p.text for p in pins.values())
    assert {p.name for p in ic.parse_lock(generator)} >= {"boto3", "awslambdaric"}
    # the cache key ignores comments (the locks differ in their header only) but not the platform
    assert ic.cache_key(worker, BOOKWORM) == ic.cache_key(generator, BOOKWORM)
    assert ic.cache_key(worker, BOOKWORM) != ic.cache_key(worker, LAMBDA_AL2)


def test_a_lock_line_that_is_not_a_pin_is_refused() -> None:
    assert ic.parse_lock("# c\nsix==1.17.0 \\\n    --hash=sha256:ab  # via x\n")[0].spec == "six==1.17.0"
    with pytest.raises(ic.CheckError, match="NAME==VERSION"):
        ic.parse_lock("six>=1\n")


# --- template.yaml and apt ---------------------------------------------------------------------------------


def test_image_functions_and_their_environment_resolve() -> None:
    template = ic.load_template()
    functions = {f.logical_id: f for f in ic.image_functions(template)}
    by_image = {f.logical_id: f.dockerfile.relative_to(PROJECT_ROOT).as_posix() for f in functions.values()}
    assert by_image == {
        **dict.fromkeys(
            [
                "AudioInfoFunction",
                "ModelApiFunction",
                "AnalyzeFunction",
                "TaggingFunction",
                "BeatsAndChordsFunction",
                "TranscribeFunction",
                "SeparateFunction",
            ],
            "functions/worker/Dockerfile",
        ),
        "GenerateFunction": "functions/generator/Dockerfile",
    }
    api = functions["ModelApiFunction"]
    assert api.command == ("app.model_api_handler",) and api.memory_mb == 1769 and api.timeout_s == 29
    assert functions["GenerateFunction"].command == ("app.generate_handler",)
    refs = ic.referenced_resources(api.environment)
    assert {"Bucket", "JobsTable", "EventBus", "SpotifySecretArn"} <= refs
    physical = {"Bucket": "b", "JobsTable": "t", "EventBus": "e"}
    env = {k: ic.resolve(v, template["Parameters"], physical) for k, v in api.environment.items()}
    assert env["TONEARM_RUNTIME"] == "aws" and env["BUCKET_NAME"] == "b" and env["JOBS_TABLE_NAME"] == "t"
    assert env["SPOTIFY_SECRET_ID"] == "" and env["RETENTION_DAYS"] == "7"


def test_sub_and_unsupported_intrinsics() -> None:
    sub = {"Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:${AWS::StackName}-${!x}"}
    assert ic.resolve(sub, {}, {}) == f"arn:aws:states:us-east-1:123456789012:{ic.STACK}-${{x}}"
    with pytest.raises(ic.CheckError, match="only Ref"):
        ic.resolve({"Fn::If": ["c", "a", "b"]}, {}, {})
    with pytest.raises(ic.CheckError, match="Ref Nope"):
        ic.resolve({"Ref": "Nope"}, {}, {})


def test_every_sample_task_event_has_a_seeded_job() -> None:
    template = ic.load_template()
    for function in ic.image_functions(template):
        for path in (ic.EVENTS / function.logical_id).glob("*.json"):
            job = json.loads(path.read_text()).get("jobId")
            assert job is None or job in ic.SEED_JOBS, f"{path}: add job {job} to SEED_JOBS"


def test_apt_policy_is_read_per_package() -> None:
    text = (
        "fluidsynth:\n  Installed: 2.3.1-2\n  Candidate: 2.3.1-2\n  Version table:\n"
        " *** 2.3.1-2 500\n        500 http://deb.debian.org/debian bookworm/main amd64 Packages\n"
        "        100 /var/lib/dpkg/status\n"
        "     2.2.0-1 100\n        100 http://deb.debian.org/debian bullseye/main amd64 Packages\n"
        "nope:\n  Installed: (none)\n  Candidate: (none)\n  Version table:\n"
    )
    policy = ic.parse_apt_policy(text)
    installed, candidate, sources = policy["fluidsynth"]
    assert (installed, candidate) == ("2.3.1-2", "2.3.1-2")
    assert sources == [
        "500 http://deb.debian.org/debian bookworm/main amd64 Packages",
        "100 /var/lib/dpkg/status",
    ]
    assert policy["nope"] == ("(none)", "(none)", [])


# --- the resolution step against PyPI ---------------------------------------------------------------------


@pytest.mark.slow
def test_the_worker_lock_cannot_install_on_aws_python_base(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """AWS's public.ecr.aws/lambda/python:3.11 is Amazon Linux 2 (glibc 2.26): the check must fail it, naming
    onnxruntime (manylinux_2_27/2_28 wheels only). Needs PyPI, so it runs only when selected (-m slow)."""
    expr = str(request.config.getoption("markexpr") or "")
    if "slow" not in expr or "not slow" in expr:
        pytest.skip("slow and needs PyPI (pip resolves the worker lock for glibc 2.26); run with -m slow")
    lock = WORKER_LOCK.read_text()
    # the worker's Dockerfile on that base, as far as its pip install
    (tmp_path / "functions" / "worker").mkdir(parents=True)
    (tmp_path / "functions" / "worker" / "requirements.txt").write_text(lock)
    dockerfile = tmp_path / "functions" / "worker" / "Dockerfile"
    dockerfile.write_text(
        WORKER.read_text().replace("FROM python:3.11-slim-bookworm", "FROM public.ecr.aws/lambda/python:3.11")
    )
    parsed = ic.parse_dockerfile(dockerfile)
    only_the_lock = [s for s in parsed.steps if not isinstance(s, ic.Copy) or "requirements" in s.sources[0]]
    with pytest.raises(ic.CheckError, match=r"glibc 2\.26.*onnxruntime==") as failure:
        ic.build_stage(dataclasses.replace(parsed, steps=tuple(only_the_lock)), tmp_path, tmp_path / "cache")
    message = str(failure.value)
    assert "functions/worker/requirements.txt cannot install on public.ecr.aws/lambda/python:3.11" in message
    # every pin without a fitting wheel is named, not only the first one pip stops at (av, alphabetically)
    named = {spec.split("==")[0] for spec in message.rsplit(": ", 1)[1].split(", ")}
    assert {"onnxruntime", "av"} <= named and not named & {"boto3", "numpy", "six"}
