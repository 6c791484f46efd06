"""Translate the app's own template.yaml with aws-sam-translator and deploy it into moto.

Fix-ups, each for a measured moto gap (../shared/docs/DESIGN.md):
- CodeUri/DefinitionUri point at a placeholder S3 object (the handlers run from the source tree).
- DefinitionSubstitutions become one single-string Fn::Sub DefinitionString (moto does not apply them).
- Nested stacks with a local TemplateURL (nested/shared.yml) point at an uploaded copy, as `sam deploy` does.
- API Gateway resources are left out: moto never invokes AWS_PROXY Lambdas, so LocalCloud serves the
  API itself (localcloud.apigateway) with the same function.
"""

from __future__ import annotations

import copy
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
ASSET_BUCKET = "localcloud-assets"
ASSET_KEY = "functions.zip"
STACK_NAME = "neuronlab"


def load_sam_template(root: Path = ROOT) -> dict[str, Any]:
    return yaml_parse((root / "template.yaml").read_text())


def translate(root: Path = ROOT, region: str = "us-east-1") -> dict[str, Any]:
    """template.yaml -> CloudFormation, as `sam deploy` would produce it (placeholders for code)."""
    sam = load_sam_template(root)
    definitions: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, resource in sam["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::StateMachine" and "DefinitionUri" in props:
            definitions[name] = ((root / props["DefinitionUri"]).read_text(), props.pop("DefinitionSubstitutions", {}))
            props["DefinitionUri"] = {"Bucket": ASSET_BUCKET, "Key": "placeholder.asl.json"}
    sam.setdefault("Globals", {}).setdefault("Function", {})["CodeUri"] = f"s3://{ASSET_BUCKET}/{ASSET_KEY}"
    for resource in sam["Resources"].values():
        if resource["Type"] == "AWS::Serverless::LayerVersion":  # LocalCloud's handlers import from its venv
            resource["Properties"]["ContentUri"] = f"s3://{ASSET_BUCKET}/{ASSET_KEY}"
    # An explicit session: the translator otherwise needs a region configured for boto3.
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name=region))
    # get_managed_policy_map=dict: the template names no managed policy by name, so no IAM listing
    cfn = translator.translate(sam, parameter_values={}, get_managed_policy_map=dict)
    for name, (text, substitutions) in definitions.items():
        props = cfn["Resources"][name]["Properties"]
        props.pop("DefinitionS3Location", None)
        props.pop("DefinitionSubstitutions", None)
        for key, value in substitutions.items():
            # ${Name} -> ${Resource.Attribute}: a single-string Fn::Sub leaves $$.Task.Token alone
            resource, attribute = value["Fn::GetAtt"]
            text = text.replace(f"${{{key}}}", f"${{{resource}.{attribute}}}")
        props["DefinitionString"] = {"Fn::Sub": text}
    return cfn


def localcloud_template(translated: dict[str, Any]) -> dict[str, Any]:
    """The translated template as LocalCloud deploys it (see the module docstring)."""
    cfn = copy.deepcopy(translated)
    resources = cfn["Resources"]
    for name in [n for n, r in resources.items() if r["Type"].startswith("AWS::ApiGateway::")]:
        del resources[name]
    for name in [n for n, r in resources.items()
                 if r["Type"] == "AWS::Lambda::Permission" and "execute-api" in json.dumps(r)]:
        del resources[name]
    cfn["Outputs"].pop("ApiUrl", None)
    for resource in resources.values():
        url = resource.get("Properties", {}).get("TemplateURL")
        if resource["Type"] == "AWS::CloudFormation::Stack" and isinstance(url, str) and "://" not in url:
            resource["Properties"]["TemplateURL"] = f"https://{ASSET_BUCKET}.s3.amazonaws.com/{url}"
    return cfn


def deploy(parameters: dict[str, str], translated: dict[str, Any], region: str = "us-east-1") -> dict[str, str]:
    """Create the orchestrator stack (`translated`: template.yaml as translate() gives it) in the active moto
    emulation; returns its outputs."""
    s3 = boto3.client("s3", region_name=region)
    s3.create_bucket(Bucket=ASSET_BUCKET)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("README.txt", "LocalCloud runs the handlers from the source tree (functions/).")
    s3.put_object(Bucket=ASSET_BUCKET, Key=ASSET_KEY, Body=archive.getvalue())
    s3.put_object(Bucket=ASSET_BUCKET, Key="placeholder.asl.json", Body=b"{}")
    for nested in (ROOT / "nested").glob("*.yml"):
        s3.put_object(Bucket=ASSET_BUCKET, Key=f"nested/{nested.name}", Body=nested.read_bytes())
    cfn = boto3.client("cloudformation", region_name=region)
    cfn.create_stack(
        StackName=STACK_NAME, TemplateBody=json.dumps(localcloud_template(translated)),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    stack = cfn.describe_stacks(StackName=STACK_NAME)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise RuntimeError(f"orchestrator stack is {stack['StackStatus']}")
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
