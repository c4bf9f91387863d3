"""preview -> GitOps: one namespace per open pull request, removed when the request closes.

Argo CD: an ApplicationSet whose pull-request generator lists the service's open pull requests
and renders one Application each (namespace `pr-<number>`, the image the pipeline pushed as
`pr-<number>-<head sha>`, the HTTPRoute on the preview host, attached to the gateway's preview
listener); a closed request drops out of the list and its Application, with everything it
deployed, is deleted. Flux has no pull-request generator of its own: the pipeline commits a
request per pull request to a branch of the platform repository and a pruning Kustomization
reconciles them (see `flux.py` beside this file).

Previews live in the first non-production environment's first cluster, deployed with
application kinds only into `pr-*` namespaces (an Argo CD project; with Flux, a service account
per preview). The registry address is substituted from the registry's Terraform output
(`${REGISTRY_URL}`), like every cloud-side name in the GitOps tree; Flux requests get it from
the pipeline.
"""

from __future__ import annotations

from typing import Any

from kubeplan.blocks.preview import flux
from kubeplan.model import Cluster, Plan
from kubeplan.render import naming
from kubeplan.render.delivery import (
    ARGOCD_NAMESPACE,
    FLUX_NAMESPACE,
    IN_CLUSTER,
    PREVIEWS_ADDON,
    REGISTRY_VARIABLE,
    SERVICE,
    preview_cluster,
    repositories,
)
from kubeplan.render.delivery.service import (
    DEPLOY_PATH,
    PREVIEWS_PROJECT,
    RESTRICTED,
    SCM_TOKEN_ITEM,
    app_kind_whitelist,
    hostname_patch,
    scm_external_secret,
)
from kubeplan.render.gitops.addon import Addon
from kubeplan.render.gitops.baseline import image_policy_labels
from kubeplan.render.gitops.network import PREVIEW_LABEL
from kubeplan.render.gitops.telemetry import SECRET_STORE, remote_key

# How often the controller asks the Git host for open pull requests (webhooks make it faster).
POLL_SECONDS = 300


def addons(plan: Plan, cluster: Cluster) -> list[Addon]:
    decision = plan.decision("preview")
    if decision.choice != "pull-request-namespaces" or cluster != preview_cluster(plan):
        return []
    host = str(decision.param("hostPattern"))
    namespace = str(decision.param("namespacePattern"))
    token = remote_key(plan, cluster, SCM_TOKEN_ITEM)
    if plan.choice("gitops") == "argocd":
        objects = _argocd(plan, host, namespace, token)
        home = ARGOCD_NAMESPACE
    else:
        objects = flux.cluster_objects(plan, token, SECRET_STORE)
        home = FLUX_NAMESPACE
    return [Addon(name=PREVIEWS_ADDON, namespace=home, phase="apps", objects=tuple(objects),
                  objects_phase="apps", depends_on=())]


def _registry(plan: Plan) -> str:
    """Harbor's address is known here; a cloud registry's is a platform output."""
    if plan.choice("registry") == "harbor":
        return naming.harbor_push_address(plan)
    return f"${{{REGISTRY_VARIABLE}}}"


def _argocd(plan: Plan, host: str, namespace: str, token: str) -> list[dict[str, Any]]:
    repos = repositories(plan)
    number = "{{.number}}"
    secret = "preview-scm-token"
    scm: dict[str, Any]
    if plan.choice("ci") == "github-actions":
        scm = {"github": {"owner": repos.owner, "repo": SERVICE,
                          "tokenRef": {"secretName": secret, "key": "password"}}}
    else:
        scm = {"gitlab": {"project": repos.service_path(SERVICE), "pullRequestState": "opened",
                          "tokenRef": {"secretName": secret, "key": "password"}}}
    project = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": PREVIEWS_PROJECT, "namespace": ARGOCD_NAMESPACE},
        "spec": {
            "description": "Pull-request previews: application kinds in pr-* namespaces only",
            "sourceRepos": [repos.service_url(SERVICE)],
            "destinations": [{"server": IN_CLUSTER, "namespace": namespace.format(number="*")}],
            "clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}],
            "namespaceResourceWhitelist": app_kind_whitelist(),
        },
    }
    preview_host = host.format(number=number)
    appset = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {"name": f"{SERVICE}-previews", "namespace": ARGOCD_NAMESPACE},
        "spec": {
            "goTemplate": True,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [{"pullRequest": {**scm, "requeueAfterSeconds": POLL_SECONDS}}],
            "template": {
                "metadata": {"name": f"{SERVICE}-pr-{number}",
                             "labels": PREVIEW_LABEL},
                "spec": {
                    "project": PREVIEWS_PROJECT,
                    "source": {
                        "repoURL": repos.service_url(SERVICE),
                        "targetRevision": "{{.head_sha}}",
                        "path": DEPLOY_PATH,
                        "kustomize": {
                            "namespace": namespace.format(number=number),
                            "images": [f"{SERVICE}={_registry(plan)}/{SERVICE}"
                                       f":pr-{number}-{{{{.head_sha}}}}"],
                            "patches": [hostname_patch(preview_host),
                                        flux.parent_patch(plan)],
                        },
                    },
                    "destination": {"server": IN_CLUSTER,
                                    "namespace": namespace.format(number=number)},
                    "info": [{"name": "Preview", "value": f"https://{preview_host}"}],
                    "syncPolicy": {
                        "automated": {"prune": True, "selfHeal": True},
                        "syncOptions": ["CreateNamespace=true"],
                        "managedNamespaceMetadata": {"labels": {**RESTRICTED,
                                                                **PREVIEW_LABEL,
                                                                **image_policy_labels(plan)}},
                    },
                },
            },
        },
    }
    return [scm_external_secret(secret, ARGOCD_NAMESPACE, token, store=SECRET_STORE),
            project, appset]
