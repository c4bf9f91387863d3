"""The GitOps tree: every example's objects and values pass the upstream interfaces, the output
is deterministic, and changes to the spec change the tree the way the decisions say."""

from __future__ import annotations

import json
import re
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeplan.blocks._gitops import block_addons, render_gitops
from kubeplan.model import Plan
from kubeplan.render import OutputTree
from kubeplan.render.gitops.addon import PHASES
from kubeplan.render.gitops.compose import controller
from kubeplan.render.gitops.units import units

from .conftest import SHARED_UPSTREAM
from .gitops_support import check, example_data, example_names, example_plan, plan_from, write

pytestmark = pytest.mark.skipif(not SHARED_UPSTREAM.is_dir(), reason="no upstream data")


@pytest.fixture(scope="module", params=example_names())
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> tuple[str, Path, dict[str, bytes]]:
    name = str(request.param)
    out = tmp_path_factory.mktemp(name)
    return name, out, write(example_plan(name), out)


def _docs(files: dict[str, bytes], prefix: str = "gitops/") -> list[tuple[str, Any]]:
    out = []
    for path, data in sorted(files.items()):
        if path.startswith(prefix) and path.endswith(".yaml"):
            out += [(path, d) for d in yaml.load_all(data, Loader=yaml.CSafeLoader)
                    if isinstance(d, dict) and "kind" in d and "apiVersion" in d]
    return out


def test_every_object_and_values_file_passes(built: tuple[str, Path, dict[str, bytes]]
                                             ) -> None:
    name, out, files = built
    findings = check(out)
    assert not findings, "\n".join(f.render() for f in findings)
    assert any(p.endswith("/values.yaml") for p in files), f"{name}: no chart values"


def test_baseline_namespaces_and_policies(built: tuple[str, Path, dict[str, bytes]]) -> None:
    _, _, files = built
    docs = _docs(files)
    namespaces = {(p.split("/")[2], d["metadata"]["name"]): d for p, d in docs
                  if d.get("kind") == "Namespace"}
    deny = {(p.split("/")[2], d["metadata"]["namespace"]) for p, d in docs
            if d.get("kind") == "NetworkPolicy" and d["metadata"]["name"] == "default-deny"}
    assert namespaces
    for key, ns in namespaces.items():
        labels = ns["metadata"]["labels"]
        level = labels["pod-security.kubernetes.io/enforce"]
        assert level in ("restricted", "baseline", "privileged")
        if level != "restricted":
            assert ns["metadata"]["annotations"]["kubeplan.dev/pod-security-reason"]
        assert key in deny, f"namespace {key} has no default-deny policy"
    kinds = {d["kind"] for _, d in docs}
    assert {"ResourceQuota", "LimitRange", "PriorityClass", "ClusterRoleBinding",
            "RoleBinding"} <= kinds


def test_no_retired_components(built: tuple[str, Path, dict[str, bytes]]) -> None:
    _, _, files = built
    for path, data in files.items():
        text = data.decode("utf-8", "replace").lower()
        assert "ingress-nginx" not in text, path
        assert "promtail" not in text, path


def _gitops(plan: Plan) -> dict[str, bytes]:
    """The GitOps target alone (faster than the whole build)."""
    tree = OutputTree()
    render_gitops(plan, tree)
    return dict(tree)


def test_output_is_byte_identical() -> None:
    plan = example_plan("factory-onprem")
    first = _gitops(plan)
    second = _gitops(example_plan("factory-onprem"))
    assert first == second and first


def test_waves_follow_the_phase_table() -> None:
    plan = example_plan("regulated-payments")
    cluster = plan.topology.clusters[0]
    planned = units(cluster, [controller(plan, cluster), *block_addons(plan, cluster)])
    waves = [u.wave for u in planned]
    assert waves == sorted(waves)
    for unit in planned:
        assert PHASES[unit.phase] <= unit.wave < PHASES[unit.phase] + 10
    by_name = {u.name: u for u in planned}
    # CRDs before their controllers, controllers before the custom resources.
    assert by_name["istio-base"].wave < by_name["istiod"].wave < by_name["istio-cni"].wave
    assert by_name["cert-manager" if "cert-manager" in by_name else "external-secrets"].wave < \
        by_name["external-secrets-config"].wave


def test_adding_a_region_adds_a_cluster_and_its_tree() -> None:
    data = example_data("internal-tool")
    before = plan_from(data)
    data["spec"]["regions"] = [*data["spec"]["regions"], "europe-west4"]
    after = plan_from(data)
    assert len(after.topology.clusters) == len(before.topology.clusters) + 1
    new = {c.name for c in after.topology.clusters} - {c.name for c in before.topology.clusters}
    files = _gitops(after)
    for name in new:
        assert f"gitops/clusters/{name}/README.md" in files
        assert f"gitops/clusters/{name}/flux/phases.yaml" in files


def test_flux_instead_of_argocd() -> None:
    data = example_data("shop")
    argo = _gitops(plan_from(data))
    data["spec"]["delivery"]["gitops"] = "flux"
    flux = _gitops(plan_from(data))
    argo_kinds = {d["kind"] for _, d in _docs(argo)}
    flux_docs = _docs(flux)
    flux_kinds = {d["kind"] for _, d in flux_docs}
    assert "Application" in argo_kinds and "HelmRelease" not in argo_kinds
    assert "Application" not in flux_kinds and "AppProject" not in flux_kinds
    assert {"HelmRelease", "HelmRepository", "GitRepository"} <= flux_kinds
    by_file: dict[str, list[dict[str, Any]]] = {}
    for path, doc in flux_docs:
        if path.endswith("/flux/phases.yaml"):
            by_file.setdefault(path, []).append(doc)
    assert by_file
    for chain in by_file.values():
        # Each phase waits for the one before it, in the phase table's order.
        assert chain[0]["metadata"]["name"] == "platform-namespaces"
        for previous, current in pairwise(chain):
            assert current["spec"]["dependsOn"] == [{"name": previous["metadata"]["name"]}]
            assert current["spec"]["wait"] is True
    # Values are never substituted whole (Grafana's `$${__value.raw}` must survive): only the
    # platform-values overlay, which repeats the keys that mention a platform output.
    kps = "gitops/clusters/dev-europe-west1/kube-prometheus-stack"
    assert "$${__value.raw}" in flux[f"{kps}/values.yaml"].decode()
    overlay = yaml.safe_load(flux[f"{kps}/platform-values.yaml"])
    assert "${GCP_PROJECT_ID}" in json.dumps(overlay) and "__value" not in json.dumps(overlay)
    generators = yaml.safe_load(flux[f"{kps}/kustomization.yaml"])["configMapGenerator"]
    assert generators[0]["files"] == ["values.yaml"]
    assert generators[0]["options"]["annotations"] == {
        "kustomize.toolkit.fluxcd.io/substitute": "disabled"}
    assert generators[1]["files"] == ["platform-values.yaml"] and "options" not in generators[1]
    release = yaml.safe_load(flux[f"{kps}/helmrelease.yaml"])
    assert [v["valuesKey"] for v in release["spec"]["valuesFrom"]] == [
        "values.yaml", "platform-values.yaml"]


def test_check_fails_on_a_misspelt_values_key_and_an_invalid_object(tmp_path: Path) -> None:
    from kubeplan.cli import main

    out = tmp_path / "tree"
    write(example_plan("azure-startup"), out)
    values_file = next(p for p in sorted(out.rglob("cert-manager/values.yaml")))
    text = values_file.read_text()
    values_file.write_text(text.replace("replicaCount:", "replicaCout:", 1))
    policy = next(p for p in sorted(out.rglob("networkpolicy-default-deny.yaml")))
    policy.write_text(policy.read_text().replace("policyTypes:", "policyType:"))
    args = ["check", str(out), "--upstream", str(SHARED_UPSTREAM)]
    assert main(args) == 1
    findings = check(out)
    rendered = "\n".join(f.render() for f in findings)
    rel_values = values_file.relative_to(out).as_posix()
    assert re.search(re.escape(rel_values) + r".*replicaCout", rendered), rendered
    rel_policy = policy.relative_to(out).as_posix()
    assert re.search(re.escape(rel_policy) + r".*policyType", rendered), rendered
