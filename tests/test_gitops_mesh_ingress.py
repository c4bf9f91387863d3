"""With Istio's mesh (mTLS STRICT) behind a cloud load balancer, the edge's only backend is an
Istio gateway inside the mesh, and the application routes attach to that gateway."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeplan.blocks._gitops import render_gitops
from kubeplan.model import Plan
from kubeplan.render import OutputTree

from .conftest import SHARED_UPSTREAM
from .gitops_support import check, example_data, example_plan, plan_from, write

pytestmark = pytest.mark.skipif(not SHARED_UPSTREAM.is_dir(), reason="no upstream data")

EDGE = ("gateway", "platform")
MESH_GATEWAY = ("istio-ingress", "ingress")
MESH_SERVICE = "ingress-istio"


def _objects(files: dict[str, bytes], cluster: str) -> list[dict[str, Any]]:
    prefix = f"gitops/clusters/{cluster}/"
    out: list[dict[str, Any]] = []
    for path, data in sorted(files.items()):
        if path.startswith(prefix) and path.endswith(".yaml"):
            out += [d for d in yaml.load_all(data, Loader=yaml.CSafeLoader)
                    if isinstance(d, dict) and "kind" in d]
    return out


def _gitops(plan: Plan) -> dict[str, bytes]:
    tree = OutputTree()
    render_gitops(plan, tree)
    return dict(tree)


def _parents(route: dict[str, Any]) -> set[tuple[str, str]]:
    own = route["metadata"]["namespace"]
    return {(p.get("namespace", own), p["name"]) for p in route["spec"]["parentRefs"]}


def _backends(route: dict[str, Any]) -> set[tuple[str, str]]:
    own = route["metadata"]["namespace"]
    return {(b.get("namespace", own), b["name"]) for rule in route["spec"]["rules"]
            for b in rule.get("backendRefs", [])}


def _edge_and_app_routes(docs: list[dict[str, Any]], domain: str
                         ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    routes = [d for d in docs if d["kind"] == "HTTPRoute"]
    edge = [r for r in routes if EDGE in _parents(r) and domain in r["spec"].get("hostnames", [])]
    apps = [r for r in routes if r["metadata"]["namespace"] == "apps"]
    return edge, apps


@pytest.fixture(scope="module")
def payments(tmp_path_factory: pytest.TempPathFactory) -> tuple[Plan, Path, dict[str, bytes]]:
    plan = example_plan("regulated-payments")
    out = tmp_path_factory.mktemp("payments-mesh")
    return plan, out, write(plan, out)


def test_edge_sends_only_to_the_istio_gateway(payments: tuple[Plan, Path, dict[str, bytes]]
                                              ) -> None:
    plan, _, files = payments
    assert plan.choice("ingress") == "gke-gateway" and plan.choice("service_mesh") == "istio"
    for cluster in plan.topology.clusters:
        docs = _objects(files, cluster.name)
        edge, apps = _edge_and_app_routes(docs, plan.metadata.domain)
        assert edge, cluster.name
        for route in edge:
            assert _backends(route) == {("istio-ingress", MESH_SERVICE)}, route["metadata"]
        # No route on the edge reaches the meshed application namespace.
        for route in (d for d in docs if d["kind"] == "HTTPRoute" and EDGE in _parents(d)):
            assert all(ns != "apps" for ns, _ in _backends(route)), route["metadata"]
        assert apps and all(_parents(r) == {MESH_GATEWAY} for r in apps)
        gateways = {(d["metadata"]["namespace"], d["metadata"]["name"]): d
                    for d in docs if d["kind"] == "Gateway"}
        assert gateways[MESH_GATEWAY]["spec"]["gatewayClassName"] == "istio"
        assert gateways[EDGE]["spec"]["gatewayClassName"].startswith("gke-l7-")
        # The load balancer's backend policies follow it to the Istio gateway's Service.
        policies = [d for d in docs if d["kind"] in ("GCPBackendPolicy", "HealthCheckPolicy")]
        assert {d["kind"] for d in policies} == {"GCPBackendPolicy", "HealthCheckPolicy"}
        for policy in policies:
            assert policy["metadata"]["namespace"] == "istio-ingress"
            assert policy["spec"]["targetRef"]["name"] == MESH_SERVICE


def test_network_policies_open_the_mesh_gateway_path(
        payments: tuple[Plan, Path, dict[str, bytes]]) -> None:
    plan, _, files = payments
    docs = _objects(files, plan.topology.clusters[0].name)
    policies = {(d["metadata"]["namespace"], d["metadata"]["name"]): d["spec"]
                for d in docs if d["kind"] == "NetworkPolicy"}
    # The load balancer and its health checks reach the Istio gateway, not the applications.
    assert ("istio-ingress", "allow-from-load-balancer") in policies
    assert ("apps", "allow-from-load-balancer") not in policies
    from_mesh_gateway = policies[("apps", "allow-ingress-from-istio-ingress")]
    assert from_mesh_gateway["ingress"] == [{"from": [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "istio-ingress"}}}]}]
    egress = policies[("istio-ingress", "allow-gateway-to-backends")]["egress"]
    assert egress[0]["to"][0]["namespaceSelector"]["matchLabels"] == {"kubeplan.dev/tier": "apps"}


def test_payments_tree_passes_the_upstream_interfaces(
        payments: tuple[Plan, Path, dict[str, bytes]]) -> None:
    plan, out, files = payments
    findings = check(out)
    assert not findings, "\n".join(f.render() for f in findings)
    readme = files[f"gitops/clusters/{plan.topology.clusters[0].name}/README.md"].decode()
    assert "## Request path" in readme and MESH_SERVICE in readme


def test_alb_with_istio_also_goes_through_the_istio_gateway(tmp_path: Path) -> None:
    data = example_data("aws-saas")
    data["spec"]["security"]["mtls"] = "required"
    plan = plan_from(data)
    assert plan.choice("ingress") == "aws-load-balancer-controller"
    assert plan.choice("service_mesh") == "istio"
    files = write(plan, tmp_path)
    findings = check(tmp_path)
    assert not findings, "\n".join(f.render() for f in findings)
    docs = _objects(files, plan.topology.clusters[0].name)
    edge, apps = _edge_and_app_routes(docs, plan.metadata.domain)
    assert edge and all(_backends(r) == {("istio-ingress", MESH_SERVICE)} for r in edge)
    assert apps and all(_parents(r) == {MESH_GATEWAY} for r in apps)
    # The ALB health-checks the Istio proxies' readiness endpoint, not the routed port.
    (group,) = [d for d in docs if d["kind"] == "TargetGroupConfiguration"]
    assert group["spec"]["targetReference"]["name"] == MESH_SERVICE
    assert group["spec"]["defaultConfiguration"]["healthCheckConfig"]["healthCheckPort"] == "15021"


def test_without_a_mesh_the_edge_reaches_the_applications() -> None:
    plan = example_plan("shop")
    assert plan.choice("service_mesh") == "none"
    docs = _objects(_gitops(plan), plan.topology.clusters[0].name)
    _, apps = _edge_and_app_routes(docs, plan.metadata.domain)
    assert apps and all(EDGE in _parents(r) for r in apps)
    assert not any((d.get("metadata") or {}).get("namespace") == "istio-ingress" for d in docs)
