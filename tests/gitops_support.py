"""Helpers for the GitOps tests: plans from (edited) examples, trees written to disk, and the
GitOps tree's own validators run over them."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

from kubeplan import app
from kubeplan.blocks._gitops import render_gitops
from kubeplan.check import crds, kubernetes, secrets, values
from kubeplan.errors import Finding
from kubeplan.model import Plan
from kubeplan.render import render, render_plan_json
from kubeplan.spec import load_text
from kubeplan.spec.load import parse_yaml

from .conftest import EXAMPLES, SHARED_UPSTREAM

VALIDATORS = (kubernetes.validate, crds.validate, values.validate, secrets.validate)


def example_names() -> list[str]:
    return sorted(p.stem for p in EXAMPLES.glob("*.yaml"))


def example_data(name: str) -> dict[str, Any]:
    data, _ = parse_yaml((EXAMPLES / f"{name}.yaml").read_text("utf-8"), f"{name}.yaml")
    return copy.deepcopy(data)  # type: ignore[no-any-return]


def plan_from(data: dict[str, Any]) -> Plan:
    return app.plan(load_text(json.dumps(data), "<test>"))


def example_plan(name: str) -> Plan:
    return plan_from(example_data(name))


def write(plan: Plan, out: Path) -> dict[str, bytes]:
    """Render plan.json (the Kubernetes version the checks read) and the GitOps tree."""
    tree = render(plan, (render_plan_json, render_gitops))
    files: dict[str, bytes] = {}
    for path, data in tree:
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        files[path] = data
    return files


def check(root: Path) -> list[Finding]:
    findings: list[Finding] = []
    for validator in VALIDATORS:
        findings.extend(validator(root, SHARED_UPSTREAM))
    return findings


def gitops_files(files: dict[str, bytes]) -> dict[str, bytes]:
    return {p: b for p, b in files.items() if p.startswith("gitops/")}


def cluster_objects(files: dict[str, bytes], cluster: str) -> list[dict[str, Any]]:
    """Every object of one cluster's GitOps tree (from rendered files)."""
    prefix = f"gitops/clusters/{cluster}/"
    out: list[dict[str, Any]] = []
    for path, data in sorted(files.items()):
        if path.startswith(prefix) and path.endswith(".yaml"):
            out += [d for d in yaml.load_all(data, Loader=yaml.CSafeLoader)
                    if isinstance(d, dict) and "kind" in d]
    return out
