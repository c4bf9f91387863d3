"""Argo CD: an app-of-apps per cluster.

`applications/root.yaml` (applied once, then managing itself) syncs `applications/`, which holds
the AppProject and one Application per unit. Sync waves come from the phase table, and the
Application health check in argocd-cm makes the root wait for each wave to be healthy before
the next (Argo CD does not assess child Applications' health by default).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kubeplan import catalogue
from kubeplan.model import Cluster, Plan
from kubeplan.render import naming
from kubeplan.render.gitops.addon import Addon
from kubeplan.render.gitops.baseline import PRIORITY_STANDARD
from kubeplan.render.gitops.objects import MANAGED_BY, cluster_dir, obj
from kubeplan.render.gitops.units import CHART, GIT, Unit

API = "argoproj.io/v1alpha1"
NAMESPACE = "argocd"
PROJECT = "platform"
ROOT = "platform-root"
IN_CLUSTER = "https://kubernetes.default.svc"
CONTROLLER = "argo-cd"
VALUES_REF = "values"
FINALIZER = "resources-finalizer.argocd.argoproj.io"

# The health check Argo CD removed for Applications in v1.8; restored so that sync waves of
# child Applications wait for the previous wave to be Healthy.
APPLICATION_HEALTH = """hs = {}
hs.status = "Progressing"
hs.message = ""
if obj.status ~= nil then
  if obj.status.health ~= nil then
    hs.status = obj.status.health.status
    if obj.status.health.message ~= nil then
      hs.message = obj.status.health.message
    end
  end
end
return hs
"""


def applications_dir(cluster: Cluster) -> str:
    return f"{cluster_dir(cluster)}/applications"


def controller_addon(plan: Plan, cluster: Cluster) -> Addon:
    """Argo CD itself: installed once by Helm at bootstrap, then managed by its own Application."""
    production = cluster.environment == plan.topology.production
    replicas = 2 if production else 1
    posture = (plan.inputs.get("security") or {}).get("posture", "hardened")
    values: dict[str, Any] = {
        "global": {"domain": f"argocd.{cluster.name}.{plan.metadata.domain}",
                   "priorityClassName": PRIORITY_STANDARD},
        "configs": {
            "cm": {
                # Sign-in through the identity provider (SSO) or `argocd --core` with the
                # operator's Kubernetes credentials; a shared admin password only on baseline.
                "admin.enabled": posture == "baseline",
                "exec.enabled": False,
                "resource.customizations.health.argoproj.io_Application": APPLICATION_HEALTH,
            },
            "rbac": {"policy.default": "role:readonly",
                     "policy.csv": f"g, {naming.PLATFORM_ADMINS_GROUP}, role:admin\n"},
        },
        # No connector is configured by kubeplan; an unused Dex is only attack surface.
        "dex": {"enabled": False},
        "notifications": {"enabled": False},
        "server": {"replicas": replicas},
        "repoServer": {"replicas": replicas},
        "applicationSet": {"replicas": replicas},
    }
    if production:
        values["redis-ha"] = {"enabled": True}
    return Addon(name=CONTROLLER, namespace=NAMESPACE, phase="core", chart=CONTROLLER,
                 values=values)


def _is_oci(repository: str) -> bool:
    return repository.startswith("oci://")


def _chart_source(unit: Unit, values_file: str | None) -> dict[str, Any]:
    entry = unit.chart or {}
    repository = str(entry["repository"]).rstrip("/")
    helm: dict[str, Any] = {"releaseName": unit.addon.name}
    if values_file:
        helm["valueFiles"] = [f"${VALUES_REF}/{values_file}"]
    if _is_oci(repository):
        # Argo CD's native OCI source: the chart is the artifact, its root the path.
        return {"repoURL": f"{repository}/{entry['chart']}", "path": ".",
                "targetRevision": str(entry["version"]), "helm": helm}
    return {"repoURL": repository, "chart": str(entry["chart"]),
            "targetRevision": str(entry["version"]), "helm": helm}


def source_repositories(plan: Plan, units: Sequence[Unit]) -> list[str]:
    repos = {naming.gitops_repository(plan)}
    for unit in units:
        if unit.kind == CHART and unit.chart:
            source = _chart_source(unit, None)
            repos.add(str(source["repoURL"]))
        elif unit.kind == GIT and unit.chart:
            repos.add(str(unit.chart["repository"]))
    return sorted(repos)


def application(plan: Plan, unit: Unit, values_file: str | None) -> dict[str, Any]:
    repo = naming.gitops_repository(plan)
    spec: dict[str, Any] = {"project": PROJECT}
    if unit.kind == CHART:
        chart_source = _chart_source(unit, values_file)
        if values_file:
            spec["sources"] = [chart_source, {"repoURL": repo, "targetRevision":
                                              naming.GITOPS_BRANCH, "ref": VALUES_REF}]
        else:
            spec["source"] = chart_source
    elif unit.kind == GIT:
        entry = unit.chart or {}
        spec["source"] = {"repoURL": str(entry["repository"]), "path": str(entry["path"]),
                          "targetRevision": str(entry["version"])}
    else:
        spec["source"] = {"repoURL": repo, "targetRevision": naming.GITOPS_BRANCH,
                          "path": unit.path}
    spec["destination"] = {"server": IN_CLUSTER, "namespace": unit.addon.namespace}
    spec["syncPolicy"] = {
        "automated": {"prune": True, "selfHeal": True},
        # Server-side apply: large CRDs exceed the client-side last-applied annotation.
        "syncOptions": ["ServerSideApply=true", "PruneLast=true"],
        "retry": {"limit": 10, "backoff": {"duration": "10s", "factor": 2,
                                           "maxDuration": "5m"}},
    }
    app = obj(API, "Application", unit.name, NAMESPACE,
              labels={**MANAGED_BY, "kubeplan.dev/phase": unit.phase},
              annotations={"argocd.argoproj.io/sync-wave": str(unit.wave)}, spec=spec)
    # Deleting the Application deletes what it deployed (no orphans left behind).
    app["metadata"]["finalizers"] = [FINALIZER]
    return app


def project(plan: Plan, cluster: Cluster, units: Sequence[Unit]) -> dict[str, Any]:
    return obj(API, "AppProject", PROJECT, NAMESPACE, labels=MANAGED_BY,
               annotations={"argocd.argoproj.io/sync-wave": "-1"},
               spec={
                   "description": f"Platform add-ons of cluster {cluster.name}, rendered by "
                                  "kubeplan",
                   "sourceRepos": source_repositories(plan, units),
                   # The platform installs CRDs, webhooks and cluster roles by design.
                   "destinations": [{"server": IN_CLUSTER, "namespace": "*"}],
                   "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
                   "namespaceResourceWhitelist": [{"group": "*", "kind": "*"}],
                   "orphanedResources": {"warn": True},
               })


def root(plan: Plan, cluster: Cluster) -> dict[str, Any]:
    return obj(API, "Application", ROOT, NAMESPACE, labels=MANAGED_BY, spec={
        "project": PROJECT,
        "source": {"repoURL": naming.gitops_repository(plan),
                   "targetRevision": naming.GITOPS_BRANCH, "path": applications_dir(cluster)},
        "destination": {"server": IN_CLUSTER, "namespace": NAMESPACE},
        "syncPolicy": {"automated": {"prune": True, "selfHeal": True},
                       "syncOptions": ["ServerSideApply=true"]},
    })


def files(plan: Plan, cluster: Cluster, units: Sequence[Unit],
          values_files: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Path -> documents of the Argo CD wiring (the caller serialises them)."""
    folder = applications_dir(cluster)
    out: dict[str, list[dict[str, Any]]] = {
        f"{folder}/root.yaml": [root(plan, cluster)],
        f"{folder}/project.yaml": [project(plan, cluster, units)],
    }
    for unit in units:
        out[f"{folder}/{unit.name}.yaml"] = [application(plan, unit,
                                                         values_files.get(unit.name))]
    return out


def bootstrap_steps(plan: Plan, cluster: Cluster) -> list[str]:
    entry = catalogue.chart(CONTROLLER)
    folder = cluster_dir(cluster)
    apps = applications_dir(cluster)
    return [
        f"helm repo add argo {entry['repository']}",
        f"helm install {CONTROLLER} argo/{entry['chart']} --version {entry['version']} "
        f"--namespace {NAMESPACE} --create-namespace --values {folder}/{CONTROLLER}/values.yaml",
        f"argocd repo add {naming.gitops_repository(plan)}   # read access for Argo CD",
        f"kubectl apply --server-side -f {apps}/project.yaml -f {apps}/root.yaml",
    ]
