"""AKS clusters (Azure/aks): private API server (or allow-listed), Microsoft Entra ID with Azure
RBAC and no local accounts, a user-assigned control-plane identity, Kubernetes secrets encrypted
with a Key Vault key (KMS), OS and data disks encrypted with a customer-managed key through a
disk encryption set, Azure CNI Overlay powered by Cilium, egress through the NAT gateway,
workload identity, patch-level auto-upgrades in a weekend window and an autoscaled zonal pool.
"""

from __future__ import annotations

from ipaddress import IPv4Network

from kubeplan.render import naming
from kubeplan.render.terraform import azure
from kubeplan.render.terraform.hcl import Block, Expr, Value, block, ref, var
from kubeplan.render.terraform.model import (
    Contribution,
    Output,
    TerraformEnv,
    Validation,
    Variable,
    module_block,
    slug,
)
from kubeplan.render.terraform.roots import ADMIN_CIDRS

LAYER = "cluster"
FILE = "cluster"
# 4 vCPU / 16 GiB, the same shape as the GKE and EKS pools.
VM_SIZE = "Standard_D4s_v5"
ZONES = ["1", "2", "3"]
ADMIN_GROUP = Variable(
    "admin_group_object_id", "string",
    "Object ID of the Microsoft Entra group whose members administer the clusters.",
    validations=(Validation(
        'can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", '
        "var.admin_group_object_id))",
        "admin_group_object_id must be an object ID (a lower-case GUID)."),))
# Weekend windows (UTC): Kubernetes patches on Saturday, node images on Sunday.
UPGRADE_WINDOW: dict[str, Value] = {"frequency": "Weekly", "interval": 1, "duration": 6,
                                    "day_of_week": "Saturday", "start_time": "02:00",
                                    "utc_offset": "+00:00"}
NODE_OS_WINDOW: dict[str, Value] = {**UPGRADE_WINDOW, "day_of_week": "Sunday"}


def dns_service_ip(env: TerraformEnv, region: str) -> str:
    return str(IPv4Network(env.network("service", region))[10])


def contribute(env: TerraformEnv, max_nodes: int) -> Contribution:
    private = env.param("network", "controlPlaneEndpoint") == "private"
    shared_fs = bool(env.plan.inputs.get("workloads", {}).get("sharedFilesystem"))
    posture = env.plan.inputs.get("security", {}).get("posture", "baseline")
    defender = posture in ("hardened", "regulated")
    vault = ref("azurerm_key_vault.keys.id")
    blocks: list[Block] = azure.key_vault(env, "keys", "keys", "platform encryption keys")
    blocks.append(azure.role("terraform_keys", vault, "Key Vault Crypto Officer",
                             ref("data.azurerm_client_config.current.object_id")))
    for name in ("kms", "disks"):
        blocks.append(azure.key(name, vault, f"{env.prefix}-{name}",
                                depends_on=[ref("azurerm_role_assignment.terraform_keys")]))
    blocks += [
        block("resource", "azurerm_user_assigned_identity", "control_plane",
              name=f"{env.prefix}-aks", location=env.primary_region,
              resource_group_name=azure.resource_group(env), tags=env.labels),
        azure.role("control_plane_kms", vault, "Key Vault Crypto User",
                   ref("azurerm_user_assigned_identity.control_plane.principal_id")),
        block("resource", "azurerm_disk_encryption_set", "disks",
              name=naming.disk_encryption_key(env.plan, env.environment),
              location=env.primary_region, resource_group_name=azure.resource_group(env),
              key_vault_key_id=ref("azurerm_key_vault_key.disks.versionless_id"),
              auto_key_rotation_enabled=True, encryption_type="EncryptionAtRestWithCustomerKey",
              identity=block("identity", type="SystemAssigned"), tags=env.labels),
        azure.role("disk_encryption_set_key", vault,
                   "Key Vault Crypto Service Encryption User",
                   ref("azurerm_disk_encryption_set.disks.identity[0].principal_id")),
        azure.role("control_plane_disks", ref("azurerm_disk_encryption_set.disks.id"), "Reader",
                   ref("azurerm_user_assigned_identity.control_plane.principal_id")),
    ]
    variables = [ADMIN_GROUP]
    if not private:
        variables.append(ADMIN_CIDRS)
    issuers: dict[str, Value] = {}
    kubelets: dict[str, Value] = {}
    planes: dict[str, Value] = {}
    for cluster in env.clusters:
        region = cluster.region
        module = f"aks_{slug(cluster.name)}"
        args: dict[str, Value] = {
            "cluster_name": env.cluster_name(cluster),
            "prefix": env.cluster_name(cluster),
            "location": region,
            "resource_group_name": azure.resource_group(env),
            "node_resource_group": f"{env.cluster_name(cluster)}-nodes",
            "kubernetes_version": str(env.param("cluster", "kubernetesVersion")),
            "automatic_channel_upgrade": "patch",
            "node_os_channel_upgrade": "NodeImage",
            "maintenance_window_auto_upgrade": UPGRADE_WINDOW,
            "maintenance_window_node_os": NODE_OS_WINDOW,
            "sku_tier": "Standard",
            "private_cluster_enabled": private,
            "private_cluster_public_fqdn_enabled": False,
            "run_command_enabled": False,
            "identity_type": "UserAssigned",
            "identity_ids": [ref("azurerm_user_assigned_identity.control_plane.id")],
            "local_account_disabled": True,
            "role_based_access_control_enabled": True,
            "rbac_aad_azure_rbac_enabled": True,
            "rbac_aad_tenant_id": ref("data.azurerm_client_config.current.tenant_id"),
            "rbac_aad_admin_group_object_ids": [var("admin_group_object_id")],
            "kms_enabled": True,
            "kms_key_vault_key_id": ref("azurerm_key_vault_key.kms.id"),
            "kms_key_vault_network_access": "Public",
            "disk_encryption_set_id": ref("azurerm_disk_encryption_set.disks.id"),
            "network_plugin": "azure",
            "network_plugin_mode": "overlay",
            "net_profile_pod_cidr": env.network("pod", region),
            "net_profile_service_cidr": env.network("service", region),
            "net_profile_dns_service_ip": dns_service_ip(env, region),
            "net_profile_outbound_type": "userAssignedNATGateway"
            if env.choice("network") == "private" else "loadBalancer",
            "vnet_subnet": {"id": env.remote("network", "node_subnet_ids").index(region)},
            "create_role_assignment_network_contributor": True,
            "network_contributor_role_assigned_subnet_ids": {
                "nodes": env.remote("network", "node_subnet_ids").index(region)},
            "oidc_issuer_enabled": True,
            "workload_identity_enabled": True,
            "azure_policy_enabled": True,
            "image_cleaner_enabled": True,
            "image_cleaner_interval_hours": 48,
            "log_analytics_workspace_enabled": defender,
            "microsoft_defender_enabled": defender,
            "oms_agent_enabled": False,
            "storage_profile_enabled": True,
            "storage_profile_disk_driver_enabled": True,
            "storage_profile_file_driver_enabled": shared_fs,
            "storage_profile_snapshot_controller_enabled": True,
            "storage_profile_blob_driver_enabled": False,
            "agents_pool_name": "general",
            "agents_size": VM_SIZE,
            "agents_availability_zones": ZONES,
            "auto_scaling_enabled": True,
            "agents_count": None,
            "agents_min_count": len(ZONES) if env.production else 1,
            "agents_max_count": max_nodes * len(ZONES),
            "agents_max_pods": 110,
            "os_disk_size_gb": 128,
            "temporary_name_for_rotation": "generaltmp",
            "agents_labels": {"kubeplan.dev/pool": "general"},
            "tags": env.labels,
            "depends_on": [ref("azurerm_role_assignment.control_plane_kms"),
                           ref("azurerm_role_assignment.control_plane_disks"),
                           ref("azurerm_role_assignment.disk_encryption_set_key")],
        }
        dataplane = env.choice("network_policy")
        if dataplane in ("provider-dataplane", "cilium"):
            args["ebpf_data_plane"] = "cilium"
            args["network_policy"] = "cilium"
        elif dataplane == "calico":
            args["network_policy"] = "calico"
        if not private:
            args["api_server_authorized_ip_ranges"] = var("admin_cidrs")
        blocks.append(module_block(module, "azure-aks", args))
        issuers[cluster.name] = ref(f"module.{module}.oidc_issuer_url")
        kubelets[cluster.name] = Expr(f"module.{module}.kubelet_identity[0].object_id")
        planes[cluster.name] = ref("azurerm_user_assigned_identity.control_plane.principal_id")
    outputs = (
        Output("oidc_issuer_urls", issuers, "OIDC issuer of each cluster (workload identity)."),
        Output("kubelet_identities", kubelets,
               "Kubelet identity (object ID) per cluster, for registry pulls."),
        Output("control_plane_principals", planes,
               "Control-plane identity (principal ID) per cluster."),
        Output("key_vault_id", ref("azurerm_key_vault.keys.id"),
               "Key vault of the platform's encryption keys."),
        Output("disk_encryption_set_id", ref("azurerm_disk_encryption_set.disks.id"),
               "Disk encryption set (StorageClass diskEncryptionSetID)."),
    )
    return Contribution(LAYER, FILE, tuple(blocks), variables=tuple(variables), outputs=outputs,
                        gitops={"storage.disk-encryption-set":
                                ref("azurerm_disk_encryption_set.disks.id")})
