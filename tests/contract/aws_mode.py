"""The stack as template.yaml describes it, in moto, and every function run against it in AWS mode.

Each function gets the environment the template gives it (Globals plus its own variables, intrinsics
resolved to this stack's names), services built by ``tonearm.bootstrap.build_aws_services`` as in Lambda,
and its sample events from ``events/``. Every AWS API call it makes is recorded through botocore's event
hooks, with the parameters that name what it touches, and so is every presigned URL it hands out (whoever
uses one acts with the function's credentials).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from tests.conftest import PROJECT_ROOT
from tests.contract.seed import seed_contract_fixtures
from tonearm.local_stack.template import load_template

REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK = "tonearm"
EVENTS = PROJECT_ROOT / "events"
#: logical id -> the id moto gave the KMS key ``create_stack`` made (random, unlike other names), for
#: every ``TemplateNames`` (the expanded template's too)
KMS_KEY_IDS: dict[str, str] = {}


@dataclass(frozen=True)
class Call:
    """One AWS API call (or presigned request) a function made: IAM service prefix, operation, params."""

    service: str
    operation: str
    params: Mapping[str, Any]


@dataclass
class Recorder:
    """botocore ``before-parameter-build`` hook that keeps every call's service, operation and params."""

    calls: list[Call] = field(default_factory=list)

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append(Call(model.service_model.signing_name, model.name, dict(params)))


class TemplateNames:
    """Physical names and ARNs of the template's resources in this stack, and intrinsics resolved to them."""

    def __init__(self, template: dict[str, Any]) -> None:
        self.template = template
        self.resources: dict[str, Any] = template["Resources"]
        self.parameters: dict[str, Any] = template.get("Parameters", {})
        self.queue_urls: dict[str, str] = {}

    def physical(self, name: str) -> str:
        """What ``!Ref name`` is: the resource's name in this stack (a queue: its URL)."""
        kind = self.resources[name]["Type"]
        if kind == "AWS::SQS::Queue":
            return self.queue_urls.get(name, f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{STACK}-{name}")
        if kind == "AWS::Events::EventBus":
            return str(self.resolve(self.resources[name]["Properties"]["Name"]))
        if kind == "AWS::KMS::Key":
            return KMS_KEY_IDS.get(name, f"{STACK}-{name}")
        if kind in ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"):
            return self.arn(name)
        return f"{STACK}-{name}".lower() if kind == "AWS::S3::Bucket" else f"{STACK}-{name}"

    def arn(self, name: str) -> str:
        """What ``!GetAtt name.Arn`` is."""
        kind = self.resources[name]["Type"]
        if kind == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{self.physical(name)}"
        if kind == "AWS::DynamoDB::Table":
            return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{self.physical(name)}"
        if kind == "AWS::SQS::Queue":
            return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{STACK}-{name}"
        if kind == "AWS::Events::EventBus":
            return f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{self.physical(name)}"
        if kind == "AWS::KMS::Key":
            return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{self.physical(name)}"
        if kind in ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"):
            machine = self.resolve(self.resources[name]["Properties"].get("Name", f"{STACK}-{name}"))
            return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{machine}"
        if kind in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{STACK}-{name}"
        return f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:{name}"

    def _ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::StackName": STACK,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": None,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name].get("Default", "")
        return self.physical(name)

    def _condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def resolve(self, value: Any) -> Any:
        """``value`` with every intrinsic function replaced by its value in this stack."""
        if isinstance(value, list):
            return [v for v in (self.resolve(item) for item in value) if v is not None]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::GetAtt":
                name, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self.arn(name) if attribute == "Arn" else self.physical(name)
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

                def sub(match: re.Match[str]) -> str:
                    ref = match.group(1)
                    if ref in variables:
                        return str(self.resolve(variables[ref]))
                    if "." in ref and not ref.startswith("AWS::"):
                        return str(self.resolve({"Fn::GetAtt": ref.split(".", 1)}))
                    return str(self._ref(ref))

                return re.sub(r"\$\{([^}!]+)\}", sub, text)
            if key == "Fn::Join":
                return str(arg[0]).join(str(self.resolve(v)) for v in arg[1])
            if key == "Fn::Select":
                return self.resolve(arg[1])[int(self.resolve(arg[0]))]
            if key == "Fn::Split":
                return str(self.resolve(arg[1])).split(arg[0])
            if key == "Fn::If":
                return self.resolve(arg[1] if self._condition(arg[0]) else arg[2])
            if key == "Fn::Equals":
                return self.resolve(arg[0]) == self.resolve(arg[1])
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(a) for a in arg)
            if key == "Fn::Or":
                return any(self.resolve(a) for a in arg)
            if key == "Condition":
                return self._condition(arg)
        return {k: self.resolve(v) for k, v in value.items()}

    def environment(self, function: str) -> dict[str, str]:
        """The function's environment variables as Lambda would set them (Globals, then its own)."""
        globals_env = self.template.get("Globals", {}).get("Function", {}).get("Environment", {})
        own = self.resources[function]["Properties"].get("Environment", {})
        merged = {**globals_env.get("Variables", {}), **own.get("Variables", {})}
        return {k: str(v) for k, v in self.resolve(merged).items() if v is not None}


def raw_template() -> dict[str, Any]:
    """template.yaml as data (CloudFormation short forms as ``{"Fn::...": ...}``)."""
    return load_template(PROJECT_ROOT / "template.yaml")


def create_stack(names: TemplateNames) -> None:
    """The stack's stateful resources in moto (inside ``mock_aws``), named as ``names`` resolves them."""
    for name, resource in names.resources.items():
        kind = resource["Type"]
        if kind not in {
            "AWS::S3::Bucket",
            "AWS::DynamoDB::Table",
            "AWS::SQS::Queue",
            "AWS::Events::EventBus",
            "AWS::KMS::Key",
        }:
            continue  # not made here; it may name resources only SAM's expansion has (a rule)
        props = names.resolve(resource.get("Properties", {}))
        if kind == "AWS::S3::Bucket":
            s3 = boto3.client("s3", region_name=REGION)
            s3.create_bucket(Bucket=names.physical(name))
            if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
                s3.put_bucket_versioning(
                    Bucket=names.physical(name), VersioningConfiguration={"Status": "Enabled"}
                )
        elif kind == "AWS::DynamoDB::Table":
            boto3.client("dynamodb", region_name=REGION).create_table(
                TableName=names.physical(name),
                **{
                    k: props[k]
                    for k in ("AttributeDefinitions", "KeySchema", "BillingMode", "GlobalSecondaryIndexes")
                    if k in props
                },
            )
        elif kind == "AWS::SQS::Queue":
            url = boto3.client("sqs", region_name=REGION).create_queue(QueueName=f"{STACK}-{name}")[
                "QueueUrl"
            ]
            names.queue_urls[name] = url
        elif kind == "AWS::Events::EventBus":
            boto3.client("events", region_name=REGION).create_event_bus(Name=props["Name"])
        elif kind == "AWS::KMS::Key":
            key = boto3.client("kms", region_name=REGION).create_key(
                Description=str(props.get("Description"))
            )
            KMS_KEY_IDS[name] = key["KeyMetadata"]["KeyId"]
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(RoleName="states", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    sfn = boto3.client("stepfunctions", region_name=REGION)
    for name, resource in names.resources.items():
        if resource["Type"] == "AWS::Serverless::StateMachine":
            machine = names.arn(name).rsplit(":", 1)[1]
            definition = (PROJECT_ROOT / resource["Properties"]["DefinitionUri"]).read_text()
            for key, value in names.resolve(
                resource["Properties"].get("DefinitionSubstitutions", {})
            ).items():
                definition = definition.replace("${" + key + "}", str(value))
            sfn.create_state_machine(name=machine, definition=definition, roleArn=role)


def handler_of(function: str, template: dict[str, Any]) -> Any:
    """The function's handler, imported from its code as Lambda would (zip: CodeUri; image: app.py)."""
    import importlib.util

    props = template["Resources"][function]["Properties"]
    if props.get("PackageType") == "Image":
        folder = PROJECT_ROOT / Path(template["Resources"][function]["Metadata"]["Dockerfile"]).parent
        module_name, attribute = props["ImageConfig"]["Command"][0].split(".")
    else:
        folder = PROJECT_ROOT / props["CodeUri"]
        module_name, attribute = props["Handler"].split(".")
    spec = importlib.util.spec_from_file_location(
        f"aws_mode_{function}_{module_name}", folder / f"{module_name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, attribute)


def sample_events(function: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(file name, event)`` for each of the function's sample events, FAILED ones last."""
    for path in sorted((EVENTS / function).glob("*.json"), key=lambda p: "failed" in p.name):
        yield path.name, json.loads(path.read_text())


def seed(names: TemplateNames, env: Mapping[str, str]) -> None:
    """The contract fixtures, through the AWS adapters."""
    from tonearm.bootstrap import build_aws_services
    from tonearm.settings import Settings

    services = build_aws_services(Settings.from_env(env))
    seed_contract_fixtures(services.store, services.blobs, webhook_secret="whsec_contract")
