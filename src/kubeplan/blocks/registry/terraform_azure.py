"""registry on Azure: Azure Container Registry Premium (Azure Verified Module): no admin user,
no anonymous pull, no exports, zone-redundant, encrypted with a customer-managed key,
geo-replicated to the second region of a multi-region environment, a private endpoint for the
nodes, and AcrPull for each cluster's kubelet identity. Its public endpoint stays on for the CI
(Entra ID tokens only), which pushes from outside the VNet.
"""

from __future__ import annotations

from kubeplan.render import mirrors
from kubeplan.render.terraform import azure, roots
from kubeplan.render.terraform.hcl import Block, Value, block, ref, template
from kubeplan.render.terraform.model import Contribution, Output, TerraformEnv, module_block, slug

LAYER = "registry"
FILE = "registry"
# Untagged manifests are deleted after this many days.
RETENTION_DAYS = 7


def registry_name(env: TerraformEnv) -> str:
    """5-50 letters and digits, globally unique."""
    return f"{azure.compact(env.prefix)[:40]}{roots.suffix(env.plan)}"


def contribute(env: TerraformEnv, regions: list[str]) -> Contribution:
    vault = env.remote("cluster", "key_vault_id")
    blocks: list[Block] = [
        block("resource", "azurerm_user_assigned_identity", "registry",
              name=f"{env.prefix}-registry", location=regions[0],
              resource_group_name=azure.resource_group(env), tags=env.labels),
        azure.role("registry_key", vault, "Key Vault Crypto Service Encryption User",
                   ref("azurerm_user_assigned_identity.registry.principal_id")),
        azure.key("registry", vault, f"{env.prefix}-registry",
                  depends_on=[ref("azurerm_role_assignment.registry_key")]),
    ]
    pulls: dict[str, Value] = {slug(c.name): {
        "role_definition_id_or_name": "AcrPull",
        "principal_id": env.remote("cluster", "kubelet_identities").index(c.name),
        "principal_type": "ServicePrincipal"} for c in env.clusters}
    blocks.append(module_block("registry", "azure-container-registry", {
        "name": registry_name(env),
        "location": regions[0],
        "resource_group_name": azure.resource_group(env),
        "sku": "Premium",
        "admin_enabled": False,
        "anonymous_pull_enabled": False,
        "export_policy_enabled": False,
        "zone_redundancy_enabled": True,
        "public_network_access_enabled": True,
        "network_rule_bypass_option": "AzureServices",
        "retention_policy_in_days": RETENTION_DAYS,
        "georeplications": [{"location": r, "zone_redundancy_enabled": True}
                            for r in regions[1:]],
        "managed_identities": {"user_assigned_resource_ids":
                               [ref("azurerm_user_assigned_identity.registry.id")]},
        "customer_managed_key": {
            "key_vault_resource_id": vault,
            "key_name": ref("azurerm_key_vault_key.registry.name"),
            "user_assigned_identity": {
                "resource_id": ref("azurerm_user_assigned_identity.registry.id")}},
        "private_endpoints": {"nodes": {
            "subnet_resource_id": env.remote("network", "node_subnet_ids").index(regions[0]),
            "private_dns_zone_resource_ids": [env.remote("network", "private_dns_zones")
                                              .index("registry")]}},
        "role_assignments": pulls,
        **({"cache_rules": _cache_rules()} if mirrors.enabled(env.plan) else {}),
        "enable_telemetry": False,
        "tags": env.labels,
    }))
    login = ref("module.registry.login_server")
    platform: dict[str, Value] = {"REGISTRY_URL": login}
    if mirrors.enabled(env.plan):
        platform[mirrors.OUTPUT] = template(login, f"/{mirrors.ACR_PREFIX}")
    return Contribution(LAYER, FILE, tuple(blocks),
                        outputs=(Output("registry_login_server", login,
                                        "Registry login server (image prefix)."),),
                        gitops={f"registry.url.{regions[0]}": login},
                        platform=platform)


def _cache_rules() -> dict[str, Value]:
    """One repository-level wildcard rule per public registry, `mirror/<name>/*` -> `<host>/*`
    (wildcard rules may not overlap, so each has its own target). Anonymous: ACR pulls Docker
    Hub and the others unauthenticated; geo-replicas serve the cache in the second region."""
    return {upstream.name: {"name": f"mirror-{upstream.name}",
                            "source_repository": f"{upstream.host}/*",
                            "target_repository": f"{mirrors.ACR_PREFIX}/{upstream.name}/*"}
            for upstream in mirrors.UPSTREAMS}
