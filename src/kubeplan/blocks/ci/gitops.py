"""ci -> GitOps: every cluster follows its environment's release folder.

Pipelines deploy only by pull request on `delivery/releases/<environment>/` of this repository;
this add-on points each cluster's GitOps controller at its environment's folder. Argo CD: an
Application in a project that may only create Applications, which themselves live in a project
limited to application kinds. Flux: a Kustomization on the bootstrap source. The controller
reads service repositories with a read-only token from the secret store.
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
    scm_external_secret,
    scm_secret_name,
)
from kubeplan.render.gitops.addon import Addon
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


def _argocd(plan: Plan, cluster: Cluster, folder: str, token: str) -> list[dict[str, Any]]:
    repos = repositories(plan)
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
            "description": "Release folders: may only create Applications",
            "sourceRepos": [repos.platform_url],
            "destinations": [{"server": IN_CLUSTER, "namespace": ARGOCD_NAMESPACE}],
            "clusterResourceWhitelist": [],
            "namespaceResourceWhitelist": [{"group": "argoproj.io", "kind": "Application"}],
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
    application = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": f"releases-{cluster.environment}",
                     "namespace": ARGOCD_NAMESPACE},
        "spec": {
            "project": RELEASES_PROJECT,
            "source": {"repoURL": repos.platform_url,
                       "targetRevision": DEFAULT_BRANCH, "path": folder},
            "destination": {"server": IN_CLUSTER, "namespace": ARGOCD_NAMESPACE},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
    }
    return [secret, releases, apps, application]


def _flux(plan: Plan, cluster: Cluster, folder: str, token: str) -> list[dict[str, Any]]:
    secret = scm_external_secret(scm_secret_name(plan), FLUX_NAMESPACE, token,
                                 store=SECRET_STORE)
    kustomization = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": f"releases-{cluster.environment}", "namespace": FLUX_NAMESPACE},
        "spec": {"interval": "5m", "path": f"./{folder}", "prune": True,
                 "sourceRef": {"kind": "GitRepository", "name": FLUX_PLATFORM_SOURCE}},
    }
    return [secret, kustomization]
