"""Failure paths that land somewhere: checks on template.yaml as SAM expands it (samtranslator, offline).

Everything is derived from the expanded template, not from a list of names: which queues are dead-letter
targets (a rule's ``DeadLetterConfig``, a function's OnFailure destination or ``DeadLetterConfig``), which
functions are invoked asynchronously (an EventBridge rule target, or a Lambda permission for S3, SNS, ...),
which state machines, stages and stateful resources exist. A resource added later is checked the same way.

- every dead-letter queue lets its sender in: EventBridge by a queue policy conditioned on the rule's ARN,
  Lambda (OnFailure) through the function's role or a queue policy naming it;
- every asynchronously invoked function has an OnFailure destination or a dead-letter queue;
- alarms, each with an action: every dead-letter queue's depth above 0, every state machine's failed
  executions, every function's errors and throttles, every API stage's 5xx;
- every function has a log group with a retention; every state machine logs errors (without execution
  data, which carries presigned URLs) to a log group, and its role may deliver them; every API stage has
  JSON access logs (they may be switched by a condition, together with the account's CloudWatch role);
- SAM's extra ``Stage`` stage (no throttling settings) is not created;
- stateful resources (table, bucket, queues, log groups) are retained on delete and on replacement;
- every Task state of every state machine times out before the function it invokes does (each state
  machine's definition runs on the local ASL runner with stub tasks, so ``TimeoutSecondsPath`` counts).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from tests.conftest import PROJECT_ROOT
from tests.contract.expanded_template import expanded_template
from tonearm.adapters.local.asl import AslRunner, HistoryEvent, substitute
from tonearm.adapters.local.asl_map import FolderBuckets
from tonearm.local_stack.template import function_arn, function_from_arn

TEMPLATE = expanded_template()
RESOURCES: dict[str, dict[str, Any]] = TEMPLATE["Resources"]
PARAMETERS: dict[str, dict[str, Any]] = TEMPLATE.get("Parameters", {})

#: Services that invoke Lambda functions asynchronously (their failures are retried twice, then dropped).
ASYNC_PRINCIPALS = {
    "events.amazonaws.com",
    "s3.amazonaws.com",
    "sns.amazonaws.com",
    "scheduler.amazonaws.com",
    "ses.amazonaws.com",
    "iot.amazonaws.com",
    "logs.amazonaws.com",
}
STATEFUL_TYPES = {"AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::SQS::Queue", "AWS::Logs::LogGroup"}
#: What a state machine's role needs to deliver logs to CloudWatch Logs (Step Functions' documented set).
LOG_DELIVERY_ACTIONS = {
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}


# --- reading the expanded template ----------------------------------------------------------------
def of_type(resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in RESOURCES.items() if r["Type"] == resource_type}


def props(name: str) -> dict[str, Any]:
    properties: dict[str, Any] = RESOURCES[name].get("Properties", {})
    return properties


def target(value: Any) -> str | None:
    """The logical id a ``Ref`` or ``Fn::GetAtt`` names (None for anything else)."""
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref" and isinstance(arg, str):
            return arg
        if key == "Fn::GetAtt":
            return str(arg[0] if isinstance(arg, list) else arg.split(".", 1)[0])
    return None


def branches(value: Any) -> Iterator[Any]:
    """The values an ``Fn::If`` may take (``AWS::NoValue`` left out), or the value itself."""
    if isinstance(value, dict) and list(value) == ["Fn::If"]:
        for branch in value["Fn::If"][1:]:
            yield from branches(branch)
    elif value != {"Ref": "AWS::NoValue"}:
        yield value


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def function_of(value: Any) -> str | None:
    """The function a target/ARN value names, when it is a function of this template."""
    name = target(value)
    is_function = name is not None and RESOURCES.get(name, {}).get("Type") == "AWS::Lambda::Function"
    return name if is_function else None


def queue_of(value: Any) -> str | None:
    name = target(value)
    return name if name is not None and RESOURCES.get(name, {}).get("Type") == "AWS::SQS::Queue" else None


def role_statements(role: str) -> list[dict[str, Any]]:
    """Every statement of the template's own policies that applies to ``role``.

    Inline policies, managed policies of this template in its ManagedPolicyArns, and policies that
    attach themselves to it (``Roles``/``RoleName``); AWS managed policies are not looked up.
    """
    documents = [p["PolicyDocument"] for p in props(role).get("Policies", [])]
    attached = {target(arn) for arn in props(role).get("ManagedPolicyArns", [])}
    for name, resource in RESOURCES.items():
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
            roles = [*as_list(props(name).get("Roles", [])), props(name).get("RoleName")]
            if name in attached or any(target(r) == role for r in roles):
                documents.append(props(name)["PolicyDocument"])
    return [s for document in documents for s in as_list(document.get("Statement", []))]


def allows(statement: dict[str, Any], action: str, resource: str | None = None) -> bool:
    """Does an Allow statement grant ``action`` (on the resource ``resource`` names, when given)?"""
    if statement.get("Effect") != "Allow":
        return False
    actions = as_list(statement.get("Action", []))
    service = action.split(":", 1)[0]
    if not any(a in (action, "*", f"{service}:*") for a in actions):
        return False
    if resource is None:
        return True
    return any(r == "*" or target(r) == resource for r in as_list(statement.get("Resource", [])))


def role_of(function: str) -> str | None:
    return target(props(function).get("Role"))


# --- what the template wires ----------------------------------------------------------------------
def rule_dead_letters() -> list[tuple[str, str]]:
    """(queue, rule) for every rule target whose DeadLetterConfig is a queue of this template."""
    found = []
    for rule in of_type("AWS::Events::Rule"):
        for rule_target in props(rule).get("Targets", []):
            queue = queue_of(rule_target.get("DeadLetterConfig", {}).get("Arn"))
            if queue is not None:
                found.append((queue, rule))
    return found


def lambda_dead_letters() -> list[tuple[str, str]]:
    """(queue, function) for every OnFailure destination and function DeadLetterConfig that is a queue."""
    found = []
    for config in of_type("AWS::Lambda::EventInvokeConfig"):
        function = target(props(config).get("FunctionName"))
        destination = props(config).get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        queue = queue_of(destination)
        if function is not None and queue is not None:
            found.append((queue, function))
    for function in of_type("AWS::Lambda::Function"):
        queue = queue_of(props(function).get("DeadLetterConfig", {}).get("TargetArn"))
        if queue is not None:
            found.append((queue, function))
    return found


def dead_letter_queues() -> list[str]:
    redrive_targets = [
        queue_of(props(queue).get("RedrivePolicy", {}).get("deadLetterTargetArn"))
        for queue in of_type("AWS::SQS::Queue")
    ]
    queues = [q for q, _ in rule_dead_letters() + lambda_dead_letters()] + redrive_targets
    return sorted({q for q in queues if q is not None})


def async_functions() -> list[str]:
    """Functions that an EventBridge rule targets or that a service may invoke asynchronously."""
    found = set()
    for rule in of_type("AWS::Events::Rule"):
        found |= {function_of(t.get("Arn")) for t in props(rule).get("Targets", [])}
    for permission in of_type("AWS::Lambda::Permission"):
        if props(permission).get("Principal") in ASYNC_PRINCIPALS:
            found.add(function_of(props(permission).get("FunctionName")))
    return sorted(f for f in found if f is not None)


def alarm_metrics(alarm: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(namespace, metric, dimensions) of every metric an alarm watches, metric math included."""
    p = props(alarm)
    metrics = []
    if "MetricName" in p:
        metrics.append((p.get("Namespace"), p["MetricName"], p.get("Dimensions", [])))
    for query in p.get("Metrics", []):
        metric = query.get("MetricStat", {}).get("Metric")
        if metric is not None:
            metrics.append((metric.get("Namespace"), metric.get("MetricName"), metric.get("Dimensions", [])))
    return [(ns, name, {d["Name"]: d["Value"] for d in dims}) for ns, name, dims in metrics]


def alarms_on(namespace: str, metric: str, **dimensions: Any) -> list[str]:
    """Alarms that watch ``metric`` with each dimension equal to one of the values given for it."""
    found = []
    for alarm in of_type("AWS::CloudWatch::Alarm"):
        for ns, name, dims in alarm_metrics(alarm):
            if (ns, name) == (namespace, metric) and all(
                dims.get(key) in as_list(values) for key, values in dimensions.items()
            ):
                found.append(alarm)
    return found


def fires_on_first(alarm: str) -> bool:
    p = props(alarm)
    threshold, operator = float(p.get("Threshold", -1)), p.get("ComparisonOperator")
    return (operator == "GreaterThanThreshold" and threshold == 0) or (
        operator == "GreaterThanOrEqualToThreshold" and threshold == 1
    )


def log_group_with_retention(value: Any) -> str | None:
    name = target(value)
    if name is None or RESOURCES.get(name, {}).get("Type") != "AWS::Logs::LogGroup":
        return None
    return name if props(name).get("RetentionInDays") is not None else None


def condition_of(value: Any) -> str | None:
    """The condition an ``Fn::If`` tests (None for a plain value)."""
    if isinstance(value, dict) and list(value) == ["Fn::If"]:
        return str(value["Fn::If"][0])
    return None


# --- dead-letter queues ----------------------------------------------------------------------------
def _queue_policy_statements(queue: str) -> list[dict[str, Any]]:
    statements = []
    for policy in of_type("AWS::SQS::QueuePolicy"):
        if any(target(q) == queue for q in as_list(props(policy).get("Queues", []))):
            statements += as_list(props(policy)["PolicyDocument"].get("Statement", []))
    return statements


def _principals(statement: dict[str, Any], kind: str) -> list[Any]:
    principal = statement.get("Principal", {})
    return as_list(principal.get(kind, [])) if isinstance(principal, dict) else []


def _source_arns(statement: dict[str, Any]) -> list[Any]:
    arns: list[Any] = []
    for operator in ("ArnEquals", "ArnLike"):
        arns += as_list(statement.get("Condition", {}).get(operator, {}).get("aws:SourceArn", []))
    return arns


@pytest.mark.parametrize(("queue", "rule"), rule_dead_letters())
def test_eventbridge_may_dead_letter_to_its_queue(queue: str, rule: str) -> None:
    """Without a queue policy EventBridge cannot send to the queue: undeliverable events vanish."""
    assert any(
        allows(s, "sqs:SendMessage", queue)
        and "events.amazonaws.com" in _principals(s, "Service")
        and any(target(arn) == rule for arn in _source_arns(s))
        for s in _queue_policy_statements(queue)
    ), f"no AWS::SQS::QueuePolicy lets events.amazonaws.com send {rule}'s dead letters to {queue}"


@pytest.mark.parametrize(("queue", "function"), lambda_dead_letters())
def test_lambda_may_send_failures_to_its_queue(queue: str, function: str) -> None:
    """Lambda sends OnFailure records (and DLQ messages) with the function's role."""
    role = role_of(function)
    by_role = role is not None and any(allows(s, "sqs:SendMessage", queue) for s in role_statements(role))
    by_queue = any(
        allows(s, "sqs:SendMessage", queue) and any(target(p) == role for p in _principals(s, "AWS"))
        for s in _queue_policy_statements(queue)
    )
    assert by_role or by_queue, f"{function}'s role may not send to {queue}"


def test_there_are_failure_paths_to_check() -> None:
    assert rule_dead_letters(), "no rule has a dead-letter queue"
    assert lambda_dead_letters(), "no function has an OnFailure destination or dead-letter queue"
    assert async_functions(), "no asynchronously invoked function found"


@pytest.mark.parametrize("function", async_functions())
def test_every_asynchronously_invoked_function_keeps_its_failures(function: str) -> None:
    """After Lambda's retries a failed asynchronous event is dropped unless it has somewhere to go."""
    destinations = [
        props(config).get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        for config in of_type("AWS::Lambda::EventInvokeConfig")
        if target(props(config).get("FunctionName")) == function
    ]
    dead_letter = props(function).get("DeadLetterConfig", {}).get("TargetArn")
    assert any(d is not None for d in destinations) or dead_letter is not None, (
        f"{function} is invoked asynchronously but has no OnFailure destination or DeadLetterConfig"
    )


# --- alarms ----------------------------------------------------------------------------------------
def test_every_alarm_notifies() -> None:
    alarms = of_type("AWS::CloudWatch::Alarm")
    assert alarms, "no CloudWatch alarms"
    silent = [a for a in alarms if not props(a).get("AlarmActions")]
    assert not silent, f"alarms without AlarmActions: {silent}"


@pytest.mark.parametrize("queue", dead_letter_queues())
def test_every_dead_letter_queue_has_a_depth_alarm(queue: str) -> None:
    alarms = alarms_on(
        "AWS/SQS", "ApproximateNumberOfMessagesVisible", QueueName={"Fn::GetAtt": [queue, "QueueName"]}
    )
    assert any(fires_on_first(a) for a in alarms), f"no alarm on {queue} holding a message (> 0)"


@pytest.mark.parametrize("machine", sorted(of_type("AWS::StepFunctions::StateMachine")))
def test_every_state_machine_has_a_failed_executions_alarm(machine: str) -> None:
    assert alarms_on("AWS/States", "ExecutionsFailed", StateMachineArn={"Ref": machine}), (
        f"no alarm on {machine}'s ExecutionsFailed"
    )


@pytest.mark.parametrize("function", sorted(of_type("AWS::Lambda::Function")))
@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_has_an_alarm_on_errors_and_throttles(function: str, metric: str) -> None:
    alarms = alarms_on("AWS/Lambda", metric, FunctionName={"Ref": function})
    assert alarms, f"no alarm on {function}'s {metric}"


def _stage_api_name(stage: str) -> Any:
    """CloudWatch's ApiName dimension: the RestApi's Name, else its definition's title (SAM's default)."""
    api = target(props(stage)["RestApiId"])
    assert api is not None
    return props(api).get("Name", props(api).get("Body", {}).get("info", {}).get("title"))


@pytest.mark.parametrize("stage", sorted(of_type("AWS::ApiGateway::Stage")))
def test_every_api_stage_has_a_5xx_alarm(stage: str) -> None:
    alarms = alarms_on(
        "AWS/ApiGateway",
        "5XXError",
        ApiName=_stage_api_name(stage),
        Stage=[{"Ref": stage}, props(stage)["StageName"]],
    )
    assert alarms, f"no alarm on {stage}'s 5XXError (dimensions ApiName and Stage)"


# --- logs ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("function", sorted(of_type("AWS::Lambda::Function")))
def test_every_function_has_a_log_group_with_retention(function: str) -> None:
    configured = props(function).get("LoggingConfig", {}).get("LogGroup")
    if configured is not None:
        assert log_group_with_retention(configured), f"{function}'s LoggingConfig names no retained log group"
        return
    names = [
        {"Fn::Sub": f"/aws/lambda/${{{function}}}"},
        {"Fn::Join": ["", ["/aws/lambda/", {"Ref": function}]]},
    ]
    groups = [g for g in of_type("AWS::Logs::LogGroup") if props(g).get("LogGroupName") in names]
    assert groups, f"no AWS::Logs::LogGroup named /aws/lambda/<{function}> (Lambda's own has no retention)"
    assert all(props(g).get("RetentionInDays") is not None for g in groups), f"{groups}: no RetentionInDays"


@pytest.mark.parametrize("machine", sorted(of_type("AWS::StepFunctions::StateMachine")))
def test_every_state_machine_logs_its_errors(machine: str) -> None:
    logging = props(machine).get("LoggingConfiguration")
    assert logging is not None, f"{machine} has no LoggingConfiguration"
    assert logging.get("Level") in ("ERROR", "FATAL", "ALL"), logging
    assert logging.get("IncludeExecutionData") in (None, False), "execution data holds presigned input URLs"
    destinations = [d["CloudWatchLogsLogGroup"]["LogGroupArn"] for d in logging.get("Destinations", [])]
    assert destinations and all(log_group_with_retention(d) for d in destinations), destinations
    role = target(props(machine)["RoleArn"])
    assert role is not None
    statements = role_statements(role)
    missing = {a for a in LOG_DELIVERY_ACTIONS if not any(allows(s, a) for s in statements)}
    assert not missing, f"{role} may not deliver logs (CreateStateMachine fails): {sorted(missing)}"


@pytest.mark.parametrize("stage", sorted(of_type("AWS::ApiGateway::Stage")))
def test_every_api_stage_has_json_access_logs(stage: str) -> None:
    setting = props(stage).get("AccessLogSetting")
    assert setting is not None, f"{stage} has no AccessLogSetting"
    options = list(branches(setting))
    assert options, f"{stage}'s AccessLogSetting is never set"
    for option in options:
        assert log_group_with_retention(option["DestinationArn"]), option
        assert isinstance(json.loads(option["Format"]), dict), "the access log format is not JSON"
    # API Gateway writes access logs with the account's CloudWatch role: the stack sets it whenever
    # the logs are on (under the same condition), so enabling them needs no setup outside the stack.
    condition = condition_of(setting)
    accounts = of_type("AWS::ApiGateway::Account")
    assert any(a.get("Condition") in (None, condition) for a in accounts.values()), (
        f"no AWS::ApiGateway::Account (CloudWatch role) whenever {stage}'s access logs are on"
    )


# --- API stages ------------------------------------------------------------------------------------
def test_no_extra_stage_stage() -> None:
    """Without OpenApiVersion SAM's deployment also creates a stage named Stage, without MethodSettings."""
    extra = [d for d in of_type("AWS::ApiGateway::Deployment") if "StageName" in props(d)]
    assert not extra, f"deployments that create SAM's extra 'Stage' stage: {extra}"


# --- stateful resources ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(n for n, r in RESOURCES.items() if r["Type"] in STATEFUL_TYPES))
def test_stateful_resources_are_retained(name: str) -> None:
    resource = RESOURCES[name]
    assert (resource.get("DeletionPolicy"), resource.get("UpdateReplacePolicy")) == ("Retain", "Retain"), (
        f"{name} ({resource['Type']}) would be deleted with the stack or on replacement"
    )


# --- task timeouts ---------------------------------------------------------------------------------
def _substitution(value: Any) -> str:
    """A DefinitionSubstitutions value as CloudFormation would render it (functions as local ARNs)."""
    if isinstance(value, str | int | float):
        return str(value)
    function = function_of(value)
    if function is not None:
        return function_arn(function)
    name = target(value)
    if name in PARAMETERS:
        return str(PARAMETERS[name]["Default"])
    if value == {"Ref": "Bucket"}:
        return "Bucket"  # a distributed Map's ItemReader/ResultWriter bucket (a local folder below)
    raise AssertionError(f"cannot render the substitution {value!r}")


def _definition(machine: str) -> str:
    """The machine's ASL with its substitutions applied; the file is the one template.yaml names."""
    source = yaml_parse((PROJECT_ROOT / "template.yaml").read_text())["Resources"][machine]["Properties"]
    text = (PROJECT_ROOT / source["DefinitionUri"]).read_text()
    substitutions = props(machine).get("DefinitionSubstitutions", {})
    return substitute(text, {key: _substitution(value) for key, value in substitutions.items()})


def _stub_result(event: Any, bucket: Path) -> dict[str, Any]:
    """What a stub task returns: a task's output, or (a batch's Prepare) a one-item manifest."""
    if isinstance(event, dict) and event.get("action") == "prepare":
        (bucket / "manifest.json").write_text(json.dumps([{"key": "uploads/app/a.wav"}]))
        return {
            "manifestKey": "manifest.json",
            "total": 1,
            "functionArn": function_arn("AudioInfoFunction"),
            "maxConcurrency": 1,
            "toleratedFailurePercentage": 100,
        }
    return {"result": {}, "outputs": {}, "jobId": "00000000-0000-4000-8000-000000000001"}


def _scheduled_tasks(definition: str, failing: str | None) -> list[HistoryEvent]:
    """Run the definition with stub tasks (``failing`` raises on its first call); TaskScheduled events,
    a distributed Map's item executions included (their bucket is a temporary folder)."""
    events: list[HistoryEvent] = []
    failed: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp:

        def resolve(arn: str) -> Any:
            name = function_from_arn(arn)

            def task(event: Any) -> dict[str, Any]:
                if name == failing and name not in failed:
                    failed.add(name)
                    raise RuntimeError(f"{name} fails")
                return _stub_result(event, Path(tmp))

            return task

        buckets = FolderBuckets({"Bucket": Path(tmp)})
        runner = AslRunner(
            definition, resolve, sleep=lambda _s: None, on_event=events.append, buckets=buckets
        )
        runner.run({"jobId": "00000000-0000-4000-8000-000000000000"})
    return [e for e in events if e.type == "TaskScheduled"]


def _task_states(scope: dict[str, Any]) -> set[str]:
    """Every Task state's name, in a distributed or inline Map's processor too."""
    found: set[str] = set()
    for name, state in scope["States"].items():
        if state["Type"] == "Task":
            found.add(name)
        if "ItemProcessor" in state:
            found |= _task_states(state["ItemProcessor"])
    return found


@pytest.mark.parametrize("machine", sorted(of_type("AWS::StepFunctions::StateMachine")))
def test_every_task_times_out_before_its_function(machine: str) -> None:
    """A Task whose TimeoutSeconds is not below the function's Timeout never times out itself."""
    definition = _definition(machine)
    tasks = _task_states(json.loads(definition))
    functions = {function_from_arn(e.detail["function"]) for e in _scheduled_tasks(definition, None)}
    # one run that succeeds, and one per function that fails its first call (reaching the Catch paths)
    scheduled = [e for failing in [None, *sorted(functions)] for e in _scheduled_tasks(definition, failing)]
    assert {e.state for e in scheduled} == tasks, "some Task states were never reached: extend the runs"
    for event in scheduled:
        function = function_from_arn(event.detail["function"])
        assert function in RESOURCES, f"{machine}.{event.state} invokes {function}, not in the template"
        limit = int(props(function).get("Timeout", 3))
        seconds = event.detail["timeoutSeconds"]
        assert seconds is not None and seconds < limit, (
            f"{machine}.{event.state}: TimeoutSeconds {seconds} is not below {function}'s Timeout {limit}"
        )
