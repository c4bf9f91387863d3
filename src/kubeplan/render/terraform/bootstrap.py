"""`terraform/bootstrap/`: the remote-state store every layer's backend points at, and the
platform pipeline's cloud identities.

Applied once with local state, before anything else (the runbook says how). The store is
private, versioned (a broken state can be rolled back) and encrypted with a customer-managed key.
The identities (`identities.tf`, built in `bootstrap_identities.py`) let the platform pipeline
take over from there: its outputs are the values of the pipeline's CI settings.
"""

from __future__ import annotations

from kubeplan.model import Plan
from kubeplan.render.terraform import aws, azure, bootstrap_identities, roots
from kubeplan.render.terraform.hcl import Block, block, ref, render_file, template, var
from kubeplan.render.terraform.model import Output, TerraformEnv

# Old state versions are kept this long: long enough to notice and roll back a bad apply.
NONCURRENT_DAYS = 90


def files(plan: Plan) -> dict[str, str]:
    env = TerraformEnv(plan, plan.topology.production)
    provider = plan.metadata.provider
    blocks = {"gcp": _gcp, "aws": _aws, "azure": _azure}[provider](plan)
    variable = roots.PROVIDER_VARIABLE[provider]
    providers = {"gcp": {"google"}, "aws": {"aws"}, "azure": {"azurerm"}}[provider]
    region = roots.state_region(plan)
    provider_blocks = [
        block("provider", "google", project=var("project_id"), region=region,
              default_labels=env.labels) if provider == "gcp" else None,
        block("provider", "aws", region=region, allowed_account_ids=[var("aws_account_id")],
              default_tags=block("default_tags", tags=env.labels)) if provider == "aws" else None,
        block("provider", "azurerm", subscription_id=var("subscription_id"),
              storage_use_azuread=True, features=block("features"))
        if provider == "azure" else None,
    ]
    identities = bootstrap_identities.identities(plan)
    outputs = [o.block() for o in (*_outputs(plan), *identities.outputs)]
    return {
        "versions.tf": render_file([roots.versions(providers)]),
        "providers.tf": render_file([b for b in provider_blocks if b is not None]),
        "variables.tf": render_file([v.block() for v in (variable, *identities.variables)]),
        "state.tf": render_file(blocks),
        "identities.tf": render_file(identities.blocks),
        "outputs.tf": render_file(outputs),
    }


def _outputs(plan: Plan) -> list[Output]:
    if plan.metadata.provider == "azure":
        return [Output("state_storage_account", roots.state_storage_account(plan),
                       "Storage account holding every layer's state.")]
    return [Output("state_bucket", roots.state_bucket(plan),
                   "Bucket holding every layer's state.")]


def _gcp(plan: Plan) -> list[Block]:
    region = roots.state_region(plan)
    return [
        block("resource", "google_kms_key_ring", "tfstate", project=var("project_id"),
              name=f"{plan.metadata.name}-tfstate", location=region),
        block("resource", "google_kms_crypto_key", "tfstate", name="tfstate",
              key_ring=ref("google_kms_key_ring.tfstate.id"), rotation_period="7776000s",
              lifecycle=block("lifecycle", prevent_destroy=True)),
        block("data", "google_storage_project_service_account", "this",
              project=var("project_id")),
        block("resource", "google_kms_crypto_key_iam_member", "tfstate_storage",
              crypto_key_id=ref("google_kms_crypto_key.tfstate.id"),
              role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
              member=template("serviceAccount:", ref(
                  "data.google_storage_project_service_account.this.email_address"))),
        block("resource", "google_storage_bucket", "tfstate",
              comments=["checkov:skip=CKV_GCP_62:state access is recorded by Cloud Audit Logs "
                        "(data access logs), not by legacy access logs into a second bucket"],
              project=var("project_id"), name=roots.state_bucket(plan), location=region.upper(),
              force_destroy=False, uniform_bucket_level_access=True,
              public_access_prevention="enforced",
              versioning=block("versioning", enabled=True),
              encryption=block("encryption",
                               default_kms_key_name=ref("google_kms_crypto_key.tfstate.id")),
              lifecycle_rule=block("lifecycle_rule", action=block("action", type="Delete"),
                                   condition=block("condition",
                                                   days_since_noncurrent_time=NONCURRENT_DAYS,
                                                   with_state="ARCHIVED")),
              depends_on=[ref("google_kms_crypto_key_iam_member.tfstate_storage")]),
    ]


def _aws(plan: Plan) -> list[Block]:
    return aws.state_bucket(plan, NONCURRENT_DAYS)


def _azure(plan: Plan) -> list[Block]:
    return azure.state_store(plan, NONCURRENT_DAYS)


__all__ = ["files"]
