"""policy in the cluster: the restricted Pod Security Standard everywhere (namespace labels come
from the baseline), and, when the posture asks for it (`verifyImages`), only images from the
platform registry signed by the platform's CI.

Kyverno enforces both as ClusterPolicies; with plain Pod Security Admission the signatures are
Sigstore policy-controller's (ClusterImagePolicy). Gatekeeper is refused by the rule: it has no
pinned chart, CRDs or constraint templates in kubeplan's upstream data.

Pull-request previews are namespaces the GitOps tool creates at run time, which the baseline
cannot know: the image rules match them by their preview label (policy-controller by the label
its webhook selects, which the preview block sets), and in the preview cluster Kyverno copies
the application namespace's NetworkPolicies (default deny and its allowances) into each one as
it appears, and keeps them in sync. Without Kyverno nothing can; the policy decision warns.
"""

from __future__ import annotations

from typing import Any

from kubeplan.model import Cluster, Plan
from kubeplan.render import mirrors, naming
from kubeplan.render.delivery import preview_cluster
from kubeplan.render.gitops.addon import Addon
from kubeplan.render.gitops.baseline import (
    PRIORITY_CRITICAL,
    app_network_policies,
    sigstore_policy_controller,
)
from kubeplan.render.gitops.network import PREVIEW_LABEL
from kubeplan.render.gitops.objects import MANAGED_BY, TIER_APPS, TIER_LABEL, obj

KYVERNO = "kyverno"
POLICY_CONTROLLER = "policy-controller"
PREVIEW_NETWORK_POLICIES = "preview-network-policies"
MIRROR_POLICY = "mirror-public-images"
PLATFORM_IMAGES_AUDIT = "platform-images-report"
# Kyverno's admission rules on pods only: a rewritten Deployment template would differ from
# what the GitOps tool applied and never sync.
NO_AUTOGEN = {"pod-policies.kyverno.io/autogen-controllers": "none"}
# OIDC issuers of the CI systems whose keyless Cosign signatures are trusted.
CI_ISSUER = {"github-actions": "https://token.actions.githubusercontent.com",
             "gitlab-ci": "https://gitlab.com"}
CI_HOST = {"github-actions": "https://github.com", "gitlab-ci": "https://gitlab.com"}
REKOR = "https://rekor.sigstore.dev"
# Namespaces the distribution owns; Kyverno never blocks them.
SYSTEM = ["kube-system", "kube-public", "kube-node-lease"]


def platform_registry(plan: Plan) -> str:
    """An image-reference pattern for the platform's registry in its regions."""
    regions = list(plan.inputs.get("regions") or []) or [c.region for c in
                                                          plan.topology.clusters]
    provider = plan.metadata.provider
    if plan.choice("registry") == "harbor":
        return f"registry-*.{plan.metadata.domain}/*"
    if provider == "gcp":
        return "*-docker.pkg.dev/*" if len(regions) > 1 else f"{regions[0]}-docker.pkg.dev/*"
    if provider == "aws":
        return "*.dkr.ecr.*.amazonaws.com/*"
    return "*.azurecr.io/*"


def _identity(plan: Plan) -> tuple[str, str]:
    ci = str((plan.inputs.get("delivery") or {}).get("ci", "github-actions"))
    org = plan.metadata.name
    return CI_ISSUER[ci], f"^{CI_HOST[ci]}/{org}/.+$"


def _previews(plan: Plan) -> bool:
    return plan.choice("preview") == "pull-request-namespaces"


def _application_pods(plan: Plan) -> dict[str, Any]:
    """Pods of the application namespace and, with previews, of every preview namespace."""
    selectors = [{TIER_LABEL: TIER_APPS}, *([dict(PREVIEW_LABEL)] if _previews(plan) else [])]
    return {"any": [{"resources": {"kinds": ["Pod"], "namespaceSelector": {
        "matchLabels": labels}}} for labels in selectors]}


def _only_from(registry: str, message: str) -> dict[str, Any]:
    """A validate rule: every container image of the pod matches the `registry` pattern."""
    return {"message": message,
            "foreach": [{"list": "request.object.spec.[ephemeralContainers, initContainers, "
                                 "containers][]",
                         "deny": {"conditions": {"any": [{
                             "key": "{{ element.image }}", "operator": "AnyNotIn",
                             "value": [registry]}]}}}]}


def _preview_network_policies(plan: Plan, cluster: Cluster) -> dict[str, Any]:
    """One generate rule per NetworkPolicy of the application namespace, into each preview
    namespace when it is created (and those that exist when the policy arrives). Synchronised:
    Kyverno restores a changed or deleted copy and updates the copies when the policy changes.
    Kyverno labels what it generates as its own, so only the reasons are copied with the spec."""
    rules = []
    for policy in app_network_policies(plan, cluster):
        meta = policy["metadata"]
        rules.append({
            "name": meta["name"],
            "match": {"any": [{"resources": {"kinds": ["Namespace"],
                                             "selector": {"matchLabels": dict(PREVIEW_LABEL)}}}]},
            "generate": {
                "generateExisting": True,
                "synchronize": True,
                "apiVersion": policy["apiVersion"],
                "kind": policy["kind"],
                "name": meta["name"],
                "namespace": "{{request.object.metadata.name}}",
                "data": {"metadata": {"annotations": dict(meta.get("annotations") or {})},
                         "spec": policy["spec"]},
            },
        })
    return obj("kyverno.io/v1", "ClusterPolicy", PREVIEW_NETWORK_POLICIES, labels=MANAGED_BY,
               annotations={"policies.kyverno.io/title": "Preview network policies",
                            "policies.kyverno.io/description":
                                "Every pull-request namespace gets the application namespace's "
                                "NetworkPolicies: default deny and the same allowances."},
               spec={"background": True, "rules": rules})


def _kyverno_policies(plan: Plan, exempt: list[str]) -> list[dict[str, Any]]:
    policies = [obj("kyverno.io/v1", "ClusterPolicy", "pod-security-restricted",
                    labels=MANAGED_BY,
                    annotations={"policies.kyverno.io/title": "Restricted Pod Security Standard",
                                 "policies.kyverno.io/description":
                                     "Every pod meets the restricted profile, except in the "
                                     "namespaces whose add-ons document an exception."},
                    spec={
                        "validationFailureAction": "Enforce", "background": True,
                        "rules": [{
                            "name": "restricted",
                            "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
                            "exclude": {"any": [{"resources": {
                                "namespaces": sorted({*SYSTEM, *exempt})}}]},
                            "validate": {"podSecurity": {"level": "restricted",
                                                         "version": "latest"}}}]})]
    if plan.decision("policy").parameters.get("verifyImages"):
        issuer, subject = _identity(plan)
        registry = platform_registry(plan)
        policies += [
            obj("kyverno.io/v1", "ClusterPolicy", "platform-registry-only", labels=MANAGED_BY,
                annotations={"policies.kyverno.io/title": "Images from the platform registry"},
                spec={"validationFailureAction": "Enforce", "background": True, "rules": [{
                    "name": "platform-registry", "match": _application_pods(plan),
                    "validate": _only_from(
                        registry, f"application images must come from {registry}")}]}),
            obj("kyverno.io/v1", "ClusterPolicy", "verify-image-signatures", labels=MANAGED_BY,
                annotations={"policies.kyverno.io/title": "Signed by the platform's CI"},
                spec={"validationFailureAction": "Enforce", "background": False,
                      "webhookTimeoutSeconds": 15, "rules": [{
                          "name": "keyless-ci-signature", "match": _application_pods(plan),
                          "verifyImages": [{
                              "imageReferences": [registry], "mutateDigest": True,
                              "verifyDigest": True, "required": True,
                              "attestors": [{"entries": [{"keyless": {
                                  "issuer": issuer, "subjectRegExp": subject,
                                  "rekor": {"url": REKOR}}}]}]}]}]}),
        ]
    return policies


def _mirror_rule(field: str, targets: dict[str, str], match: dict[str, Any],
                 exclude: dict[str, Any] | None) -> dict[str, Any]:
    """Rewrite the images of one container list whose normalised reference
    (`image_normalize`: registry, `library/` for Docker Hub's official images, tag or digest)
    starts with a cached registry: the registry is replaced by its cache, the rest is kept."""
    foreach = []
    for host, target in sorted(targets.items()):
        pattern = "^" + host.replace(".", "[.]") + "/"
        foreach.append({
            "list": f"request.object.spec.{field}",
            "preconditions": {"all": [{
                "key": f"{{{{ starts_with(image_normalize(element.image), '{host}/') }}}}",
                "operator": "Equals", "value": True}]},
            "patchStrategicMerge": {"spec": {field: [{
                "name": "{{ element.name }}",
                "image": f"{{{{ regex_replace_all_literal('{pattern}', "
                         f"image_normalize(element.image), '{target}/') }}}}"}]}},
        })
    rule: dict[str, Any] = {
        "name": f"mirror-{field.lower()}",
        "match": match,
        "preconditions": {"all": [
            {"key": "{{ request.operation || 'BACKGROUND' }}", "operator": "Equals",
             "value": "CREATE"},
            # A pod without this list (no init containers) skips the rule instead of failing
            # the foreach on a null list.
            {"key": f"{{{{ request.object.spec.{field}[] || `[]` | length(@) }}}}",
             "operator": "GreaterThanOrEquals", "value": 1}]},
        "mutate": {"foreach": foreach},
    }
    if exclude:
        rule["exclude"] = exclude
    return rule


def _mirror_policies(plan: Plan, cluster: Cluster) -> list[dict[str, Any]]:
    """Public images through the platform registry's caches (render/mirrors.py): rewritten when
    a pod is created. A cloud registry serves every namespace but the distribution's; Harbor,
    which runs on this platform, only the application namespaces (see mirrors.py). With a cloud
    registry a report policy lists pods still pulling from elsewhere (the distribution's
    namespaces aside), so a chart that brings an uncached registry shows up in policy reports."""
    targets = mirrors.targets(plan, cluster)
    if mirrors.harbor(plan):
        match, exclude = _application_pods(plan), None
    else:
        match = {"any": [{"resources": {"kinds": ["Pod"]}}]}
        exclude = {"any": [{"resources": {"namespaces": list(SYSTEM)}}]}
    where = ("the application namespaces" if mirrors.harbor(plan)
             else "every namespace but the distribution's")
    policies = [obj("kyverno.io/v1", "ClusterPolicy", MIRROR_POLICY, labels=MANAGED_BY,
                    annotations={
                        **NO_AUTOGEN,
                        "policies.kyverno.io/title": "Public images through the caches",
                        "policies.kyverno.io/description":
                            f"Pods in {where} pull {mirrors.SUMMARY} images through the "
                            "platform registry's pull-through caches."},
                    spec={"background": False, "rules": [
                        _mirror_rule(field, targets, match, exclude)
                        for field in ("containers", "initContainers")]})]
    if not mirrors.harbor(plan):
        registry = platform_registry(plan)
        policies.append(obj(
            "kyverno.io/v1", "ClusterPolicy", PLATFORM_IMAGES_AUDIT, labels=MANAGED_BY,
            annotations={**NO_AUTOGEN,
                         "policies.kyverno.io/title": "Images outside the platform registry"},
            spec={"validationFailureAction": "Audit", "background": True, "rules": [{
                "name": "platform-registry", "match": match, "exclude": exclude,
                "validate": _only_from(
                    registry, f"images should come from {registry} or its caches")}]}))
    return policies


def _kyverno(plan: Plan, cluster: Cluster, exempt: list[str]) -> Addon:
    production = cluster.environment == plan.topology.production
    # Three admission replicas in production: the webhook is on every API write's path.
    admission = 3 if production else 1
    values: dict[str, Any] = {
        "admissionController": {"replicas": admission, "priorityClassName": PRIORITY_CRITICAL},
        "backgroundController": {"replicas": 2 if production else 1},
        "cleanupController": {"replicas": 2 if production else 1},
        "reportsController": {"replicas": 2 if production else 1},
    }
    policies = _kyverno_policies(plan, exempt)
    if mirrors.enabled(plan):
        policies += _mirror_policies(plan, cluster)
        if not mirrors.harbor(plan):
            # Kyverno does not admit its own pods: its images are set to the cache directly.
            values["global"] = {"image": {"registry": mirrors.targets(plan, cluster)["ghcr.io"]}}
    if _previews(plan) and cluster == preview_cluster(plan):
        policies.append(_preview_network_policies(plan, cluster))
    return Addon(name=KYVERNO, namespace=KYVERNO, phase="core", chart=KYVERNO, values=values,
                 objects=tuple(policies))


def _policy_controller(plan: Plan) -> Addon:
    issuer, subject = _identity(plan)
    registry = platform_registry(plan)
    policy = obj("policy.sigstore.dev/v1beta1", "ClusterImagePolicy", "platform-ci-signatures",
                 labels=MANAGED_BY, spec={
                     "images": [{"glob": registry}],
                     "authorities": [{"keyless": {"url": "https://fulcio.sigstore.dev",
                                                  "identities": [{"issuer": issuer,
                                                                  "subjectRegExp": subject}]},
                                      "ctlog": {"url": REKOR}}]})
    return Addon(name=POLICY_CONTROLLER, namespace="cosign-system", phase="core",
                 chart=POLICY_CONTROLLER, values={"webhook": {"replicaCount": 2}},
                 objects=(policy,))


def exempt_namespaces(plan: Plan) -> list[str]:
    """Namespaces the restricted check skips: those of add-ons with a documented exception.

    Blocks cannot see each other's add-ons, so the known exceptions are derived from the
    decisions that bring privileged node agents.
    """
    out = []
    if plan.choice("service_mesh") == "istio":
        out.append("istio-system")
    if plan.choice("storage") == "rook-ceph":
        out.append("rook-ceph")
    if plan.choice("load_balancer") == "self-hosted":
        out.append("metallb-system")
    if plan.choice("cluster") == "self-managed":
        out += ["kured", "etcd-backup"]
    if plan.choice("logging") == "loki":
        out.append(naming.WORKLOADS["loki"].namespace)
    if plan.choice("logging") == "elasticsearch":
        out.append(naming.WORKLOADS["loki"].namespace)
    if plan.choice("backup") in ("velero", "velero-etcd"):
        out.append(naming.WORKLOADS["velero"].namespace)
    out.append(naming.WORKLOADS["thanos"].namespace)  # node-exporter reads the host
    return sorted(set(out))


def addons(plan: Plan, cluster: Cluster) -> list[Addon]:
    choice = plan.choice("policy")
    if choice == "kyverno":
        return [_kyverno(plan, cluster, exempt_namespaces(plan))]
    if sigstore_policy_controller(plan):
        return [_policy_controller(plan)]
    return []
