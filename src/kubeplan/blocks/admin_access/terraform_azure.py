"""admin_access on Azure: Azure Bastion per region, with native-client tunnelling and IP-based
connections so operators reach the private AKS API through it; Premium with session recording
when the posture asks for recorded sessions. Not rendered: VPN gateways and Microsoft Entra
Private Access (noted in the runbook).
"""

from __future__ import annotations

from kubeplan.render.terraform import azure
from kubeplan.render.terraform.hcl import Block, Value, block, ref
from kubeplan.render.terraform.model import Contribution, Output, TerraformEnv, slug

LAYER = "access"
FILE = "access"


def contribute(env: TerraformEnv, choice: str) -> list[Contribution]:
    if choice != "bastion":
        return [Contribution(LAYER, FILE, notes=(
            f"Azure: admin access `{choice}` is not rendered as Terraform (VPN gateways need "
            "client certificates or IdP federation decided per site; Microsoft Entra Private "
            "Access has no Terraform resources); set it up before operators need the private "
            "API server.",))]
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
