"""admin_access on Azure: Azure Bastion per region, with native-client tunnelling and IP-based
connections so operators reach the private AKS API through it; Premium with session recording
when the posture asks for recorded sessions.

vpn: an Azure VPN Gateway per region (zone-redundant VpnGw1AZ, route-based) for point-to-site
OpenVPN with Microsoft Entra ID authentication: tokens are issued for the app in
`vpn_aad_audience`, whose user assignment decides who may connect. Clients get addresses outside
every range of the plan and routes to the VNet only. An Azure DNS Private Resolver inbound
endpoint in the VNet answers their queries, so the private AKS API server's name (in the private
zone AKS links to the VNet) resolves. The gateway's connection logs go to Log Analytics.
The rule refuses identity-aware-proxy on Azure (Microsoft Entra Private Access is configured
in Microsoft Graph, out of reach of the azurerm and azapi providers).
"""

from __future__ import annotations

from kubeplan.render.terraform import azure
from kubeplan.render.terraform.hcl import Block, Value, block, ref, template, var
from kubeplan.render.terraform.model import (
    Contribution,
    Output,
    TerraformEnv,
    Validation,
    Variable,
    slug,
)

LAYER = "access"
FILE = "access"
# Zone-redundant (AZ SKUs need a zone-redundant Standard public IP); up to 250 OpenVPN clients,
# plenty for administrators. Generation1 is the generation VpnGw1AZ comes in.
VPN_SKU = "VpnGw1AZ"
VPN_GENERATION = "Generation1"
# The gateway's point-to-site and gateway logs: who connected when, from where, for how long.
VPN_LOG_CATEGORIES = ("GatewayDiagnosticLog", "P2SDiagnosticLog", "TunnelDiagnosticLog")
CONNECTION_LOG_DAYS = 365
TENANT = ref("data.azurerm_client_config.current.tenant_id")
VPN_AUDIENCE = Variable(
    "vpn_aad_audience", "string",
    "Application (client) ID of the Microsoft Entra app the VPN gateway accepts tokens for: "
    "the Microsoft-registered Azure VPN Client (c632b3df-fb67-4d84-bdcf-b95ad541b5c8 in the "
    "Azure public cloud) admits every user of the tenant, so prefer a custom-audience app "
    "registration with user assignment required and only the administrators' groups assigned.",
    validations=(Validation(
        'can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", '
        "var.vpn_aad_audience))",
        "vpn_aad_audience must be an application (client) ID: a lower-case GUID."),))


def contribute(env: TerraformEnv, choice: str) -> list[Contribution]:
    if choice == "vpn":
        return [_vpn_gateway(env)]
    if choice != "bastion":
        return []
    recorded = bool(env.param("admin_access", "sessionRecording"))
    blocks: list[Block] = []
    hosts: dict[str, Value] = {}
    for region in env.regions:
        r = slug(region)
        blocks.append(block("resource", "azurerm_public_ip", f"bastion_{r}",
                            name=f"{env.prefix}-bastion-{region}", location=region,
                            resource_group_name=azure.resource_group(env),
                            allocation_method="Static", sku="Standard", zones=["1", "2", "3"],
                            tags=env.labels))
        blocks.append(block(
            "resource", "azurerm_bastion_host", r, name=f"{env.prefix}-{region}",
            location=region, resource_group_name=azure.resource_group(env),
            sku="Premium" if recorded else "Standard", tunneling_enabled=True,
            ip_connect_enabled=True, shareable_link_enabled=False, copy_paste_enabled=False,
            file_copy_enabled=False, session_recording_enabled=recorded,
            ip_configuration=block(
                "ip_configuration", name="bastion",
                subnet_id=env.remote("network", "bastion_subnet_ids").index(region),
                public_ip_address_id=ref(f"azurerm_public_ip.bastion_{r}.id")),
            tags=env.labels))
        hosts[region] = ref(f"azurerm_bastion_host.{r}.name")
    return [Contribution(LAYER, FILE, tuple(blocks),
                         outputs=(Output("bastion_hosts", hosts, "Azure Bastion per region."),))]


def _vpn_gateway(env: TerraformEnv) -> Contribution:
    group = azure.resource_group(env)
    blocks: list[Block] = [
        block("data", "azurerm_client_config", "current"),
        block("resource", "azurerm_log_analytics_workspace", "access",
              name=f"{env.prefix}-access", location=env.primary_region,
              resource_group_name=group, sku="PerGB2018", retention_in_days=CONNECTION_LOG_DAYS,
              local_authentication_enabled=False, tags=env.labels),
    ]
    gateways: dict[str, Value] = {}
    resolvers: dict[str, Value] = {}
    for region in env.regions:
        r = slug(region)
        blocks.append(block("resource", "azurerm_public_ip", f"vpn_{r}",
                            name=f"{env.prefix}-vpn-{region}", location=region,
                            resource_group_name=group, allocation_method="Static",
                            sku="Standard", zones=["1", "2", "3"], tags=env.labels))
        blocks.append(block(
            "resource", "azurerm_virtual_network_gateway", r, name=f"{env.prefix}-{region}",
            location=region, resource_group_name=group, type="Vpn", vpn_type="RouteBased",
            sku=VPN_SKU, generation=VPN_GENERATION, active_active=False,
            ip_configuration=block(
                "ip_configuration", name="vpn", private_ip_address_allocation="Dynamic",
                public_ip_address_id=ref(f"azurerm_public_ip.vpn_{r}.id"),
                subnet_id=env.remote("network", "gateway_subnet_ids").index(region)),
            vpn_client_configuration=block(
                "vpn_client_configuration",
                address_space=[str(env.param("admin_access", f"vpnClientCidr.{region}"))],
                vpn_client_protocols=["OpenVPN"], vpn_auth_types=["AAD"],
                # Microsoft's P2S guidance: no trailing slash on the tenant, one on the issuer.
                aad_tenant=template("https://login.microsoftonline.com/", TENANT),
                aad_audience=var("vpn_aad_audience"),
                aad_issuer=template("https://sts.windows.net/", TENANT, "/")),
            tags=env.labels))
        blocks.append(block(
            "resource", "azurerm_monitor_diagnostic_setting", f"vpn_{r}", name="connections",
            target_resource_id=ref(f"azurerm_virtual_network_gateway.{r}.id"),
            log_analytics_workspace_id=ref("azurerm_log_analytics_workspace.access.id"),
            enabled_log=[block("enabled_log", category=c) for c in VPN_LOG_CATEGORIES]))
        blocks.append(block("resource", "azurerm_private_dns_resolver", r,
                            name=f"{env.prefix}-{region}", location=region,
                            resource_group_name=group,
                            virtual_network_id=env.remote("network", "vnet_ids").index(region),
                            tags=env.labels))
        blocks.append(block(
            "resource", "azurerm_private_dns_resolver_inbound_endpoint", r, name="vpn-clients",
            location=region, private_dns_resolver_id=ref(f"azurerm_private_dns_resolver.{r}.id"),
            ip_configurations=block(
                "ip_configurations", private_ip_allocation_method="Dynamic",
                subnet_id=env.remote("network", "dns_inbound_subnet_ids").index(region)),
            tags=env.labels))
        gateways[region] = ref(f"azurerm_virtual_network_gateway.{r}.name")
        resolvers[region] = ref(
            f"azurerm_private_dns_resolver_inbound_endpoint.{r}.ip_configurations[0]"
            ".private_ip_address")
    outputs = (
        Output("vpn_gateways", gateways, "VPN gateway per region."),
        Output("vpn_dns_servers", resolvers,
               "DNS server of each region's VPN clients (the resolver's inbound address)."),
    )
    note = ("Azure VPN Gateway: generate each region's client profile (`az network vnet-gateway "
            "vpn-client generate` for the gateways of the access layer's `vpn_gateways` "
            "output), add that region's `vpn_dns_servers` address as the profile's DNS server "
            "(`<dnsservers>` in the Azure VPN Client profile) so the private AKS API server's "
            "name resolves, and import it into the Azure VPN Client. Who may connect is the "
            "user assignment of the Entra app in `vpn_aad_audience`.")
    return Contribution(LAYER, FILE, tuple(blocks), variables=(VPN_AUDIENCE,),
                        outputs=outputs, notes=(note,))
