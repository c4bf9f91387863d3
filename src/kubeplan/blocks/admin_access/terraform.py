"""admin_access -> Terraform `access` layer: how operators reach private nodes and control planes.

GCP identity-aware-proxy: IAP tunnel and cluster-viewer roles for the operators' group, OS Login
enforced, IAP data-access audit logs when sessions must be recorded (the clusters' DNS-based
endpoint admits IAM-authenticated callers only). GCP bastion: terraform-google-modules
bastion-host, a shielded VM without a public address, itself reached through IAP.
AWS identity-aware-proxy: Session Manager through an SSM-managed instance in a private subnet
(no SSH, no inbound rule, IMDSv2). AWS bastion: an EC2 instance in a public subnet, SSH from
`admin_cidrs` only, keys pushed per session by EC2 Instance Connect (no key pair).
Azure bastion: Azure Bastion with native-client tunnelling (Premium with session recording when
the posture asks for it).
vpn: an AWS Client VPN endpoint with SAML federation (terraform_aws.py) or an Azure VPN Gateway
with Microsoft Entra ID point-to-site (terraform_azure.py). The rule refuses a VPN on GCP and
identity-aware-proxy on Azure, so neither reaches a renderer; on-prem, the WireGuard gateway
at the site edge is the site's.
"""

from __future__ import annotations

from kubeplan.blocks.admin_access import terraform_aws, terraform_azure
from kubeplan.errors import RenderError
from kubeplan.render.terraform.hcl import Block, Expr, block, call, var
from kubeplan.render.terraform.model import Contribution, TerraformEnv, Validation, Variable

LAYER = "access"
FILE = "access"

ADMIN_MEMBERS = Variable(
    "admin_members", "list(string)",
    "IAM members allowed to reach nodes and control planes (for example "
    "group:platform-admins@example.com).",
    validations=(Validation(
        'alltrue([for m in var.admin_members : can(regex("^(group|user|serviceAccount):", m))])',
        "admin_members entries must be IAM members such as group:ops@example.com."),
        Validation("length(var.admin_members) > 0", "admin_members must name at least one "
                   "member.")))
# Roles of the operators: open IAP tunnels and fetch cluster credentials (Kubernetes RBAC in the
# GitOps tree decides what they may do inside).
IAP_ROLES = ("roles/iap.tunnelResourceAccessor", "roles/container.clusterViewer")


def contribute(env: TerraformEnv) -> list[Contribution]:
    choice = env.choice("admin_access")
    if env.provider == "gcp":
        return _gcp(env, choice)
    if env.provider == "aws":
        return terraform_aws.contribute(env, choice)
    if env.provider == "azure":
        return terraform_azure.contribute(env, choice)
    return []


def _gcp(env: TerraformEnv, choice: str) -> list[Contribution]:
    if choice not in ("identity-aware-proxy", "bastion"):
        raise RenderError(f"admin access {choice!r} has no GCP rendering (the rule refuses it)")
    blocks: list[Block] = []
    members = call("setproduct", list(IAP_ROLES), var("admin_members"))
    if choice == "identity-aware-proxy":
        blocks.append(block("resource", "google_project_iam_member", "operators",
                            for_each=Expr(f"{{ for pair in {members.text} : "
                                          '"${pair[0]} ${pair[1]}" => pair }'),
                            project=var("project_id"), role=Expr("each.value[0]"),
                            member=Expr("each.value[1]")))
    else:
        zone = block("data", "google_compute_zones", "primary", project=var("project_id"),
                     region=env.primary_region, status="UP")
        blocks += [zone, env.module("bastion", "gcp-bastion-host", {
            "project": var("project_id"),
            "name": f"{env.prefix}-bastion",
            "zone": Expr("data.google_compute_zones.primary.names[0]"),
            "network": env.remote("network", "network_self_link"),
            "subnet": env.remote("network", "subnet_self_links").index(env.primary_region),
            "members": var("admin_members"),
            "machine_type": "e2-small",
            "disk_type": "pd-balanced",
            "disk_size_gb": 20,
            "external_ip": False,
            "shielded_vm": True,
            "tags": [env.remote("network", "node_tag")],
            "labels": env.labels,
        })]
    # Operators sign in to VMs with their Google identity (OS Login), never with project-wide
    # SSH keys in metadata.
    blocks.append(block("resource", "google_compute_project_metadata_item", "os_login",
                        project=var("project_id"), key="enable-oslogin", value="TRUE"))
    if env.param("admin_access", "sessionRecording"):
        blocks.append(block(
            "resource", "google_project_iam_audit_config", "iap",
            project=var("project_id"), service="iap.googleapis.com",
            audit_log_config=[block("audit_log_config", log_type=kind)
                              for kind in ("ADMIN_READ", "DATA_READ", "DATA_WRITE")]))
    return [Contribution(LAYER, FILE, tuple(blocks), variables=(ADMIN_MEMBERS,),
                         gcp_apis=frozenset({"iap.googleapis.com", "oslogin.googleapis.com"}))]
