"""secrets -> Terraform `storage` layer: the External Secrets Operator's cloud identity.

GCP: read access to Secret Manager secret versions of the environment's project. AWS: the IAM
role reads Secrets Manager secrets under `<platform>/<environment>/`. Azure: a Key Vault for the
environment's secrets (RBAC, purge protection, private by default) and the Key Vault Secrets
User role on it. No static credential exists anywhere: each cluster's service account token is
exchanged for the identity (workload identity federation).
"""

from __future__ import annotations

from kubeplan.blocks.secrets import terraform_aws, terraform_azure
from kubeplan.render.terraform import gcp, objectstore
from kubeplan.render.terraform.hcl import Block, block, var
from kubeplan.render.terraform.model import Contribution, Output, TerraformEnv

FILE = "secrets"
COMPONENT = "external-secrets"


def contribute(env: TerraformEnv) -> list[Contribution]:
    if env.provider == "onprem" or env.choice("secrets") != "provider-secret-manager":
        return []
    if env.provider == "gcp":
        return [_gcp(env)]
    if env.provider == "aws":
        return [terraform_aws.contribute(env)]
    return [terraform_azure.contribute(env)]


def _gcp(env: TerraformEnv) -> Contribution:
    blocks: list[Block] = [*gcp.workload_identity(env, COMPONENT), block(
        "resource", "google_project_iam_member", "external_secrets_accessor",
        project=var("project_id"), role="roles/secretmanager.secretAccessor",
        member=gcp.identity_member(COMPONENT))]
    email = gcp.identity_email(COMPONENT)
    return Contribution(
        objectstore.STORAGE, FILE, tuple(blocks),
        outputs=(Output("external_secrets_identity", email,
                        "Google service account of the External Secrets Operator."),),
        gitops={f"{COMPONENT}.identity": email},
        gcp_apis=frozenset({"secretmanager.googleapis.com", "iam.googleapis.com"}))
