"""Facts several blocks' Terraform depends on, in one place so blocks never import each other:
the address of the environment's DNS zone module, whether the environment has one, whether its
clusters form a fleet, and whether the edge needs WAF/DDoS protection.
"""

from __future__ import annotations

from kubeplan.render import naming
from kubeplan.render.terraform.model import TerraformEnv

# Module call (edge layer) that manages the environment's public zone, on every cloud.
ZONE_MODULE = "dns_zone"


def has_zone(env: TerraformEnv) -> bool:
    """The provider's DNS serves the zone (alone or beside a second provider)."""
    return env.provider != "onprem" and env.choice("dns") in ("provider-managed",
                                                             "multi-provider")


def multi_cluster(env: TerraformEnv) -> bool:
    """Several clusters in one environment: they share a fleet / global entry point."""
    return len(env.clusters) > 1


def protect(env: TerraformEnv) -> bool:
    """WAF and DDoS protection at the edge: asked for, or implied by a regulated posture."""
    return naming.edge_protection(env.plan)


def cert_manager_dns(env: TerraformEnv) -> bool:
    """cert-manager solves ACME DNS-01 challenges in the zone (the gateway holds certificates)."""
    return bool(env.param("ingress", "certManager", False))
