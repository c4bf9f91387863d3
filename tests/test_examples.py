"""The examples contrast: their plans differ where their constraints differ."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubeplan import app
from kubeplan.blocks import BUILTIN
from kubeplan.model import Plan

from .conftest import example_files


def _plan(name: str) -> Plan:
    return app.plan(app.load_spec(None, name).loaded)


@pytest.mark.parametrize("example", example_files(), ids=lambda p: p.stem)
def test_every_block_is_decided_with_inputs(example: Path) -> None:
    plan = _plan(example.stem)
    assert [d.block for d in plan.decisions] == list(BUILTIN)
    for d in plan.decisions:
        assert d.inputs, f"{d.block} names no inputs"
        assert all(i.startswith(("spec.", "decisions.")) for i in d.inputs)
        for path in d.inputs:
            plan.input_value(path)  # every input resolves to a value
        assert d.rationale and d.alternatives


def test_at_least_six_examples() -> None:
    assert len(example_files()) >= 6


def test_plans_differ_where_constraints_differ() -> None:
    plans = {p.stem: _plan(p.stem) for p in example_files()}
    assert plans["internal-tool"].choice("cdn") == "none"
    assert plans["media-site"].choice("cdn") == "provider"
    assert plans["media-site"].choice("load_balancer") == "global"
    assert plans["internal-tool"].choice("topology") == "single-region"
    assert plans["regulated-payments"].choice("topology") == "multi-region-active-active"
    assert plans["regulated-payments"].choice("service_mesh") == "istio"
    assert plans["factory-onprem"].choice("cluster") == "self-managed"
    assert plans["factory-onprem"].choice("storage") == "rook-ceph"
    assert plans["factory-onprem"].choice("registry") == "harbor"
    assert plans["azure-startup"].choice("cluster") == "managed"
    saas = plans["aws-saas"]
    assert saas.decision("cdn").overridden and saas.choice("cdn") == "none"
    assert saas.decision("tracing").overridden and saas.choice("tracing") == "jaeger"
    # No two examples give the same set of choices.
    signatures = {tuple(d.choice for d in p.decisions) for p in plans.values()}
    assert len(signatures) == len(plans)


def test_single_region_high_target_warns_with_estimate() -> None:
    loaded = app.load_spec(None, "internal-tool").loaded
    from kubeplan.spec import load_text

    text = (Path(example_files()[0]).parent / "internal-tool.yaml").read_text()
    text = text.replace("target: 99.5", "target: 99.99")
    plan = app.plan(load_text(text))
    assert loaded.platform.spec.availability.target == 99.5
    warning = " ".join(plan.warnings)
    assert "99.99" in warning and "about" in warning and "region" in warning
    assert plan.availability.estimate < 99.99


@pytest.mark.parametrize("example", [p for p in example_files() if "onprem" not in p.stem],
                         ids=lambda p: p.stem)
def test_autoscaler_bounds_hold_the_sized_node_pools(example: Path) -> None:
    """Terraform's autoscaler maximum and the cost estimate's node sizing agree."""
    from kubeplan.blocks.cluster.terraform import POOL_ZONES, max_nodes
    from kubeplan.render.terraform.model import TerraformEnv

    plan = _plan(example.stem)
    for pool in plan.cost.node_pools:
        ceiling = max_nodes(TerraformEnv(plan, pool.environment)) * POOL_ZONES
        assert ceiling >= pool.nodes, (pool.cluster, pool.nodes, ceiling)


@pytest.mark.parametrize("example", ["regulated-payments", "shop"])
def test_service_routes_attach_where_the_platform_routes_do(example: str) -> None:
    """The delivery pipeline's service route and the ingress block's app route share a parent:
    behind the Istio gateway when the mesh is STRICT, else the platform Gateway's HTTPS."""
    import yaml

    tree = app.build_tree(_plan(example))
    service = yaml.safe_load(tree.get("delivery/example-service/deploy/httproute.yaml"))
    app_routes = [yaml.safe_load(data) for path, data in tree
                  if path.startswith("gitops/clusters/") and "/manifests/apps/" in path
                  and path.endswith(".yaml") and b"kind: HTTPRoute" in data]
    assert app_routes, "the ingress block renders an application route"
    parents = {json.dumps(p, sort_keys=True) for r in app_routes for p in r["spec"]["parentRefs"]}
    assert {json.dumps(p, sort_keys=True) for p in service["spec"]["parentRefs"]} <= parents
