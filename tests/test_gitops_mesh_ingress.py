"""With Istio's mesh (mTLS STRICT) behind a cloud load balancer, the edge's only backend is an
Istio gateway inside the mesh, and the application routes attach to that gateway. In production
that gateway is highly available: istiod deploys it with an autoscaler from two replicas and a
disruption budget, configured through the Gateway's parametersRef ConfigMap."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeplan.blocks._gitops import render_gitops
from kubeplan.check import kubernetes
from kubeplan.model import Plan
from kubeplan.render import OutputTree, naming
from kubeplan.render.gitops.network import (
    environment_zone,
    has_platform_gateway,
    multi_cluster_gateway,
)

from .conftest import SHARED_UPSTREAM, merge
from .gitops_support import (
    check,
    cluster_objects,
    example_data,
    example_plan,
    plan_from,
    write,
)

pytestmark = pytest.mark.skipif(not SHARED_UPSTREAM.is_dir(), reason="no upstream data")

EDGE = ("gateway", "platform")
MESH_GATEWAY = ("istio-ingress", "ingress")
MESH_SERVICE = "ingress-istio"
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"


def _istio_base(kind: str) -> dict[str, Any]:
    """What istiod's kube-gateway template renders for the mesh gateway before it merges the
    ConfigMap's overlay (Istio 1.30, manifests/charts/istiod/files/kube-gateway.yaml)."""
    meta = {"name": MESH_SERVICE, "namespace": MESH_GATEWAY[0]}
    pods = {GATEWAY_NAME_LABEL: MESH_GATEWAY[1]}
    if kind == "horizontalPodAutoscaler":
        return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                "metadata": meta, "spec": {"scaleTargetRef": {
                    "apiVersion": "apps/v1", "kind": "Deployment", "name": MESH_SERVICE},
                    "maxReplicas": 1}}
    if kind == "podDisruptionBudget":
        return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta,
                "spec": {"selector": {"matchLabels": pods}}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": {"selector": {"matchLabels": pods}, "template": {
                "metadata": {"labels": pods},
                "spec": {"containers": [{"name": "istio-proxy",
                                         "image": "docker.io/istio/proxyv2:1.30.3"}]}}}}


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
        docs = cluster_objects(files, cluster.name)
        edge, apps = _edge_and_app_routes(docs, environment_zone(plan, cluster.environment))
        # Every cluster's application routes attach to its own in-mesh gateway.
        assert apps and all(_parents(r) == {MESH_GATEWAY} for r in apps)
        gateways = {(d["metadata"]["namespace"], d["metadata"]["name"]): d
                    for d in docs if d["kind"] == "Gateway"}
        assert gateways[MESH_GATEWAY]["spec"]["gatewayClassName"] == "istio"
        policies = [d for d in docs if d["kind"] in ("GCPBackendPolicy", "HealthCheckPolicy")]
        if not has_platform_gateway(plan, cluster):
            # A multi-cluster Gateway's member: the config cluster's edge reaches this
            # cluster's Istio gateway through its export, and nothing here is on the edge.
            assert EDGE not in gateways and not edge and not policies, cluster.name
            # (and Harbor's site Service where Harbor runs, which Harbor's route there sends to)
            harbor = ([("harbor", f"harbor-{cluster.region}")]
                      if cluster.region in naming.harbor_regions(plan) else [])
            assert sorted((d["metadata"]["namespace"], d["metadata"]["name"]) for d in docs
                          if d["kind"] == "ServiceExport") == [*harbor,
                                                               ("istio-ingress", MESH_SERVICE)]
            continue
        assert edge, cluster.name
        # Several production clusters share one multi-cluster Gateway: it sends to the
        # fleet-wide import of their Istio gateways' Services.
        kind = ("ServiceImport" if multi_cluster_gateway(plan, cluster.environment)
                else "Service")
        for route in edge:
            assert _backends(route) == {("istio-ingress", MESH_SERVICE)}, route["metadata"]
            assert {ref.get("kind", "Service") for rule in route["spec"]["rules"]
                    for ref in rule["backendRefs"]} == {kind}
        # No route on the edge reaches the meshed application namespace.
        for route in (d for d in docs if d["kind"] == "HTTPRoute" and EDGE in _parents(d)):
            assert all(ns != "apps" for ns, _ in _backends(route)), route["metadata"]
        assert gateways[EDGE]["spec"]["gatewayClassName"].startswith("gke-l7-")
        # The load balancer's backend policies follow it to the Istio gateway's Service.
        assert {d["kind"] for d in policies} == {"GCPBackendPolicy", "HealthCheckPolicy"}
        for policy in policies:
            assert policy["metadata"]["namespace"] == "istio-ingress"
            assert policy["spec"]["targetRef"]["name"] == MESH_SERVICE


def test_network_policies_open_the_mesh_gateway_path(
        payments: tuple[Plan, Path, dict[str, bytes]]) -> None:
    plan, _, files = payments
    docs = cluster_objects(files, plan.topology.clusters[0].name)
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
    cluster = plan.topology.clusters[0]
    docs = cluster_objects(files, cluster.name)
    edge, apps = _edge_and_app_routes(docs, environment_zone(plan, cluster.environment))
    assert edge and all(_backends(r) == {("istio-ingress", MESH_SERVICE)} for r in edge)
    assert apps and all(_parents(r) == {MESH_GATEWAY} for r in apps)
    # The ALB health-checks the Istio proxies' readiness endpoint, not the routed port.
    (group,) = [d for d in docs if d["kind"] == "TargetGroupConfiguration"]
    assert group["spec"]["targetReference"]["name"] == MESH_SERVICE
    assert group["spec"]["defaultConfiguration"]["healthCheckConfig"]["healthCheckPort"] == "15021"


def test_without_a_mesh_the_edge_reaches_the_applications() -> None:
    plan = example_plan("shop")
    assert plan.choice("service_mesh") == "none"
    cluster = plan.topology.clusters[0]
    docs = cluster_objects(_gitops(plan), cluster.name)
    _, apps = _edge_and_app_routes(docs, environment_zone(plan, cluster.environment))
    assert apps and all(EDGE in _parents(r) for r in apps)
    assert not any((d.get("metadata") or {}).get("namespace") == "istio-ingress" for d in docs)


def test_production_mesh_gateway_is_highly_available(
        payments: tuple[Plan, Path, dict[str, bytes]]) -> None:
    plan, out, files = payments
    version = kubernetes.schema_version(out)
    production = [c for c in plan.topology.clusters
                  if c.environment == plan.topology.production]
    assert production and len(production) < len(plan.topology.clusters)
    for cluster in plan.topology.clusters:
        docs = cluster_objects(files, cluster.name)
        (gateway,) = [d for d in docs if d["kind"] == "Gateway"
                      and (d["metadata"]["namespace"], d["metadata"]["name"]) == MESH_GATEWAY]
        configs = [d for d in docs if d["kind"] == "ConfigMap"
                   and d["metadata"]["namespace"] == MESH_GATEWAY[0]]
        if cluster not in production:
            # One replica outside production: no overlays.
            assert "infrastructure" not in gateway["spec"] and not configs, cluster.name
            continue
        ref = gateway["spec"]["infrastructure"]["parametersRef"]
        assert (ref["group"], ref["kind"]) == ("", "ConfigMap")
        (config,) = [c for c in configs if c["metadata"]["name"] == ref["name"]]
        overlays = {key: yaml.safe_load(text) for key, text in config["data"].items()}
        assert set(overlays) == {"deployment", "horizontalPodAutoscaler",
                                 "podDisruptionBudget"}
        merged = {key: merge(_istio_base(key), overlay) for key, overlay in overlays.items()}
        # Each object istiod will apply is valid against the strict core schema.
        for key, data in merged.items():
            compiled = kubernetes.validator(version, data["apiVersion"], data["kind"])
            assert compiled is not None, key
            assert kubernetes.errors(compiled, data) == [], (key, data)
        autoscaler = merged["horizontalPodAutoscaler"]["spec"]
        budget = merged["podDisruptionBudget"]["spec"]
        assert autoscaler["minReplicas"] >= 2
        assert autoscaler["maxReplicas"] >= autoscaler["minReplicas"]
        assert [m["resource"]["name"] for m in autoscaler["metrics"]] == ["cpu"]
        # The budget leaves room for a voluntary eviction at the minimum replica count.
        assert 1 <= budget["minAvailable"] < autoscaler["minReplicas"]
        # The autoscaler owns the replica count; the deployment overlay does not set one.
        assert "replicas" not in overlays["deployment"].get("spec", {})
        pod = merged["deployment"]["spec"]["template"]["spec"]
        (spread,) = pod["topologySpreadConstraints"]
        assert spread["topologyKey"] == "topology.kubernetes.io/zone"
        assert spread["labelSelector"]["matchLabels"] == {GATEWAY_NAME_LABEL: MESH_GATEWAY[1]}
        assert pod["priorityClassName"] == "platform-critical"
