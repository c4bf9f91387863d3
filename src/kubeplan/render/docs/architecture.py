"""docs/ARCHITECTURE.md: the overview, the diagram and one paragraph per block."""

from __future__ import annotations

from kubeplan.model import Decision, Plan
from kubeplan.render.docs import text
from kubeplan.render.docs.diagram import Graph, short
from kubeplan.render.records import record_path

DIAGRAM_SVG = "architecture.svg"
DIAGRAM_PNG = "architecture.png"
LEGEND = ("Solid blue: the request path. Green: delivery (CI, registry, GitOps). Dashed amber: "
          "telemetry. Dotted: data (volumes, buckets, backups, NAT egress). Dashed purple: "
          "administrative access.")


def request_path(plan: Plan) -> list[str]:
    """The hops of a user's request, in order, as product names."""
    by = {d.block: d for d in plan.decisions}
    hops = ["client"]

    def first(block: str) -> str:
        decision = by.get(block)
        return short(decision.components[0]) if decision and decision.components else ""

    if "dns" in by:
        hops.append(first("dns") + (" + " + short(by["dns"].components[1])
                                    if by["dns"].choice == "multi-provider" else ""))
    if by.get("cdn") and by["cdn"].choice != "none":
        hops.append(first("cdn"))
    if "load_balancer" in by:
        lb = by["load_balancer"]
        hops.append(first("load_balancer"))
        if lb.choice == "global" and plan.metadata.provider == "aws" and len(lb.components) > 1:
            hops.append(short(lb.components[1]))
    if "network" in by and len(by["network"].components) > 2:
        hops.append(short(by["network"].components[2]))
    if "ingress" in by:
        hops.append(first("ingress"))
    mesh = by.get("service_mesh")
    services = plan.inputs.get("workloads", {}).get("services", "the")
    hops.append(f"{services} services" + (f" ({first('service_mesh')})"
                                          if mesh and mesh.choice != "none" else ""))
    return [h for h in hops if h]


def overview(plan: Plan) -> list[str]:
    meta = plan.metadata
    topo = plan.topology
    prod = topo.clusters_in(topo.production)
    regions = text.sentence_list([f"{c.region} ({c.role})" for c in prod])
    envs = text.sentence_list(list(meta.environments))
    availability = plan.availability
    verdict = ("meets" if availability.estimate >= availability.target else "falls short of")
    lines = [
        f"`{meta.name}` runs Kubernetes {meta.kubernetes_version} on "
        f"{text.PROVIDER_NAMES.get(meta.provider, meta.provider)} for `{meta.domain}`, in the "
        f"environments {envs}. Production (`{topo.production}`) serves from {regions}"
        + ("; every other environment runs one cluster in " + topo.regions[0]
           if len(meta.environments) > 1 else "") + ".",
        "",
        "A request travels " + " → ".join(request_path(plan)) + ".",
        "",
        f"The published SLAs on that path compose to about "
        f"{text.percent(availability.estimate)}, which {verdict} the target of "
        f"{availability.target}% ([SLO.md](SLO.md)). The rough monthly cost at list prices is "
        f"about {text.money(plan.cost.total, plan.cost.currency)} ([COST.md](COST.md)); the "
        "order of work is in [RUNBOOK.md](RUNBOOK.md), the reasons for each choice in "
        "[decisions/](decisions/).",
    ]
    if plan.warnings:
        lines += ["", "Warnings from the plan:", ""] + [f"- {w}" for w in plan.warnings]
    return lines


def block_paragraph(plan: Plan, index: int, decision: Decision) -> list[str]:
    record = record_path(index, decision).removeprefix("docs/")
    body = decision.rationale
    if decision.components:
        body += " It runs " + "; ".join(decision.components) + "."
    body += f" Trade-off: {decision.consequences}" if decision.consequences else ""
    share = plan.cost.by("block").get(decision.block)
    if share:
        body += (f" Its share of the rough monthly estimate is "
                 f"{text.money(share, plan.cost.currency)}.")
    overridden = " (overridden)" if decision.overridden else ""
    return [f"#### {decision.title}: `{decision.choice}`{overridden}", "",
            body + f" See [{record.split('/')[-1]}]({record}).", ""]


def render(plan: Plan, graph: Graph) -> str:
    lines = [f"# {plan.metadata.name}: architecture", "", text.GENERATED, "", "## Overview", ""]
    lines += overview(plan)
    lines += ["", "## Diagram", "",
              f"![Architecture of {plan.metadata.name}]({DIAGRAM_SVG})", "",
              f"{LEGEND} The same picture as PNG: [{DIAGRAM_PNG}]({DIAGRAM_PNG}). It is drawn "
              f"from the plan on every build ({len(graph.all_boxes())} components, "
              f"{len(graph.links)} connections).", "",
              "## Clusters", ""]
    pools = {p.cluster: p for p in plan.cost.node_pools}
    rows = []
    for cluster in plan.topology.clusters:
        pool = pools.get(cluster.name)
        nodes = (f"{pool.nodes} × {pool.machine}" + (f" + {pool.control_plane_nodes} "
                                                     "control-plane" if pool.control_plane_nodes
                                                     else "")) if pool else ""
        rows.append((f"`{cluster.name}`", cluster.environment, cluster.region, cluster.role,
                     nodes))
    lines += text.table(("cluster", "environment", "region", "role", "estimated nodes"), rows)
    lines += ["", "Node counts are the cost estimate's sizing (see [COST.md](COST.md)); "
              "autoscaling moves them with the load.", "", "## Blocks", ""]
    index = {d.block: i for i, d in enumerate(plan.decisions, start=1)}
    for title, decisions in text.sections(plan):
        lines += [f"### {title}", ""]
        for decision in decisions:
            lines += block_paragraph(plan, index[decision.block], decision)
    return text.join(lines)
