"""load_balancer on Azure: a static, zone-redundant public IP per region that the gateway's
Service of type LoadBalancer claims (the clusters' identity may attach it), and Azure Front Door
(Azure Verified Module cdn-profile) when the entry point is global or a CDN is wanted: one
endpoint, the regional gateways as origins (a standby region only takes traffic when the active
one fails its probes), a managed certificate for the zone, HTTPS only, caching where the origin
allows it, and with DDoS protection asked, Premium with the managed WAF rule sets.
"""

from __future__ import annotations

from kubeplan.render.terraform import azure
from kubeplan.render.terraform.hcl import Block, Expr, Value, block, ref
from kubeplan.render.terraform.model import Contribution, Output, TerraformEnv, slug
from kubeplan.render.terraform.shared import ZONE_MODULE, has_zone, protect

LAYER = "edge"
FILE = "load-balancer"
COMPRESSIBLE = ["text/html", "text/css", "text/plain", "application/javascript",
                "application/json", "image/svg+xml"]


def contribute(env: TerraformEnv, choice: str) -> list[Contribution]:
    blocks: list[Block] = []
    addresses: dict[str, Value] = {}
    gitops: dict[str, Value] = {"gateway.resource-group": azure.resource_group(env)}
    for cluster in env.clusters:
        name = f"gateway_{slug(cluster.name)}"
        blocks.append(block("resource", "azurerm_public_ip", name,
                            name=f"{env.prefix}-{cluster.name}-gateway", location=cluster.region,
                            resource_group_name=azure.resource_group(env),
                            allocation_method="Static", sku="Standard", zones=["1", "2", "3"],
                            tags=env.labels))
        addresses[cluster.name] = ref(f"azurerm_public_ip.{name}.ip_address")
        gitops[f"gateway.public-ip-name.{cluster.name}"] = ref(f"azurerm_public_ip.{name}.name")
        gitops[f"gateway.address.{cluster.name}"] = ref(f"azurerm_public_ip.{name}.ip_address")
    # The clusters' control-plane identity attaches the addresses to its load balancers.
    blocks.append(azure.role("gateway_addresses", env.remote("network", "resource_group_id"),
                             "Network Contributor",
                             env.remote("cluster", "control_plane_principals")
                             .index(env.clusters[0].name)))
    outputs = [Output("gateway_addresses", addresses, "Public IP of each cluster's gateway.")]
    front_door = choice == "global" or env.choice("cdn") == "provider"
    if front_door and has_zone(env):
        blocks += _front_door(env)
        outputs.append(Output("front_door_host",
                              Expr('module.front_door.frontdoor_endpoints["main"].host_name'),
                              "Azure Front Door endpoint host name."))
        gitops["gateway.front-door-host"] = Expr(
            'module.front_door.frontdoor_endpoints["main"].host_name')
    return [Contribution(LAYER, FILE, tuple(blocks), outputs=tuple(outputs), gitops=gitops)]


def _front_door(env: TerraformEnv) -> list[Block]:
    waf = protect(env)
    cached = env.choice("cdn") == "provider"
    origins: dict[str, Value] = {}
    for cluster in env.clusters:
        origins[slug(cluster.name)] = {
            "name": cluster.name,
            "origin_group_key": "gateway",
            "host_name": ref(f"azurerm_public_ip.gateway_{slug(cluster.name)}.ip_address"),
            "host_header": env.zone,
            "certificate_name_check_enabled": "true",
            "priority": 2 if cluster.role == "standby" else 1,
        }
    route: dict[str, Value] = {
        "name": "all",
        "origin_group_key": "gateway",
        "origin_keys": list(origins),
        "endpoint_key": "main",
        "forwarding_protocol": "HttpsOnly",
        "supported_protocols": ["Http", "Https"],
        "https_redirect_enabled": True,
        "patterns_to_match": ["/*"],
        "custom_domain_keys": ["apex"],
        "link_to_default_domain": False,
    }
    if cached:
        route["cache"] = {"default": {"query_string_caching_behavior": "UseQueryString",
                                      "compression_enabled": True,
                                      "content_types_to_compress": COMPRESSIBLE}}
    args: dict[str, Value] = {
        "name": f"{env.prefix}-edge",
        "location": env.primary_region,
        "resource_group_name": azure.resource_group(env),
        "sku": "Premium_AzureFrontDoor" if waf else "Standard_AzureFrontDoor",
        "front_door_endpoints": {"main": {"name": env.prefix}},
        "front_door_origin_groups": {"gateway": {
            "name": "gateway",
            "health_probe": {"https": {"interval_in_seconds": 30, "path": "/",
                                       "protocol": "Https", "request_type": "HEAD"}},
            "load_balancing": {"default": {}}}},
        "front_door_origins": origins,
        "front_door_custom_domains": {"apex": {
            "name": env.zone.replace(".", "-"),
            "dns_zone_id": ref(f"module.{ZONE_MODULE}.resource_id"),
            "host_name": env.zone,
            "tls": {"certificate_type": "ManagedCertificate"}}},
        "front_door_routes": {"all": route},
        "enable_telemetry": False,
        "tags": env.labels,
    }
    if waf:
        args["front_door_firewall_policies"] = {"edge": {
            "name": env.prefix.replace("-", ""),
            "resource_group_name": azure.resource_group(env),
            "sku_name": "Premium_AzureFrontDoor",
            "mode": "Prevention",
            "managed_rules": {
                "default": {"type": "Microsoft_DefaultRuleSet", "version": "2.1",
                            "action": "Block"},
                "bots": {"type": "Microsoft_BotManagerRuleSet", "version": "1.1",
                         "action": "Block"}}}}
        args["front_door_security_policies"] = {"edge": {
            "name": "edge",
            "firewall": {"front_door_firewall_policy_key": "edge",
                         "association": {"domain_keys": ["apex"],
                                         "patterns_to_match": ["/*"]}}}}
    group = azure.resource_group(env)
    return [
        env.module("front_door", "azure-cdn-profile", args),
        block("resource", "azurerm_dns_txt_record", "front_door_validation", name="_dnsauth",
              zone_name=env.zone, resource_group_name=group, ttl=3600,
              record=block("record", value=Expr(
                  'module.front_door.frontdoor_custom_domains["apex"].validation_token'))),
        block("resource", "azurerm_dns_a_record", "front_door_apex", name="@",
              zone_name=env.zone, resource_group_name=group, ttl=300,
              target_resource_id=Expr('module.front_door.frontdoor_endpoints["main"].id')),
    ]
