"""docs/index.html: one self-contained page (inline CSS, the diagram's SVG inline, no scripts,
no network fetches) with the diagram, the decisions and their rationale, the SLO and cost
summaries and links to every file of the build."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from kubeplan.model import Plan
from kubeplan.render.docs import text
from kubeplan.render.docs.architecture import DIAGRAM_PNG, DIAGRAM_SVG, LEGEND, request_path
from kubeplan.render.docs.cost import capacity
from kubeplan.render.docs.diagram import SVG_NS, XLINK_NS
from kubeplan.render.docs.html import Element, Raw, document, h
from kubeplan.render.docs.slo import downtime
from kubeplan.render.records import record_path

REPORT = "docs/index.html"
CSS = """
:root { --ink: #1d2730; --muted: #5b6770; --line: #d9e0e6; --ok: #2e7d4f; --bad: #b3261e;
        --accent: #1f6fb2; --card: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--ink); background: #fff; }
header, main, footer { max-width: 1400px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 24px; }
h1 { font-size: 28px; margin: 0 0 4px; }
h2 { font-size: 21px; margin: 36px 0 12px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
.sub { color: var(--muted); margin: 0; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(210px, 1fr)); gap: 12px;
         margin: 20px 0 0; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.card .k { color: var(--muted); font-size: 13px; }
.card .v { font-size: 22px; font-weight: 600; }
.ok { color: var(--ok); } .bad { color: var(--bad); }
.warn { background: #fff6e5; border: 1px solid #f0c36d; border-radius: 8px; padding: 8px 16px; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 8px; padding: 12px; }
figure svg { width: 100%; height: auto; display: block; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 8px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { border-bottom: 1px solid var(--line); padding: 6px 8px; text-align: left; vertical-align: top; }
th { background: var(--card); font-weight: 600; }
td.num, th.num { text-align: right; white-space: nowrap; }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, monospace; background: var(--card);
       padding: 1px 4px; border-radius: 4px; }
.badge { display: inline-block; font-size: 12px; border-radius: 10px; padding: 0 8px;
         background: #fdecc8; color: #6b4e00; margin-left: 6px; }
details { margin: 4px 0; } summary { cursor: pointer; }
ul.files { columns: 2; font-size: 13px; margin: 6px 0 12px; }
a { color: var(--accent); }
footer { color: var(--muted); font-size: 13px; padding-bottom: 32px; }
@media print { figure { break-inside: avoid; } ul.files { columns: 1; } }
"""


def inline_svg(svg: bytes) -> Raw:
    """The diagram for inline use: no XML declaration, scaled by CSS through its viewBox."""
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", XLINK_NS)
    root = ET.fromstring(svg)
    for size in ("width", "height"):
        root.attrib.pop(size, None)
    root.set("role", "img")
    root.set("aria-label", "architecture diagram")
    return Raw(ET.tostring(root, encoding="unicode"))


def _card(key: str, value: str, note: str = "", css: str = "") -> Element:
    return h("div", {"class": "card"}, h("div", {"class": "k"}, key),
             h("div", {"class": f"v {css}".strip()}, value),
             h("div", {"class": "k"}, note) if note else None)


def summary(plan: Plan) -> Element:
    a = plan.availability
    ok = a.estimate >= a.target
    prod = plan.topology.clusters_in(plan.topology.production)
    return h("section", {"class": "cards", "id": "summary"},
             _card("availability estimate", text.percent(a.estimate),
                   f"target {a.target}%: {'met' if ok else 'not met'}", "ok" if ok else "bad"),
             _card("error budget", f"{a.error_budget_minutes:,.1f} min/month",
                   f"the estimate allows {downtime(a.estimate):,.1f} min"),
             _card("rough monthly cost", text.money(plan.cost.total, plan.cost.currency),
                   f"list prices compiled {plan.cost.prices_compiled}") if _priced(plan) else
             _card("capacity", f"{_nodes(plan)} nodes", "no public list price for own "
                   "hardware"),
             _card("clusters", str(len(plan.topology.clusters)),
                   f"{len(prod)} in production ({plan.topology.production})"),
             _card("decisions", str(len(plan.decisions)),
                   f"{sum(d.overridden for d in plan.decisions)} overridden"))


def decisions(plan: Plan) -> Element:
    body = h("tbody")
    for index, d in enumerate(plan.decisions, start=1):
        record = record_path(index, d).removeprefix("docs/")
        choice = h("td", {}, h("code", {}, d.choice),
                   h("span", {"class": "badge"}, "override") if d.overridden else None)
        body.add(h("tr", {"id": f"decision-{d.block}"},
                   h("td", {"class": "num"}, f"{index:04d}"),
                   h("td", {}, d.title, h("br"), h("code", {}, d.block)),
                   choice,
                   h("td", {}, d.rationale),
                   h("td", {}, h("a", {"href": record}, "record"))))
    head = h("thead", {}, h("tr", {}, *[h("th", {}, c) for c in
                                        ("#", "block", "choice", "rationale", "record")]))
    return h("table", {"id": "decisions"}, head, body)


def slo_summary(plan: Plan) -> list[Element]:
    a = plan.availability
    rows = [h("tr", {}, h("td", {}, t.component), h("td", {"class": "num"},
                                                     text.percent(t.sla, 4)),
              h("td", {}, "serial"), h("td", {}, f"{t.source} ({t.as_of})"))
            for t in a.serial]
    rows += [h("tr", {}, h("td", {}, t.component), h("td", {"class": "num"},
                                                      text.percent(t.sla, 4)),
               h("td", {}, f"per region × {a.parallel_count}"),
               h("td", {}, f"{t.source} ({t.as_of})"))
             for t in a.parallel]
    terms = h("table", {"id": "slo"},
              h("thead", {}, h("tr", {}, *[h("th", {}, c) for c in
                                           ("component", "SLA", "composed", "source")])),
              h("tbody", {}, *rows))
    what = h("ul", {}, *[h("li", {}, f"{w.change}: {text.percent(w.before, 4)} → "
                         f"{text.percent(w.after, 4)} ({w.figure})") for w in a.what_if])
    ok = a.estimate >= a.target
    return [
        h("p", {}, f"Estimated {text.percent(a.estimate)} for a target of {a.target}% "
          f"({'met' if ok else 'not met'}); error budget {a.error_budget_minutes:,.1f} minutes "
          "a month. ", h("a", {"href": "SLO.md"}, "SLO.md"), " has the composition, the "
          "burn-rate alerts and the deploy/scale figure."),
        terms, h("p", {}, "What would change it:"), what]


def _nodes(plan: Plan) -> int:
    return sum(p.nodes + p.control_plane_nodes for p in plan.cost.node_pools)


def _priced(plan: Plan) -> bool:
    return any(line.monthly is not None for line in plan.cost.lines)


def cost_summary(plan: Plan) -> list[Element]:
    cost = plan.cost
    if not _priced(plan):
        return [h("p", {}, capacity(cost).replace("**", ""), " ",
                  h("a", {"href": "COST.md"}, "COST.md"), " lists the node pools and the "
                  "capacity per block; ", h("code", {}, "kubeplan explain <block>"),
                  " shows what an alternative would change.")]
    per_env = cost.by("environment")
    per_block = sorted(cost.by("block").items(), key=lambda kv: (-kv[1], kv[0]))
    env_rows = [h("tr", {}, h("td", {}, env), h("td", {"class": "num"}, f"{value:,.2f}"))
                for env, value in per_env.items()]
    env_rows.append(h("tr", {}, h("th", {}, "total"),
                      h("th", {"class": "num"}, f"{cost.total:,.2f}")))
    block_rows = [h("tr", {}, h("td", {}, block), h("td", {"class": "num"}, f"{value:,.2f}"))
                  for block, value in per_block if value]
    head = h("thead", {}, h("tr", {}, h("th", {}, "environment"),
                            h("th", {"class": "num"}, f"{cost.currency}/month")))
    head_b = h("thead", {}, h("tr", {}, h("th", {}, "block"),
                              h("th", {"class": "num"}, f"{cost.currency}/month")))
    return [
        h("p", {}, "A rough estimate at list prices, for comparing alternatives, not a quote; "
          f"{len(cost.unpriced())} items have no price in the table. ",
          h("a", {"href": "COST.md"}, "COST.md"), " lists every line with its source, the "
          "node pools and the assumptions; ", h("code", {}, "kubeplan explain <block>"),
          " shows what an alternative would cost."),
        h("div", {"class": "cards"}, h("table", {"id": "cost-env"}, head, h("tbody", {},
                                                                           *env_rows)),
          h("table", {"id": "cost-block"}, head_b, h("tbody", {}, *block_rows)))]


def files(paths: Sequence[str]) -> list[Element]:
    groups: dict[str, list[str]] = {}
    for path in sorted({*paths, REPORT}):
        top = path.split("/", 1)[0] if "/" in path else "."
        groups.setdefault(top, []).append(path)
    out: list[Element] = []
    for top, members in groups.items():
        items = [h("li", {}, h("a", {"href": _href(p)}, p)) for p in members]
        out.append(h("details", {"open": None} if top == "docs" else {},
                     h("summary", {}, f"{top}/ ({len(members)} files)" if top != "."
                       else f"top level ({len(members)} files)"),
                     h("ul", {"class": "files"}, *items)))
    return out


def _href(path: str) -> str:
    """Relative to docs/index.html."""
    return path.removeprefix("docs/") if path.startswith("docs/") else f"../{path}"


def render(plan: Plan, svg: bytes, paths: Sequence[str]) -> str:
    meta = plan.metadata
    title = f"{meta.name}: platform architecture"
    head = h("head", {}, h("meta", {"charset": "utf-8"}),
             h("meta", {"name": "viewport", "content": "width=device-width, initial-scale=1"}),
             # Nothing on this page may load from elsewhere: styles inline, no scripts.
             h("meta", {"http-equiv": "Content-Security-Policy",
                        "content": "default-src 'none'; style-src 'unsafe-inline'; "
                                   "img-src data:"}),
             h("title", {}, title), h("style", {}, Raw(CSS)))
    body = h("body")
    body.add(h("header", {},
               h("h1", {}, title),
               h("p", {"class": "sub"},
                 f"{text.PROVIDER_NAMES.get(meta.provider, meta.provider)} · "
                 f"{', '.join(plan.topology.regions)} · environments "
                 f"{', '.join(meta.environments)} · ", h("code", {}, meta.domain),
                 f" · Kubernetes {meta.kubernetes_version}"),
               h("p", {"class": "sub"}, text.GENERATED.replace("`", "")),
               summary(plan)))
    main = h("main")
    if plan.warnings:
        main.add(h("h2", {}, "Warnings"),
                 h("div", {"class": "warn"}, h("ul", {}, *[h("li", {}, w)
                                                          for w in plan.warnings])))
    main.add(h("h2", {"id": "diagram"}, "Architecture"),
             h("p", {}, "Request path: " + " → ".join(request_path(plan)) + "."),
             h("figure", {}, inline_svg(svg),
               h("figcaption", {}, LEGEND + " Files: ",
                 h("a", {"href": DIAGRAM_SVG}, DIAGRAM_SVG), ", ",
                 h("a", {"href": DIAGRAM_PNG}, DIAGRAM_PNG), "; text: ",
                 h("a", {"href": "ARCHITECTURE.md"}, "ARCHITECTURE.md"), ".")))
    main.add(h("h2", {"id": "decisions-heading"}, "Decisions"),
             h("p", {}, "One decision per block, with the reason kubeplan gives for it; each "
               "record has the inputs, alternatives, consequences and how to change it."),
             decisions(plan))
    main.add(h("h2", {"id": "slo-heading"}, "Availability"), *slo_summary(plan))
    main.add(h("h2", {"id": "cost-heading"}, "Cost"), *cost_summary(plan))
    main.add(h("h2", {"id": "files"}, "Files"),
             h("p", {}, "How to apply them in order: ", h("a", {"href": "RUNBOOK.md"},
                                                          "RUNBOOK.md"), "."),
             *files(paths))
    body.add(main, h("footer", {}, h("p", {}, f"{plan.api_version} plan of {meta.name}; ",
                                     h("a", {"href": "../plan.json"}, "plan.json"), ".")))
    return document(head, body)
