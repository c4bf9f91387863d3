"""dns on Azure: an Azure DNS public zone per environment (Azure Verified Module) with CAA
records; production delegates the other environments' zones. external-dns gets DNS Zone
Contributor on this zone (and Reader on the resource group, to find it); cert-manager, when it
solves DNS-01 challenges, the same zone role. Azure DNS zones are not DNSSEC-signed here (the
module has no signing support).
"""

from __future__ import annotations

from kubeplan.render.gitops import outputs
from kubeplan.render.terraform import azure, objectstore
from kubeplan.render.terraform.hcl import Block, Value, block, ref
from kubeplan.render.terraform.model import Contribution, Output, TerraformEnv, slug
from kubeplan.render.terraform.shared import ZONE_MODULE, cert_manager_dns

LAYER = "edge"
FILE = "dns"
TTL = 3600


def contribute(env: TerraformEnv, caa: list[str], delegated: list[str]) -> list[Contribution]:
    group = azure.resource_group(env)
    issuers: dict[str, Value] = {}
    for entry in caa:
        flags, tag, value = entry.split(" ", 2)
        issuers[value.strip('"').replace(".", "_")] = {"flags": flags, "tag": tag,
                                                       "value": value.strip('"')}
    ns: dict[str, Value] = {slug(other): {
        "name": other, "resource_group_name": group, "zone_name": env.zone, "ttl": TTL,
        "records": env.remote_env(other, LAYER, "name_servers")} for other in delegated}
    zone = env.module(ZONE_MODULE, "azure-dns-zone", {
        "name": env.zone,
        "resource_group_name": group,
        "caa_records": {"issuers": {"name": "@", "resource_group_name": group,
                                    "zone_name": env.zone, "ttl": TTL, "record": issuers}},
        "ns_records": ns,
        "enable_telemetry": False,
        "tags": env.labels,
    })
    zone_id = ref(f"module.{ZONE_MODULE}.resource_id")
    edge = Contribution(
        LAYER, FILE, (zone,),
        outputs=(Output("zone_id", zone_id, "Azure DNS zone ID."),
                 Output("zone_domain", env.zone, "DNS name of the environment's zone."),
                 Output("name_servers", ref(f"module.{ZONE_MODULE}.name_servers"),
                        "Name servers to delegate the zone to.")),
        gitops={"dns.zone": env.zone, "dns.resource-group": group},
        platform={"AZURE_DNS_RESOURCE_GROUP": group})
    components = ["external-dns"] + (["cert-manager"] if cert_manager_dns(env) else [])
    blocks: list[Block] = []
    gitops: dict[str, Value] = {}
    platform: dict[str, Value] = {}
    described: list[Output] = []
    for component in components:
        name = slug(component)
        blocks += azure.workload_identity(env, component)
        blocks.append(azure.role(f"{name}_zone", env.remote(LAYER, "zone_id"),
                                 "DNS Zone Contributor", azure.principal_id(component)))
        gitops[f"{component}.identity"] = azure.client_id(component)
        platform[outputs.client_id_variable(component)] = azure.client_id(component)
        described.append(Output(f"{name}_identity", azure.client_id(component),
                                f"Client ID of {component}'s workload identity."))
    blocks.append(azure.role("external_dns_group", env.remote("network", "resource_group_id"),
                             "Reader", azure.principal_id("external-dns")))
    gitops["azure.tenant-id"] = ref("data.azurerm_client_config.current.tenant_id")
    blocks.append(block("data", "azurerm_client_config", "current"))
    return [edge, Contribution(objectstore.STORAGE, FILE, tuple(blocks),
                               outputs=tuple(described), gitops=gitops, platform=platform)]
