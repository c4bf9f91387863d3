"""preview with Flux: the pipeline commits a request per pull request, Flux reconciles them.

A request is the folder `pr-<number>/` under `preview_requests_dir` on branch PREVIEW_BRANCH of
the platform repository: a Namespace, a ServiceAccount and RoleBinding that may deploy only the
application kinds inside it, a GitRepository on the pull request's head commit and a
Kustomization that deploys the service's `deploy/` from it with the pull request's image and
preview host. The pipeline writes it from a template (`request_template`) when the pull request
opens or changes and deletes it when the request closes; the cluster's `previews`
Kustomization (prune: true) then deletes everything the request created.

Whoever can write to that branch decides what the `previews` Kustomization applies, so it does
not run as the controller: it impersonates a service account that may only manage those kinds,
and an admission policy holds it to `pr-<number>` namespaces carrying exactly the preview
namespace metadata (`namespace.py`: the labels and annotations the platform's policies and the
mesh select by) and to child Kustomizations that run as the preview's own, namespace-bound
service account.
"""

from __future__ import annotations

import json
import re
from typing import Any

from kubeplan.model import Plan
from kubeplan.render.delivery import (
    FLUX_NAMESPACE,
    PREVIEW_BRANCH,
    PREVIEWS_ADDON,
    REGISTRY_VARIABLE,
    SERVICE,
    preview_requests_dir,
    repositories,
)
from kubeplan.render.delivery.service import (
    APP_KINDS,
    DEPLOY_PATH,
    hostname_patch,
    scm_external_secret,
)
from kubeplan.render.gitops import flux as flux_tree
from kubeplan.render.gitops.network import preview_parent_ref

from .namespace import admission_checks, cel_string, metadata

SOURCE_API = flux_tree.SOURCE_API
KUSTOMIZE_API = flux_tree.KUSTOMIZE_API
KUSTOMIZE_GROUP = KUSTOMIZE_API.split("/")[0]
# The service account of the `previews` Kustomization, and the one each preview deploys as.
REQUESTS_ACCOUNT = "previews"
DEPLOYER = "preview-deployer"
SCM_SECRET = "preview-scm"
# Verbs server-side apply, health checks and garbage collection need.
VERBS = ["get", "list", "watch", "create", "update", "patch", "delete"]
# What a request may contain, by API group and resource.
REQUEST_RESOURCES = {"": ["namespaces", "serviceaccounts"],
                     "rbac.authorization.k8s.io": ["rolebindings"],
                     "source.toolkit.fluxcd.io": ["gitrepositories"],
                     "kustomize.toolkit.fluxcd.io": ["kustomizations"]}


def _var(name: str) -> str:
    return f"${{{name}}}"


def _resource(kind: str) -> str:
    lower = kind.lower()
    return f"{lower[:-1]}ies" if lower.endswith("y") else f"{lower}s"


def parent_patch(plan: Plan) -> dict[str, Any]:
    """A kustomize patch attaching the service's HTTPRoute to the preview listener of the
    gateway that serves previews (the only listener preview namespaces may attach to)."""
    ops = [{"op": "replace", "path": "/spec/parentRefs", "value": [preview_parent_ref(plan)]}]
    return {"target": {"kind": "HTTPRoute", "name": SERVICE},
            "patch": json.dumps(ops, separators=(",", ":"))}


def namespace_regex(pattern: str) -> str:
    before, after = pattern.split("{number}")
    return f"^{re.escape(before)}[0-9]+{re.escape(after)}$"


def request_template(plan: Plan) -> list[dict[str, Any]]:
    """One request, with `${SERVICE}`, `${PR_NUMBER}`, `${HEAD_SHA}`, `${IMAGE_TAG}` and
    `${REGISTRY_URL}` for the pipeline to substitute."""
    decision = plan.decision("preview")
    number = _var("PR_NUMBER")
    service = _var("SERVICE")
    namespace = str(decision.param("namespacePattern")).format(number=number)
    host = str(decision.param("hostPattern")).format(number=number)
    repos = repositories(plan)
    source = f"{service}-pr-{number}"
    required = metadata(plan)
    namespace_meta: dict[str, Any] = {"name": namespace, "labels": required.labels}
    if required.annotations:
        namespace_meta["annotations"] = required.annotations
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": namespace_meta},
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": DEPLOYER, "namespace": namespace},
         "automountServiceAccountToken": False},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": DEPLOYER, "namespace": namespace},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": DEPLOYER},
         "subjects": [{"kind": "ServiceAccount", "name": DEPLOYER, "namespace": namespace}]},
        # The source stays next to its read token; the Kustomization refers to it across.
        {"apiVersion": SOURCE_API, "kind": "GitRepository",
         "metadata": {"name": source, "namespace": FLUX_NAMESPACE},
         "spec": {"interval": "10m", "url": f"https://{repos.host}/{repos.owner}/{service}.git",
                  "ref": {"commit": _var("HEAD_SHA")}, "secretRef": {"name": SCM_SECRET}}},
        {"apiVersion": KUSTOMIZE_API, "kind": "Kustomization",
         "metadata": {"name": service, "namespace": namespace,
                      "annotations": {"event.toolkit.fluxcd.io/preview-url": f"https://{host}"}},
         "spec": {"interval": "10m", "path": f"./{DEPLOY_PATH}", "prune": True, "wait": True,
                  "timeout": "5m", "targetNamespace": namespace,
                  "serviceAccountName": DEPLOYER,
                  "sourceRef": {"kind": "GitRepository", "name": source,
                                "namespace": FLUX_NAMESPACE},
                  "images": [{"name": service,
                              "newName": f"{_var(REGISTRY_VARIABLE)}/{service}",
                              "newTag": _var("IMAGE_TAG")}],
                  "patches": [{**patch, "target": {"kind": "HTTPRoute", "name": service}}
                              for patch in (hostname_patch(host), parent_patch(plan))]}},
    ]


def cluster_objects(plan: Plan, token: str, store: str) -> list[dict[str, Any]]:
    """The preview cluster's side: the requests' source and Kustomization, their service
    accounts' rights, and the admission policy that bounds them."""
    decision = plan.decision("preview")
    # A CEL string literal (re.escape's backslashes escaped for CEL, kept for RE2).
    namespaces = cel_string(namespace_regex(str(decision.param("namespacePattern"))))
    repos = repositories(plan)
    requests = preview_requests_dir(plan)
    account = f"system:serviceaccount:{FLUX_NAMESPACE}:{REQUESTS_ACCOUNT}"
    rules = [{"apiGroups": [group], "resources": resources, "verbs": VERBS}
             for group, resources in REQUEST_RESOURCES.items()]
    rules.append({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"],
                  "verbs": ["bind"], "resourceNames": [DEPLOYER]})
    deployer_rules: dict[str, list[str]] = {}
    for kind, group in APP_KINDS.items():
        deployer_rules.setdefault(group, []).append(_resource(kind))
    # A request's namespace carries exactly the preview metadata (see namespace.py), plus the
    # owner labels kustomize-controller sets on everything it applies.
    owner = {f"{KUSTOMIZE_GROUP}/name": cel_string(PREVIEWS_ADDON),
             f"{KUSTOMIZE_GROUP}/namespace": cel_string(FLUX_NAMESPACE)}
    variables, namespace_checks = admission_checks(
        metadata(plan), owner, {},
        unless="request.operation == 'DELETE' || request.resource.resource != 'namespaces'")
    validations = [
        {"expression": f"request.resource.resource != 'namespaces' || "
                       f"request.name.matches({namespaces})",
         "message": "preview requests may only manage pull-request namespaces"},
        *namespace_checks,
        {"expression": f"request.resource.resource == 'namespaces' || "
                       f"(request.resource.resource == 'gitrepositories' ? "
                       f"request.namespace == '{FLUX_NAMESPACE}' && "
                       f"request.name.matches('-pr-[0-9]+$') : "
                       f"request.namespace.matches({namespaces}))",
         "message": "preview requests may only create objects in pull-request namespaces "
                    f"(sources: {FLUX_NAMESPACE}/<service>-pr-<number>)"},
        {"expression": "request.operation == 'DELETE' || "
                       "request.resource.resource != 'kustomizations' || "
                       "(has(object.spec.serviceAccountName) && "
                       f"object.spec.serviceAccountName == '{DEPLOYER}' && "
                       "has(object.spec.targetNamespace) && "
                       "object.spec.targetNamespace == request.namespace && "
                       "!has(object.spec.kubeConfig))",
         "message": f"preview Kustomizations deploy into their own namespace as {DEPLOYER}"},
        {"expression": "request.operation == 'DELETE' || "
                       "request.resource.resource != 'rolebindings' || "
                       f"(object.roleRef.kind == 'ClusterRole' && "
                       f"object.roleRef.name == '{DEPLOYER}')",
         "message": f"preview RoleBindings may only grant {DEPLOYER}"},
    ]
    policy = "preview-requests"
    return [
        scm_external_secret(SCM_SECRET, FLUX_NAMESPACE, token, store=store),
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": REQUESTS_ACCOUNT, "namespace": FLUX_NAMESPACE},
         "automountServiceAccountToken": False},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": policy}, "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": policy},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": policy},
         "subjects": [{"kind": "ServiceAccount", "name": REQUESTS_ACCOUNT,
                       "namespace": FLUX_NAMESPACE}]},
        # Bound per preview namespace by the request's RoleBinding: application kinds only.
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": DEPLOYER},
         "rules": [{"apiGroups": [group], "resources": sorted(resources), "verbs": VERBS}
                   for group, resources in sorted(deployer_rules.items())]},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
         "metadata": {"name": policy},
         "spec": {
             "failurePolicy": "Fail",
             "matchConstraints": {"resourceRules": [{
                 "apiGroups": sorted(REQUEST_RESOURCES), "apiVersions": ["*"],
                 "operations": ["CREATE", "UPDATE", "DELETE"],
                 "resources": sorted(r for rs in REQUEST_RESOURCES.values() for r in rs)}]},
             "matchConditions": [{"name": "previews-account",
                                  "expression": f"request.userInfo.username == '{account}'"}],
             "variables": variables,
             "validations": validations,
         }},
        {"apiVersion": "admissionregistration.k8s.io/v1",
         "kind": "ValidatingAdmissionPolicyBinding",
         "metadata": {"name": policy},
         "spec": {"policyName": policy, "validationActions": ["Deny"]}},
        {"apiVersion": SOURCE_API, "kind": "GitRepository",
         "metadata": {"name": PREVIEWS_ADDON, "namespace": FLUX_NAMESPACE},
         "spec": {"interval": "1m", "url": repos.platform_url,
                  "ref": {"branch": PREVIEW_BRANCH},
                  "secretRef": {"name": f"{flux_tree.ROOT}-git"},
                  "sparseCheckout": [requests]}},
        {"apiVersion": KUSTOMIZE_API, "kind": "Kustomization",
         "metadata": {"name": PREVIEWS_ADDON, "namespace": FLUX_NAMESPACE},
         "spec": {"interval": "5m", "path": f"./{requests}", "prune": True, "wait": False,
                  "timeout": "5m", "serviceAccountName": REQUESTS_ACCOUNT,
                  "sourceRef": {"kind": "GitRepository", "name": PREVIEWS_ADDON}}},
    ]
