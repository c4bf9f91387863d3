"""cluster -> Terraform `cluster` layer: one managed cluster per cluster of the topology.

Every cluster has private nodes, a private (or allow-listed) control-plane endpoint, workload
identity, Kubernetes secrets encrypted with a customer-managed key, a release channel with a
weekend maintenance window and autoscaled node pools. GKE comes from
terraform-google-modules/kubernetes-engine (private-cluster), EKS from terraform-aws-modules/eks,
AKS from Azure/aks. On-prem, the only provider where the cluster rule plans self-managed
clusters, the kubeadm files take this layer's place.
"""

from __future__ import annotations

import math
from ipaddress import IPv4Network

from kubeplan.blocks.cluster import aks, eks, kubeadm
from kubeplan.render import naming
from kubeplan.render.terraform import gcp
from kubeplan.render.terraform.hcl import Block, Expr, Value, call, ref, var
from kubeplan.render.terraform.model import (
    Contribution,
    Output,
    TerraformEnv,
    Variable,
    slug,
)
from kubeplan.render.terraform.roots import ADMIN_CIDRS
from kubeplan.render.terraform.shared import multi_cluster

LAYER = "cluster"
FILE = "cluster"
# Machine size of the general node pool: 4 vCPU / 16 GiB fits the platform add-ons plus a share
# of the services on every node, so a three-zone pool starts at three nodes.
GKE_MACHINE = "e2-standard-4"
# Services per node at the upper bound of the autoscaler (three pods each, 16 GiB nodes).
SERVICES_PER_NODE = 6
# Non-production pools stay small: they carry tests, not traffic.
NON_PRODUCTION_MAX = 2
# Weekend maintenance, 02:00-08:00 UTC; GKE needs a fixed first occurrence in the past.
MAINTENANCE_START = "2026-01-03T02:00:00Z"
MAINTENANCE_END = "2026-01-03T08:00:00Z"
MAINTENANCE_RECURRENCE = "FREQ=WEEKLY;BYDAY=SA,SU"


# Every pool spans three zones (GKE regional, EKS and AKS across three AZs).
POOL_ZONES = 3
# The autoscaler may grow a pool to this multiple of the size the cost estimate plans for, so
# a traffic peak above the estimate still finds room.
AUTOSCALE_HEADROOM = 1.5


def max_nodes(env: TerraformEnv) -> int:
    """Upper bound of the autoscaler per zone: never below the pool the plan's sizing (the cost
    estimate, docs/COST.md) expects plus headroom, and for production not below the services
    bound either."""
    sized = max((p.nodes for p in env.plan.cost.node_pools
                 if p.environment == env.environment), default=0)
    from_sizing = math.ceil(sized * AUTOSCALE_HEADROOM / POOL_ZONES)
    if not env.production:
        return max(NON_PRODUCTION_MAX, from_sizing)
    services = int(env.plan.inputs.get("workloads", {}).get("services", SERVICES_PER_NODE))
    return max(NON_PRODUCTION_MAX, math.ceil(services / SERVICES_PER_NODE), from_sizing)


def master_cidr(env: TerraformEnv, region: str) -> str:
    """The GKE control plane's /28: the first block of the edge range's second /24."""
    second = list(IPv4Network(env.network("edge", region)).subnets(new_prefix=24))[1]
    return str(next(second.subnets(new_prefix=28)))


def contribute(env: TerraformEnv) -> list[Contribution]:
    if env.provider == "onprem":
        return kubeadm.contribute(env)
    if env.provider == "gcp":
        return [_gcp(env)]
    if env.provider == "aws":
        return [eks.contribute(env, max_nodes(env))]
    return [aks.contribute(env, max_nodes(env))]


def _gcp(env: TerraformEnv) -> Contribution:
    private_endpoint = env.param("network", "controlPlaneEndpoint") == "private"
    identity_aware = env.choice("admin_access") == "identity-aware-proxy"
    blocks: list[Block] = [gcp.PROJECT]
    for region in env.regions:
        blocks += gcp.crypto_key(env, LAYER, "gke-secrets", region, agents=("container",))
        # The StorageClass of the GitOps tree names this ring and key.
        blocks += gcp.crypto_key(env, LAYER, "disks", region, agents=("compute",),
                                 named=naming.disk_encryption_key(env.plan, env.environment))
    names: dict[str, Value] = {}
    memberships: dict[str, Value] = {}
    variables: list[Variable] = []
    dataplane = env.choice("network_policy")
    for cluster in env.clusters:
        region = cluster.region
        module = f"gke_{slug(cluster.name)}"
        nodes: dict[str, Value] = {"cidr_block": env.network("node", region),
                                   "display_name": "nodes"}
        authorized: Value = [nodes]
        if not private_endpoint:
            authorized = call("concat", [nodes], Expr(
                '[for c in var.admin_cidrs : { cidr_block = c, display_name = "admin" }]'))
            variables.append(ADMIN_CIDRS)
        args: dict[str, Value] = {
            "project_id": var("project_id"),
            "name": env.cluster_name(cluster),
            "description": f"{env.name} {cluster.environment} in {region} ({cluster.role})",
            "region": region,
            "regional": True,
            "network": env.remote("network", "network_name"),
            "subnetwork": env.remote("network", "subnets").index(region),
            "ip_range_pods": env.remote("network", "pods_range_name"),
            "ip_range_services": env.remote("network", "services_range_name"),
            "kubernetes_version": str(env.param("cluster", "kubernetesVersion")),
            "release_channel": str(env.param("cluster", "upgradeChannel")).upper(),
            "maintenance_start_time": MAINTENANCE_START,
            "maintenance_end_time": MAINTENANCE_END,
            "maintenance_recurrence": MAINTENANCE_RECURRENCE,
            "enable_private_nodes": True,
            "enable_private_endpoint": private_endpoint,
            "master_ipv4_cidr_block": master_cidr(env, region),
            "master_authorized_networks": authorized,
            "deletion_protection": True,
            "enable_shielded_nodes": True,
            "database_encryption": [{"state": "ENCRYPTED",
                                     "key_name": gcp.key_ref("gke-secrets", region)}],
            "security_posture_mode": "BASIC",
            "security_posture_vulnerability_mode": "VULNERABILITY_BASIC",
            "gateway_api_channel": "CHANNEL_STANDARD",
            "add_master_webhook_firewall_rules": True,
            "grant_registry_access": True,
            "remove_default_node_pool": True,
            "gce_pd_csi_driver": True,
            "filestore_csi_driver": bool(env.plan.inputs.get("workloads", {})
                                         .get("sharedFilesystem", False)),
            "enable_vertical_pod_autoscaling": True,
            "node_pools": [{
                "name": "general",
                "machine_type": GKE_MACHINE,
                "autoscaling": True,
                "min_count": 1,
                "max_count": max_nodes(env),
                "location_policy": "BALANCED",
                "disk_type": "pd-balanced",
                "disk_size_gb": 100,
                "image_type": "COS_CONTAINERD",
                "boot_disk_kms_key": gcp.key_ref("disks", region),
                "enable_secure_boot": True,
                "enable_integrity_monitoring": True,
                "auto_repair": True,
                "auto_upgrade": True,
            }],
            "node_pools_tags": {"all": [env.remote("network", "node_tag")]},
            "cluster_resource_labels": env.labels,
        }
        if identity_aware:
            # The DNS-based endpoint admits only IAM-authenticated callers, so operators reach
            # a private control plane without a bastion or an open network path.
            args["dns_allow_external_traffic"] = True
        if dataplane == "provider-dataplane":
            args["datapath_provider"] = "ADVANCED_DATAPATH"
        elif dataplane == "calico":
            args["network_policy"] = True
            args["network_policy_provider"] = "CALICO"
        if multi_cluster(env):
            args["fleet_project"] = var("project_id")
            memberships[cluster.name] = ref(f"module.{module}.fleet_membership")
        args["depends_on"] = [
            ref("google_kms_crypto_key_iam_member", f"gke_secrets_{slug(region)}_container"),
            ref("google_kms_crypto_key_iam_member", f"disks_{slug(region)}_compute")]
        blocks.append(env.module(module, "gcp-gke-private-cluster", args))
        names[cluster.name] = ref(f"module.{module}.name")
    outputs = [
        Output("cluster_names", names, "Cluster name per topology cluster."),
        Output("workload_identity_pool", Expr('"${var.project_id}.svc.id.goog"'),
               "Workload identity pool of the clusters (Kubernetes service accounts bind "
               "to Google service accounts through it)."),
        Output("disk_kms_keys",
               {region: gcp.key_ref("disks", region) for region in env.regions},
               "Cloud KMS key per region for persistent disks (StorageClass "
               "disk-encryption-kms-key)."),
    ]
    gitops: dict[str, Value] = {f"storage.disk-kms-key.{region}": gcp.key_ref("disks", region)
                                for region in env.regions}
    if memberships:
        outputs.append(Output("fleet_memberships", memberships,
                              "Fleet membership per cluster (multi-cluster Gateway)."))
    apis = {"container.googleapis.com", "cloudkms.googleapis.com"}
    if multi_cluster(env):
        apis |= {"gkehub.googleapis.com", "multiclusteringress.googleapis.com",
                 "multiclusterservicediscovery.googleapis.com", "trafficdirector.googleapis.com"}
    return Contribution(LAYER, FILE, tuple(blocks), variables=tuple(variables),
                        outputs=tuple(outputs), gitops=gitops, gcp_apis=frozenset(apis))
