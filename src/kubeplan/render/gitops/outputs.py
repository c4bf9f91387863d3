"""Values only the cloud layer knows (account and project ids, identity client ids): written
into the GitOps tree as `${NAME}` variables and filled in at apply time.

Terraform's cluster layer writes the ConfigMap `platform-outputs` (namespace of the GitOps
controller) with one key per variable below; Flux substitutes them in every phase
(`postBuild.substituteFrom`). Names are upper-case, so a lower-case `${...}` in a chart's own
configuration never collides with them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from kubeplan.render import naming

VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

# variable -> what Terraform puts there.
PLATFORM: dict[str, str] = {
    "GCP_PROJECT_ID": "the GCP project id of the environment",
    "AZURE_TENANT_ID": "the Microsoft Entra tenant id",
    "AZURE_SUBSCRIPTION_ID": "the Azure subscription id of the environment",
    "AZURE_DNS_RESOURCE_GROUP": "the resource group of the Azure DNS zone",
    "AZURE_KEY_VAULT_URL": "the URI of the environment's Azure Key Vault",
}


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
    names = {m for text in strings(data) for m in VARIABLE.findall(text)}
    platform = set(known())
    return names & platform, names - platform
