"""Lock files: fresh against their inputs, fully pinned and hashed, one version of a package everywhere.

``requirements/lockfiles.py`` names every lock and what it is resolved from; ``make test`` runs its
``check`` before installing anything. These tests also read the locks as pip would: every input
requirement must be satisfied by a pin, and the Dockerfiles and the layer must install the locks.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import PROJECT_ROOT

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


def _load_lockfiles(root: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "lockfiles_under_test", root / "requirements" / "lockfiles.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


lockfiles = _load_lockfiles(PROJECT_ROOT)
LOCK_IDS = [lock.output for lock in lockfiles.LOCKS]


def _pins(path: Path) -> dict[str, tuple[Version, int]]:
    """``{canonical name: (version, number of hashes)}`` of a uv-written lock."""
    pins: dict[str, tuple[Version, int]] = {}
    current: str | None = None
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            assert current not in pins, f"{path.name}: {current} pinned twice"
            pins[current] = (Version(match.group(2)), 0)
        elif current is not None and HASH.search(line):
            version, hashes = pins[current]
            pins[current] = (version, hashes + len(HASH.findall(line)))
        elif line.strip() and not line.lstrip().startswith("#"):
            pytest.fail(f"{path.name}: line that is neither a pin, a hash nor a comment: {line!r}")
    return pins


def _environment(platform: str) -> dict[str, str]:
    env = dict(default_environment())
    env.update(python_version="3.11", python_full_version="3.11.0", sys_platform="linux")
    env.update(platform_system="Linux", os_name="posix", implementation_name="cpython")
    env["platform_machine"] = platform.split("-", 1)[0]
    return env


def _inputs(lock: object) -> list[tuple[Requirement, str]]:
    """Every requirement the lock must satisfy, with the extra it is asked under ('' for none)."""
    wanted: list[tuple[Requirement, str]] = []
    for source in lock.sources:  # type: ignore[attr-defined]
        if source == "pyproject.toml":
            inputs = lockfiles._pyproject_inputs(lock.extras)  # type: ignore[attr-defined]
            wanted += [(Requirement(r), "") for r in inputs["dependencies"]]
            for extra, reqs in inputs["extras"].items():
                wanted += [(Requirement(r), extra) for r in reqs]
        else:
            wanted += [(Requirement(r), "") for r in lockfiles._requirement_lines(PROJECT_ROOT / source)]
    return wanted


def test_every_lock_is_fresh() -> None:
    assert lockfiles.stale_locks() == [], "run `make lock` and commit the locks"


@pytest.mark.parametrize("lock", lockfiles.LOCKS, ids=LOCK_IDS)
def test_lock_pins_every_package_with_hashes(lock: object) -> None:
    pins = _pins(PROJECT_ROOT / lock.output)  # type: ignore[attr-defined]
    assert pins
    unhashed = [name for name, (_, hashes) in pins.items() if hashes == 0]
    assert unhashed == [], "pip --require-hashes refuses these"


@pytest.mark.parametrize("lock", lockfiles.LOCKS, ids=LOCK_IDS)
def test_lock_satisfies_its_inputs(lock: object) -> None:
    pins = _pins(PROJECT_ROOT / lock.output)  # type: ignore[attr-defined]
    env = _environment(lock.platform)  # type: ignore[attr-defined]
    for requirement, extra in _inputs(lock):
        if requirement.marker is not None and not requirement.marker.evaluate({**env, "extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{lock.output}: {requirement} is not locked"  # type: ignore[attr-defined]
        version = pins[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{lock.output}: {name}=={version} does not satisfy {requirement}"  # type: ignore[attr-defined]
        )


def test_one_version_of_each_package_across_locks() -> None:
    seen: dict[str, dict[Version, list[str]]] = {}
    for lock in lockfiles.LOCKS:
        for name, (version, _) in _pins(PROJECT_ROOT / lock.output).items():
            seen.setdefault(name, {}).setdefault(version, []).append(lock.output)
    split = {name: versions for name, versions in seen.items() if len(versions) > 1}
    assert split == {}, "every lock is constrained by the dev lock: one version per package"


def test_check_catches_a_changed_dependency(tmp_path: Path) -> None:
    """The check CI runs fails when pyproject.toml's dependencies move and the locks do not."""
    for rel in ["pyproject.toml", *[lock.output for lock in lockfiles.LOCKS]]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_ROOT / rel, tmp_path / rel)
    for lock in lockfiles.LOCKS:
        for source in lock.sources:
            for path in (PROJECT_ROOT / source).parent.glob("*.in"):
                target = tmp_path / path.relative_to(PROJECT_ROOT)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, target)
    shutil.copy(PROJECT_ROOT / "requirements" / "lockfiles.py", tmp_path / "requirements" / "lockfiles.py")
    copy = _load_lockfiles(tmp_path)
    assert copy.stale_locks() == []
    pyproject = tmp_path / "pyproject.toml"
    # a comment, a tool setting or the description do not make a lock stale ...
    pyproject.write_text(pyproject.read_text().replace("line-length = 110", "line-length = 111"))
    assert copy.stale_locks() == []
    # ... a dependency does: the locks resolved from pyproject.toml are stale
    pyproject.write_text(pyproject.read_text().replace('"pytest>=8"', '"pytest>=8.1"'))
    stale = copy.stale_locks()
    assert [line.split(":")[0] for line in stale] == ["requirements/dev.txt", "requirements/bench.txt"]
    # and once the dev lock is rewritten, every lock it constrains must be rewritten with it
    dev = tmp_path / "requirements" / "dev.txt"
    body = dev.read_text().split("\n", 1)[1]
    dev.write_text(f"{copy.FINGERPRINT_PREFIX}{copy.fingerprint(copy.LOCKS[1])}\n{body}")
    assert [line.split(":")[0] for line in copy.stale_locks()] == [
        lock.output for lock in lockfiles.LOCKS if lock.output not in ("requirements/pip.txt", copy.DEV)
    ]
    # an image input changes only the image lock
    pyproject.write_text((PROJECT_ROOT / "pyproject.toml").read_text())
    shutil.copy(PROJECT_ROOT / lockfiles.DEV, dev)
    assert copy.stale_locks() == []
    image_in = tmp_path / "layers" / "core" / "requirements-image.in"
    image_in.write_text(image_in.read_text() + "\nrequests>=2\n")
    assert [line.split(":")[0] for line in copy.stale_locks()] == [
        "functions/worker/requirements.txt",
        "functions/generator/requirements.txt",
    ]


@pytest.mark.parametrize("image", ["worker", "generator"])
def test_each_image_installs_its_own_lock_with_hashes(image: str) -> None:
    dockerfile = (PROJECT_ROOT / "functions" / image / "Dockerfile").read_text()
    assert f"COPY functions/{image}/requirements.txt" in dockerfile
    installs = [line for line in dockerfile.splitlines() if "pip install" in line]
    assert installs and all("--require-hashes" in line for line in installs), installs
    assert f"functions/{image}/requirements.txt" in LOCK_IDS


def test_the_layer_builds_from_its_lock() -> None:
    # SAM's python builder installs ContentUri/requirements.txt: that file must be the lock.
    template = (PROJECT_ROOT / "template.yaml").read_text()
    assert "ContentUri: layers/core/" in template
    assert "layers/core/requirements.txt" in LOCK_IDS
