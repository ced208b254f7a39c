"""Zip functions stay light (issue 21): importing a zip function's handler module, as Lambda does at a cold
start, pulls in none of the audio and model stack.

The core layer carries no numpy, scipy, onnxruntime or audio codecs, so such an import would fail in AWS;
and even where a package happened to be there it would cost the function's cold start (numpy alone is
~0.1 s on one core, scipy and onnxruntime far more). Each zip function of ``template.yaml`` is imported
in a clean interpreter; the test fails naming the heavy module and the chain of imports that reached it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PROJECT_ROOT
from tonearm.local_stack.template import LocalTemplate

TEMPLATE = LocalTemplate(PROJECT_ROOT / "template.yaml")
ZIP_FUNCTIONS = sorted(
    logical_id
    for logical_id, resource in TEMPLATE.resources.items()
    if resource.get("Type") == "AWS::Serverless::Function"
    and resource.get("Properties", {}).get("PackageType") != "Image"
)
#: Top-level packages a zip function's import must not load.
HEAVY = ("numpy", "scipy", "onnxruntime", "soundfile", "av", "soxr")
#: Not loaded either unless the deployment asks for it (tonearm.handlers.tracing): 0.25 s of import.
XRAY_SDK = "aws_xray_sdk"

#: Run in a clean interpreter: record who first imports a heavy package (the import statements on the
#: stack, innermost tonearm frames kept), import the handler module as Lambda does, report.
_PROBE = r"""
import importlib.abc, importlib.util, json, sys, traceback
from pathlib import Path

HEAVY = set(json.loads(sys.argv[2]))
found = {}

class Recorder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in HEAVY and top not in found:
            frames = [f for f in traceback.extract_stack()[:-1] if "importlib" not in f.filename]
            found[top] = [f"{Path(f.filename).name}:{f.lineno} {(f.line or '').strip()}" for f in frames][-6:]
        return None

sys.meta_path.insert(0, Recorder())
module_file = Path(sys.argv[1])
sys.path.insert(0, str(module_file.parent))
spec = importlib.util.spec_from_file_location("app", module_file)
module = importlib.util.module_from_spec(spec)
sys.modules["app"] = module
spec.loader.exec_module(module)
loaded = sorted({n.partition(".")[0] for n in sys.modules} & HEAVY)
print(json.dumps({"loaded": loaded, "chains": {name: found.get(name, []) for name in loaded}}))
"""


def test_the_template_has_zip_functions() -> None:
    assert {"ApiFunction", "AuthorizerFunction", "IngestFunction", "JobStatusFunction"} <= set(ZIP_FUNCTIONS)


def _probe(module_file: Path, heavy: tuple[str, ...], *, xray_sdk: str | None = None) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "TONEARM_XRAY_SDK"}
    if xray_sdk is not None:
        env["TONEARM_XRAY_SDK"] = xray_sdk
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(module_file), json.dumps(heavy)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


@pytest.mark.parametrize("logical_id", ZIP_FUNCTIONS)
def test_a_zip_function_import_pulls_in_no_audio_or_model_stack(logical_id: str) -> None:
    module_file = TEMPLATE.functions()[logical_id].module_file
    report: dict[str, Any] = _probe(module_file, (*HEAVY, XRAY_SDK))
    chains = "\n".join(
        f"{name}, imported from:\n  " + "\n  ".join(chain) for name, chain in report["chains"].items()
    )
    assert report["loaded"] == [], f"{logical_id} ({module_file.name}) imports {report['loaded']}:\n{chains}"


def test_the_xray_sdk_loads_when_the_deployment_asks_for_it() -> None:
    """``XRaySdk: "true"``: the handlers get Powertools' Tracer, which imports the X-Ray SDK."""
    module_file = TEMPLATE.functions()["JobStatusFunction"].module_file
    assert _probe(module_file, (XRAY_SDK,), xray_sdk="true")["loaded"] == [XRAY_SDK]
    assert _probe(module_file, (XRAY_SDK,), xray_sdk="false")["loaded"] == []


def test_the_template_passes_the_xray_choice_to_every_function() -> None:
    variables = TEMPLATE.data["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["TONEARM_XRAY_SDK"] == {"Ref": "XRaySdk"}
    assert TEMPLATE.parameters["XRaySdk"]["Default"] == "false"


def test_the_probe_sees_a_heavy_import(tmp_path: Path) -> None:
    """The check itself works: a handler module that imports numpy is caught, with the line."""
    module = tmp_path / "app.py"
    module.write_text("import json\nfrom tonearm.analysis import key\n")
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(module), json.dumps(HEAVY)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert "numpy" in report["loaded"]
    assert any("key.py" in line and "import numpy" in line for line in report["chains"]["numpy"])
