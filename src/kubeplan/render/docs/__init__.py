"""The docs target: the architecture diagram (SVG and PNG), ARCHITECTURE.md, RUNBOOK.md,
SLO.md, COST.md and the self-contained HTML report, all from the plan.

`render_docs` runs after the other targets (it is registered last in `app.TARGET_RENDERERS`):
the runbook and the report link to the files the build actually contains.
"""

from __future__ import annotations

from kubeplan.model import Plan
from kubeplan.render.docs import architecture, cost, report, runbook, slo
from kubeplan.render.docs.diagram import architecture_graph, draw
from kubeplan.render.tree import OutputTree

DOCS = "docs"
OUTPUTS = (
    f"{DOCS}/{architecture.DIAGRAM_SVG}",
    f"{DOCS}/{architecture.DIAGRAM_PNG}",
    f"{DOCS}/ARCHITECTURE.md",
    f"{DOCS}/RUNBOOK.md",
    f"{DOCS}/SLO.md",
    f"{DOCS}/COST.md",
    report.REPORT,
)


def render_docs(plan: Plan, tree: OutputTree) -> None:
    graph = architecture_graph(plan)
    drawing = draw(graph)
    # Everything the build will hold once this renderer is done, for the links.
    paths = sorted({*tree.paths(), *OUTPUTS})
    tree.add(f"{DOCS}/{architecture.DIAGRAM_SVG}", drawing.svg)
    tree.add(f"{DOCS}/{architecture.DIAGRAM_PNG}", drawing.png)
    tree.add(f"{DOCS}/ARCHITECTURE.md", architecture.render(plan, graph))
    tree.add(f"{DOCS}/RUNBOOK.md", runbook.render(plan, paths))
    tree.add(f"{DOCS}/SLO.md", slo.render(plan))
    tree.add(f"{DOCS}/COST.md", cost.render(plan))
    tree.add(report.REPORT, report.render(plan, drawing.svg, paths))


__all__ = ["OUTPUTS", "render_docs"]
