"""secrets on AWS: the External Secrets Operator's IAM role reads Secrets Manager secrets under
`<platform>/<environment>/` only (and no SSM parameters)."""

from __future__ import annotations

from kubeplan.render.terraform import aws, objectstore
from kubeplan.render.terraform.hcl import template, var
from kubeplan.render.terraform.model import Contribution, Output, TerraformEnv

FILE = "secrets"
COMPONENT = "external-secrets"


def prefix(env: TerraformEnv) -> str:
    """Secrets Manager names the environment's secrets start with."""
    return f"{env.name}/{env.environment}/"


def contribute(env: TerraformEnv) -> Contribution:
    secrets = template("arn:aws:secretsmanager:*:", var("aws_account_id"),
                       f":secret:{prefix(env)}*")
    role = aws.irsa_arn(COMPONENT)
    return Contribution(
        objectstore.STORAGE, FILE,
        (aws.irsa(env, COMPONENT, {"attach_external_secrets_policy": True,
                                   "external_secrets_secrets_manager_arns": [secrets],
                                   "external_secrets_ssm_parameter_arns": []}),),
        outputs=(Output("external_secrets_identity", role,
                        "IAM role of the External Secrets Operator."),),
        gitops={f"{COMPONENT}.identity": role, f"{COMPONENT}.secret-prefix": prefix(env)})
