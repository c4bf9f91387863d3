"""The docs target over every example: the diagram (SVG and PNG), ARCHITECTURE, RUNBOOK, SLO,
COST, the decision records and the report, deterministic and self-contained."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET

import pytest

from kubeplan.errors import UsageError
from kubeplan.render import OutputTree
from kubeplan.render.docs import OUTPUTS, render_docs
from kubeplan.render.docs import diagram as diagram_module
from kubeplan.render.docs.diagram import SVG_NS, XLINK_NS, architecture_graph
from kubeplan.render.naming import TERRAFORM_LAYERS
from kubeplan.render.records import record_path

from .conftest import example_files
from .docs_support import built, png_size

EXAMPLES = [p.stem for p in example_files()]


def _text(example: str, path: str) -> str:
    return built(example).tree.get(path).decode("utf-8")


@pytest.mark.parametrize("example", EXAMPLES)
def test_build_holds_every_document(example: str) -> None:
    b = built(example)
    for path in OUTPUTS:
        assert path in b.tree, path
    for index, decision in enumerate(b.plan.decisions, start=1):
        assert record_path(index, decision) in b.tree
    width, height = png_size(b.tree.get("docs/architecture.png"))
    assert width > 1000 and height > 1000


@pytest.mark.parametrize("example", EXAMPLES)
def test_svg_is_self_contained_with_stable_ids(example: str) -> None:
    b = built(example)
    svg = b.tree.get("docs/architecture.svg")
    text = svg.decode("utf-8")
    assert "<!DOCTYPE" not in text and "<!--" not in text
    root = ET.fromstring(svg)
    refs = [(el.tag, name, value) for el in root.iter() for name, value in el.attrib.items()
            if name in (f"{{{XLINK_NS}}}href", "href", "src")]
    assert refs
    for tag, name, value in refs:
        assert value.startswith(("#", "data:image/png;base64,")), (tag, name, value[:80])
    # Nothing of the build machine leaks: no file paths, no style or font fetches.
    assert not re.search(r"(/usr/|/root/|/home/|site-packages|file:|url\()", text)
    # Each icon is embedded once, in a <symbol>, and placed by <use>.
    symbols = list(root.iter(f"{{{SVG_NS}}}symbol"))
    images = list(root.iter(f"{{{SVG_NS}}}image"))
    assert len(images) == len(symbols) == len({s.attrib["id"] for s in symbols})
    assert all(s.find(f"{{{SVG_NS}}}image") is not None for s in symbols)
    # Graphviz titles its nodes with their ids: every box keeps the id the plan gave it.
    titles = {el.text for el in root.iter(f"{{{SVG_NS}}}title")}
    graph = architecture_graph(b.plan)
    assert {box.id for box in graph.all_boxes()} <= titles
    assert {f"cluster_{g.id}" for g in graph.all_groups()} <= titles
    assert len(list(root.iter(f"{{{SVG_NS}}}use"))) == len(graph.all_boxes())


@pytest.mark.parametrize("example", EXAMPLES)
def test_docs_are_identical_across_builds(example: str) -> None:
    b = built(example)
    others = OutputTree()
    for path, content in b.tree:
        if path not in OUTPUTS:
            others.add(path, content)
    diagram_module._dot.cache_clear()  # a fresh Graphviz run, not the cached picture
    render_docs(b.plan, others)
    for path in OUTPUTS:
        assert others.get(path) == b.tree.get(path), path


@pytest.mark.parametrize("example", EXAMPLES)
def test_architecture_has_overview_diagram_and_every_block(example: str) -> None:
    b = built(example)
    text = _text(example, "docs/ARCHITECTURE.md")
    assert "## Overview" in text and "![Architecture of" in text
    assert "(architecture.svg)" in text and "(architecture.png)" in text
    for index, decision in enumerate(b.plan.decisions, start=1):
        assert f"#### {decision.title}: `{decision.choice}`" in text
        assert decision.rationale in text
        assert f"({record_path(index, decision).removeprefix('docs/')})" in text
    for cluster in b.plan.topology.clusters:
        assert f"`{cluster.name}`" in text


@pytest.mark.parametrize("example", EXAMPLES)
def test_slo_presents_every_term_with_source(example: str) -> None:
    a = built(example).plan.availability
    text = _text(example, "docs/SLO.md")
    for term in (*a.serial, *a.parallel):
        row = next(line for line in text.splitlines() if line.startswith(f"| {term.component} |"))
        assert term.source in row and term.as_of in row
    assert f"{a.error_budget_minutes:,.1f} min" in text
    assert a.control_plane is not None and a.control_plane.component in text
    for change in a.what_if:
        assert change.change in text
    assert "a second DNS provider" in text or "one DNS provider instead of two" in text
    assert "control plane" in text and "one more production" in text


@pytest.mark.parametrize("example", EXAMPLES)
def test_cost_lists_totals_sources_and_assumptions(example: str) -> None:
    b = built(example)
    text = _text(example, "docs/COST.md")
    assert "An estimate, not a quote" in text
    if b.plan.cost.total:
        assert f"{b.plan.cost.total:,.2f}" in text
    else:  # nothing has a list price (on-prem): the capacity to price instead
        nodes = sum(p.nodes for p in b.plan.cost.node_pools)
        assert f"Capacity to provide: **{nodes} worker nodes" in text
    for line in b.plan.cost.unpriced():
        assert line.item in text
    for line in b.plan.cost.lines:
        if line.monthly is not None:
            assert line.source in text
    for pool in b.plan.cost.node_pools:
        assert f"`{pool.cluster}`" in text
    assert "## Assumptions" in text and "nodes = max(" in text


@pytest.mark.parametrize("example", EXAMPLES)
def test_runbook_follows_the_layout_of_the_build(example: str) -> None:
    b = built(example)
    text = _text(example, "docs/RUNBOOK.md")
    for heading in ("## 1. Infrastructure", "## 2. Bootstrap GitOps", "## 3. Verify",
                    "## 4. Day 2", "### Upgrades", "### Backups and the restore drill",
                    "### Certificate renewal", "### Node patching"):
        assert heading in text
    paths = b.tree.paths()
    order = []
    for env in [*[e for e in b.plan.metadata.environments if e != b.plan.topology.production],
                b.plan.topology.production]:
        for layer in TERRAFORM_LAYERS:
            folder = f"terraform/{env}/{layer}/"
            if any(p.startswith(folder) for p in paths):
                assert f"`{folder}`" in text
                order.append(text.index(f"`{folder}`"))
    assert order == sorted(order), "layers in apply order, production last"
    for link in re.findall(r"\]\(\.\./([^)]+)\)", text):
        assert any(p == link or p.startswith(link) for p in paths), link
    for cluster in b.plan.topology.clusters:
        assert f"`{cluster.name}`" in text
    if b.plan.choice("cluster") == "self-managed":
        assert "### The kubeadm path" in text and "kubeadm init" in text


@pytest.mark.parametrize("example", EXAMPLES)
def test_report_links_every_file(example: str) -> None:
    b = built(example)
    page = _text(example, "docs/index.html")
    for path in b.tree.paths():
        href = path.removeprefix("docs/") if path.startswith("docs/") else f"../{path}"
        assert f'href="{href}"' in page, path


def test_missing_graphviz_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(diagram_module.shutil, "which", lambda name: None)
    diagram_module._dot.cache_clear()
    with pytest.raises(UsageError, match="Graphviz `dot`"):
        render_docs(built("internal-tool").plan, OutputTree())
    diagram_module._dot.cache_clear()


def test_graph_follows_the_request_path() -> None:
    shop = architecture_graph(built("shop").plan)
    links = {(link.source, link.target) for link in shop.links if link.kind == "request"}
    path = ["users", "dns", "cdn", "lb_global", "prod_europe_west1_firewall",
            "prod_europe_west1_gateway", "prod_europe_west1_services"]
    assert all(step in links for step in itertools.pairwise(path)), links
    ids = {box.id for box in shop.all_boxes()}
    assert {"dev_europe_west1_cp", "staging_europe_west1_cp", "prod_us_central1_cp",
            "prometheus", "alertmanager", "grafana", "logs", "traces", "backup",
            "object_storage", "volumes", "registry", "ci", "gitops", "admin",
            "prod_europe_west1_nat"} <= ids
    factory = architecture_graph(built("factory-onprem").plan)
    kinds = {box.id: box.kind for box in factory.all_boxes()}
    assert "cdn" not in kinds and kinds["prod_plant_north_lb"] == "lb-regional"
    assert kinds["dns"] == "dns" and kinds["registry"] == "harbor"
    payments = architecture_graph(built("regulated-payments").plan)
    assert any(box.id == "dns_secondary" for box in payments.all_boxes())
    labels = {g.label for g in payments.all_groups()}
    assert any("europe-north1" in label for label in labels)
