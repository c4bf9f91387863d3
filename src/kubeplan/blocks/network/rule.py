"""network: private clusters behind NAT unless the team explicitly accepts a public attack surface.

Trade-off: private nodes, a private (or allow-listed) control-plane endpoint, NAT egress and a
default-deny firewall shrink the attack surface to the load balancer, at the price of an
access path for operators (see admin_access) and NAT cost per GB. Public nodes are simpler and
cheaper to reach, and every node becomes a target; kubeplan never chooses them by itself.

Subnet plan (deterministic, by the region's index i in spec.regions):

    region supernet   10.<16*i>.0.0/12     reserved for the region; intra-region firewall scope
    nodes             10.<16*i>.0.0/20     4,096 node addresses (AWS/Azure: split across zones)
    services          10.<16*i>.16.0/20    4,096 ClusterIPs (GKE/EKS/AKS service range)
    edge              10.<16*i>.32.0/22    provider edge subnets: AWS public subnets for NAT
                                           gateways and ALBs, Azure Bastion and gateway subnets,
                                           the GCP proxy-only subnet of Envoy-based regional LBs
    pods              10.<16*i+1>.0.0/16   65,536 pod addresses: the GKE secondary range, the EKS
                                           secondary VPC CIDR (VPC CNI custom networking), the
                                           Azure CNI Overlay pod CIDR, the Cilium cluster pool

Eight regions (the spec's maximum) use 10.0.0.0/9, which leaves 10.128.0.0/9 free for on-prem
and VPN peers (it is also where GCP auto-mode networks live, so a peered default VPC never
overlaps). 10.<16*i+2>.0.0 to 10.<16*i+15>.255.255 stay free for growth. Appending a region keeps
every existing range; reordering spec.regions renumbers them. Each environment gets its own
VPC/VNet (environments are isolated, never peered), so the same plan repeats per environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import IPv4Network

from kubeplan.decide import Choice, Conflict, Context, Outcome, Rule
from kubeplan.model import Scalar

# The private address space the plan carves up (RFC 1918).
PLATFORM_SPACE = IPv4Network("10.0.0.0/8")
# One /12 per region: 16 second-octet values, room for nodes, services, edge and pods.
REGION_PREFIX = 12
# 4,096 addresses: nodes of every cluster in the region, with room for surge upgrades.
NODE_PREFIX = 20
# 4,096 ClusterIPs per cluster; GKE and EKS accept /12 to /24.
SERVICE_PREFIX = 20
# 1,024 addresses for load-balancer, NAT and bastion subnets the providers need.
EDGE_PREFIX = 22
# 65,536 pod IPs: 256 nodes at GKE's /24 per node; the largest EKS secondary VPC CIDR (/16).
POD_PREFIX = 16
# Postures whose control-plane endpoint has no public address at all.
PRIVATE_ENDPOINT_POSTURES = ("hardened", "regulated")

COMPONENTS: dict[str, dict[str, tuple[str, ...]]] = {
    "private": {
        "gcp": ("VPC network (custom mode, one subnet per region with secondary ranges for pods "
                "and services, Private Google Access)",
                "Cloud Router and Cloud NAT per region",
                "VPC firewall rules (deny ingress by default; allow Google health-check ranges "
                "and the admin access path only)"),
        "aws": ("Amazon VPC per region (private node subnets in three AZs, secondary CIDR for "
                "pods)",
                "NAT gateway per AZ",
                "security groups (least privilege: load balancer to nodes, nodes to control plane)"),
        "azure": ("Azure Virtual Network per region (node subnet, CNI Overlay pod CIDR)",
                  "Azure NAT Gateway (zone-redundant public IP prefix)",
                  "network security groups (deny inbound by default)"),
        "onprem": ("VLANs with routed subnets per site (nodes, services, edge)",
                   "source NAT at the site edge router",
                   "perimeter firewall (default deny; explicit allow rules per flow)"),
    },
    "public": {
        "gcp": ("VPC network (custom mode, one subnet per region with secondary ranges for pods "
                "and services)",
                "VPC firewall rules (nodes have external IPs; allow only the load balancer and "
                "health checks)"),
        "aws": ("Amazon VPC per region (public node subnets in three AZs, internet gateway)",
                "security groups (nodes have public IPs; least privilege inbound)"),
        "azure": ("Azure Virtual Network per region (node public IPs per node pool)",
                  "network security groups (nodes are reachable; least privilege inbound)"),
        "onprem": ("VLANs with routed subnets per site, nodes on publicly routed addresses",
                   "perimeter firewall (default deny; explicit allow rules per flow)"),
    },
}


def subnet_plan(regions: list[str]) -> dict[str, Scalar]:
    """Per-region CIDRs keyed `<kind>Cidr.<region>`; see the module docstring for the layout."""
    supernets = list(PLATFORM_SPACE.subnets(new_prefix=REGION_PREFIX))
    plan: dict[str, Scalar] = {}
    for index, region in enumerate(regions):
        supernet = supernets[index]
        sixteens = list(supernet.subnets(new_prefix=POD_PREFIX))
        small = list(sixteens[0].subnets(new_prefix=NODE_PREFIX))
        plan[f"regionCidr.{region}"] = str(supernet)
        plan[f"nodeCidr.{region}"] = str(small[0])
        plan[f"serviceCidr.{region}"] = str(small[1])
        plan[f"edgeCidr.{region}"] = str(next(small[2].subnets(new_prefix=EDGE_PREFIX)))
        plan[f"podCidr.{region}"] = str(sixteens[1])
    return plan


class Network(Rule):
    block = "network"
    title = "Network and firewall"
    choices = (
        Choice("private", "Private nodes, a private or allow-listed control-plane endpoint, NAT "
               "egress and least-privilege firewall rules.",
               "Only the load balancer faces the internet and egress leaves from known NAT "
               "addresses; operators need an access path (IAP, bastion or VPN) and NAT is "
               "billed per GB."),
        Choice("public", "Nodes with public IPs and a public control-plane endpoint.",
               "No NAT bill and direct access for debugging; every node and the API server "
               "become internet targets, and firewall mistakes are exposed at once."),
    )

    def decide(self, ctx: Context) -> Outcome:
        posture: str = ctx.get("security.posture")
        params = self.parameters("private", ctx)
        endpoint = params["controlPlaneEndpoint"]
        return Outcome(
            "private",
            f"spec.security.posture is {posture}: nodes stay private behind NAT egress, the "
            f"control-plane endpoint is {endpoint} and firewalls admit only the load balancer "
            "and the admin access path, so the attack surface is the load balancer alone "
            "(non-overlapping subnets for each entry of spec.regions: "
            f"{', '.join(ctx.get('regions'))}).",
            params)

    def parameters(self, choice: str, ctx: Context) -> Mapping[str, Scalar]:
        posture: str = ctx.get("security.posture")
        params: dict[str, Scalar] = {
            **subnet_plan(list(ctx.get("regions"))),
            "privateNodes": choice == "private",
            "natEgress": choice == "private",
        }
        if choice == "private":
            params["controlPlaneEndpoint"] = (
                "private" if posture in PRIVATE_ENDPOINT_POSTURES else "allow-listed")
        else:
            params["controlPlaneEndpoint"] = "public"
        return params

    def warnings(self, choice: str, ctx: Context) -> tuple[str, ...]:
        posture: str = ctx.get("security.posture")
        if choice != "public" or posture == "baseline":
            return ()
        return (f"spec.overrides.network is public although spec.security.posture is "
                f"{posture}: nodes and the API server are reachable from the internet",)

    def components(self, choice: str, ctx: Context) -> tuple[str, ...]:
        return COMPONENTS[choice][ctx.provider]

    def conflict(self, choice: str, ctx: Context) -> Conflict | None:
        if choice == "public" and ctx.get("security.posture") == "regulated":
            return Conflict("a regulated posture does not allow public nodes or a public "
                            "control-plane endpoint", ("spec", "security", "posture"),
                            "drop the override (private is the default) or relax "
                            "spec.security.posture")
        return None


RULE = Network()
