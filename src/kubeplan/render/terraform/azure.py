"""Azure building blocks several blocks share: names that must be globally unique, the
environment's resource group and key vault (read from earlier layers), private storage accounts
with customer-managed keys, and workload identities (a user-assigned identity per component,
federated with every cluster's OIDC issuer).
"""

from __future__ import annotations

import re

from kubeplan.model import Plan
from kubeplan.render.gitops import telemetry
from kubeplan.render.naming import WORKLOADS, identity
from kubeplan.render.terraform import roots
from kubeplan.render.terraform.hcl import Block, Comment, Expr, Value, block, body, ref, template
from kubeplan.render.terraform.model import TerraformEnv, slug

# Key versions rotate every 90 days and expire after a year.
KEY_ROTATION = "P90D"
KEY_EXPIRY = "P1Y"
SOFT_DELETE_DAYS = 7
# Private DNS zones of the private endpoints the platform uses (linked to every VNet).
PRIVATE_ZONES = {
    "blob": "privatelink.blob.core.windows.net",
    "vault": "privatelink.vaultcore.azure.net",
    "registry": "privatelink.azurecr.io",
}
TOKEN_AUDIENCE = "api://AzureADTokenExchange"
# Blob access logs (who read, wrote, deleted what) are kept this long.
AUDIT_LOG_DAYS = 365


def audit_workspace(env: TerraformEnv) -> Block:
    """The environment's Log Analytics workspace for data access logs."""
    return block("resource", "azurerm_log_analytics_workspace", "audit",
                 name=f"{env.prefix}-audit", location=env.primary_region,
                 resource_group_name=resource_group(env), sku="PerGB2018",
                 retention_in_days=AUDIT_LOG_DAYS, local_authentication_enabled=False,
                 tags=env.labels)


def compact(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def key_vault_name(env: TerraformEnv, kind: str) -> str:
    """3-24 letters, digits and hyphens, globally unique."""
    return f"{compact(env.name)[:7]}-{compact(env.environment)[:4]}-{kind[:5]}-" \
           f"{roots.suffix(env.plan)[:4]}"


def resource_group(env: TerraformEnv) -> Expr:
    return env.remote("network", "resource_group_name")


def key_vault(env: TerraformEnv, name: str, kind: str, purpose: str) -> list[Block]:
    """A key vault with Azure RBAC, purge protection and HSM-backed keys (premium)."""
    return [
        block("data", "azurerm_client_config", "current"),
        block("resource", "azurerm_key_vault", name,
              comments=[
                  "checkov:skip=CKV_AZURE_189:the AKS API server (KMS) and Terraform reach the "
                  "vault over its public endpoint; Azure RBAC and Entra ID guard every call",
                  "checkov:skip=CKV_AZURE_109:a default-deny firewall would shut out the AKS "
                  "API server's KMS calls, which come from outside the VNet",
                  "checkov:skip=CKV2_AZURE_32:KMS through a private endpoint needs API server "
                  "VNet integration; the public endpoint is guarded by Entra ID and RBAC",
              ],
              name=key_vault_name(env, kind), location=env.primary_region,
              resource_group_name=resource_group(env),
              tenant_id=ref("data.azurerm_client_config.current.tenant_id"),
              sku_name="premium", rbac_authorization_enabled=True,
              purge_protection_enabled=True, soft_delete_retention_days=90,
              public_network_access_enabled=True,
              network_acls=block("network_acls", default_action="Allow", bypass="AzureServices"),
              tags={**env.labels, "purpose": purpose}),
    ]


def key(name: str, vault: Expr, key_name: str, depends_on: list[Value] | None = None) -> Block:
    """An HSM-protected RSA key that rotates itself."""
    args: dict[str, Value | Block] = {
        "name": key_name, "key_vault_id": vault, "key_type": "RSA-HSM", "key_size": 2048,
        "key_opts": ["decrypt", "encrypt", "unwrapKey", "wrapKey"],
        "rotation_policy": block("rotation_policy",
                                 automatic=block("automatic", time_after_creation=KEY_ROTATION),
                                 expire_after=KEY_EXPIRY, notify_before_expiry="P30D"),
    }
    if depends_on:
        args["depends_on"] = depends_on
    why = ("checkov:skip=CKV_AZURE_40:the rotation policy renews the key every 90 days and "
           "expires each version after a year; a fixed expiry date would stop encryption when "
           "it passes")
    return Block("resource", ("azurerm_key_vault_key", name), (Comment(why), *body(args)))


def role(name: str, scope: Value, role_name: str, principal: Value) -> Block:
    return block("resource", "azurerm_role_assignment", name, scope=scope,
                 role_definition_name=role_name, principal_id=principal,
                 principal_type="ServicePrincipal")


def delete_lock(name: str, scope: Value, what: str) -> Block:
    """A CanNotDelete lock: Azure refuses to delete the resource (or anything in it) until
    an owner removes the lock, whatever Terraform or the portal asks."""
    return block("resource", "azurerm_management_lock", name, name="do-not-delete",
                 scope=scope, lock_level="CanNotDelete", notes=f"{what}: remove this lock "
                 "first, deliberately, to delete it")


# --- workload identity ------------------------------------------------------------------------


def workload_identity(env: TerraformEnv, component: str) -> list[Block]:
    """A user-assigned identity for the component, trusted for its service account in every
    cluster of the environment (Microsoft Entra Workload ID)."""
    workload = WORKLOADS[component]
    name = slug(component)
    blocks = [block("resource", "azurerm_user_assigned_identity", name,
                    name=identity(env.plan, env.environment, component),
                    location=env.primary_region, resource_group_name=resource_group(env),
                    tags=env.labels)]
    for cluster in env.clusters:
        blocks.append(block(
            "resource", "azurerm_federated_identity_credential",
            f"{name}_{slug(cluster.name)}", name=cluster.name,
            user_assigned_identity_id=ref("azurerm_user_assigned_identity", name, "id"),
            audience=[TOKEN_AUDIENCE],
            issuer=env.remote("cluster", "oidc_issuer_urls").index(cluster.name),
            subject=f"system:serviceaccount:{workload.namespace}:{workload.service_account}"))
    return blocks


def client_id(component: str) -> Expr:
    return ref("azurerm_user_assigned_identity", slug(component), "client_id")


def principal_id(component: str) -> Expr:
    return ref("azurerm_user_assigned_identity", slug(component), "principal_id")


# --- storage ------------------------------------------------------------------------------------


def storage_account(env: TerraformEnv, resource: str, name: str, *, geo: bool,
                    key_vault_id: Expr) -> list[Block]:
    """A private StorageV2 account: no shared keys, no public access, a private endpoint in the
    node subnet, versioning and soft delete, encrypted with a customer-managed key."""
    region = env.primary_region
    cmk = f"{resource}_cmk"
    blocks = [
        block("resource", "azurerm_user_assigned_identity", cmk, name=f"{name}-cmk",
              location=region, resource_group_name=resource_group(env), tags=env.labels),
        role(f"{cmk}_key", key_vault_id, "Key Vault Crypto Service Encryption User",
             ref("azurerm_user_assigned_identity", cmk, "principal_id")),
        key(cmk, key_vault_id, name,
            depends_on=[ref(f"azurerm_role_assignment.{cmk}_key")]),
        block("resource", "azurerm_storage_account", resource,
              comments=["checkov:skip=CKV_AZURE_33:the account serves blobs only; no queue "
                        "service is used, so there is no queue logging to enable"],
              name=name, location=region, resource_group_name=resource_group(env),
              account_kind="StorageV2", account_tier="Standard",
              # Geo-zone-redundant: backups keep a copy in the paired region.
              account_replication_type="GZRS" if geo else "ZRS",
              min_tls_version="TLS1_2", https_traffic_only_enabled=True,
              shared_access_key_enabled=False, default_to_oauth_authentication=True,
              allow_nested_items_to_be_public=False, public_network_access_enabled=False,
              infrastructure_encryption_enabled=True, local_user_enabled=False,
              cross_tenant_replication_enabled=False,
              identity=block("identity", type="UserAssigned",
                             identity_ids=[ref("azurerm_user_assigned_identity", cmk, "id")]),
              customer_managed_key=block(
                  "customer_managed_key",
                  key_vault_key_id=ref("azurerm_key_vault_key", cmk, "versionless_id"),
                  user_assigned_identity_id=ref("azurerm_user_assigned_identity", cmk, "id")),
              network_rules=block("network_rules", default_action="Deny",
                                  bypass=["AzureServices"]),
              sas_policy=block("sas_policy", expiration_period="01.00:00:00"),
              blob_properties=block(
                  "blob_properties", versioning_enabled=True,
                  delete_retention_policy=block("delete_retention_policy",
                                                days=SOFT_DELETE_DAYS),
                  container_delete_retention_policy=block("container_delete_retention_policy",
                                                          days=SOFT_DELETE_DAYS)),
              tags=env.labels),
        block("resource", "azurerm_private_endpoint", resource, name=f"{name}-blob",
              location=region, resource_group_name=resource_group(env),
              subnet_id=env.remote("network", "node_subnet_ids").index(region),
              private_service_connection=block(
                  "private_service_connection", name=f"{name}-blob",
                  private_connection_resource_id=ref("azurerm_storage_account", resource, "id"),
                  subresource_names=["blob"], is_manual_connection=False),
              private_dns_zone_group=block(
                  "private_dns_zone_group", name="blob",
                  private_dns_zone_ids=[env.remote("network", "private_dns_zones")
                                        .index("blob")]),
              tags=env.labels),
        audit_workspace(env),
        block("resource", "azurerm_monitor_diagnostic_setting", f"{resource}_blobs",
              name="blob-access",
              target_resource_id=template(ref("azurerm_storage_account", resource, "id"),
                                          "/blobServices/default"),
              log_analytics_workspace_id=ref("azurerm_log_analytics_workspace.audit.id"),
              enabled_log=[block("enabled_log", category=c)
                           for c in ("StorageRead", "StorageWrite", "StorageDelete")]),
    ]
    return blocks


def data_account_name(env: TerraformEnv) -> str:
    """The environment's storage account, as the GitOps tree names it."""
    return telemetry.storage_account(env.plan, env.environment)


def component_container(env: TerraformEnv, purpose: str, component: str, name: str,
                        rules: dict[str, tuple[str, int | None, bool]]
                        ) -> tuple[list[Block], Expr | str, Expr, dict[str, Expr | str]]:
    """The environment's storage account (one, holding every container), `component`'s
    container in it, and the component's workload identity with data access to that container
    only. `rules` lists every container of the account (purpose -> name, expiry in days,
    versioned), so each caller renders the same single lifecycle policy."""
    account = data_account_name(env)
    resource = "data"
    blocks = storage_account(env, resource, account, geo=True,
                             key_vault_id=env.remote("cluster", "key_vault_id"))
    policy_rules: list[Block] = []
    for rule_purpose, (container, expire_days, versioned) in sorted(rules.items()):
        actions: dict[str, Value | Block] = {}
        if expire_days is not None:
            actions["base_blob"] = block(
                "base_blob", delete_after_days_since_modification_greater_than=expire_days)
        # Versions of overwritten or deleted backups stay a week; elsewhere a day is enough.
        actions["version"] = block("version", delete_after_days_since_creation=SOFT_DELETE_DAYS
                                   if versioned else 1)
        policy_rules.append(block("rule", name=rule_purpose, enabled=True,
                                  filters=block("filters", blob_types=["blockBlob"],
                                                prefix_match=[f"{container}/"]),
                                  actions=Block("actions", (), body(actions))))
    blocks.append(block("resource", "azurerm_storage_management_policy", resource,
                        storage_account_id=ref("azurerm_storage_account", resource, "id"),
                        rule=policy_rules))
    container = slug(purpose)
    blocks.append(block("resource", "azurerm_storage_container", container,
                        comments=["checkov:skip=CKV2_AZURE_21:blob reads are logged by the "
                                  "account's diagnostic setting (StorageRead) to Log "
                                  "Analytics; Storage Insights would need a shared account "
                                  "key, which the account disables"],
                        name=name,
                        storage_account_id=ref("azurerm_storage_account", resource, "id"),
                        container_access_type="private"))
    blocks += workload_identity(env, component)
    scope = template(ref("azurerm_storage_account", resource, "id"),
                     f"/blobServices/default/containers/{name}")
    blocks.append(role(f"{slug(component)}_{container}", scope, "Storage Blob Data Contributor",
                       principal_id(component)))
    return blocks, name, client_id(component), {
        "storage-account": account,
        "resource-group": resource_group(env)}


# --- bootstrap ----------------------------------------------------------------------------------


def state_store(plan: Plan, noncurrent_days: int) -> list[Block]:
    """The bootstrap's state account: private to Entra ID callers (no shared keys), versioned,
    geo-zone-redundant, and the operator applying it may read and write blobs."""
    region = roots.state_region(plan)
    return [
        block("data", "azurerm_client_config", "current"),
        block("resource", "azurerm_resource_group", "state",
              name=roots.state_resource_group(plan), location=region),
        block("resource", "azurerm_storage_account", "state",
              comments=[
                  "checkov:skip=CKV_AZURE_33:blobs only; no queue service is used",
                  "checkov:skip=CKV_AZURE_59:the state is reached by the operators' and the "
                  "pipeline's Terraform from outside any VNet; Entra ID (no shared keys) guards it",
                  "checkov:skip=CKV2_AZURE_33:Terraform reaches the state from runners outside "
                  "any VNet, so there is no private endpoint to use",
                  "checkov:skip=CKV_AZURE_35:Terraform reaches the state from runners outside "
                  "any VNet; Entra ID without shared keys guards every call",
                  "checkov:skip=CKV2_AZURE_1:encrypted with Microsoft-managed keys; the state "
                  "store must exist before any key vault of the platform",
              ],
              name=roots.state_storage_account(plan), location=region,
              resource_group_name=ref("azurerm_resource_group.state.name"),
              account_kind="StorageV2", account_tier="Standard", account_replication_type="GZRS",
              min_tls_version="TLS1_2", https_traffic_only_enabled=True,
              shared_access_key_enabled=False, default_to_oauth_authentication=True,
              allow_nested_items_to_be_public=False, infrastructure_encryption_enabled=True,
              local_user_enabled=False, cross_tenant_replication_enabled=False,
              sas_policy=block("sas_policy", expiration_period="01.00:00:00"),
              blob_properties=block(
                  "blob_properties", versioning_enabled=True,
                  delete_retention_policy=block("delete_retention_policy", days=noncurrent_days),
                  container_delete_retention_policy=block("container_delete_retention_policy",
                                                          days=noncurrent_days))),
        block("resource", "azurerm_storage_container", "state",
              comments=["checkov:skip=CKV2_AZURE_21:Storage Insights needs a shared account key, "
                        "which the state account disables; reads are Entra ID-authenticated and "
                        "in the activity of the operators' identities"],
              name=roots.STATE_CONTAINER,
              storage_account_id=ref("azurerm_storage_account.state.id"),
              container_access_type="private"),
        block("resource", "azurerm_role_assignment", "state_operator",
              scope=ref("azurerm_storage_account.state.id"),
              role_definition_name="Storage Blob Data Contributor",
              principal_id=ref("data.azurerm_client_config.current.object_id")),
    ]


__all__ = ["component_container", "delete_lock", "key_vault", "state_store",
           "workload_identity"]
