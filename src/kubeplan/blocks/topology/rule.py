"""topology: how many regions serve production, and whether they all take traffic."""

from __future__ import annotations

from collections.abc import Mapping

from kubeplan.decide import Choice, Conflict, Context, Outcome, Rule
from kubeplan.model import Scalar
from kubeplan.spec import parse_duration

PRODUCTION_NAMES = ("prod", "production", "prd", "live")
# Below this RTO a cold standby cannot be promoted in time: both regions must serve.
ACTIVE_ACTIVE_RTO_SECONDS = 3600
ACTIVE_ACTIVE_TARGET = 99.95


def production_environment(environments: list[str]) -> str:
    for env in environments:
        if env in PRODUCTION_NAMES:
            return env
    return environments[-1]


class Topology(Rule):
    block = "topology"
    title = "Regions and clusters"
    choices = (
        Choice("single-region", "One cluster per environment in the first region.",
               "Cheapest and simplest; a regional outage takes the service down "
               "(bounded by the provider's regional SLA)."),
        Choice("multi-region-active-active",
               "Production runs in every listed region behind global load balancing.",
               "Survives a regional outage with no failover step; doubles cluster cost and "
               "needs data replicated across regions."),
        Choice("multi-region-active-passive",
               "Production serves from the first region; the second is a warm standby.",
               "Cheaper than active-active and simpler for stateful data; failover takes "
               "minutes and must be rehearsed to meet the RTO."),
    )

    def decide(self, ctx: Context) -> Outcome:
        regions: list[str] = ctx.get("regions")
        params = self.parameters("", ctx)
        if len(regions) == 1:
            return Outcome("single-region",
                           f"spec.regions lists one region ({regions[0]}), so every environment "
                           "runs one cluster there.", params)
        target: float = ctx.get("availability.target")
        rto = parse_duration(ctx.get("availability.rto"))
        if target >= ACTIVE_ACTIVE_TARGET or rto <= ACTIVE_ACTIVE_RTO_SECONDS:
            return Outcome(
                "multi-region-active-active",
                f"{len(regions)} regions with availability.target {target}% and "
                f"availability.rto {ctx.get('availability.rto')}: a standby could not be promoted "
                "in time, so production serves from every region; other environments stay in "
                f"{regions[0]}.", params)
        return Outcome(
            "multi-region-active-passive",
            f"{len(regions)} regions, but availability.target {target}% and availability.rto "
            f"{ctx.get('availability.rto')} leave time to fail over: production serves from "
            f"{regions[0]} with a warm standby in {regions[1]}.", params)

    def parameters(self, choice: str, ctx: Context) -> Mapping[str, Scalar]:
        regions: list[str] = ctx.get("regions")
        return {"production": production_environment(ctx.get("environments")),
                "primaryRegion": regions[0]}

    def conflict(self, choice: str, ctx: Context) -> Conflict | None:
        if choice != "single-region" and len(ctx.get("regions")) < 2:
            return Conflict(f"{choice} needs at least two regions", ("spec", "regions"),
                            "add a second region to spec.regions or drop the override")
        return None


RULE = Topology()
