"""GKE behind the global load balancer: every Gateway claims the address the edge layer
reserves, and an environment of several clusters (the shop's two-region production) has one
multi-cluster Gateway in the config cluster, whose routes send to ServiceImports that every
cluster fills through its ServiceExports, so one anycast load balancer spans both regions."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeplan import catalogue
from kubeplan.blocks.ci import gitops as ci_gitops
from kubeplan.blocks.registry import gitops as registry_gitops
from kubeplan.check import crds, kubernetes
from kubeplan.check.manifests import Document
from kubeplan.model import Plan
from kubeplan.render import naming, to_yaml, to_yaml_stream
from kubeplan.render.delivery import RELEASES_DIR, SERVICE
from kubeplan.render.delivery.service import (
    FLEET_ROUTES_LABEL,
    RELEASES_PROJECT,
    fleet_routes,
    hostname,
    manifests,
    release_documents,
)
from kubeplan.render.gitops.network import app_parent_ref, multi_cluster_gateway

from . import terraform_support
from .conftest import SHARED_UPSTREAM
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
MC_CLASS = "gke-l7-global-external-managed-mc"
MCS = ("net.gke.io", "ServiceImport")

Built = tuple[Plan, Path, dict[str, bytes]]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Built:
    plan = example_plan("shop")
    out = tmp_path_factory.mktemp("shop-mcg")
    return plan, out, write(plan, out)


@pytest.fixture(scope="module")
def shop_tf() -> terraform_support.Rendered:
    return terraform_support.render("shop")


def _key(doc: dict[str, Any]) -> tuple[str, str]:
    return doc["metadata"].get("namespace", ""), doc["metadata"]["name"]


def _of(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def _on_edge(route: dict[str, Any]) -> bool:
    own = route["metadata"]["namespace"]
    return any((p.get("namespace", own), p["name"]) == EDGE for p in route["spec"]["parentRefs"])


def _production(plan: Plan) -> list[str]:
    return [c.name for c in plan.topology.clusters_in(plan.topology.production)]


def _address_names(rendered: terraform_support.Rendered, environment: str) -> list[str]:
    """The names of the addresses the edge layer reserves for the Gateway."""
    parsed = rendered.parsed()[f"terraform/{environment}/edge/load-balancer.tf"]
    names = []
    for resource in parsed["resource"]:  # type: ignore[attr-defined]
        for kind in ('"google_compute_global_address"', '"google_compute_address"'):
            body = resource.get(kind, {}).get('"gateway"')
            if body:
                names.append(body["name"].strip('"'))
    return names


def test_production_has_one_multi_cluster_gateway_in_the_config_cluster(shop: Built) -> None:
    plan, _, files = shop
    production = _production(plan)
    assert len(production) == 2 and multi_cluster_gateway(plan, plan.topology.production)
    config = naming.config_cluster(plan, plan.topology.production)
    found = {c: _of(cluster_objects(files, c), "Gateway") for c in production}
    assert {c for c, gateways in found.items() if gateways} == {config}
    (gateway,) = found[str(config)]
    assert _key(gateway) == EDGE
    spec = gateway["spec"]
    assert spec["gatewayClassName"] == MC_CLASS
    assert spec["addresses"] == [{"type": "NamedAddress", "value": naming.gateway_address(
        plan, plan.topology.production)}]
    assert gateway["metadata"]["annotations"]["networking.gke.io/certmap"] == \
        naming.certificate_map(plan, plan.topology.production)
    # Its TLS policy stays attached; the other clusters carry no edge objects at all.
    policies = _of(cluster_objects(files, str(config)), "GCPGatewayPolicy")
    assert [p["spec"]["targetRef"]["name"] for p in policies] == ["platform"]
    for cluster in production:
        if cluster != config:
            docs = cluster_objects(files, cluster)
            assert not [d for d in _of(docs, "HTTPRoute") if _on_edge(d)], cluster
            assert not _of(docs, "GCPGatewayPolicy"), cluster


def test_routes_send_to_imports_that_every_production_cluster_exports(shop: Built) -> None:
    plan, _, files = shop
    config = str(naming.config_cluster(plan, plan.topology.production))
    exports = {c: {_key(d) for d in _of(cluster_objects(files, c), "ServiceExport")}
               for c in _production(plan)}
    routes = [r for r in _of(cluster_objects(files, config), "HTTPRoute") if _on_edge(r)]
    backends = [(r["metadata"]["namespace"], ref) for r in routes
                for rule in r["spec"]["rules"] for ref in rule.get("backendRefs", [])]
    assert backends, "the zone's root route sends somewhere"
    for namespace, ref in backends:
        assert (ref.get("group"), ref.get("kind")) == MCS, ref
        assert ref.get("port"), ref
        target = (ref.get("namespace", namespace), ref["name"])
        for cluster, exported in exports.items():
            assert target in exported, (cluster, target)
    # The load balancer's backend settings name the same imports, in the config cluster only.
    imported = {(ref.get("namespace", ns), ref["name"]) for ns, ref in backends}
    for cluster in _production(plan):
        policies = [d for d in cluster_objects(files, cluster)
                    if d["kind"] in ("GCPBackendPolicy", "HealthCheckPolicy")]
        if cluster != config:
            assert not policies, cluster
            continue
        assert {d["kind"] for d in policies} == {"GCPBackendPolicy", "HealthCheckPolicy"}
        for policy in policies:
            target = policy["spec"]["targetRef"]
            assert (target["group"], target["kind"]) == MCS
            assert (policy["metadata"]["namespace"], target["name"]) in imported


def test_other_environments_keep_a_single_cluster_gateway_on_their_address(shop: Built
                                                                           ) -> None:
    plan, _, files = shop
    others = [c for c in plan.topology.clusters if c.environment != plan.topology.production]
    assert others
    for cluster in others:
        assert not multi_cluster_gateway(plan, cluster.environment)
        docs = cluster_objects(files, cluster.name)
        (gateway,) = _of(docs, "Gateway")
        assert gateway["spec"]["gatewayClassName"] == "gke-l7-global-external-managed"
        assert gateway["spec"]["addresses"] == [{"type": "NamedAddress", "value": (
            naming.gateway_address(plan, cluster.environment))}]
        assert not _of(docs, "ServiceExport")
        for route in (r for r in _of(docs, "HTTPRoute") if _on_edge(r)):
            for rule in route["spec"]["rules"]:
                assert all("kind" not in ref for ref in rule.get("backendRefs", [])), route


def test_named_address_is_the_one_terraform_reserves(
        shop: Built, shop_tf: terraform_support.Rendered) -> None:
    plan, _, files = shop
    claimed = {(c.environment, g["spec"]["addresses"][0]["value"])
               for c in plan.topology.clusters for g in _of(cluster_objects(files, c.name), "Gateway")}
    reserved = {(e, name) for e in plan.metadata.environments
                for name in _address_names(shop_tf, e)}
    assert claimed == reserved and len(reserved) == len(plan.metadata.environments)


def test_regional_gateway_claims_the_regional_address(tmp_path: Path) -> None:
    plan = example_plan("internal-tool")
    assert plan.choice("load_balancer") == "regional" and plan.choice("ingress") == "gke-gateway"
    files = write(plan, tmp_path)
    rendered = terraform_support.render("internal-tool", plan)
    for cluster in plan.topology.clusters:
        (gateway,) = _of(cluster_objects(files, cluster.name), "Gateway")
        assert gateway["spec"]["gatewayClassName"] == "gke-l7-regional-external-managed"
        assert [a["value"] for a in gateway["spec"]["addresses"]] == \
            _address_names(rendered, cluster.environment)


def test_config_cluster_is_terraforms_config_membership(
        shop: Built, shop_tf: terraform_support.Rendered) -> None:
    plan, _, _ = shop
    production = plan.topology.production
    config = naming.config_cluster(plan, production)
    assert config == _production(plan)[0]
    edge = shop_tf.tf()[f"terraform/{production}/edge/load-balancer.tf"]
    assert f'fleet_memberships["{config}"]' in edge
    assert edge.count("fleet_memberships[") == 1
    outputs = shop_tf.parsed()[f"terraform/{production}/edge/outputs.tf"]
    (value,) = [o['"config_cluster"']["value"] for o in outputs["output"]  # type: ignore[attr-defined]
                if '"config_cluster"' in o]
    assert value.strip('"') == config
    # Single-cluster environments have no fleet, in either target.
    for environment in plan.metadata.environments:
        if environment != production:
            assert naming.config_cluster(plan, environment) is None
            assert "multiclusteringress" not in shop_tf.tf()[
                f"terraform/{environment}/edge/load-balancer.tf"]


def test_external_dns_publishes_from_the_config_cluster_only(shop: Built) -> None:
    plan, _, files = shop
    config = naming.config_cluster(plan, plan.topology.production)
    owners = []
    for cluster in plan.topology.clusters:
        values = yaml.safe_load(files[f"gitops/clusters/{cluster.name}/external-dns/values.yaml"])
        # Only the platform Gateway's routes become records, and that Gateway exists in the
        # config cluster alone among production's clusters.
        assert values["sources"] == ["gateway-httproute"]
        assert {"--gateway-name=platform", "--gateway-namespace=gateway"} <= set(
            values["extraArgs"])
        has_edge = any(_key(g) == EDGE for g in _of(cluster_objects(files, cluster.name), "Gateway"))
        assert has_edge == (cluster.environment != plan.topology.production
                            or cluster.name == config), cluster.name
        # Sync deletes only what this cluster's own TXT owner id marks.
        assert values["policy"] == "sync" and values["registry"] == "txt"
        owners.append(values["txtOwnerId"])
    assert len(set(owners)) == len(owners)


def test_shop_tree_passes_the_validators(shop: Built) -> None:
    _, out, _ = shop
    findings = check(out)
    assert not findings, "\n".join(f.render() for f in findings)


@pytest.mark.parametrize(("change", "message"), [
    ({}, None),
    ({"spec": {}}, "Additional properties"),
    ({"apiVersion": "net.gke.io/v1beta1"}, "is not served"),
    ({"metadata": {"name": "web"}}, "is namespaced"),
    ({"metadata": {"name": "web", "namespace": "apps", "labels": {"a": 1}}}, "not of type"),
])
def test_provider_managed_kinds_hold_metadata_only(change: dict[str, Any],
                                                   message: str | None) -> None:
    data = {"apiVersion": "net.gke.io/v1", "kind": "ServiceExport",
            "metadata": {"name": "web", "namespace": "apps"}, **change}
    assert ("net.gke.io", "ServiceExport") in crds.PROVIDER_MANAGED
    found = crds.check_provider_managed(Document("x.yaml", 0, data),
                                        kubernetes.supported_versions()[-1])
    if message is None:
        assert found == []
    else:
        assert found and any(message in f.message for f in found), found


def test_exporting_namespaces_admit_the_load_balancer_in_every_cluster() -> None:
    """Behind the multi-cluster Gateway the Istio gateway of every production cluster is a
    backend of the global load balancer (health checks included), not only the config cluster's."""
    from kubeplan.blocks._gitops import block_addons
    from kubeplan.render.gitops.baseline import baseline_addon
    from kubeplan.render.gitops.compose import controller

    from .gitops_support import example_plan

    plan = example_plan("regulated-payments")
    for cluster in plan.topology.clusters_in(plan.topology.production):
        addons = [controller(plan, cluster), *block_addons(plan, cluster)]
        baseline = baseline_addon(plan, cluster, addons)
        names = {(o["metadata"].get("namespace"), o["metadata"]["name"])
                 for o in baseline.objects if o["kind"] == "NetworkPolicy"}
        assert ("istio-ingress", "allow-from-load-balancer") in names, cluster.name


# --- Released services and Harbor behind the multi-cluster Gateway --------------------------
#
# The example service's release (delivery/releases/<environment>/) is applied by the releases
# unit of every cluster of its environment; Harbor runs in production's registry regions. Both
# must be reachable through the config cluster's Gateway, through Services each production
# cluster exports.

RELEASE_FILE = f"{RELEASES_DIR}/{{environment}}/{SERVICE}.yaml"


def _releases(plan: Plan, root: Path) -> dict[str, list[dict[str, Any]]]:
    """Writes every environment's release file into the tree (so the validators see them)."""
    out = {}
    for environment in plan.metadata.environments:
        docs = release_documents(plan, environment)
        path = root / RELEASE_FILE.format(environment=environment)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(to_yaml_stream(docs))
        out[environment] = docs
    return out


@pytest.fixture(scope="module")
def payments(tmp_path_factory: pytest.TempPathFactory) -> Built:
    plan = example_plan("regulated-payments")
    out = tmp_path_factory.mktemp("payments-mcg")
    return plan, out, write(plan, out)


@pytest.fixture(scope="module")
def trees(shop: Built, payments: Built) -> dict[str, tuple[Built, dict[str, list[dict[str, Any]]]]]:
    return {"shop": (shop, _releases(shop[0], shop[1])),
            "regulated-payments": (payments, _releases(payments[0], payments[1]))}


def _release_object(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] in ("Application", "Kustomization"))


def _release_patches(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    release = _release_object(docs)
    spec = release["spec"]
    return list(spec["source"]["kustomize"]["patches"] if release["kind"] == "Application"
                else spec["patches"])


def _apply_route_patches(plan: Plan, docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The service's HTTPRoute as the release deploys it (its JSON 6902 replace operations)."""
    route = copy.deepcopy(manifests(plan)["httproute.yaml"])
    for patch in _release_patches(docs):
        assert patch["target"] == {"kind": "HTTPRoute", "name": SERVICE}
        for op in json.loads(patch["patch"]):
            assert op["op"] == "replace"
            *parents, last = op["path"].strip("/").split("/")
            node: Any = route
            for part in parents:
                node = node[int(part)] if isinstance(node, list) else node[part]
            node[last] = op["value"]
    return route


def _releases_unit(docs: list[dict[str, Any]], environment: str) -> dict[str, Any]:
    """The releases unit's Application or Kustomization of a cluster."""
    (unit,) = [d for d in docs if d["kind"] in ("Application", "Kustomization")
               and d.get("metadata", {}).get("name") == f"releases-{environment}"]
    return unit


@pytest.mark.parametrize("example", ["shop", "regulated-payments"])
def test_every_route_on_the_mc_gateway_sends_to_imports_production_exports(
        trees: dict[str, tuple[Built, dict[str, list[dict[str, Any]]]]], example: str) -> None:
    (plan, _, files), releases = trees[example]
    production = plan.topology.production
    config = str(naming.config_cluster(plan, production))
    clusters = {c.name: c for c in plan.topology.clusters_in(production)}
    exports = {name: {_key(d) for d in _of(cluster_objects(files, name), "ServiceExport")}
               for name in clusters}
    # Each cluster's releases unit applies the environment's release folder: its exports too.
    for name in clusters:
        unit = _releases_unit(cluster_objects(files, name), production)
        path = (unit["spec"]["source"]["path"] if unit["kind"] == "Application"
                else unit["spec"]["path"].removeprefix("./"))
        assert path == f"{RELEASES_DIR}/{production}"
        exports[name] |= {_key(d) for d in _of(releases[production], "ServiceExport")}
    routes = [r for r in _of(cluster_objects(files, config), "HTTPRoute") if _on_edge(r)]
    released = _apply_route_patches(plan, releases[production])
    released["metadata"]["namespace"] = naming.APP_NAMESPACE
    if _on_edge(released):
        routes.append(released)
    else:  # behind the mesh: the in-mesh gateway of every cluster, to the local Service
        assert released["spec"]["parentRefs"] == [app_parent_ref(plan)]
        assert released["spec"]["rules"][0]["backendRefs"] == [{"name": SERVICE, "port": 80}]
    harbor_regions = naming.harbor_regions(plan) if plan.choice("registry") == "harbor" else []
    checked = set()
    for route in routes:
        namespace = route["metadata"]["namespace"]
        for rule in route["spec"]["rules"]:
            for ref in rule.get("backendRefs", []):
                assert (ref.get("group"), ref.get("kind")) == MCS, (route["metadata"], ref)
                target = (ref.get("namespace", namespace), ref["name"])
                exporters = {name for name, exported in exports.items() if target in exported}
                assert exporters, target
                checked.add(target)
                if target[0] == "harbor":
                    # One site's host reaches that site's Harbor only.
                    (region,) = [r for r in harbor_regions if target[1] == f"harbor-{r}"]
                    assert route["spec"]["hostnames"] == [naming.harbor_host(plan, region)]
                    assert exporters == {n for n, c in clusters.items() if c.region == region}
                else:
                    assert exporters == set(clusters), target
    if example == "shop":
        assert (naming.APP_NAMESPACE, SERVICE) in checked
    else:
        assert {("harbor", f"harbor-{r}") for r in harbor_regions} <= checked
        assert len(harbor_regions) == 2


@pytest.mark.parametrize("example", ["shop", "regulated-payments"])
def test_releases_carry_the_export_where_the_service_routes_need_it(
        trees: dict[str, tuple[Built, dict[str, list[dict[str, Any]]]]], example: str) -> None:
    (plan, _, files), releases = trees[example]
    production = plan.topology.production
    for environment, docs in releases.items():
        fleet = environment == production and example == "shop"
        assert fleet_routes(plan, environment) == fleet
        exported = [_key(d) for d in _of(docs, "ServiceExport")]
        assert exported == ([(naming.APP_NAMESPACE, SERVICE)] if fleet else []), environment
        labels = _release_object(docs)["metadata"].get("labels", {})
        assert (labels == FLEET_ROUTES_LABEL) == fleet
        for cluster in plan.topology.clusters_in(environment):
            objects = cluster_objects(files, cluster.name)
            (project,) = [d for d in _of(objects, "AppProject")
                          if d["metadata"]["name"] == RELEASES_PROJECT]
            kinds = {(k["group"], k["kind"]) for k in project["spec"]["namespaceResourceWhitelist"]}
            namespaces = {d["namespace"] for d in project["spec"]["destinations"]}
            # Least privilege: the export is admitted only where releases carry one.
            if fleet:
                assert kinds == {("argoproj.io", "Application"), ("net.gke.io", "ServiceExport")}
                assert namespaces == {"argocd", naming.APP_NAMESPACE}
            else:
                assert kinds == {("argoproj.io", "Application")}
                assert namespaces == {"argocd"}
            assert project["spec"]["clusterResourceWhitelist"] == []
            unit = _releases_unit(objects, environment)
            dropped = "kustomize" in unit["spec"]["source"]
            assert dropped == (fleet and cluster.name != naming.config_cluster(plan, environment))


def _kustomize(folder: Path) -> list[dict[str, Any]]:
    done = subprocess.run(["kubectl", "kustomize", str(folder)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def _deployed(plan: Plan, release: dict[str, Any], folder: Path) -> list[dict[str, Any]]:
    """What the release makes of the service's `deploy/` (kustomize, as Argo CD and Flux run
    it, with the release's patches)."""
    folder.mkdir(parents=True)
    files = manifests(plan)
    for name, data in files.items():
        (folder / name).write_text(to_yaml(data))
    spec = release["spec"]
    patches = (spec["source"]["kustomize"]["patches"] if release["kind"] == "Application"
               else spec["patches"])
    (folder / "kustomization.yaml").write_text(to_yaml({**files["kustomization.yaml"],
                                                        "patches": patches}))
    return _kustomize(folder)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (kustomize) not installed")
@pytest.mark.parametrize("gitops", ["argocd", "flux"])
def test_clusters_without_the_gateway_drop_the_released_route(tmp_path: Path,
                                                               gitops: str) -> None:
    """Built with kustomize: the releases unit's patch in a cluster without the platform
    Gateway removes the service's HTTPRoute (and nothing else); the config cluster's release
    keeps it, sending to the ServiceImport on the environment's hostname."""
    data = example_data("shop")
    data["spec"]["delivery"]["gitops"] = gitops
    plan = plan_from(data)
    production = plan.topology.production
    config = naming.config_cluster(plan, production)
    for cluster in plan.topology.clusters_in(production):
        folder = tmp_path / cluster.name / "releases"
        folder.mkdir(parents=True)
        docs = release_documents(plan, production)
        (folder / f"{SERVICE}.yaml").write_text(to_yaml_stream(docs))
        (unit,) = [a for a in ci_gitops.addons(plan, cluster) if a.name == "releases"]
        engine = _releases_unit([dict(o) for o in unit.objects], production)
        spec = engine["spec"]
        patches = (spec["source"].get("kustomize", {}).get("patches", [])
                   if gitops == "argocd" else spec.get("patches", []))
        (folder / "kustomization.yaml").write_text(to_yaml({
            "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "resources": [f"{SERVICE}.yaml"], **({"patches": patches} if patches else {})}))
        built = _kustomize(folder)
        assert [(d["kind"], d["metadata"]["name"]) for d in built if d["kind"] == "ServiceExport"
                ] == [("ServiceExport", SERVICE)]
        deployed = _deployed(plan, _release_object(built), tmp_path / cluster.name / "deploy")
        kinds = sorted(d["kind"] for d in deployed)
        if cluster.name == config:
            (route,) = [d for d in deployed if d["kind"] == "HTTPRoute"]
            assert route["spec"]["hostnames"] == [hostname(plan, production)]
            assert route["spec"]["rules"][0]["backendRefs"] == [
                {"group": "net.gke.io", "kind": "ServiceImport", "name": SERVICE, "port": 80}]
        else:
            assert "HTTPRoute" not in kinds
            assert engine["metadata"].get("annotations", {}).get(
                "kustomize.toolkit.fluxcd.io/substitute") == (
                    "disabled" if gitops == "flux" else None)
        assert {"Deployment", "Service", "ServiceAccount"} <= set(kinds)


def test_single_cluster_harbor_keeps_its_route_to_the_chart_service() -> None:
    plan = example_plan("factory-onprem")
    assert plan.choice("registry") == "harbor"
    production = plan.topology.production
    for cluster in plan.topology.clusters_in(production):
        if multi_cluster_gateway(plan, production) or cluster.region not in \
                naming.harbor_regions(plan):
            continue
        (harbor,) = [a for a in registry_gitops.addons(plan, cluster) if a.name == "harbor"]
        kinds = sorted(o["kind"] for o in harbor.objects)
        assert kinds == ["HTTPRoute"]
        (route,) = harbor.objects
        assert route["metadata"]["name"] == "harbor"
        assert route["spec"]["hostnames"] == [naming.harbor_host(plan, cluster.region)]
        assert route["spec"]["rules"][0]["backendRefs"] == [{"name": "harbor", "port": 80}]


def test_regional_harbor_services_select_the_charts_entry_pods(payments: Built) -> None:
    """harbor-helm v1.19.1 templates/nginx/service.yaml: the `harbor` Service selects
    release/app (harbor.matchLabels) and component nginx, port 80 to the container's 8080."""
    plan, _, files = payments
    assert catalogue.chart("harbor")["version"] == "1.19.1"
    for cluster in plan.topology.clusters_in(plan.topology.production):
        services = [s for s in _of(cluster_objects(files, cluster.name), "Service")
                    if s["metadata"].get("namespace") == "harbor"]
        if cluster.region not in naming.harbor_regions(plan):
            assert not services
            continue
        (service,) = services
        assert service["metadata"]["name"] == f"harbor-{cluster.region}"
        assert service["spec"]["selector"] == {"release": "harbor", "app": "harbor",
                                               "component": "nginx"}
        assert service["spec"]["ports"] == [{"name": "http", "protocol": "TCP", "port": 80,
                                             "targetPort": 8080}]


@pytest.mark.parametrize("example", ["shop", "regulated-payments"])
def test_trees_with_their_releases_pass_the_validators(
        trees: dict[str, tuple[Built, dict[str, list[dict[str, Any]]]]], example: str) -> None:
    (_, out, _), _ = trees[example]
    assert (out / RELEASES_DIR).is_dir()
    findings = check(out)
    assert not findings, "\n".join(f.render() for f in findings)
