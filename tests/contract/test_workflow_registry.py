"""The template agrees with the workflow registry (``tonearm.workflows.CATALOGUE``); nothing else is there.

Every workflow names the template function that runs its task and the state machine that calls it. For
each: the function exists and its handler is ``handler_for(<function>)``; the state machine invokes that
function and is named under the stack's prefix, which the functions that start executions (their
``STATE_MACHINE_ARN_PREFIX`` and Step Functions policy) and the execution watchdog's rule address as one.
And conversely: no state machine or image task function that no workflow uses.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import PROJECT_ROOT
from tonearm.local_stack.template import load_template
from tonearm.workflows import CATALOGUE

TEMPLATE = load_template(PROJECT_ROOT / "template.yaml")
RESOURCES: dict[str, dict[str, Any]] = TEMPLATE["Resources"]
STATE_MACHINES = {spec.state_machine for spec in CATALOGUE}
TASK_FUNCTIONS = {spec.function for spec in CATALOGUE}
#: the task functions that are container images (tonearm/batch's BatchFunction is a zip function)
IMAGE_TASK_FUNCTIONS = {f for f in TASK_FUNCTIONS if RESOURCES[f]["Properties"].get("PackageType") == "Image"}
#: the workflows a batch may run: every one that takes an input file
BATCHABLE = {spec.function for spec in CATALOGUE if spec.takes_input}


def _of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in RESOURCES.items() if r["Type"] == kind}


def _app_module(function: str) -> ModuleType:
    props = RESOURCES[function]["Properties"]
    dockerfile = RESOURCES[function]["Metadata"]["Dockerfile"]
    path = PROJECT_ROOT / Path(dockerfile).parent / "app.py"
    assert props.get("PackageType") == "Image", function
    spec = importlib.util.spec_from_file_location(f"app_of_{function}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("spec", list(CATALOGUE), ids=[s.slug for s in CATALOGUE])
def test_each_workflow_has_its_function_and_state_machine(spec: Any) -> None:
    function = RESOURCES.get(spec.function)
    assert function is not None and function["Type"] == "AWS::Serverless::Function", spec.function
    machine = RESOURCES.get(spec.state_machine)
    assert machine is not None and machine["Type"] == "AWS::Serverless::StateMachine", spec.state_machine
    props = machine["Properties"]
    assert props["DefinitionSubstitutions"]["TaskFunctionArn"] == {"Fn::GetAtt": [spec.function, "Arn"]}
    invoked = {
        p["LambdaInvokePolicy"]["FunctionName"]["Ref"]
        for p in props["Policies"]
        if isinstance(p, dict) and "LambdaInvokePolicy" in p
    }
    assert spec.function in invoked


@pytest.mark.parametrize("function", sorted(IMAGE_TASK_FUNCTIONS))
def test_each_task_function_runs_its_workflows(function: str) -> None:
    command = RESOURCES[function]["Properties"]["ImageConfig"]["Command"]
    module_name, handler_name = command[0].split(".")
    assert module_name == "app"
    handler = getattr(_app_module(function), handler_name)
    assert handler.__name__ == function, "the handler must be handler_for(<its own logical id>)"


def test_no_state_machine_without_a_workflow() -> None:
    assert set(_of_type("AWS::Serverless::StateMachine")) == STATE_MACHINES


#: How the template addresses every workflow's state machine at once: each is named <stack>-<logical id>.
ARN_PREFIX = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${AWS::StackName}-"


def test_every_state_machine_is_named_under_the_stack_prefix() -> None:
    # what lets one prefix (env, policy, watchdog rule) cover every workflow, so adding one edits none of them
    for name, resource in _of_type("AWS::Serverless::StateMachine").items():
        assert resource["Properties"]["Name"] == {"Fn::Sub": f"${{AWS::StackName}}-{name}"}, name


def test_every_function_that_starts_workflows_may_start_every_state_machine() -> None:
    starters = 0
    for name, resource in _of_type("AWS::Serverless::Function").items():
        props = resource["Properties"]
        prefix = props.get("Environment", {}).get("Variables", {}).get("STATE_MACHINE_ARN_PREFIX")
        if prefix is None:
            continue
        starters += 1
        assert prefix == {"Fn::Sub": ARN_PREFIX}, name
        allowed = [
            p["StepFunctionsExecutionPolicy"]["StateMachineName"]
            for p in props["Policies"]
            if isinstance(p, dict) and "StepFunctionsExecutionPolicy" in p
        ]
        assert allowed == [{"Fn::Sub": "${AWS::StackName}-*"}], name
    assert starters >= 2  # the API and the ingest function


def test_the_watchdog_listens_to_every_workflow() -> None:
    events = RESOURCES["ExecutionWatchdogFunction"]["Properties"]["Events"]
    watched = events["ExecutionEnded"]["Properties"]["Pattern"]["detail"]["stateMachineArn"]
    assert watched == [{"prefix": {"Fn::Sub": ARN_PREFIX}}]


def test_every_image_task_function_belongs_to_a_workflow() -> None:
    images = {
        name
        for name, r in _of_type("AWS::Serverless::Function").items()
        if r["Properties"].get("PackageType") == "Image"
        and not r["Properties"]["ImageConfig"]["Command"][0].endswith("model_api_handler")
    }
    assert images == IMAGE_TASK_FUNCTIONS


def test_the_batch_function_runs_the_batch_steps() -> None:
    from tonearm.handlers import batch

    props = RESOURCES["BatchFunction"]["Properties"]
    assert IMAGE_TASK_FUNCTIONS | {"BatchFunction"} == TASK_FUNCTIONS
    path = PROJECT_ROOT / props["CodeUri"] / "app.py"
    spec = importlib.util.spec_from_file_location("app_of_BatchFunction", path)
    assert spec is not None and spec.loader is not None and props["Handler"] == "app.handler"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.handler is batch.handler


def test_a_batch_can_run_every_workflow_that_takes_an_input_file() -> None:
    """One batch state machine serves every workflow: it is given, and may invoke, each task function."""
    import json

    props = RESOURCES["BatchStateMachine"]["Properties"]
    substitutions = props["DefinitionSubstitutions"]
    invoked = {
        p["LambdaInvokePolicy"]["FunctionName"]["Ref"]
        for p in props["Policies"]
        if isinstance(p, dict) and "LambdaInvokePolicy" in p
    }
    assert invoked == BATCHABLE | {"BatchFunction", "JobStatusFunction"}
    definition = json.loads((PROJECT_ROOT / props["DefinitionUri"]).read_text())
    functions = definition["States"]["Prepare"]["Parameters"]["functions"]
    assert set(functions) == BATCHABLE
    for function, placeholder in functions.items():
        assert placeholder == f"${{{function}Arn}}"
        assert substitutions[f"{function}Arn"] == {"Fn::GetAtt": [function, "Arn"]}
