"""The frozen plan: the only thing renderers and checks receive. No I/O here.

A plan is data: decisions (one per block), the topology, the availability estimate and the
warnings. It serialises to the `plan --json` contract with sorted, stable output.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

Scalar = str | int | float | bool


class _Frozen(BaseModel):
    # camelCase on the wire, like the spec; snake_case in Python.
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


class Alternative(_Frozen):
    choice: str
    tradeoff: str


class Decision(_Frozen):
    """One block's decision: what, with which products, why, from which inputs."""

    block: str
    title: str
    choice: str
    components: tuple[str, ...]
    rationale: str
    inputs: tuple[str, ...]
    alternatives: tuple[Alternative, ...]
    overridden: bool = False
    consequences: str = ""  # the chosen option's own trade-off
    warnings: tuple[str, ...] = ()  # risks of this choice for this spec
    # Tunables the renderers need (sampling ratio, backup schedule, ...): flat and typed.
    parameters: dict[str, Scalar] = Field(default_factory=dict)

    def param(self, key: str) -> Scalar:
        return self.parameters[key]


class Cluster(_Frozen):
    name: str
    region: str
    environment: str
    role: str = "primary"  # primary | active | standby


class Topology(_Frozen):
    regions: tuple[str, ...]
    clusters: tuple[Cluster, ...]
    production: str  # the environment that carries user traffic and the availability target

    def clusters_in(self, environment: str) -> tuple[Cluster, ...]:
        return tuple(c for c in self.clusters if c.environment == environment)

    def production_regions(self) -> int:
        """Regions serving production at once (a standby counts: it takes over)."""
        return len({c.region for c in self.clusters_in(self.production)}) or 1


class SlaTerm(_Frozen):
    """One component on the request path and its published SLA."""

    component: str
    sla: float
    source: str
    as_of: str


class WhatIf(_Frozen):
    """One change to the design and the figure it would give (the SLO docs list these)."""

    change: str
    figure: str  # "request path" or "deploy and scale"
    before: float
    after: float
    note: str


class AvailabilityEstimate(_Frozen):
    """Composed SLA of the request path for the production environment (percent)."""

    target: float
    estimate: float
    serial: tuple[SlaTerm, ...]
    parallel: tuple[SlaTerm, ...]
    parallel_count: int
    error_budget_minutes: float
    improvements: tuple[str, ...]
    # Deploy and scale need the control plane, serving does not: a separate figure.
    control_plane: SlaTerm | None = None
    deploy_per_cluster: float | None = None
    deploy_any_region: float | None = None
    what_if: tuple[WhatIf, ...] = ()


class CostLine(_Frozen):
    """One priced (or unpriceable) item of the monthly estimate, attributed to a block."""

    block: str
    environment: str  # an environment name, or "shared" for what all environments use
    item: str
    quantity: float
    unit: str
    unit_price: float | None  # None: the price table has no row for it
    monthly: float | None
    source: str
    as_of: str


class NodePool(_Frozen):
    """The worker capacity the estimate sizes for one cluster."""

    cluster: str
    environment: str
    region: str
    machine: str
    vcpu_per_node: int
    memory_gib_per_node: int
    nodes: int
    requested_vcpu: float
    control_plane_nodes: int = 0  # self-managed clusters run their own


class CostEstimate(_Frozen):
    """A rough monthly estimate from a dated list-price table: a comparison aid, not a quote."""

    currency: str
    hours_per_month: int
    prices_compiled: str
    lines: tuple[CostLine, ...]
    node_pools: tuple[NodePool, ...]
    assumptions: tuple[str, ...]

    @property
    def total(self) -> float:
        return round(sum(line.monthly or 0.0 for line in self.lines), 2)

    def by(self, key: str) -> dict[str, float]:
        """Priced monthly totals grouped by `block` or `environment`, in first-seen order."""
        totals: dict[str, float] = {}
        for line in self.lines:
            group = str(getattr(line, key))
            totals[group] = round(totals.get(group, 0.0) + (line.monthly or 0.0), 2)
        return totals

    def unpriced(self) -> tuple[CostLine, ...]:
        return tuple(line for line in self.lines if line.monthly is None)


class Metadata(_Frozen):
    name: str
    provider: str
    domain: str
    environments: tuple[str, ...]
    kubernetes_version: str


PLAN_API_VERSION = "kubeplan.dev/v1alpha1"


class Plan(_Frozen):
    api_version: str = PLAN_API_VERSION
    metadata: Metadata
    decisions: tuple[Decision, ...]
    topology: Topology
    availability: AvailabilityEstimate
    cost: CostEstimate
    warnings: tuple[str, ...] = ()
    # The spec as validated (plain data), so renderers can read sizes without importing `spec`.
    inputs: dict[str, Any] = Field(default_factory=dict)

    def input_value(self, path: str) -> Any:
        """The value behind a decision input: `spec.traffic.staticShare` or `decisions.cdn`."""
        head, _, rest = path.partition(".")
        if head == "decisions":
            return self.choice(rest)
        node: Any = self.inputs
        for part in rest.split("."):
            node = node[part]
        return node

    def decision(self, block: str) -> Decision:
        for decision in self.decisions:
            if decision.block == block:
                return decision
        raise KeyError(f"the plan has no decision for block {block!r}")

    def choice(self, block: str) -> str:
        return self.decision(block).choice

    def to_data(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    def to_json(self) -> str:
        """Byte-stable JSON: sorted keys, two-space indent, trailing newline."""
        return json.dumps(self.to_data(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Plan:
        return cls.model_validate_json(text)


__all__ = [
    "Alternative",
    "AvailabilityEstimate",
    "Cluster",
    "CostEstimate",
    "CostLine",
    "Decision",
    "Metadata",
    "NodePool",
    "Plan",
    "Scalar",
    "SlaTerm",
    "Topology",
    "WhatIf",
]
