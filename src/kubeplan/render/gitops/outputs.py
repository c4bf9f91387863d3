"""Values only the cloud layer knows (account and project ids, identity client ids): written
into the GitOps tree as `${NAME}` variables and filled in at apply time.

Terraform's `platform_outputs` output holds one key per variable below. Flux substitutes them
in every phase from the ConfigMap `platform-outputs` (`postBuild.substituteFrom`); Argo CD from
the annotations of the cluster's Secret, through the root ApplicationSet (render/gitops/argocd.py).
Names are upper-case identifiers, so a lower-case `${...}` in a chart's own configuration never
collides with them, and Argo CD's templates can read them as `.metadata.annotations.NAME`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from kubeplan.render import naming

VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Any `${...}` (also Grafana's escaped `$${...}`): a platform variable, or text a chart or tool
# reads itself (`${env:ES_PASSWORD}`, dashboard variables) that no GitOps engine may touch.
REFERENCE = re.compile(r"\$\{([^}]*)\}")

# variable -> what Terraform puts there.
PLATFORM: dict[str, str] = {
    "GCP_PROJECT_ID": "the GCP project id of the environment",
    "AZURE_TENANT_ID": "the Microsoft Entra tenant id",
    "AZURE_SUBSCRIPTION_ID": "the Azure subscription id of the environment",
    "AZURE_DNS_RESOURCE_GROUP": "the resource group of the Azure DNS zone",
    "AZURE_KEY_VAULT_URL": "the URI of the environment's Azure Key Vault",
    "REGISTRY_URL": "the address (host and path) of the environment's image registry",
    "CDN_ADDRESS": "the address of the environment's Cloud CDN load balancer, in front of the "
                   "Gateway",
    "IMAGE_MIRROR": "the prefix of the environment's pull-through caches of public registries",
    "HARBOR_DATABASE_HOST": "the DNS name of the primary Harbor's PostgreSQL, the name its "
                            "server certificate carries (Cloud SQL, RDS or Flexible Server; known "
                            "after apply)",
    "HARBOR_REPLICA_DATABASE_HOST": "the same for the replica Harbor's PostgreSQL",
}
# Harbor's database host per site, in `naming.harbor_regions` order (primary, replica).
HARBOR_DATABASE_HOSTS = ("HARBOR_DATABASE_HOST", "HARBOR_REPLICA_DATABASE_HOST")


def client_id_variable(component: str) -> str:
    """The variable holding a workload's Azure managed identity client id."""
    return f"{component.upper().replace('-', '_')}_CLIENT_ID"


def known() -> dict[str, str]:
    out = dict(PLATFORM)
    for component in naming.WORKLOADS:
        out[client_id_variable(component)] = f"the client id of {component}'s managed identity"
    return out


def var(name: str) -> str:
    if name not in known():
        raise KeyError(f"unknown platform output {name!r}")
    return "${" + name + "}"


def strings(data: Any) -> Iterable[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, Mapping):
        for key, value in data.items():
            yield str(key)
            yield from strings(value)
    elif isinstance(data, list | tuple):
        for item in data:
            yield from strings(item)


def used(data: Any) -> tuple[set[str], set[str]]:
    """(platform variables, other `${...}` references) found in the data."""
    names = {m for text in strings(data) for m in REFERENCE.findall(text)}
    platform = set(known())
    return names & platform, names - platform



def platform_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a Helm values tree that mentions a platform variable: what the GitOps engine
    fills in and lays over the values file. Helm merges maps and replaces lists, so a list that
    mentions one is taken whole."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if not used(value)[0]:
            continue
        out[str(key)] = platform_values(value) if isinstance(value, Mapping) else value
    return out
