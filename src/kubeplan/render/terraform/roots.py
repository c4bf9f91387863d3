"""What every root module needs besides its resources: pinned versions, the remote-state backend,
the provider configurations, the inputs every root shares, and reading an earlier layer's state.

State lives in one bucket (GCS, S3) or storage account (Azure) per platform, one state object per
`<environment>/<layer>`; `terraform/bootstrap/` creates it. S3 locks with a lock file next to the
state (`use_lockfile`), so there is no DynamoDB table; GCS and Azure Blob lock natively.
"""

from __future__ import annotations

import hashlib
import re

from kubeplan import catalogue
from kubeplan.model import Plan
from kubeplan.render import naming
from kubeplan.render.terraform.hcl import Block, Expr, block, body, var
from kubeplan.render.terraform.model import TerraformEnv, Validation, Variable, slug

# Provider configuration inputs, one per cloud; every root of that cloud declares it.
PROJECT_ID = Variable(
    "project_id", "string",
    "ID of the Google Cloud project this environment runs in (one project per environment keeps "
    "IAM and quotas apart).",
    validations=(Validation('can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))',
                            "project_id must be a Google Cloud project ID (6-30 characters: "
                            "lower-case letters, digits, hyphens)."),))
AWS_ACCOUNT_ID = Variable(
    "aws_account_id", "string",
    "ID of the AWS account this environment runs in; the provider refuses to act on any other "
    "account, so a wrong profile cannot change the wrong environment.",
    validations=(Validation('can(regex("^[0-9]{12}$", var.aws_account_id))',
                            "aws_account_id must be a 12-digit AWS account ID."),))
SUBSCRIPTION_ID = Variable(
    "subscription_id", "string",
    "ID of the Azure subscription this environment runs in.",
    validations=(Validation(
        'can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", '
        "var.subscription_id))",
        "subscription_id must be an Azure subscription ID (a lower-case GUID)."),))
# Operator networks for anything reachable from outside (an allow-listed control plane, an SSH
# bastion): never the whole internet.
ADMIN_CIDRS = Variable(
    "admin_cidrs", "list(string)",
    "Networks (CIDR) of the operators allowed to reach the control-plane endpoint or the "
    "bastion; never 0.0.0.0/0.",
    validations=(Validation(
        'alltrue([for c in var.admin_cidrs : can(cidrhost(c, 0)) && !startswith(c, "0.0.0.0/")])',
        "admin_cidrs must be CIDR blocks and must not include 0.0.0.0/0."),
        Validation("length(var.admin_cidrs) > 0", "admin_cidrs must name at least one network.")))
PROVIDER_VARIABLE = {"gcp": PROJECT_ID, "aws": AWS_ACCOUNT_ID, "azure": SUBSCRIPTION_ID}
# Providers of services (Harbor's API, Vault, Cloudflare DNS) rather than of the environment's
# cloud account.
SERVICE_PROVIDERS = ("harbor", "vault", "cloudflare")

# Resource type prefix -> provider (the provider a resource or data source belongs to).
_PREFIXES = ("google", "aws", "azurerm", "azapi", "random", "tls", "time", "null", "kubernetes",
             "harbor", "vault", "cloudflare")


def provider_of(resource_type: str) -> str | None:
    if resource_type == "terraform_remote_state":
        return None  # built in
    head = resource_type.split("_", 1)[0]
    return head if head in _PREFIXES else None


def suffix(plan: Plan) -> str:
    # The same stable suffix the shared bucket names use (render/naming.py).
    return hashlib.sha256(plan.metadata.domain.encode()).hexdigest()[:6]


def state_bucket(plan: Plan) -> str:
    """GCS or S3 bucket of every state of the platform."""
    return f"{plan.metadata.name[:40]}-tfstate-{suffix(plan)}"


def state_resource_group(plan: Plan) -> str:
    return f"{plan.metadata.name}-tfstate"


def state_storage_account(plan: Plan) -> str:
    """Azure storage account names: 3-24 lower-case letters and digits, globally unique."""
    stem = re.sub(r"[^a-z0-9]", "", plan.metadata.name.lower())[:11]
    return f"{stem}tfstate{suffix(plan)}"


STATE_CONTAINER = "tfstate"


def state_region(plan: Plan) -> str:
    return plan.topology.regions[0]


def state_schema(plan: Plan, environment: str, layer: str) -> str:
    """On-prem: the PostgreSQL schema holding one root's state (identifier characters only)."""
    return re.sub(r"[^a-z0-9_]", "_", f"{plan.metadata.name}_{environment}_{layer}".lower())


def _state_config(plan: Plan, environment: str, layer: str) -> dict[str, str | bool]:
    provider = plan.metadata.provider
    if provider == "onprem":
        # The site's PostgreSQL (no object store outside the clusters): one schema per root,
        # advisory locks; the connection string (TLS, credentials) comes from PG_CONN_STR.
        return {"schema_name": state_schema(plan, environment, layer)}
    if provider == "gcp":
        return {"bucket": state_bucket(plan), "prefix": f"{environment}/{layer}"}
    if provider == "aws":
        return {"bucket": state_bucket(plan), "key": f"{environment}/{layer}/terraform.tfstate",
                "region": state_region(plan)}
    return {"resource_group_name": state_resource_group(plan),
            "storage_account_name": state_storage_account(plan),
            "container_name": STATE_CONTAINER, "key": f"{environment}/{layer}.tfstate",
            "use_azuread_auth": True}


BACKEND = {"gcp": "gcs", "aws": "s3", "azure": "azurerm", "onprem": "pg"}


def backend(plan: Plan, environment: str, layer: str) -> Block:
    config = _state_config(plan, environment, layer)
    provider = plan.metadata.provider
    if provider == "aws":
        config = {**config, "encrypt": True, "use_lockfile": True}
    return block("terraform", backend=Block("backend", (BACKEND[provider],), body(config)))


def remote_state(plan: Plan, environment: str, layer: str, name: str | None = None) -> Block:
    """Read `<environment>/<layer>`'s outputs; `name` defaults to the layer (same environment)."""
    return block("data", "terraform_remote_state", name or layer,
                 backend=BACKEND[plan.metadata.provider],
                 config=_state_config(plan, environment, layer))


def versions(providers: set[str]) -> Block:
    pins = catalogue.load()["providers"]
    required = {name: {"source": pins[name]["source"], "version": pins[name]["version"]}
                for name in sorted(providers)}
    return block("terraform",
                 required_version=catalogue.entry("tools", "terraform")["version"],
                 required_providers=block("required_providers", **required))


def provider_blocks(env: TerraformEnv, providers: set[str]) -> list[Block]:
    out: list[Block] = []
    labels = env.labels
    for name in ("google", "google-beta"):
        if name in providers:
            out.append(block("provider", name, project=var("project_id"),
                             region=env.primary_region, default_labels=labels))
    if "aws" in providers:
        out.append(block("provider", "aws", region=env.primary_region,
                         allowed_account_ids=[var("aws_account_id")],
                         default_tags=block("default_tags", tags=labels)))
    if "azurerm" in providers:
        out.append(block("provider", "azurerm", subscription_id=var("subscription_id"),
                         storage_use_azuread=True, features=block("features")))
    if "azapi" in providers:
        out.append(block("provider", "azapi", subscription_id=var("subscription_id")))
    if "harbor" in providers:
        # One configuration per Harbor the environment keeps images in; the admin credentials
        # come from HARBOR_USERNAME and HARBOR_PASSWORD at apply time (the provider reads them).
        for region in env.registry_regions:
            alias = harbor_provider(env, region)
            meta = {"alias": alias.text.split(".", 1)[1]} if alias else {}
            out.append(block("provider", "harbor", **meta,
                             url=f"https://{naming.harbor_host(env.plan, region)}",
                             insecure=False))
    if "vault" in providers:
        # The token comes from VAULT_TOKEN at apply time.
        out.append(block("provider", "vault", address=naming.vault_address(env.plan)))
    if "cloudflare" in providers:
        out.append(block("provider", "cloudflare", comments=(
            "The API token comes from CLOUDFLARE_API_TOKEN at apply time.",)))
    return out


def harbor_provider(env: TerraformEnv, region: str) -> Expr | None:
    """The `provider` meta-argument of resources in the Harbor of `region`: None (the default
    configuration) for the primary region's, `harbor.<region>` for a replica's."""
    if region == env.primary_region:
        return None
    return Expr(f"harbor.{slug(region)}")
