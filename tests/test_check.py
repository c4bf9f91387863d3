"""The GitOps validators on small hand-made trees: each catches what it is for."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeplan.check import crds, kubernetes, secrets, values
from kubeplan.render import to_yaml, to_yaml_stream

from .conftest import SHARED_UPSTREAM

pytestmark = pytest.mark.skipif(not SHARED_UPSTREAM.is_dir(), reason="no upstream data")


def _tree(tmp_path: Path, files: dict[str, object]) -> Path:
    for rel, data in files.items():
        target = tmp_path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(to_yaml_stream(data) if isinstance(data, list) else to_yaml(data))
    return tmp_path


NETPOL = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
          "metadata": {"name": "deny", "namespace": "apps"},
          "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}


def test_core_objects_strict(tmp_path: Path) -> None:
    bad = {**NETPOL, "spec": {**NETPOL["spec"], "policyType": ["Ingress"]}}  # type: ignore[dict-item]
    missing_ns = {**NETPOL, "metadata": {"name": "x"}}
    root = _tree(tmp_path, {"a.yaml": [NETPOL, bad, missing_ns]})
    found = kubernetes.validate(root, SHARED_UPSTREAM)
    messages = "\n".join(f.render() for f in found)
    assert "a.yaml#2" in messages and "policyType" in messages
    assert "a.yaml#3" in messages and "metadata.namespace" in messages
    assert "a.yaml:" not in messages.replace("a.yaml#", "")  # the valid one passes


def test_custom_resources_against_upstream_crds(tmp_path: Path) -> None:
    issuer = {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
              "metadata": {"name": "ca"}, "spec": {"ca": {"secretName": "root"}}}
    typo = {**issuer, "spec": {"ca": {"secretNam": "root"}}}
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    alertmanager = {"apiVersion": "monitoring.coreos.com/v1alpha1", "kind": "AlertmanagerConfig",
                    "metadata": {"name": "a", "namespace": "monitoring"},
                    "spec": {"route": {"receiver": "r", "matchers": [
                        {"name": "severity", "value": "critical", "matchType": "="}]},
                        "receivers": [{"name": "r"}]}}
    root = _tree(tmp_path, {"ok.yaml": [issuer, alertmanager], "bad.yaml": [typo, unknown]})
    found = crds.validate(root, SHARED_UPSTREAM)
    files = {f.file for f in found}
    assert files == {"bad.yaml", "bad.yaml#2"}, [f.render() for f in found]


def test_values_against_chart_defaults_and_schema(tmp_path: Path) -> None:
    app = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
           "metadata": {"name": "external-dns", "namespace": "argocd"},
           "spec": {"project": "p", "destination": {"namespace": "external-dns"},
                    "sources": [{"repoURL": "https://kubernetes-sigs.github.io/external-dns/",
                                 "chart": "external-dns", "targetRevision": "1.21.1",
                                 "helm": {"valueFiles": ["$values/v/values.yaml"]}},
                                {"repoURL": "https://example.invalid/repo.git", "ref": "values"}]}}
    good = {"provider": {"name": "google"}, "policy": "sync", "podLabels": {"any": "thing"}}
    root = _tree(tmp_path, {"app.yaml": app, "v/values.yaml": good})
    assert values.validate(root, SHARED_UPSTREAM) == []
    (root / "v/values.yaml").write_text(to_yaml({**good, "polcy": "sync", "policy": "always"}))
    found = "\n".join(f.render() for f in values.validate(root, SHARED_UPSTREAM))
    assert "polcy: unknown key" in found
    assert "policy" in found and "values.schema.json" in found


def test_no_secret_values(tmp_path: Path) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "a"},
              "stringData": {"token": "x"}}
    empty = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "e", "namespace": "a"}}
    root = _tree(tmp_path, {"s.yaml": [secret, empty]})
    found = secrets.validate(root, SHARED_UPSTREAM)
    assert [f.file for f in found] == ["s.yaml"]


def test_a_fresh_onprem_build_passes_kubeplan_check(tmp_path: Path) -> None:
    """The whole `kubeplan check` over a whole build (the platform pipeline's first job):
    kubeadm, kubelet, audit and encryption configuration are component files, not findings."""
    from kubeplan import app

    app.build(app.plan(app.load_spec(None, "factory-onprem").loaded), tmp_path / "out")
    findings = app.check(tmp_path / "out", SHARED_UPSTREAM)
    assert not findings, "\n".join(f.render() for f in findings)
    assert list((tmp_path / "out").rglob("kubeadm.yaml"))
