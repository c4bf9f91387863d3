"""What a block contributes to a cluster's GitOps tree: add-ons (pinned charts with values)
and the objects kubeplan authors (custom resources, baseline objects).

Blocks provide `addons(plan, cluster) -> list[Addon]` in `blocks/<block>/gitops.py`; the GitOps
renderer (this package) composes them into Argo CD Applications or Flux HelmReleases, ordered
by `PHASES`, and writes one folder per add-on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Apply order as data: a phase is applied (and healthy) before the next begins. CRDs and their
# controllers come before the custom resources that need them. Argo CD sync waves and Flux
# dependsOn are derived from this table.
PHASES: dict[str, int] = {
    "namespaces": 0,      # namespaces, PSA labels, quotas, priority classes, RBAC
    "crds": 10,           # CRD-only charts (gateway-api, prometheus-operator CRDs, ...)
    "core": 20,           # CNI/mesh/policy engines, cert-manager, external-secrets, storage
    "platform": 30,       # gateway, external-dns, metrics, logging, tracing, backup, registry
    "config": 40,         # custom resources configuring the above (issuers, stores, rules)
    "apps": 50,           # application namespaces and preview environments
}


@dataclass(frozen=True)
class Addon:
    """One add-on in one cluster: a pinned chart (or none) plus objects kubeplan authors.

    `chart` is a key of the catalogue's `charts` section (None for object-only add-ons such
    as baseline policies). `values` are the chart values, built as data. `objects` are the
    custom resources and core objects applied after the chart (phase `config` by default).
    """

    name: str
    namespace: str
    phase: str
    chart: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    objects: tuple[Mapping[str, Any], ...] = ()
    objects_phase: str = "config"
    depends_on: tuple[str, ...] = ()
    # Pod Security Admission level for the namespace, with the reason when not "restricted".
    pod_security: str = "restricted"
    pod_security_reason: str = ""

    def __post_init__(self) -> None:
        for phase in (self.phase, self.objects_phase):
            if phase not in PHASES:
                raise ValueError(f"add-on {self.name}: unknown phase {phase!r}")
        if self.pod_security != "restricted" and not self.pod_security_reason:
            raise ValueError(f"add-on {self.name}: a PSA exception needs a reason")
