"""The edge layer's Cloud Armor policy is attached where traffic enters: every GKE backend
policy of a protected platform names the policy Terraform creates in its environment."""

from __future__ import annotations

import re

import yaml

from kubeplan import app
from kubeplan.render import OutputTree

from .gitops_support import example_data, example_plan, plan_from

POLICY = re.compile(r'resource "google_compute_security_policy" "edge" \{.*?\n  name += "([^"]+)"',
                    re.S)


def _files(name: str, protected: bool | None = None) -> dict[str, bytes]:
    if protected is None:
        plan = example_plan(name)
    else:
        data = example_data(name)
        data["spec"]["security"]["posture"] = "hardened"
        data["spec"].setdefault("traffic", {})["ddosProtection"] = protected
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


def test_protected_gke_backends_attach_the_edge_policy() -> None:
    files = _files("regulated-payments")
    names = {path.split("/")[1]: m for path, data in files.items()
             if path.startswith("terraform/") and path.endswith("load-balancer.tf")
             for m in POLICY.findall(data.decode())}
    policies = _backend_policies(files)
    assert policies and names
    for path, doc in policies:
        environment = path.split("/")[2].split("-")[0]
        assert doc["spec"]["default"]["securityPolicy"] == names[environment], path


def test_unprotected_backends_name_no_policy() -> None:
    files = _files("regulated-payments", protected=False)
    assert not any("security_policy" in d.decode() for p, d in files.items()
                   if p.endswith(".tf"))
    for path, doc in _backend_policies(files):
        assert "securityPolicy" not in doc["spec"]["default"], path
