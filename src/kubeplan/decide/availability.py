"""Availability estimate: compose published SLAs along the request path.

Serial components multiply; independent regions combine in parallel (1 - prod(1 - a)).
The control plane is not on the request path (running pods keep serving without it), so it is
reported by the SLO docs as a deploy/scale figure, not multiplied in here.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import yaml

from kubeplan.model import AvailabilityEstimate, Decision, SlaTerm, Topology

MINUTES_PER_MONTH = 43_800  # 730 h, the month the price and SLA tables use


@cache
def sla_table() -> dict[str, Any]:
    text = resources.files("kubeplan").joinpath("data/sla.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def _term(provider: str, key: str) -> SlaTerm:
    row = sla_table()["rows"][provider][key]
    return SlaTerm(component=row["component"], sla=float(row["sla"]),
                   source=row["source"], as_of=str(row["as_of"]))


def compose(serial: list[SlaTerm], parallel: list[SlaTerm], copies: int) -> float:
    """Percent availability: serial terms multiplied, the parallel group replicated `copies` x."""
    a = 1.0
    for term in serial:
        a *= term.sla / 100
    branch = 1.0
    for term in parallel:
        branch *= term.sla / 100
    a *= 1 - (1 - branch) ** max(copies, 1)
    return round(a * 100, 6)


def request_path(decisions: Mapping[str, Decision], provider: str
                 ) -> tuple[list[SlaTerm], list[SlaTerm]]:
    """(serial terms shared by all regions, terms repeated in each region)."""
    serial: list[SlaTerm] = []
    per_region: list[SlaTerm] = []
    dns = decisions.get("dns")
    if dns is not None:
        serial.append(_term(provider, "dns"))
    cdn = decisions.get("cdn")
    if cdn is not None and cdn.choice == "provider":
        serial.append(_term(provider, "cdn"))
    elif cdn is not None and cdn.choice == "third-party":
        serial.append(_term(provider, "third_party_cdn"))
    lb = decisions.get("load_balancer")
    lb_choice = lb.choice if lb is not None else "regional"
    if lb_choice == "global":
        serial.append(_term(provider, "lb_global"))
    elif lb_choice == "self-hosted":
        per_region.append(_term(provider, "lb_self"))
    else:
        per_region.append(_term(provider, "lb_regional"))
    per_region.append(_term(provider, "compute"))
    return serial, per_region


def estimate(decisions: Mapping[str, Decision], topology: Topology, provider: str,
             target: float) -> AvailabilityEstimate:
    serial, per_region = request_path(decisions, provider)
    production = topology.production_regions()
    value = compose(serial, per_region, production)
    improvements: list[str] = []
    if value < target:
        more = compose(serial, per_region, production + 1)
        if more >= target:
            improvements.append(
                f"Serving production from {production + 1} regions "
                f"(add a region to spec.regions) would give about {more:.3f}%."
            )
        else:
            improvements.append(
                f"Even {production + 1} regions give about {more:.3f}%: the serial part "
                f"({', '.join(t.component for t in serial)}) caps the design; lower the target "
                "or remove a serial component."
            )
    return AvailabilityEstimate(
        target=target,
        estimate=value,
        serial=tuple(serial),
        parallel=tuple(per_region),
        parallel_count=production,
        error_budget_minutes=round((100 - target) / 100 * MINUTES_PER_MONTH, 1),
        improvements=tuple(improvements),
    )
