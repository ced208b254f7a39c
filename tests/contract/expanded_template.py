"""template.yaml as AWS will see it: expanded by the SAM translator (samtranslator), offline.

Local code locations become placeholder S3 and ECR URIs (what ``sam package`` would write); the policy
templates (``S3CrudPolicy`` ...) expand to the IAM statements CloudFormation creates.
"""

from __future__ import annotations

import copy
import os
from functools import cache
from typing import Any

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from tests.conftest import PROJECT_ROOT

PSEUDO_PARAMETERS = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::StackName": "tonearm",
}


class _NoManagedPolicies:
    """The template names no AWS managed policy by name, so none need looking up (no IAM call)."""

    def load(self) -> dict[str, str]:
        return {}


@cache
def _expanded() -> dict[str, Any]:
    template = yaml_parse((PROJECT_ROOT / "template.yaml").read_text())
    for name, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            if props.get("PackageType") == "Image":
                props["ImageUri"] = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/tonearm:{name}"
            else:
                props["CodeUri"] = f"s3://artifacts/{name}.zip"
        elif resource["Type"] == "AWS::Serverless::StateMachine" and "DefinitionUri" in props:
            props["DefinitionUri"] = f"s3://artifacts/{name}.asl.json"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = f"s3://artifacts/{name}.zip"
    os.environ.setdefault("AWS_DEFAULT_REGION", PSEUDO_PARAMETERS["AWS::Region"])  # the translator asks
    return transform(template, dict(PSEUDO_PARAMETERS), _NoManagedPolicies())  # type: ignore[arg-type]


def expanded_template() -> dict[str, Any]:
    """A copy of the expanded template (CloudFormation JSON as a dict)."""
    return copy.deepcopy(_expanded())
