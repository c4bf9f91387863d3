"""The edge layer's Cloud Armor policy is attached where traffic enters: the GKE backend
policies of a protected platform name the policy Terraform creates in its environment, unless
Cloud CDN fronts the Gateway, where the edge policy sits on the CDN's backend service and the
Gateway's backends name the origin-only policy instead."""

from __future__ import annotations

import re

import yaml

from kubeplan import app
from kubeplan.render import OutputTree

from .gitops_support import example_data, example_plan, plan_from

POLICY = re.compile(r'resource "google_compute_security_policy" "(\w+)" \{.*?\n  name += "([^"]+)"',
                    re.S)
CDN_BACKEND = re.compile(r'resource "google_compute_backend_service" "cdn" \{.*?\n\}', re.S)


def _files(name: str, protected: bool | None = None, cdn: str | None = None) -> dict[str, bytes]:
    if protected is None and cdn is None:
        plan = example_plan(name)
    else:
        data = example_data(name)
        if protected is not None:
            data["spec"]["security"]["posture"] = "hardened"
            data["spec"].setdefault("traffic", {})["ddosProtection"] = protected
        if cdn is not None:
            data["spec"].setdefault("overrides", {})["cdn"] = cdn
        plan = plan_from(data)
    tree = OutputTree()
    for renderer in (app.TARGET_RENDERERS[0], app.TARGET_RENDERERS[2]):  # gitops, terraform
        renderer(plan, tree)
    return dict(tree)


def _backend_policies(files: dict[str, bytes]) -> list[tuple[str, dict[str, object]]]:
    out = []
    for path, data in files.items():
        if path.startswith("gitops/") and path.endswith(".yaml"):
            for doc in yaml.safe_load_all(data):
                if isinstance(doc, dict) and doc.get("kind") == "GCPBackendPolicy":
                    out.append((path, doc))
    return out


def _policies(files: dict[str, bytes]) -> dict[str, dict[str, str]]:
    """environment -> Terraform resource name -> Cloud Armor policy name."""
    out: dict[str, dict[str, str]] = {}
    for path, data in files.items():
        if path.startswith("terraform/") and path.endswith(".tf"):
            for resource, name in POLICY.findall(data.decode()):
                out.setdefault(path.split("/")[1], {})[resource] = name
    return out


def _environment(path: str) -> str:
    return path.split("/")[2].split("-", maxsplit=1)[0]


def test_protected_gke_backends_attach_the_edge_policy() -> None:
    files = _files("regulated-payments", cdn="none")
    names = _policies(files)
    policies = _backend_policies(files)
    assert policies and names
    for path, doc in policies:
        assert doc["spec"]["default"]["securityPolicy"] == names[_environment(path)]["edge"], path
    assert not any("origin" in by_resource for by_resource in names.values())


def test_behind_cloud_cdn_the_edge_policy_moves_to_the_cdn() -> None:
    files = _files("regulated-payments")
    names = _policies(files)
    policies = _backend_policies(files)
    assert policies and names
    for path, doc in policies:
        assert doc["spec"]["default"]["securityPolicy"] == names[_environment(path)]["origin"], \
            path
    for environment in names:
        cdn = files[f"terraform/{environment}/edge/cdn.tf"].decode()
        backend = CDN_BACKEND.search(cdn)
        assert backend and "security_policy = google_compute_security_policy.edge.id" in \
            backend.group(0), environment


def test_unprotected_backends_name_no_policy() -> None:
    files = _files("regulated-payments", protected=False, cdn="none")
    assert not any("security_policy" in d.decode() for p, d in files.items()
                   if p.endswith(".tf"))
    for path, doc in _backend_policies(files):
        assert "securityPolicy" not in doc["spec"]["default"], path


def test_unprotected_behind_cloud_cdn_only_the_origin_policy() -> None:
    files = _files("regulated-payments", protected=False, cdn="provider")
    names = _policies(files)
    assert names and all(set(by_resource) == {"origin"} for by_resource in names.values())
    for path, doc in _backend_policies(files):
        assert doc["spec"]["default"]["securityPolicy"] == names[_environment(path)]["origin"]
    for environment in names:
        backend = CDN_BACKEND.search(files[f"terraform/{environment}/edge/cdn.tf"].decode())
        assert backend and "security_policy" not in backend.group(0)
