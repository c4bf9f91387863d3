"""Availability estimate: compose published SLAs along the request path.

Serial components multiply; independent regions combine in parallel (1 - prod(1 - a)).
The control plane is not on the request path (running pods keep serving without it), so it is
a separate deploy/scale figure, not multiplied in here. Alongside the estimate the module
works out what a change would give (one more region, a second DNS provider, a zonal or
regional control plane, no CDN), so the SLO docs can say what moves the number.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import yaml

from kubeplan.model import AvailabilityEstimate, Decision, SlaTerm, Topology, WhatIf

MINUTES_PER_MONTH = 43_800  # 730 h, the month the price and SLA tables use
REQUEST_PATH = "request path"
DEPLOY = "deploy and scale"


@cache
def sla_table() -> dict[str, Any]:
    text = resources.files("kubeplan").joinpath("data/sla.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def _row(provider: str, key: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = sla_table()["rows"][provider].get(key)
    return row


def _term(provider: str, key: str) -> SlaTerm:
    row = _row(provider, key)
    if row is None:
        raise KeyError(f"data/sla.yaml has no {key!r} row for {provider}")
    return SlaTerm(component=row["component"], sla=float(row["sla"]),
                   source=row["source"], as_of=str(row["as_of"]))


def parallel(*slas: float) -> float:
    """Percent availability of independent copies of which any one suffices."""
    down = 1.0
    for sla in slas:
        down *= 1 - sla / 100
    return round((1 - down) * 100, 6)


def _either(first: SlaTerm, second: SlaTerm) -> SlaTerm:
    """Two independent providers answering for the same thing, as one serial term."""
    return SlaTerm(component=f"{first.component} or {second.component} (either answers)",
                   sla=parallel(first.sla, second.sla),
                   source=f"{first.source}; {second.source}",
                   as_of=f"{first.as_of}; {second.as_of}")


def compose(serial: list[SlaTerm], per_region: list[SlaTerm], copies: int) -> float:
    """Percent availability: serial terms multiplied, the per-region group replicated `copies` x."""
    a = 1.0
    for term in serial:
        a *= term.sla / 100
    branch = 1.0
    for term in per_region:
        branch *= term.sla / 100
    a *= 1 - (1 - branch) ** max(copies, 1)
    return round(a * 100, 6)


def _dns(decisions: Mapping[str, Decision], provider: str, *, second: bool) -> SlaTerm:
    primary = _term(provider, "dns")
    if second:
        return _either(primary, _term(provider, "dns_secondary"))
    return primary


def request_path(decisions: Mapping[str, Decision], provider: str, *,
                 second_dns: bool | None = None, cdn: bool = True
                 ) -> tuple[list[SlaTerm], list[SlaTerm]]:
    """(serial terms shared by all regions, terms repeated in each region).

    `second_dns` forces a second DNS provider on or off (None: as decided); `cdn=False` leaves
    the CDN out, for the what-if figures.
    """
    serial: list[SlaTerm] = []
    per_region: list[SlaTerm] = []
    dns = decisions.get("dns")
    if dns is not None:
        multi = dns.choice == "multi-provider" if second_dns is None else second_dns
        serial.append(_dns(decisions, provider, second=multi))
    cdn_decision = decisions.get("cdn")
    if cdn and cdn_decision is not None and cdn_decision.choice == "provider":
        serial.append(_term(provider, "cdn"))
    elif cdn and cdn_decision is not None and cdn_decision.choice == "third-party":
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


def _what_if(decisions: Mapping[str, Decision], provider: str, regions: int, value: float,
             control_plane: SlaTerm) -> list[WhatIf]:
    serial, per_region = request_path(decisions, provider)
    site = "site" if provider == "onprem" else "region"
    out = [WhatIf(
        change=f"one more production {site} ({regions + 1} instead of {regions})",
        figure=REQUEST_PATH, before=value, after=compose(serial, per_region, regions + 1),
        note=f"add a {site} to spec.regions; the serial part "
             f"({', '.join(t.component for t in serial)}) is shared by every {site}, so it caps "
             "what more copies can give")]
    dns = decisions.get("dns")
    if dns is not None and dns.choice != "multi-provider":
        more, _ = request_path(decisions, provider, second_dns=True)
        after = compose(more, per_region, regions)
        gain = ("the published SLA is already 100%, so the figure does not move; a second "
                "provider guards against the provider-wide incidents an SLA only credits"
                if after == value else "the DNS term becomes two providers in parallel")
        out.append(WhatIf(change="a second DNS provider (dns: multi-provider)",
                          figure=REQUEST_PATH, before=value, after=after, note=gain))
    elif dns is not None:
        fewer, _ = request_path(decisions, provider, second_dns=False)
        one = "self-hosted" if provider == "onprem" else "provider-managed"
        out.append(WhatIf(change=f"one DNS provider instead of two (dns: {one})",
                          figure=REQUEST_PATH, before=value,
                          after=compose(fewer, per_region, regions),
                          note="the second provider answers when the first one is down; the "
                               "published figures of both are the ones in the table"))
    cdn = decisions.get("cdn")
    if cdn is not None and cdn.choice != "none":
        fewer, _ = request_path(decisions, provider, cdn=False)
        out.append(WhatIf(change="no CDN (cdn: none)", figure=REQUEST_PATH, before=value,
                          after=compose(fewer, per_region, regions),
                          note="one serial component fewer; every request then reaches the "
                               "load balancer and the origin"))
    zonal = _row(provider, "control_plane_zonal")
    if zonal is not None:
        out.append(WhatIf(
            change=f"an unreplicated control plane ({zonal['component']}) instead of "
                   f"{control_plane.component}",
            figure=DEPLOY, before=control_plane.sla, after=float(zonal["sla"]),
            note="kubeplan builds the replicated control plane (several zones or three nodes); "
                 "a single one is cheaper and gives this figure"))
    out.append(WhatIf(
        change=f"a control plane per production {site} ({regions} clusters, any one suffices)",
        figure=DEPLOY, before=control_plane.sla, after=parallel(*[control_plane.sla] * regions),
        note=f"each {site} has its own cluster, so rolling out or scaling somewhere needs only "
             f"one of them{'' if regions > 1 else f'; add a {site} to benefit'}"))
    return out


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
    control_plane = _term(provider, "control_plane")
    return AvailabilityEstimate(
        target=target,
        estimate=value,
        serial=tuple(serial),
        parallel=tuple(per_region),
        parallel_count=production,
        error_budget_minutes=round((100 - target) / 100 * MINUTES_PER_MONTH, 1),
        improvements=tuple(improvements),
        control_plane=control_plane,
        deploy_per_cluster=control_plane.sla,
        deploy_any_region=parallel(*[control_plane.sla] * production),
        what_if=tuple(_what_if(decisions, provider, production, value, control_plane)),
    )
