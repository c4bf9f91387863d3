"""network -> Terraform `network` layer: the private network of each environment.

GCP: one custom-mode VPC (terraform-google-modules/network) with a subnet per region, secondary
ranges for pods and services, flow logs and Private Google Access; a Cloud Router and Cloud NAT
per region; ingress denied by default (logged), SSH only from Identity-Aware Proxy's range.
AWS: one VPC per region (terraform-aws-modules/vpc): private subnets for the control-plane ENIs
in the primary CIDR, worker subnets (nodes and pods, VPC CNI) in the secondary pod CIDR, public
subnets only for NAT gateways and load balancers, flow logs, and the default security group
stripped of every rule. Azure: a resource group per environment and a VNet per region (Azure
Verified Module) with a node subnet behind a NAT gateway and a network security group that
denies inbound traffic from the internet, plus the subnets the admin access path needs in the
edge range: Azure Bastion's, or the VPN gateway's GatewaySubnet and the delegated subnet of the
DNS resolver its clients query.
"""

from __future__ import annotations

from ipaddress import IPv4Network

from kubeplan.render.terraform import azure
from kubeplan.render.terraform.hcl import Block, Expr, Value, block, call, ref, var
from kubeplan.render.terraform.model import (
    Contribution,
    Output,
    TerraformEnv,
    Validation,
    Variable,
    slug,
)

LAYER = "network"
FILE = "network"
# Secondary range names on every GCP subnet; the cluster layer refers to them by name.
PODS_RANGE = "pods"
SERVICES_RANGE = "services"
# Google's published ranges: IAP TCP forwarding.
IAP_RANGE = "35.235.240.0/20"


def node_tag(env: TerraformEnv) -> str:
    """Network tag on every GKE node: firewall rules target it."""
    return f"{env.prefix}-node"


def subnet_name(env: TerraformEnv, region: str) -> str:
    return f"{env.prefix}-{region}"


def proxy_subnet(env: TerraformEnv, region: str) -> IPv4Network:
    """The proxy-only subnet of Envoy-based regional load balancers: first /24 of the edge range."""
    return next(IPv4Network(env.network("edge", region)).subnets(new_prefix=24))


def contribute(env: TerraformEnv) -> list[Contribution]:
    if env.provider == "gcp":
        return [_gcp(env)]
    if env.provider == "aws":
        return [_aws(env)]
    if env.provider == "azure":
        return [_azure(env)]
    return []


def _gcp(env: TerraformEnv) -> Contribution:
    regional_lb = env.choice("load_balancer") == "regional"
    private = env.choice("network") == "private"
    subnets: list[Value] = []
    secondary: dict[str, Value] = {}
    for region in env.regions:
        name = subnet_name(env, region)
        subnets.append({
            "subnet_name": name,
            "subnet_ip": env.network("node", region),
            "subnet_region": region,
            "subnet_private_access": "true",
            "subnet_flow_logs": "true",
            "subnet_flow_logs_interval": "INTERVAL_5_SEC",
            "subnet_flow_logs_sampling": "0.5",
            "subnet_flow_logs_metadata": "INCLUDE_ALL_METADATA",
            "description": f"Nodes of {env.environment} in {region}",
        })
        secondary[name] = [
            {"range_name": PODS_RANGE, "ip_cidr_range": env.network("pod", region)},
            {"range_name": SERVICES_RANGE, "ip_cidr_range": env.network("service", region)},
        ]
        if regional_lb:
            subnets.append({
                "subnet_name": f"{name}-proxy",
                "subnet_ip": str(proxy_subnet(env, region)),
                "subnet_region": region,
                "purpose": "REGIONAL_MANAGED_PROXY",
                "role": "ACTIVE",
                "description": f"Proxy-only subnet of regional load balancers in {region}",
            })
    ingress: list[Value] = [
        {
            "name": f"{env.prefix}-deny-all-ingress",
            "description": "Default deny (logged): everything not allowed below is dropped",
            "priority": 65534,
            "source_ranges": ["0.0.0.0/0"],
            "deny": [{"protocol": "all"}],
            "log_config": {"metadata": "INCLUDE_ALL_METADATA"},
        },
    ]
    if env.choice("admin_access") in ("identity-aware-proxy", "bastion"):
        ingress.append({
            "name": f"{env.prefix}-allow-iap-ssh",
            "description": "SSH to nodes only through Identity-Aware Proxy TCP forwarding",
            "priority": 1000,
            "source_ranges": [IAP_RANGE],
            "target_tags": [node_tag(env)],
            "allow": [{"protocol": "tcp", "ports": ["22"]}],
            "log_config": {"metadata": "INCLUDE_ALL_METADATA"},
        })
    network = env.module("network", "gcp-network", {
        "project_id": var("project_id"),
        "network_name": env.prefix,
        "routing_mode": "GLOBAL",
        "description": f"{env.name} {env.environment}: private network (kubeplan)",
        "subnets": subnets,
        "secondary_ranges": secondary,
        "ingress_rules": ingress,
        "depends_on": [ref("google_project_service.enabled")],
    })
    blocks: list[Block] = [network]
    for region in env.regions:
        router = f"router_{slug(region)}"
        blocks.append(env.module(router, "gcp-cloud-router", {
            "name": f"{env.prefix}-{region}",
            "project_id": var("project_id"),
            "region": region,
            "network": ref("module.network.network_name"),
        }))
        if private:
            blocks.append(env.module(f"nat_{slug(region)}", "gcp-cloud-nat", {
                "project_id": var("project_id"),
                "region": region,
                "router": ref(f"module.{router}.router.name"),
                "name": f"{env.prefix}-{region}",
                "source_subnetwork_ip_ranges_to_nat": "ALL_SUBNETWORKS_ALL_IP_RANGES",
                "enable_dynamic_port_allocation": True,
                "min_ports_per_vm": "64",
                "max_ports_per_vm": "4096",
                "log_config_enable": True,
                "log_config_filter": "ERRORS_ONLY",
            }))
    subnet_names: dict[str, Value] = {
        region: Expr(f'module.network.subnets["{region}/{subnet_name(env, region)}"].name')
        for region in env.regions}
    subnet_links: dict[str, Value] = {
        region: Expr(f'module.network.subnets["{region}/{subnet_name(env, region)}"].self_link')
        for region in env.regions}
    outputs = (
        Output("network_name", ref("module.network.network_name"), "VPC network name."),
        Output("network_self_link", ref("module.network.network_self_link"),
               "VPC network self link."),
        Output("subnets", subnet_names, "Node subnet name per region."),
        Output("subnet_self_links", subnet_links, "Node subnet self link per region."),
        Output("pods_range_name", PODS_RANGE, "Secondary range of pod addresses on every subnet."),
        Output("services_range_name", SERVICES_RANGE,
               "Secondary range of service addresses on every subnet."),
        Output("node_tag", node_tag(env), "Network tag of cluster nodes (firewall target)."),
    )
    return Contribution(LAYER, FILE, tuple(blocks), outputs=outputs,
                        gitops={"network.name": ref("module.network.network_name")},
                        gcp_apis=frozenset({"compute.googleapis.com"}))


# --- AWS ---------------------------------------------------------------------------------------

# Availability zones a VPC spans (EKS needs two; three survive one zone's loss with quorum).
AWS_ZONES = 3


def aws_subnets(env: TerraformEnv, region: str) -> dict[str, list[str]]:
    """Control-plane subnets (/22 of the node range), worker subnets (/18 of the pod range, for
    nodes and pods alike with the VPC CNI) and public subnets (/24 of the edge range)."""
    node = list(IPv4Network(env.network("node", region)).subnets(new_prefix=22))[:AWS_ZONES]
    pod = list(IPv4Network(env.network("pod", region)).subnets(new_prefix=18))[:AWS_ZONES]
    edge = list(IPv4Network(env.network("edge", region)).subnets(new_prefix=24))[:AWS_ZONES]
    return {"control_plane": [str(n) for n in node], "workers": [str(n) for n in pod],
            "public": [str(n) for n in edge]}


def _aws(env: TerraformEnv) -> Contribution:
    private = env.choice("network") == "private"
    blocks: list[Block] = []
    vpcs: dict[str, Value] = {}
    control: dict[str, Value] = {}
    workers: dict[str, Value] = {}
    public: dict[str, Value] = {}
    cidrs: dict[str, Value] = {}
    for region in env.regions:
        zones = f"zones_{slug(region)}"
        module = f"vpc_{slug(region)}"
        nets = aws_subnets(env, region)
        # Zones by name: a zone AWS adds later must not reshuffle the subnets (the data source
        # fails the plan if a named zone is not available to the account).
        blocks.append(block("data", "aws_availability_zones", zones, region=region,
                            state="available",
                            filter=block("filter", name="zone-name",
                                         values=Expr(f'var.availability_zones["{region}"]'))))
        private_names = ([f"{env.prefix}-control-plane-{i}" for i in range(AWS_ZONES)]
                         + [f"{env.prefix}-workers-{i}" for i in range(AWS_ZONES)])
        blocks.append(env.module(module, "aws-vpc", {
            "name": f"{env.prefix}-{region}",
            "region": region,
            "cidr": env.network("node", region),
            "secondary_cidr_blocks": [env.network("pod", region), env.network("edge", region)],
            "azs": Expr(f"data.aws_availability_zones.{zones}.names"),
            "private_subnets": nets["control_plane"] + nets["workers"],
            "private_subnet_names": private_names,
            "public_subnets": nets["public"],
            "map_public_ip_on_launch": False,
            "enable_dns_hostnames": True,
            "enable_dns_support": True,
            "enable_nat_gateway": private,
            # One NAT gateway per zone in production (a zone's loss keeps egress), one shared
            # gateway elsewhere (cost).
            "single_nat_gateway": private and not env.production,
            "one_nat_gateway_per_az": private and env.production,
            "manage_default_security_group": True,
            "default_security_group_ingress": [],
            "default_security_group_egress": [],
            "enable_flow_log": True,
            "create_flow_log_cloudwatch_log_group": True,
            "create_flow_log_cloudwatch_iam_role": True,
            "flow_log_cloudwatch_log_group_retention_in_days": 365,
            "flow_log_max_aggregation_interval": 60,
            "flow_log_traffic_type": "ALL",
            "public_subnet_tags": {"kubernetes.io/role/elb": "1"},
            "private_subnet_tags": {"kubernetes.io/role/internal-elb": "1"},
            "tags": env.labels,
        }))
        vpcs[region] = ref(f"module.{module}.vpc_id")
        control[region] = call("slice", ref(f"module.{module}.private_subnets"), 0, AWS_ZONES)
        workers[region] = call("slice", ref(f"module.{module}.private_subnets"), AWS_ZONES,
                               2 * AWS_ZONES)
        public[region] = ref(f"module.{module}.public_subnets")
        cidrs[region] = [env.network("node", region), env.network("pod", region),
                         env.network("edge", region)]
    outputs = (
        Output("vpc_ids", vpcs, "VPC per region."),
        Output("control_plane_subnets", control,
               "Private subnets for the EKS control-plane interfaces, per region."),
        Output("worker_subnets", workers, "Private subnets of nodes and pods, per region."),
        Output("public_subnets", public,
               "Public subnets (NAT gateways, internet-facing load balancers), per region."),
        Output("vpc_cidrs", cidrs, "Address ranges of each region's VPC."),
    )
    zones_variable = Variable(
        "availability_zones", "map(list(string))",
        f"The {AWS_ZONES} availability zones (by name) each region's VPC spans.",
        default={r: [f"{r}{letter}" for letter in "abc"] for r in env.regions},
        validations=(Validation(
            f"alltrue([for zs in values(var.availability_zones) : length(zs) == {AWS_ZONES}])",
            f"Each region needs exactly {AWS_ZONES} availability zones."),))
    return Contribution(LAYER, FILE, tuple(blocks), variables=(zones_variable,),
                        outputs=outputs,
                        gitops={f"network.vpc-id.{r}": v for r, v in vpcs.items()})


# --- Azure -------------------------------------------------------------------------------------

AZURE_BASTION_SUBNET = "AzureBastionSubnet"


def azure_bastion_subnet(env: TerraformEnv, region: str) -> str:
    """Azure Bastion's subnet (at least a /26): the first /26 of the edge range."""
    return str(next(IPv4Network(env.network("edge", region)).subnets(new_prefix=26)))


AZURE_GATEWAY_SUBNET = "GatewaySubnet"
# Azure DNS Private Resolver's inbound endpoints need a subnet of their own, delegated to it.
DNS_RESOLVER_DELEGATION = "Microsoft.Network/dnsResolvers"


def azure_gateway_subnet(env: TerraformEnv, region: str) -> str:
    """The VPN gateway's subnet (Azure asks for a /27 or larger): the edge range's second /26."""
    return str(list(IPv4Network(env.network("edge", region)).subnets(new_prefix=26))[1])


def azure_dns_inbound_subnet(env: TerraformEnv, region: str) -> str:
    """The DNS resolver's inbound subnet (a /28 at least): the first /28 of the third /26."""
    third = list(IPv4Network(env.network("edge", region)).subnets(new_prefix=26))[2]
    return str(next(third.subnets(new_prefix=28)))


def _azure(env: TerraformEnv) -> Contribution:
    front_door = env.choice("cdn") == "provider" or env.choice("load_balancer") == "global"
    bastion = env.choice("admin_access") == "bastion"
    vpn = env.choice("admin_access") == "vpn"
    blocks: list[Block] = [block("resource", "azurerm_resource_group", "environment",
                                 name=env.prefix, location=env.primary_region, tags=env.labels)]
    group = ref("azurerm_resource_group.environment.name")
    for kind, zone in azure.PRIVATE_ZONES.items():
        blocks.append(block("resource", "azurerm_private_dns_zone", kind, name=zone,
                            resource_group_name=group, tags=env.labels))
    vnets: dict[str, Value] = {}
    nodes: dict[str, Value] = {}
    bastions: dict[str, Value] = {}
    gateways: dict[str, Value] = {}
    resolvers: dict[str, Value] = {}
    for region in env.regions:
        r = slug(region)
        blocks += [
            block("resource", "azurerm_public_ip_prefix", f"nat_{r}", name=f"{env.prefix}-nat-{region}",
                  location=region, resource_group_name=group, prefix_length=31, sku="Standard",
                  tags=env.labels),
            block("resource", "azurerm_nat_gateway", r, name=f"{env.prefix}-{region}",
                  location=region, resource_group_name=group, sku_name="Standard",
                  idle_timeout_in_minutes=4, tags=env.labels),
            block("resource", "azurerm_nat_gateway_public_ip_prefix_association", r,
                  nat_gateway_id=ref(f"azurerm_nat_gateway.{r}.id"),
                  public_ip_prefix_id=ref(f"azurerm_public_ip_prefix.nat_{r}.id")),
            _azure_nsg(env, region, front_door),
        ]
        node_subnet: dict[str, Value] = {
            "name": "nodes",
            "address_prefixes": [env.network("node", region)],
            "network_security_group": {"id": ref(f"azurerm_network_security_group.{r}.id")},
            "default_outbound_access_enabled": False,
        }
        if env.choice("network") == "private":
            node_subnet["nat_gateway"] = {"id": ref(f"azurerm_nat_gateway.{r}.id")}
        subnets: dict[str, Value] = {"nodes": node_subnet}
        if bastion:
            subnets["bastion"] = {"name": AZURE_BASTION_SUBNET,
                                  "address_prefixes": [azure_bastion_subnet(env, region)]}
        if vpn:
            subnets["gateway"] = {"name": AZURE_GATEWAY_SUBNET,
                                  "address_prefixes": [azure_gateway_subnet(env, region)]}
            subnets["dns_inbound"] = {
                "name": "dns-inbound",
                "address_prefixes": [azure_dns_inbound_subnet(env, region)],
                "delegations": [{"name": "dns-resolvers",
                                 "service_delegation": {"name": DNS_RESOLVER_DELEGATION}}]}
        module = f"vnet_{r}"
        blocks.append(env.module(module, "azure-virtual-network", {
            "name": f"{env.prefix}-{region}",
            "location": region,
            "parent_id": ref("azurerm_resource_group.environment.id"),
            "address_space": [env.network("node", region), env.network("edge", region)],
            "subnets": subnets,
            "enable_telemetry": False,
            "tags": env.labels,
        }))
        for kind in azure.PRIVATE_ZONES:
            blocks.append(block("resource", "azurerm_private_dns_zone_virtual_network_link",
                                f"{kind}_{r}", name=f"{env.prefix}-{region}",
                                resource_group_name=group,
                                private_dns_zone_name=ref(f"azurerm_private_dns_zone.{kind}.name"),
                                virtual_network_id=ref(f"module.{module}.resource_id"),
                                registration_enabled=False, tags=env.labels))
        vnets[region] = ref(f"module.{module}.resource_id")
        nodes[region] = Expr(f'module.{module}.subnets["nodes"].resource_id')
        if bastion:
            bastions[region] = Expr(f'module.{module}.subnets["bastion"].resource_id')
        if vpn:
            gateways[region] = Expr(f'module.{module}.subnets["gateway"].resource_id')
            resolvers[region] = Expr(f'module.{module}.subnets["dns_inbound"].resource_id')
    outputs = [
        Output("resource_group_name", group, "Resource group of the environment."),
        Output("resource_group_id", ref("azurerm_resource_group.environment.id"),
               "Resource group ID."),
        Output("vnet_ids", vnets, "Virtual network per region."),
        Output("node_subnet_ids", nodes, "Node subnet per region."),
        Output("private_dns_zones",
               {kind: ref(f"azurerm_private_dns_zone.{kind}.id") for kind in azure.PRIVATE_ZONES},
               "Private DNS zone per private-endpoint kind."),
    ]
    if bastion:
        outputs.append(Output("bastion_subnet_ids", bastions, "Azure Bastion subnet per region."))
    if vpn:
        outputs += [Output("gateway_subnet_ids", gateways, "VPN gateway subnet per region."),
                    Output("dns_inbound_subnet_ids", resolvers,
                           "DNS resolver inbound subnet per region.")]
    return Contribution(LAYER, FILE, tuple(blocks), outputs=tuple(outputs),
                        gitops={"network.resource-group": group})


def _azure_nsg(env: TerraformEnv, region: str, front_door: bool) -> Block:
    """Deny inbound from the internet; admit HTTP(S) to the gateway from Azure Front Door only
    when it is the entry point, else from anywhere (the gateway is the public entry)."""
    rules = [
        block("security_rule", name="gateway-https", priority=1000, direction="Inbound",
              access="Allow", protocol="Tcp", source_port_range="*",
              destination_port_ranges=["80", "443"],
              source_address_prefix="AzureFrontDoor.Backend" if front_door else "Internet",
              destination_address_prefix="VirtualNetwork",
              description="HTTP(S) to the gateway's load balancer"),
        block("security_rule", name="deny-internet", priority=4000, direction="Inbound",
              access="Deny", protocol="*", source_port_range="*", destination_port_range="*",
              source_address_prefix="Internet", destination_address_prefix="*",
              description="Default deny from the internet"),
    ]
    return block("resource", "azurerm_network_security_group", slug(region),
                 name=f"{env.prefix}-nodes-{region}", location=region,
                 resource_group_name=ref("azurerm_resource_group.environment.name"),
                 security_rule=rules, tags=env.labels)
