"""docs/SLO.md: the availability estimate, its terms and sources, the error budget, the
deploy/scale figure and what would move the number."""

from __future__ import annotations

from kubeplan.model import AvailabilityEstimate, Plan, SlaTerm
from kubeplan.render.docs import text

MINUTES_PER_MONTH = 43_800  # 730 hours, the month of the SLA and price tables
# Multi-window burn-rate alerts (Google SRE workbook, "Alerting on SLOs"): share of the monthly
# budget spent within the long window, the window, the short confirming window, where it goes.
BURN_ALERTS = ((0.02, "1h", "5m", "page"), (0.05, "6h", "30m", "page"),
               (0.10, "3d", "6h", "ticket"))
WINDOW_HOURS = {"1h": 1, "6h": 6, "3d": 72}
SLO_WINDOW_HOURS = 30 * 24  # the rolling 30-day window the SLO is measured over


def product(terms: tuple[SlaTerm, ...]) -> float:
    value = 1.0
    for term in terms:
        value *= term.sla / 100
    return value * 100


def downtime(availability: float) -> float:
    return (100 - availability) / 100 * MINUTES_PER_MONTH


def burn_rate(share: float, window_hours: int) -> float:
    """How many times faster than 'evenly over the month' the budget burns to spend `share`."""
    return share * SLO_WINDOW_HOURS / window_hours


def verdict(a: AvailabilityEstimate) -> str:
    if a.estimate >= a.target:
        return (f"The estimate of {text.percent(a.estimate)} meets the target of {a.target}%: "
                f"the design can keep the promise on paper, with "
                f"{text.minutes(downtime(a.estimate))} of expected downtime a month against a "
                f"budget of {text.minutes(a.error_budget_minutes)}.")
    return (f"The estimate of {text.percent(a.estimate)} is below the target of {a.target}%: "
            f"the components' own SLAs allow {text.minutes(downtime(a.estimate))} of downtime "
            f"a month, more than the budget of {text.minutes(a.error_budget_minutes)}. "
            + " ".join(a.improvements))


def terms_table(a: AvailabilityEstimate) -> list[str]:
    rows: list[tuple[object, ...]] = []
    for term in a.serial:
        rows.append((term.component, text.percent(term.sla, 4), "serial (once)", term.source,
                     term.as_of))
    for term in a.parallel:
        rows.append((term.component, text.percent(term.sla, 4),
                     f"per region, {a.parallel_count} in parallel", term.source, term.as_of))
    return text.table(("component", "SLA", "composed as", "source", "as of"), rows)


def composition(a: AvailabilityEstimate) -> list[str]:
    serial = product(a.serial)
    branch = product(a.parallel)
    regions = a.parallel_count
    combined = (1 - (1 - branch / 100) ** regions) * 100
    serial_part = " × ".join(text.percent(t.sla, 4) for t in a.serial)
    branch_part = " × ".join(text.percent(t.sla, 4) for t in a.parallel)
    serial_part = f"{serial_part} = " if len(a.serial) > 1 else ""
    branch_part = f"{branch_part} = " if len(a.parallel) > 1 else ""
    return [
        "Components every request needs multiply (serial); the regional part is repeated in "
        "each production region and any one region suffices (parallel):", "",
        "```",
        "A = Π(serial) × (1 − (1 − Π(per region))^n)",
        f"Π(serial)     = {serial_part}{text.percent(serial, 4)}",
        f"Π(per region) = {branch_part}{text.percent(branch, 4)}",
        f"n             = {regions}",
        f"A             = {text.percent(serial, 4)} × {text.percent(combined, 6)} = "
        f"{text.percent(a.estimate, 4)}",
        "```", "",
        "Regions count as independent only for what is repeated in them; whatever they share "
        "(DNS, the CDN, a global load balancer) stays outside the parallel part, so it caps "
        "what more regions can add.",
    ]


def budget(plan: Plan) -> list[str]:
    a = plan.availability
    lines = [
        f"At {a.target}% the monthly error budget is {text.minutes(a.error_budget_minutes)} "
        f"({(100 - a.target):.3g}% of {MINUTES_PER_MONTH:,} minutes), about "
        f"{text.minutes(a.error_budget_minutes / 30 * 7)} a week.", "",
        "Service level objective: the share of requests answered without a server error "
        f"(HTTP 5xx or timeout) at the load balancer, over a rolling 30 days, is at least "
        f"{a.target}%. Alert on the budget's burn rate rather than on single errors; with "
        "a short window confirming the long one:", "",
    ]
    rows = []
    for share, window, short_window, where in BURN_ALERTS:
        rate = burn_rate(share, WINDOW_HOURS[window])
        error_rate = (100 - a.target) * rate
        rows.append((f"{share:.0%} of the budget", window, short_window, f"{rate:.1f}×",
                     f"{error_rate:.3g}%", where))
    lines += text.table(("spent", "long window", "short window", "burn rate", "error rate",
                         "action"), rows)
    return lines


def deploy(a: AvailabilityEstimate) -> list[str]:
    cp = a.control_plane
    if cp is None or a.deploy_per_cluster is None:
        return ["This plan carries no control-plane figure."]
    lines = [
        "Running pods keep serving when the Kubernetes control plane is down, so it is not on "
        "the request path. Rolling out, scaling and rescheduling need it, so it gets a figure "
        "of its own:", "",
    ]
    rows = [(cp.component, text.percent(cp.sla, 4), "one production cluster", cp.source,
             cp.as_of)]
    if a.deploy_any_region is not None and a.parallel_count > 1:
        rows.append((f"{a.parallel_count} production clusters, any one",
                     text.percent(a.deploy_any_region, 6), "deploy or scale somewhere",
                     "composed", "-"))
    lines += text.table(("control plane", "SLA", "scope", "source", "as of"), rows)
    lines += ["", f"At {text.percent(cp.sla, 4)} one cluster's control plane may be "
              f"unavailable for up to {text.minutes(downtime(cp.sla))} a month. The registry "
              "is on this path too (new nodes pull images), as is the CI service for a new "
              "release; neither is on the request path."]
    return lines


def what_if(a: AvailabilityEstimate) -> list[str]:
    rows = [(w.change, w.figure, text.percent(w.before, 4), text.percent(w.after, 4), w.note)
            for w in a.what_if]
    return text.table(("change", "figure", "now", "after", "why"), rows)


def render(plan: Plan) -> str:
    a = plan.availability
    prod = plan.topology.production
    lines = [f"# {plan.metadata.name}: availability and SLOs", "", text.GENERATED, "",
             "Published SLAs are credit promises, not measurements, and each defines downtime "
             "narrowly; this is an estimate of what the design allows on paper, for the "
             f"production environment `{prod}`. Your own software, releases and data are not in "
             "it.", "", "## Target and estimate", ""]
    lines += text.table(("", "value"), [
        ("target (spec.availability.target)", f"{a.target}%"),
        ("estimate (request path)", text.percent(a.estimate)),
        ("error budget at the target", f"{text.minutes(a.error_budget_minutes)} a month"),
        ("downtime the estimate allows", f"{text.minutes(downtime(a.estimate))} a month"),
        ("deploy and scale (one cluster's control plane)",
         text.percent(a.deploy_per_cluster, 4) if a.deploy_per_cluster is not None else "-"),
    ])
    lines += ["", verdict(a), "", "## The request path", ""]
    lines += terms_table(a)
    lines += ["", "## Composition", "", *composition(a)]
    lines += ["", "## Error budget", "", *budget(plan)]
    lines += ["", "## Deploy and scale", "", *deploy(a)]
    lines += ["", "## What would change the estimate", "", *what_if(a)]
    lines += ["", "Other changes (a regional instead of a global load balancer, another CDN) "
              "can be compared with `kubeplan explain <block>`, which re-plans each alternative "
              "and shows its availability and cost."]
    return text.join(lines)
