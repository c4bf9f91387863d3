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
per preview). The GitOps tool creates each preview namespace with the metadata the platform's
policies select it by (and deletes it with the preview); an admission policy holds it to
exactly that (`namespace.py`). The registry address is substituted from the registry's
Terraform output (`${REGISTRY_URL}`), like every cloud-side name in the GitOps tree; Flux
requests get it from the pipeline.
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
    SCM_TOKEN_ITEM,
    app_kind_whitelist,
    hostname_patch,
    scm_external_secret,
)
from kubeplan.render.gitops.addon import Addon
from kubeplan.render.gitops.network import PREVIEW_LABEL
from kubeplan.render.gitops.telemetry import SECRET_STORE, remote_key

from .namespace import admission_checks, cel_string, metadata

# How often the controller asks the Git host for open pull requests (webhooks make it faster).
POLL_SECONDS = 300
# The chart's application controller, which applies every Application's objects.
CONTROLLER = f"system:serviceaccount:{ARGOCD_NAMESPACE}:argocd-application-controller"
# Argo CD's resource tracking (annotation, the default since v3): `<app>:<group>/<kind>:<ns>/<name>`.
TRACKING_ID = "argocd.argoproj.io/tracking-id"
# Argo CD applies managedNamespaceMetadata server-side and says so in this annotation.
SYNC_OPTIONS = "argocd.argoproj.io/sync-options"
NAMESPACES_POLICY = "preview-namespaces"


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


def _tracking(application: str, namespace: str) -> str:
    return f"{application}:/Namespace:/{namespace}"


def _argocd(plan: Plan, host: str, namespace: str, token: str) -> list[dict[str, Any]]:
    repos = repositories(plan)
    number = "{{.number}}"
    preview_namespace = namespace.format(number=number)
    # One Application per preview, named after its namespace (the admission policy derives the
    # namespace's tracking id from its name).
    application = f"{SERVICE}-{preview_namespace}"
    secret = "preview-scm-token"
    scm: dict[str, Any]
    if plan.choice("ci") == "github-actions":
        scm = {"github": {"owner": repos.owner, "repo": SERVICE,
                          "tokenRef": {"secretName": secret, "key": "password"}}}
    else:
        scm = {"gitlab": {"project": repos.service_path(SERVICE), "pullRequestState": "opened",
                          "tokenRef": {"secretName": secret, "key": "password"}}}
    required = metadata(plan)
    project = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": PREVIEWS_PROJECT, "namespace": ARGOCD_NAMESPACE},
        "spec": {
            "description": "Pull-request previews: application kinds in pr-* namespaces only",
            "sourceRepos": [repos.service_url(SERVICE)],
            "destinations": [{"server": IN_CLUSTER, "namespace": namespace.format(number="*")}],
            # CreateNamespace needs Namespace here: Argo CD v3.4 puts the namespace it creates
            # through the project's permission check like any manifest (gitops-engine
            # pkg/sync/sync_context.go, getSyncTasks after autoCreateNamespace;
            # argoproj/argo-cd#22869). Only preview names; what such a namespace may carry,
            # whether created or shipped in a deploy folder, is held by `preview-namespaces`.
            "clusterResourceWhitelist": [{"group": "", "kind": "Namespace",
                                          "name": namespace.format(number="*")}],
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
                "metadata": {"name": application, "labels": PREVIEW_LABEL},
                "spec": {
                    "project": PREVIEWS_PROJECT,
                    "source": {
                        "repoURL": repos.service_url(SERVICE),
                        "targetRevision": "{{.head_sha}}",
                        "path": DEPLOY_PATH,
                        "kustomize": {
                            "namespace": preview_namespace,
                            "images": [f"{SERVICE}={_registry(plan)}/{SERVICE}"
                                       f":pr-{number}-{{{{.head_sha}}}}"],
                            "patches": [hostname_patch(preview_host),
                                        flux.parent_patch(plan)],
                        },
                    },
                    "destination": {"server": IN_CLUSTER, "namespace": preview_namespace},
                    "info": [{"name": "Preview", "value": f"https://{preview_host}"}],
                    "syncPolicy": {
                        "automated": {"prune": True, "selfHeal": True},
                        "syncOptions": ["CreateNamespace=true"],
                        # Argo CD does not track a namespace it creates, so would leave it
                        # behind when the pull request closes; this tracking id makes it the
                        # Application's, deleted with it (Argo CD's sync-options docs,
                        # "Namespace Metadata").
                        "managedNamespaceMetadata": {
                            "labels": required.labels,
                            "annotations": {**required.annotations,
                                            TRACKING_ID: _tracking(application,
                                                                   preview_namespace)}},
                    },
                },
            },
        },
    }
    return [scm_external_secret(secret, ARGOCD_NAMESPACE, token, store=SECRET_STORE),
            project, appset, *_namespace_policy(plan, namespace)]


def _namespace_policy(plan: Plan, pattern: str) -> list[dict[str, Any]]:
    """What the application controller may write to a `pr-*` namespace: a preview's name and
    exactly its metadata. The previews project may touch only these names; this stops a deploy
    folder's own Namespace from dropping or adding labels, or from claiming another preview's
    namespace (its tracking id would name the wrong Application)."""
    prefix = pattern.split("{number}", maxsplit=1)[0]
    tracking = (f"{cel_string(SERVICE + '-')} + object.metadata.name + "
                f"{cel_string(':/Namespace:/')} + object.metadata.name")
    variables, checks = admission_checks(
        metadata(plan), {}, {TRACKING_ID: tracking,
                             SYNC_OPTIONS: cel_string("ServerSideApply=true")})
    return [
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
         "metadata": {"name": NAMESPACES_POLICY},
         "spec": {
             "failurePolicy": "Fail",
             "matchConstraints": {"resourceRules": [{
                 "apiGroups": [""], "apiVersions": ["v1"],
                 "operations": ["CREATE", "UPDATE"], "resources": ["namespaces"]}]},
             "matchConditions": [
                 {"name": "application-controller",
                  "expression": f"request.userInfo.username == '{CONTROLLER}'"},
                 {"name": "preview-names",
                  "expression": f"object.metadata.name.startsWith({cel_string(prefix)})"}],
             "variables": variables,
             "validations": [
                 {"expression": f"object.metadata.name.matches("
                                f"{cel_string(flux.namespace_regex(pattern))})",
                  "message": "namespaces of the previews project are pull-request namespaces"},
                 *checks],
         }},
        {"apiVersion": "admissionregistration.k8s.io/v1",
         "kind": "ValidatingAdmissionPolicyBinding",
         "metadata": {"name": NAMESPACES_POLICY},
         "spec": {"policyName": NAMESPACES_POLICY, "validationActions": ["Deny"]}},
    ]
