"""Reading template.yaml for the local runtime: functions, state machines and event rules.

The local runtime wires itself from the same template that SAM deploys, so the two cannot drift:
a Task's ``${...}`` substitution resolves to the same function's handler, and a bus event reaches
the same subscriber through the same rule pattern.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tonearm.adapters.local.bus import LOCAL_ACCOUNT, LOCAL_REGION, Rule
from tonearm.errors import TonearmError


class TemplateError(TonearmError):
    """The template uses something the local runtime cannot resolve."""

    code = "template_error"
    status = 500


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that understands CloudFormation's short-form intrinsic tags."""


def _intrinsic(name: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "Fn::GetAtt":
                value = str(value).split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {name: value}

    return construct


for _tag in ("Ref", "Condition"):
    _CfnLoader.add_constructor(f"!{_tag}", _intrinsic(_tag))
for _tag in (
    "GetAtt",
    "Sub",
    "Join",
    "If",
    "Select",
    "Split",
    "Equals",
    "Not",
    "And",
    "Or",
    "FindInMap",
    "ImportValue",
    "Base64",
    "Cidr",
    "GetAZs",
):
    _CfnLoader.add_constructor(f"!{_tag}", _intrinsic(f"Fn::{_tag}"))


def load_template(path: Path) -> dict[str, Any]:
    """Parse a SAM/CloudFormation template, keeping intrinsics as their long-form dicts."""
    with path.open() as f:
        data = yaml.load(f, Loader=_CfnLoader)
    if not isinstance(data, dict):
        raise TemplateError(f"{path} is not a template")
    return data


def function_arn(logical_id: str) -> str:
    """The local stand-in ARN for a function, which ``function_from_arn`` maps back."""
    return f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT}:function:{logical_id}"


def function_from_arn(arn: str) -> str:
    """The logical id in an ARN made by ``function_arn`` (or a bare name)."""
    return arn.split(":function:", 1)[-1].split(":", 1)[0]


@dataclass(frozen=True)
class FunctionDef:
    """Where a function's handler lives: ``module_file`` and the attribute in it."""

    logical_id: str
    module_file: Path
    attribute: str


class LocalTemplate:
    """Resolves the parts of the template the local runtime needs."""

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self.root = self.path.parent
        self.data = load_template(self.path)
        self.resources: dict[str, Any] = self.data.get("Resources", {})
        self.parameters: dict[str, Any] = self.data.get("Parameters", {})

    # --- intrinsics ---------------------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        """Resolve intrinsics to local values: resources by logical id, parameters by default."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._ref(str(arg))
            if key == "Fn::GetAtt":
                return self._get_att(str(arg[0]), str(arg[1]))
            if key == "Fn::Sub":
                return self._sub(arg)
            if key.startswith("Fn::"):
                raise TemplateError(f"the local runtime cannot resolve {key} in {value!r}")
        return {k: self.resolve(v) for k, v in value.items()}

    def _ref(self, name: str) -> str:
        if name in self.parameters:
            return str(self.parameters[name].get("Default", ""))
        if name == "AWS::StackName":
            return "tonearm-local"
        if name == "AWS::Region":
            return LOCAL_REGION
        if name == "AWS::AccountId":
            return LOCAL_ACCOUNT
        if name == "AWS::Partition":
            return "aws"
        if name not in self.resources:
            raise TemplateError(f"!Ref {name}: no such parameter or resource")
        resource = self.resources[name]
        if resource["Type"] == "AWS::Serverless::StateMachine":
            # as in CloudFormation, a state machine's Ref is its ARN (the watchdog's rule matches on it)
            machine = self.resolve(resource["Properties"].get("Name", name))
            return f"arn:aws:states:{LOCAL_REGION}:{LOCAL_ACCOUNT}:stateMachine:{machine}"
        return name

    def _get_att(self, name: str, attribute: str) -> str:
        resource = self.resources.get(name)
        if resource is None:
            raise TemplateError(f"!GetAtt {name}.{attribute}: no such resource")
        if resource["Type"] == "AWS::Serverless::Function" and attribute == "Arn":
            return function_arn(name)
        return f"arn:local:{name}:{attribute}"

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def replace(match: re.Match[str]) -> str:
            ref = match.group(1)
            if ref in variables:
                return str(self.resolve(variables[ref]))
            if "." in ref and not ref.startswith("AWS::"):
                return self._get_att(*ref.split(".", 1))
            return self._ref(ref)

        return re.sub(r"\$\{([^}!]+)\}", replace, str(text))

    # --- functions ----------------------------------------------------------------------------
    def functions(self) -> dict[str, FunctionDef]:
        """Every ``AWS::Serverless::Function`` and where its handler is."""
        found: dict[str, FunctionDef] = {}
        for logical_id, resource in self.resources.items():
            if resource.get("Type") != "AWS::Serverless::Function":
                continue
            props = resource.get("Properties", {})
            if props.get("PackageType") == "Image":
                command = props.get("ImageConfig", {}).get("Command", [])
                dockerfile = resource.get("Metadata", {}).get("Dockerfile")
                if not command or not dockerfile:
                    raise TemplateError(
                        f"{logical_id}: image functions need ImageConfig.Command and Dockerfile"
                    )
                context = self.root / resource["Metadata"].get("DockerContext", ".")
                code_dir = (context / dockerfile).parent
                handler = str(command[0])
            else:
                code_dir = self.root / str(props["CodeUri"])
                handler = str(props["Handler"])
            module, _, attribute = handler.rpartition(".")
            found[logical_id] = FunctionDef(
                logical_id=logical_id,
                module_file=code_dir / f"{module.replace('.', '/')}.py",
                attribute=attribute,
            )
        return found

    # --- state machines -----------------------------------------------------------------------
    def state_machine_definition(self, logical_id: str) -> tuple[str, dict[str, str]]:
        """The ASL text of a state machine and its resolved DefinitionSubstitutions."""
        resource = self.resources.get(logical_id)
        if resource is None or resource.get("Type") != "AWS::Serverless::StateMachine":
            raise TemplateError(f"no state machine {logical_id!r} in {self.path.name}")
        props = resource["Properties"]
        if "DefinitionUri" not in props:
            raise TemplateError(
                f"{logical_id}: state machines must use DefinitionUri (a statemachines/ file)"
            )
        text = (self.root / str(props["DefinitionUri"])).read_text()
        substitutions = {k: str(self.resolve(v)) for k, v in props.get("DefinitionSubstitutions", {}).items()}
        return text, substitutions

    def state_machines(self) -> list[str]:
        """Logical ids of every state machine."""
        return [k for k, r in self.resources.items() if r.get("Type") == "AWS::Serverless::StateMachine"]

    # --- event rules --------------------------------------------------------------------------
    def rules(self) -> list[Rule]:
        """Every ``EventBridgeRule`` event source on a function, and every ``AWS::Events::Rule`` whose target
        is a queue a function polls, as local bus rules."""
        rules: list[Rule] = self._queue_rules()
        for logical_id, resource in self.resources.items():
            if resource.get("Type") != "AWS::Serverless::Function":
                continue
            for event_name, event in resource.get("Properties", {}).get("Events", {}).items():
                if event.get("Type") != "EventBridgeRule":
                    continue
                props = event.get("Properties", {})
                bus = str(self.resolve(props["EventBusName"])) if "EventBusName" in props else "default"
                rules.append(
                    Rule(
                        name=f"{logical_id}.{event_name}",
                        bus=bus,
                        pattern=self.resolve(props["Pattern"]),
                        target=logical_id,
                    )
                )
        return rules

    def _queue_rules(self) -> list[Rule]:
        consumers: dict[str, str] = {}  # queue logical id -> the function whose SQS event source it is
        for logical_id, resource in self.resources.items():
            if resource.get("Type") != "AWS::Serverless::Function":
                continue
            for event in resource.get("Properties", {}).get("Events", {}).values():
                if event.get("Type") == "SQS":
                    queue = event["Properties"]["Queue"]
                    consumers[str(queue["Fn::GetAtt"][0])] = logical_id
        rules: list[Rule] = []
        for logical_id, resource in self.resources.items():
            if resource.get("Type") != "AWS::Events::Rule":
                continue
            props = resource.get("Properties", {})
            bus = str(self.resolve(props["EventBusName"])) if "EventBusName" in props else "default"
            for target in props.get("Targets", []):
                arn = target.get("Arn", {})
                queue = str(arn["Fn::GetAtt"][0]) if isinstance(arn, dict) and "Fn::GetAtt" in arn else ""
                if queue not in consumers:
                    raise TemplateError(
                        f"rule {logical_id}: the local runtime delivers only to queues a function polls"
                    )
                redrive = self.resources[queue].get("Properties", {}).get("RedrivePolicy", {})
                rules.append(
                    Rule(
                        name=f"{logical_id}.{target.get('Id', queue)}",
                        bus=bus,
                        pattern=self.resolve(props["EventPattern"]),
                        target=consumers[queue],
                        queue=queue,
                        max_receives=int(redrive.get("maxReceiveCount", 1)),
                    )
                )
        return rules
