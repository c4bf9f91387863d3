"""Helpers for the observability and backup tests: plans from examples or edited examples,
the four blocks' add-ons, and a GitOps tree composed from them alone (so these tests do not
depend on the other blocks' add-ons)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kubeplan import app
from kubeplan.blocks.backup import gitops as backup
from kubeplan.blocks.logging import gitops as logging
from kubeplan.blocks.metrics import gitops as metrics
from kubeplan.blocks.tracing import gitops as tracing
from kubeplan.model import Cluster, Plan
from kubeplan.render import to_yaml
from kubeplan.render.gitops.addon import Addon
from kubeplan.spec import load_text
from kubeplan.spec.load import parse_yaml

from .conftest import EXAMPLES

BLOCKS = (metrics, logging, tracing, backup)


def example_names() -> list[str]:
    return sorted(p.stem for p in EXAMPLES.glob("*.yaml"))


def example_data(name: str) -> dict[str, Any]:
    # The spec's own YAML reader (`off` stays a string there, unlike in YAML 1.1).
    data, _ = parse_yaml((EXAMPLES / f"{name}.yaml").read_text("utf-8"), f"{name}.yaml")
    return copy.deepcopy(data)  # type: ignore[no-any-return]


def plan_from(data: dict[str, Any], name: str = "<test>") -> Plan:
    # JSON is YAML 1.2: every string stays a string on the way back in.
    return app.plan(load_text(json.dumps(data), name))


def example_plan(name: str) -> Plan:
    return app.plan(app.load_spec(None, name).loaded)


def edited(name: str, **spec: Any) -> Plan:
    """An example with top-level spec fields replaced (deep-merged one level down)."""
    data = copy.deepcopy(example_data(name))
    for key, value in spec.items():
        if isinstance(value, dict) and isinstance(data["spec"].get(key), dict):
            data["spec"][key] = {**data["spec"][key], **value}
        else:
            data["spec"][key] = value
    return plan_from(data, f"<{name} edited>")


def addons(plan: Plan, cluster: Cluster) -> list[Addon]:
    return [addon for block in BLOCKS for addon in block.addons(plan, cluster)]


def by_name(plan: Plan, cluster: Cluster) -> dict[str, Addon]:
    return {addon.name: addon for addon in addons(plan, cluster)}


def objects(plan: Plan) -> Iterator[tuple[Cluster, Addon, dict[str, Any]]]:
    for cluster in plan.topology.clusters:
        for addon in addons(plan, cluster):
            for obj in addon.objects:
                yield cluster, addon, dict(obj)


def write_tree(plan: Plan, root: Path) -> None:
    """These four blocks' add-ons laid out as the GitOps renderer does (values per add-on, one
    file per object), without the other blocks, the controller and the baseline: the tests that
    run the tools over every example need only these files. `test_full_build_*` covers the real
    composition."""
    for cluster in plan.topology.clusters:
        base = root / "gitops" / "clusters" / cluster.name
        for addon in addons(plan, cluster):
            if addon.values:
                target = base / addon.name / "values.yaml"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(to_yaml(dict(addon.values)), "utf-8")
            for obj in addon.objects:
                meta = obj["metadata"]
                target = (base / addon.name / "manifests" / meta.get("namespace", "cluster")
                          / f"{obj['kind'].lower()}-{meta['name']}.yaml")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(to_yaml(dict(obj)), "utf-8")


def data_sources(plan: Plan, cluster: Cluster) -> list[dict[str, Any]]:
    stack = by_name(plan, cluster)["kube-prometheus-stack"]
    sources: list[dict[str, Any]] = stack.values["grafana"]["additionalDataSources"]
    return sources


# Values keys that are legitimately open-ended: each chart passes the subtree through to a
# configuration file or a Kubernetes type that its default values.yaml does not spell out.
OPEN_KEYS: dict[tuple[str, str], str] = {
    ("loki", "loki.storage"): "Loki storage config; the chart's schema allows any key",
    ("loki", "loki.limits_config"): "Loki limits_config; the chart's schema allows any key",
    ("tempo", "tempo.storage.trace"): "Tempo's storage block, passed through to its config",
    ("opentelemetry-collector", "config"): "the Collector configuration itself",
    ("opentelemetry-collector", "ports"): "named ports; the schema allows any name",
    ("jaeger", "jaeger.podSecurityContext"): "a Kubernetes PodSecurityContext",
    ("tempo", "securityContext"): "a Kubernetes PodSecurityContext",
    ("thanos", "global.containerSecurityContext"): "a Kubernetes SecurityContext",
    ("eck-operator", "config.containerRepository"): "documented as a comment beside "
                                                    "containerRegistry in values.yaml",
}


def unknown_keys(chart_defaults: Any, values: Any, chart: str, path: str = "") -> list[str]:
    """Key paths in `values` missing from the chart's defaults (open maps excepted)."""
    out: list[str] = []
    if not isinstance(values, dict) or not isinstance(chart_defaults, dict):
        return out
    for key, value in values.items():
        here = f"{path}.{key}" if path else str(key)
        if any(here == open_ or here.startswith(open_ + ".")
               for (c, open_) in OPEN_KEYS if c == chart):
            continue
        if key not in chart_defaults:
            out.append(here)
            continue
        default = chart_defaults[key]
        if isinstance(value, dict) and isinstance(default, dict) and default:
            out += unknown_keys(default, value, chart, here)
    return out
