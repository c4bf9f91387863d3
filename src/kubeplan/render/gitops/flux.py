"""Flux: sources, one Kustomization per phase (each waiting for the previous one), HelmReleases.

`flux/sync.yaml` (applied once, then managing itself) points Flux at `flux/`, which holds the
chart sources and the phase Kustomizations. Each phase builds `phases/<NN>-<phase>/`, a
kustomization that lists its units' folders. A chart unit's folder holds the HelmRelease and a
kustomization generating its values ConfigMap from `values.yaml`, so values stay one readable
file and a change to them rolls the release (the generated name carries a content hash).

Values are never substituted as a whole (charts carry `${...}` of their own, such as Grafana's
`$${__value.raw}`): the part that mentions a platform output is repeated in
`platform-values.yaml`, the only values file Flux substitutes, and laid over `values.yaml`
(`valuesFrom` merges in order).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from kubeplan import catalogue
from kubeplan.model import Cluster, Plan
from kubeplan.render import naming
from kubeplan.render.gitops.addon import PHASES, Addon
from kubeplan.render.gitops.objects import MANAGED_BY, cluster_dir, kustomization, obj
from kubeplan.render.gitops.units import CHART, GIT, MANIFESTS, Unit

NAMESPACE = "flux-system"
SOURCE_API = "source.toolkit.fluxcd.io/v1"
HELM_API = "helm.toolkit.fluxcd.io/v2"
KUSTOMIZE_API = "kustomize.toolkit.fluxcd.io/v1"
ROOT = "platform"
CONTROLLER = "flux2"
# The ConfigMap Terraform writes into the cluster with its outputs (client ids, project ids):
# Flux substitutes `${NAME}` in manifests and values from it, so nothing is copied by hand.
OUTPUTS_CONFIGMAP = "platform-outputs"
PLATFORM_VALUES = "platform-values.yaml"
NO_SUBSTITUTE = {"kustomize.toolkit.fluxcd.io/substitute": "disabled"}


def flux_dir(cluster: Cluster) -> str:
    return f"{cluster_dir(cluster)}/flux"


def phase_dir(cluster: Cluster, phase: str) -> str:
    return f"{cluster_dir(cluster)}/phases/{PHASES[phase]:02d}-{phase}"


def controller_addon(plan: Plan, cluster: Cluster) -> Addon:
    """Flux itself: installed once by Helm at bootstrap, then reconciled by its HelmRelease."""
    values = {
        # kubeplan's own NetworkPolicies cover flux-system; the chart's would widen them.
        "policies": {"create": False},
        # Image automation is not used: promotion is a pull request made by CI.
        "imageAutomationController": {"create": False},
        "imageReflectionController": {"create": False},
    }
    return Addon(name=CONTROLLER, namespace=NAMESPACE, phase="core", chart=CONTROLLER,
                 values=values)


def _source_name(repository: str) -> str:
    stem = re.sub(r"^[a-z]+://", "", repository).rstrip("/")
    return re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")[:63].rstrip("-")


def _chart_ref(unit: Unit) -> tuple[str, dict[str, Any]]:
    """(source kind, source object) of a chart unit."""
    entry = unit.chart or {}
    repository = str(entry["repository"]).rstrip("/")
    if repository.startswith("oci://"):
        name = f"{unit.addon.name}-chart"
        return "OCIRepository", obj(
            SOURCE_API, "OCIRepository", name, NAMESPACE, labels=MANAGED_BY,
            spec={"interval": "12h", "url": f"{repository}/{entry['chart']}",
                  "ref": {"tag": str(entry["version"])},
                  "layerSelector": {"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                                    "operation": "copy"}})
    return "HelmRepository", obj(SOURCE_API, "HelmRepository", _source_name(repository),
                                 NAMESPACE, labels=MANAGED_BY,
                                 spec={"interval": "12h", "url": repository})


def _git_source(unit: Unit) -> dict[str, Any]:
    entry = unit.chart or {}
    return obj(SOURCE_API, "GitRepository", unit.addon.name, NAMESPACE, labels=MANAGED_BY,
               spec={"interval": "12h", "url": str(entry["repository"]),
                     "ref": {"tag": str(entry["version"])},
                     "sparseCheckout": [str(entry["path"])]})


def helm_release(unit: Unit, units: Sequence[Unit], has_values: bool,
                 platform_values: bool = False) -> dict[str, Any]:
    entry = unit.chart or {}
    kind, source = _chart_ref(unit)
    spec: dict[str, Any] = {"interval": "30m", "releaseName": unit.addon.name}
    if kind == "OCIRepository":
        spec["chartRef"] = {"kind": kind, "name": source["metadata"]["name"],
                            "namespace": NAMESPACE}
    else:
        spec["chart"] = {"spec": {"chart": str(entry["chart"]), "version": str(entry["version"]),
                                  "sourceRef": {"kind": kind,
                                                "name": source["metadata"]["name"],
                                                "namespace": NAMESPACE},
                                  "interval": "12h"}}
    charts = {u.addon.name: u for u in units if u.kind == CHART}
    deps = [charts[d] for d in unit.addon.depends_on if d in charts]
    if deps:
        spec["dependsOn"] = [{"name": d.addon.name, "namespace": d.addon.namespace}
                             for d in sorted(deps, key=lambda d: d.addon.name)]
    spec["install"] = {"crds": "CreateReplace", "remediation": {"retries": 3}}
    spec["upgrade"] = {"crds": "CreateReplace", "cleanupOnFail": True,
                       "remediation": {"retries": 3, "remediateLastFailure": True}}
    spec["driftDetection"] = {"mode": "enabled"}
    if has_values:
        spec["valuesFrom"] = [{"kind": "ConfigMap", "name": values_configmap(unit),
                               "valuesKey": "values.yaml"}]
        if platform_values:
            spec["valuesFrom"].append({"kind": "ConfigMap",
                                       "name": platform_values_configmap(unit),
                                       "valuesKey": PLATFORM_VALUES})
    return obj(HELM_API, "HelmRelease", unit.addon.name, unit.addon.namespace,
               labels=MANAGED_BY, spec=spec)


def values_configmap(unit: Unit) -> str:
    return f"{unit.addon.name}-values"


def platform_values_configmap(unit: Unit) -> str:
    return f"{unit.addon.name}-platform-values"


def _phase_kustomization(plan: Plan, cluster: Cluster, phase: str, previous: str | None,
                         substitute: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "interval": "10m", "retryInterval": "1m", "timeout": "15m",
        "sourceRef": {"kind": "GitRepository", "name": ROOT},
        "path": f"./{phase_dir(cluster, phase)}",
        # Prune what leaves Git; wait until everything applied is healthy (HelmReleases and
        # nested Kustomizations included) before the next phase starts.
        "prune": True, "wait": True,
    }
    if previous:
        spec["dependsOn"] = [{"name": f"{ROOT}-{previous}"}]
    if substitute:
        spec["postBuild"] = {"substituteFrom": [{"kind": "ConfigMap",
                                                 "name": OUTPUTS_CONFIGMAP}]}
    return obj(KUSTOMIZE_API, "Kustomization", f"{ROOT}-{phase}", NAMESPACE, labels=MANAGED_BY,
               spec=spec)


def sync(plan: Plan, cluster: Cluster) -> list[dict[str, Any]]:
    return [
        obj(SOURCE_API, "GitRepository", ROOT, NAMESPACE, labels=MANAGED_BY,
            spec={"interval": "1m", "url": naming.gitops_repository(plan),
                  "ref": {"branch": naming.GITOPS_BRANCH},
                  "secretRef": {"name": f"{ROOT}-git"}}),
        obj(KUSTOMIZE_API, "Kustomization", ROOT, NAMESPACE, labels=MANAGED_BY,
            spec={"interval": "10m", "sourceRef": {"kind": "GitRepository", "name": ROOT},
                  "path": f"./{flux_dir(cluster)}", "prune": True, "wait": True}),
    ]


def files(plan: Plan, cluster: Cluster, units: Sequence[Unit], values_files: dict[str, str],
          platform_values: set[str], *, substitute: bool) -> dict[str, list[dict[str, Any]]]:
    """Path -> documents of the Flux wiring (kustomization.yaml files included)."""
    out: dict[str, list[dict[str, Any]]] = {f"{flux_dir(cluster)}/sync.yaml": sync(plan, cluster)}
    sources: dict[tuple[str, str], dict[str, Any]] = {}
    phases: dict[str, list[str]] = {}
    root = cluster_dir(cluster)
    for unit in units:
        rel = unit.path.removeprefix(root + "/")
        phases.setdefault(unit.phase, []).append(f"../../{rel}")
        if unit.kind == CHART:
            _, source = _chart_ref(unit)
            sources[(source["kind"], source["metadata"]["name"])] = source
            has_values = unit.name in values_files
            overlay = unit.name in platform_values
            out[f"{unit.path}/helmrelease.yaml"] = [helm_release(unit, units, has_values,
                                                                 overlay)]
            extra: dict[str, Any] = {}
            if has_values:
                generators: list[dict[str, Any]] = [{
                    "name": values_configmap(unit), "namespace": unit.addon.namespace,
                    "files": ["values.yaml"], "options": {"annotations": NO_SUBSTITUTE}}]
                if overlay:
                    generators.append({"name": platform_values_configmap(unit),
                                       "namespace": unit.addon.namespace,
                                       "files": [PLATFORM_VALUES]})
                extra = {"configMapGenerator": generators,
                         "configurations": ["kustomizeconfig.yaml"]}
                out[f"{unit.path}/kustomizeconfig.yaml"] = [{
                    "nameReference": [{"kind": "ConfigMap", "version": "v1",
                                       "fieldSpecs": [{"path": "spec/valuesFrom/name",
                                                       "kind": "HelmRelease"}]}]}]
            out[f"{unit.path}/kustomization.yaml"] = [kustomization(["helmrelease.yaml"],
                                                                     **extra)]
        elif unit.kind == GIT:
            source = _git_source(unit)
            sources[("GitRepository", source["metadata"]["name"])] = source
            entry = unit.chart or {}
            out[f"{unit.path}/sync.yaml"] = [obj(
                KUSTOMIZE_API, "Kustomization", unit.name, NAMESPACE, labels=MANAGED_BY,
                spec={"interval": "1h", "sourceRef": {"kind": "GitRepository",
                                                      "name": unit.addon.name},
                      "path": f"./{entry['path']}", "prune": True, "wait": True})]
            out[f"{unit.path}/kustomization.yaml"] = [kustomization(["sync.yaml"])]
        elif unit.kind != MANIFESTS:
            raise ValueError(f"unknown unit kind {unit.kind}")
    out[f"{flux_dir(cluster)}/sources.yaml"] = [sources[k] for k in sorted(sources)]
    kustomizations: list[dict[str, Any]] = []
    previous: str | None = None
    for phase in sorted(phases, key=lambda p: PHASES[p]):
        kustomizations.append(_phase_kustomization(plan, cluster, phase, previous, substitute))
        out[f"{phase_dir(cluster, phase)}/kustomization.yaml"] = [
            kustomization(sorted(phases[phase]))]
        previous = phase
    out[f"{flux_dir(cluster)}/phases.yaml"] = kustomizations
    return out


def bootstrap_steps(plan: Plan, cluster: Cluster) -> list[str]:
    entry = catalogue.chart(CONTROLLER)
    folder = cluster_dir(cluster)
    return [
        f"helm repo add fluxcd-community {entry['repository']}",
        f"helm install {CONTROLLER} fluxcd-community/{entry['chart']} --version "
        f"{entry['version']} --namespace {NAMESPACE} --create-namespace "
        f"--values {folder}/{CONTROLLER}/values.yaml",
        f"flux create secret git {ROOT}-git --url={naming.gitops_repository(plan)}   "
        "# read access for Flux (deploy key or token)",
        f"kubectl apply --server-side -f {flux_dir(cluster)}/sync.yaml",
    ]
