"""docs/COST.md: the rough monthly estimate per environment and block, with every line's
price source, what could not be priced, and the sizing assumptions."""

from __future__ import annotations

from kubeplan.model import CostEstimate, Plan
from kubeplan.render.docs import text

SHARED = "shared"


def environments(plan: Plan) -> list[str]:
    envs = list(plan.metadata.environments)
    if any(line.environment == SHARED for line in plan.cost.lines):
        envs.append(SHARED)
    return envs


def by_block_table(plan: Plan) -> list[str]:
    cost = plan.cost
    envs = environments(plan)
    totals: dict[str, dict[str, float]] = {}
    unpriced: dict[str, int] = {}
    for line in cost.lines:
        row = totals.setdefault(line.block, {})
        row[line.environment] = row.get(line.environment, 0.0) + (line.monthly or 0.0)
        if line.monthly is None:
            unpriced[line.block] = unpriced.get(line.block, 0) + 1
    titles = {d.block: d.title for d in plan.decisions}
    rows = []
    for block, per_env in totals.items():
        rows.append((f"{titles.get(block, block)} (`{block}`)",
                     *[f"{per_env[e]:,.2f}" if e in per_env else "" for e in envs],
                     f"{sum(per_env.values()):,.2f}",
                     str(unpriced.get(block, "")) if block in unpriced else ""))
    per_env_total = cost.by("environment")
    rows.append(("**total**", *[f"**{per_env_total.get(e, 0.0):,.2f}**" for e in envs],
                 f"**{cost.total:,.2f}**", str(len(cost.unpriced()))))
    return text.table(("block", *envs, "total", "unpriced items"), rows)


def node_pools(cost: CostEstimate) -> list[str]:
    rows = [(f"`{p.cluster}`", p.environment, p.region, p.machine, p.nodes,
             f"{p.requested_vcpu:g}", p.control_plane_nodes or "managed")
            for p in cost.node_pools]
    return text.table(("cluster", "environment", "region", "machine", "worker nodes",
                       "requested vCPU", "control plane"), rows)


def lines_table(cost: CostEstimate) -> list[str]:
    rows = []
    for line in cost.lines:
        if line.monthly is None:
            continue
        price = f"{line.unit_price:g}" if line.unit_price is not None else ""
        rows.append((line.block, line.environment, line.item,
                     f"{text.quantity(line.quantity)} {line.unit}", price,
                     f"{line.monthly:,.2f}", line.source, line.as_of))
    return text.table(("block", "environment", "item", "quantity", f"unit price ({cost.currency})",
                       f"monthly ({cost.currency})", "source", "as of"), rows)


def unpriced_table(cost: CostEstimate) -> list[str]:
    rows = [(line.block, line.environment, line.item,
             f"{text.quantity(line.quantity)} {line.unit}", line.source)
            for line in cost.unpriced()]
    return text.table(("block", "environment", "item", "quantity", "why it has no price"), rows)


def capacity(cost: CostEstimate) -> str:
    """The sizing in units you can price yourself, for plans without any list price."""
    workers = sum(p.nodes for p in cost.node_pools)
    control = sum(p.control_plane_nodes for p in cost.node_pools)
    machine = cost.node_pools[0].machine if cost.node_pools else "servers"
    storage = sum(line.quantity for line in cost.unpriced() if line.unit == "GiB")
    return (f"Capacity to provide: **{workers} worker nodes"
            + (f" and {control} control-plane nodes" if control else "")
            + f"** ({machine} each) and about **{storage:,.0f} GiB** of disk before "
            "replication, per the items below.")


def render(plan: Plan) -> str:
    cost = plan.cost
    provider = plan.metadata.provider
    lines = [f"# {plan.metadata.name}: rough monthly cost", "", text.GENERATED, "",
             f"**An estimate, not a quote.** On-demand list prices in {cost.currency} from a "
             f"dated public price table (compiled {cost.prices_compiled}; every line names its "
             "source and date) applied to the sizing model below. Use it to compare "
             "alternatives: `kubeplan explain <block>` re-plans each alternative of a block and "
             "shows the monthly difference.", ""]
    if provider == "onprem":
        lines += ["On-prem hardware, power, space and licences have no public list price, so "
                  "this estimate gives the capacity to price against your own costs: the node "
                  "pools and the unpriced items below.", ""]
    priced = any(line.monthly is not None for line in cost.lines)
    if priced:
        lines += [f"Estimated total: **{text.money(cost.total, cost.currency)} a month** "
                  f"(priced items only; {len(cost.unpriced())} items are listed without a "
                  "price).", "", "## Per environment and block", ""]
        lines += by_block_table(plan)
    else:
        lines += [capacity(cost)]
    lines += ["", "## Node pools", "",
              "Sized from the spec's traffic and services (the formula is in the assumptions); "
              "autoscaling moves the real count with the load.", ""]
    lines += node_pools(cost)
    if priced:
        lines += ["", "## Priced lines", "", *lines_table(cost)]
    lines += ["", "## Not priced" if priced else "## Capacity per block", "",
              *unpriced_table(cost)]
    lines += ["", "## Assumptions", ""] + [f"- {a}" for a in cost.assumptions]
    return text.join(lines)
