"""ci -> GitOps: every cluster follows its environment's release folder.

Pipelines deploy only by pull request on `delivery/releases/<environment>/` of this repository;
this add-on points each cluster's GitOps controller at its environment's folder. Argo CD: an
Application in a project that may only create Applications, which themselves live in a project
limited to application kinds. Flux: a Kustomization on the bootstrap source. The controller
reads service repositories with a read-only token from the secret store.

Under a multi-cluster Gateway (GKE, several clusters in the environment) a release also exports
its Service to the fleet (`ServiceExport`, in the application namespace), which the releases
project then admits; and the clusters other than the config cluster, which have no platform
Gateway, drop the released services' routes to it (`member_release_patch`): they serve through
their exports, and the config cluster's routes send to the fleet's ServiceImports.
"""

from __future__ import annotations

from typing import Any

from kubeplan.model import Cluster, Plan
from kubeplan.render.delivery import (
    APP_NAMESPACE,
    ARGOCD_NAMESPACE,
    DEFAULT_BRANCH,
    FLUX_NAMESPACE,
    FLUX_PLATFORM_SOURCE,
    IN_CLUSTER,
    RELEASES_DIR,
    repositories,
)
from kubeplan.render.delivery.service import (
    APPS_PROJECT,
    RELEASES_PROJECT,
    SCM_TOKEN_ITEM,
    app_kind_whitelist,
    fleet_routes,
    member_release_patch,
    scm_external_secret,
    scm_secret_name,
)
from kubeplan.render.gitops.addon import Addon
from kubeplan.render.gitops.flux import NO_SUBSTITUTE
from kubeplan.render.gitops.network import MCS_GROUP, has_platform_gateway
from kubeplan.render.gitops.telemetry import SECRET_STORE, remote_key


def addons(plan: Plan, cluster: Cluster) -> list[Addon]:
    token = remote_key(plan, cluster, SCM_TOKEN_ITEM)
    folder = f"{RELEASES_DIR}/{cluster.environment}"
    if plan.choice("gitops") == "argocd":
        objects = _argocd(plan, cluster, folder, token)
        home = ARGOCD_NAMESPACE
    else:
        objects = _flux(plan, cluster, folder, token)
        home = FLUX_NAMESPACE
    return [Addon(name="releases", namespace=home, phase="apps", objects=tuple(objects),
                  objects_phase="apps")]


def _member(plan: Plan, cluster: Cluster) -> bool:
    """Whether released routes must be dropped here: a multi-cluster Gateway's other cluster."""
    return fleet_routes(plan, cluster.environment) and not has_platform_gateway(plan, cluster)


def _argocd(plan: Plan, cluster: Cluster, folder: str, token: str) -> list[dict[str, Any]]:
    repos = repositories(plan)
    # Releases create Applications; under a multi-cluster Gateway also their Services' exports,
    # in the application namespace (Argo CD ties kinds to no namespace: the Applications are
    # only read in its own namespace, and an export only joins the environment's own fleet).
    destinations = [{"server": IN_CLUSTER, "namespace": ARGOCD_NAMESPACE}]
    kinds = [{"group": "argoproj.io", "kind": "Application"}]
    if fleet_routes(plan, cluster.environment):
        destinations.append({"server": IN_CLUSTER, "namespace": APP_NAMESPACE})
        kinds.append({"group": MCS_GROUP, "kind": "ServiceExport"})
    owner_prefix = f"https://{repos.host}/{repos.owner}"
    secret = scm_external_secret(
        scm_secret_name(plan), ARGOCD_NAMESPACE, token, store=SECRET_STORE,
        labels={"argocd.argoproj.io/secret-type": "repo-creds"},
        extra={"url": owner_prefix, "type": "git"})
    releases = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": RELEASES_PROJECT, "namespace": ARGOCD_NAMESPACE},
        "spec": {
            "description": ("Release folders: may only create Applications"
                            + (" and Service exports" if len(kinds) > 1 else "")),
            "sourceRepos": [repos.platform_url],
            "destinations": destinations,
            "clusterResourceWhitelist": [],
            "namespaceResourceWhitelist": kinds,
        },
    }
    apps = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": APPS_PROJECT, "namespace": ARGOCD_NAMESPACE},
        "spec": {
            "description": "Application services: application kinds in the application "
                           "namespace only",
            "sourceRepos": [f"{owner_prefix}/*"],
            "destinations": [{"server": IN_CLUSTER, "namespace": APP_NAMESPACE}],
            "clusterResourceWhitelist": [],
            "namespaceResourceWhitelist": app_kind_whitelist(),
        },
    }
    source: dict[str, Any] = {"repoURL": repos.platform_url,
                              "targetRevision": DEFAULT_BRANCH, "path": folder}
    if _member(plan, cluster):
        source["kustomize"] = {"patches": [member_release_patch(plan)]}
    application = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": f"releases-{cluster.environment}",
                     "namespace": ARGOCD_NAMESPACE},
        "spec": {
            "project": RELEASES_PROJECT,
            "source": source,
            "destination": {"server": IN_CLUSTER, "namespace": ARGOCD_NAMESPACE},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
    }
    return [secret, releases, apps, application]


def _flux(plan: Plan, cluster: Cluster, folder: str, token: str) -> list[dict[str, Any]]:
    secret = scm_external_secret(scm_secret_name(plan), FLUX_NAMESPACE, token,
                                 store=SECRET_STORE)
    kustomization: dict[str, Any] = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": f"releases-{cluster.environment}", "namespace": FLUX_NAMESPACE},
        "spec": {"interval": "5m", "path": f"./{folder}", "prune": True,
                 "sourceRef": {"kind": "GitRepository", "name": FLUX_PLATFORM_SOURCE}},
    }
    # The Flux releases unit runs as the kustomize-controller: no kind list to extend for the
    # exports. Where released routes are dropped, the patch's `$patch` directive must reach
    # kustomize untouched by the parent's variable substitution.
    if _member(plan, cluster):
        kustomization["metadata"]["annotations"] = dict(NO_SUBSTITUTE)
        kustomization["spec"]["patches"] = [member_release_patch(plan)]
    return [secret, kustomization]
