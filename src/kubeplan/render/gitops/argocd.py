"""Argo CD: an app-of-apps per cluster.

`applications/root.yaml` (applied once, then managing itself) syncs `applications/`, which holds
the AppProject and one Application per unit. Sync waves come from the phase table, and the
Application health check in argocd-cm makes the root wait for each wave to be healthy before
the next (Argo CD does not assess child Applications' health by default).

Values only the cloud knows (`${GCP_PROJECT_ID}`, identity client ids: render/gitops/outputs.py)
stay in the files as written, and Argo CD fills them in the way the GitOps-bridge pattern does:
the cluster's Argo CD Secret carries Terraform's `platform_outputs` as annotations, and the root
is then an ApplicationSet whose cluster generator reads them. Its one Application (the root)
patches the child Applications it syncs: chart units get a `helm.valuesObject` holding the
values that mention a variable (it overrides the values file), manifest units get kustomize
patches replacing each string that mentions one. So sync waves, health and pruning stay those of
plain Applications, and a missing output fails the ApplicationSet (`missingkey=error`) instead
of deploying an empty value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from kubeplan import catalogue
from kubeplan.errors import RenderError
from kubeplan.model import Cluster, Plan
from kubeplan.render import naming
from kubeplan.render.gitops import outputs
from kubeplan.render.gitops.addon import Addon
from kubeplan.render.gitops.baseline import PRIORITY_STANDARD
from kubeplan.render.gitops.objects import MANAGED_BY, cluster_dir, kustomization, obj
from kubeplan.render.gitops.units import CHART, GIT, Unit

API = "argoproj.io/v1alpha1"
NAMESPACE = "argocd"
PROJECT = "platform"
ROOT = "platform-root"
IN_CLUSTER = "https://kubernetes.default.svc"
CONTROLLER = "argo-cd"
VALUES_REF = "values"
FINALIZER = "resources-finalizer.argocd.argoproj.io"
# The Argo CD cluster Secret of the cluster itself, labelled for the root's cluster generator
# and annotated with the platform outputs (variable name -> value).
CLUSTER_SECRET = "in-cluster"
CLUSTER_LABEL = "kubeplan.dev/cluster"
CLUSTER_CONFIG = '{"tlsClientConfig":{"insecure":false}}'
_DELIMITERS = re.compile(r"\{\{|\}\}")

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


def _root_spec(plan: Plan, cluster: Cluster) -> dict[str, Any]:
    return {
        "project": PROJECT,
        "source": {"repoURL": naming.gitops_repository(plan),
                   "targetRevision": naming.GITOPS_BRANCH, "path": applications_dir(cluster)},
        "destination": {"server": IN_CLUSTER, "namespace": NAMESPACE},
        "syncPolicy": {"automated": {"prune": True, "selfHeal": True},
                       "syncOptions": ["ServerSideApply=true"]},
    }


def root(plan: Plan, cluster: Cluster) -> dict[str, Any]:
    return obj(API, "Application", ROOT, NAMESPACE, labels=MANAGED_BY,
               spec=_root_spec(plan, cluster))


# -- platform outputs -------------------------------------------------------------------------

def _literal(text: str) -> str:
    """Text the ApplicationSet's Go template must leave alone (e.g. a nested template)."""
    return _DELIMITERS.sub(lambda m: "{{`" + m.group(0) + "`}}", text)


def go_template(text: str) -> str:
    """`${NAME}` of a platform output -> the annotation of the cluster Secret; the rest as is.
    Dotted access (not `index`) so that `missingkey=error` refuses a missing annotation."""
    known = outputs.known()
    out: list[str] = []
    position = 0
    for match in outputs.VARIABLE.finditer(text):
        if match.group(1) in known:
            out.append(_literal(text[position:match.start()]))
            out.append("{{.metadata.annotations." + match.group(1) + "}}")
            position = match.end()
    out.append(_literal(text[position:]))
    return "".join(out)


def _templated(data: Any, where: str) -> Any:
    if isinstance(data, str):
        return go_template(data)
    if isinstance(data, Mapping):
        for key in data:
            # Argo CD templates keys too; kubeplan never puts a variable in one.
            if _DELIMITERS.search(str(key)) or outputs.used(str(key))[0]:
                raise RenderError(f"{where}: key {key!r} needs templating")
        return {str(k): _templated(v, where) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_templated(item, where) for item in data]
    return data


def _pointer(parts: Sequence[str | int]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def object_patch(document: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    """JSON patch operations replacing each string of an object that mentions a platform
    output."""
    ops: list[dict[str, Any]] = []

    def walk(data: Any, path: tuple[str | int, ...]) -> None:
        if isinstance(data, str):
            if outputs.used(data)[0]:
                ops.append({"op": "replace", "path": _pointer(path),
                            "value": _templated(data, where)})
        elif isinstance(data, Mapping):
            for key, value in data.items():
                walk(value, (*path, str(key)))
        elif isinstance(data, list | tuple):
            for index, item in enumerate(data):
                walk(item, (*path, index))

    walk(document, ())
    return ops


def _target(document: Mapping[str, Any]) -> dict[str, str]:
    group, _, version = str(document["apiVersion"]).rpartition("/")
    metadata = document["metadata"]
    target = {"group": group, "version": version, "kind": str(document["kind"]),
              "name": str(metadata["name"])}
    if metadata.get("namespace"):
        target["namespace"] = str(metadata["namespace"])
    return target


def _json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def unit_patch(unit: Unit, values_file: str | None) -> list[dict[str, Any]]:
    """Operations on a unit's Application that fill in the platform outputs its values or
    objects mention (none: the unit needs nothing)."""
    where = f"unit {unit.name}"
    if unit.kind == CHART and unit.addon.values:
        override = _templated(outputs.platform_values(unit.addon.values), where)
        if not override:
            return []
        if not values_file:
            raise RenderError(f"{where}: values mention platform outputs but have no file")
        return [{"op": "add", "path": "/spec/sources/0/helm/valuesObject", "value": override}]
    patches = [{"target": _target(document),
                "patch": _json(object_patch(document, where))}
               for document in unit.addon.objects if outputs.used(dict(document))[0]]
    if not patches:
        return []
    return [{"op": "add", "path": "/spec/source/kustomize", "value": {"patches": patches}}]


def root_set(plan: Plan, cluster: Cluster,
             patches: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The root as an ApplicationSet over this cluster's Secret: one Application, the root,
    patching the child Applications with the Secret's platform outputs."""
    spec = _root_spec(plan, cluster)
    spec["source"]["kustomize"] = {"patches": [
        {"target": {"group": "argoproj.io", "version": "v1alpha1", "kind": "Application",
                    "name": name}, "patch": _json(ops)}
        for name, ops in sorted(patches.items())]}
    return obj(API, "ApplicationSet", ROOT, NAMESPACE, labels=MANAGED_BY, spec={
        "goTemplate": True,
        "goTemplateOptions": ["missingkey=error"],
        "generators": [{"clusters": {"selector": {"matchLabels": {
            CLUSTER_LABEL: cluster.name}}}}],
        "template": {"metadata": {"name": ROOT, "labels": dict(MANAGED_BY)}, "spec": spec},
    })


def files(plan: Plan, cluster: Cluster, units: Sequence[Unit],
          values_files: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Path -> documents of the Argo CD wiring (the caller serialises them)."""
    folder = applications_dir(cluster)
    patches = {unit.name: ops for unit in units
               if (ops := unit_patch(unit, values_files.get(unit.name)))}
    out: dict[str, list[dict[str, Any]]] = {
        f"{folder}/root.yaml": [root_set(plan, cluster, patches) if patches
                                else root(plan, cluster)],
        f"{folder}/project.yaml": [project(plan, cluster, units)],
    }
    for unit in units:
        out[f"{folder}/{unit.name}.yaml"] = [application(plan, unit,
                                                         values_files.get(unit.name))]
    # The root (which manages itself) reads the folder as a kustomization, so its patches apply.
    out[f"{folder}/kustomization.yaml"] = [kustomization(sorted(
        path.rsplit("/", 1)[1] for path in out))]
    return out


def substitutes(files_: Mapping[str, list[dict[str, Any]]], cluster: Cluster) -> bool:
    """Whether the root is the ApplicationSet over the cluster Secret's platform outputs."""
    return bool(files_[f"{applications_dir(cluster)}/root.yaml"][0]["kind"] == "ApplicationSet")


def cluster_secret_steps(cluster: Cluster) -> list[str]:
    """Create this cluster's Argo CD Secret, labelled for the root ApplicationSet and annotated
    with the platform outputs (the env file the runbook writes from `terraform output`)."""
    return [
        f"kubectl -n {NAMESPACE} create secret generic {CLUSTER_SECRET} "
        f"--from-literal=name={CLUSTER_SECRET} --from-literal=server={IN_CLUSTER} "
        f"--from-literal=config='{CLUSTER_CONFIG}'",
        f"kubectl -n {NAMESPACE} label secret {CLUSTER_SECRET} "
        f"argocd.argoproj.io/secret-type=cluster {CLUSTER_LABEL}={cluster.name}",
        f"kubectl -n {NAMESPACE} annotate secret {CLUSTER_SECRET} "
        "$(grep -v '^#' platform-outputs.env)",
    ]


def bootstrap_steps(plan: Plan, cluster: Cluster, substitute: bool = False) -> list[str]:
    entry = catalogue.chart(CONTROLLER)
    folder = cluster_dir(cluster)
    apps = applications_dir(cluster)
    return [
        f"helm repo add argo {entry['repository']}",
        f"helm install {CONTROLLER} argo/{entry['chart']} --version {entry['version']} "
        f"--namespace {NAMESPACE} --create-namespace --values {folder}/{CONTROLLER}/values.yaml",
        f"argocd repo add {naming.gitops_repository(plan)}   # read access for Argo CD",
        *(cluster_secret_steps(cluster) if substitute else []),
        f"kubectl apply --server-side -f {apps}/project.yaml -f {apps}/root.yaml",
    ]
