"""secrets on AWS: the External Secrets Operator's IAM role (EKS Pod Identity) reads only the
Secrets Manager secrets named `<platform>-<environment>-*` (the names the GitOps tree's
ExternalSecrets use: `naming.secret_prefix`), and no SSM parameters."""

from __future__ import annotations

from kubeplan.render import naming
from kubeplan.render.terraform import aws, objectstore
from kubeplan.render.terraform import aws_policies as policies
from kubeplan.render.terraform.hcl import template, var
from kubeplan.render.terraform.model import Contribution, Output, TerraformEnv

FILE = "secrets"
COMPONENT = "external-secrets"


def prefix(env: TerraformEnv) -> str:
    """Secrets Manager names the environment's secrets start with."""
    return naming.secret_prefix(env.plan, env.environment)


def contribute(env: TerraformEnv) -> Contribution:
    secrets = template("arn:aws:secretsmanager:*:", var("aws_account_id"),
                       f":secret:{prefix(env)}*")
    role = aws.identity_arn(COMPONENT)
    return Contribution(
        objectstore.STORAGE, FILE,
        tuple(aws.workload_identity(env, COMPONENT, policies.external_secrets([secrets]))),
        outputs=(Output("external_secrets_identity", role,
                        "IAM role of the External Secrets Operator."),),
        gitops={f"{COMPONENT}.identity": role, f"{COMPONENT}.secret-prefix": prefix(env)})
