"""Pull-request previews are held to the application namespace's policies.

Preview namespaces are made at run time, so the baseline cannot write their policies. With
Kyverno, the preview cluster's `preview-network-policies` ClusterPolicy generates into each one
exactly the NetworkPolicies the baseline renders for the application namespace (compared with
the rendered tree, so the two cannot drift); the image rules (registry and signatures) select
preview namespaces by the labels the preview block gives them: Kyverno's rules by the preview
label, Sigstore policy-controller's webhook by the label its upstream chart selects.

The preview namespace itself: Argo CD creates it (CreateNamespace with managedNamespaceMetadata;
its project may touch only `pr-*` namespaces), Flux applies it from a request; either way it
carries the application namespace's Pod Security and mesh enrolment, and the admission policy
the preview block renders admits exactly that metadata (its CEL evaluated here with cel-python
when installed: the namespace as each controller writes it passes, every tampered one fails).

Only each plan's preview cluster is rendered (once per module); other clusters are checked
through their add-ons.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import pytest
import yaml

from kubeplan.blocks._gitops import block_addons
from kubeplan.blocks.policy.gitops import PREVIEW_NETWORK_POLICIES
from kubeplan.blocks.preview.flux import KUSTOMIZE_GROUP, request_template
from kubeplan.blocks.preview.gitops import CONTROLLER, NAMESPACES_POLICY, SYNC_OPTIONS, TRACKING_ID
from kubeplan.check import crds, kubernetes
from kubeplan.check.manifests import Document
from kubeplan.model import Cluster, Plan
from kubeplan.render.delivery import FLUX_NAMESPACE, PREVIEWS_ADDON, preview_cluster
from kubeplan.render.gitops.addon import Addon
from kubeplan.render.gitops.compose import render_cluster
from kubeplan.render.gitops.network import PREVIEW_LABEL
from kubeplan.render.gitops.objects import TIER_LABEL
from kubeplan.render.naming import APP_NAMESPACE
from kubeplan.render.tree import OutputTree

from .conftest import SHARED_UPSTREAM
from .gitops_support import example_data, plan_from

IMAGE_POLICIES = ("platform-registry-only", "verify-image-signatures")
PREVIEW_NAMESPACE = "pr-42"
# spec edits per case: Kyverno with Argo CD (GKE) and Flux (AKS); Istio's mesh gateway in
# front of the applications; Pod Security Admission, so policy-controller verifies signatures,
# with Argo CD and Flux; and two plans without previews.
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "shop": ("shop", {}),
    "azure-startup": ("azure-startup", {}),
    "regulated-payments+previews": ("regulated-payments",
                                    {"delivery": {"previewEnvironments": True}}),
    "shop+psa": ("shop", {"overrides": {"policy": "pod-security-admission"}}),
    "azure-startup+psa": ("azure-startup", {"overrides": {"policy": "pod-security-admission"}}),
    "factory-onprem": ("factory-onprem", {}),
    "shop-no-previews": ("shop", {"delivery": {"previewEnvironments": False}}),
    # Previews in a mesh (regulated-payments+previews is Istio with Argo CD).
    "aws-saas+istio": ("aws-saas", {"security": {"mtls": "required"}}),
    "azure-startup+istio": ("azure-startup", {"security": {"mtls": "required"}}),
}
WITH_PREVIEWS = tuple(n for n in CASES if "no-previews" not in n and n != "factory-onprem")
KYVERNO_PREVIEWS = ("shop", "azure-startup", "regulated-payments+previews", "aws-saas+istio",
                    "azure-startup+istio")
POLICY_CONTROLLER_PREVIEWS = ("shop+psa", "azure-startup+psa")
MESH_PREVIEWS = {"regulated-payments+previews": "istio", "aws-saas+istio": "istio",
                 "azure-startup+istio": "istio"}
ARGOCD_PREVIEWS = ("shop", "regulated-payments+previews", "shop+psa", "aws-saas+istio")
# What puts an application namespace's pods in the mesh: Istio ambient by label (no mesh
# kubeplan builds enrols by annotation; any mesh annotation on a preview must match `apps`).
MESH_LABELS = ("istio.io/",)
MESH_ANNOTATIONS = ("linkerd.io/", "istio.io/")
PSA = "pod-security.kubernetes.io/"


def _plan(example: str, edits: dict[str, Any]) -> Plan:
    data = example_data(example)
    for key, value in edits.items():
        data["spec"][key] = {**(data["spec"].get(key) or {}), **value}
    return plan_from(data)


@dataclass(frozen=True)
class Case:
    name: str
    plan: Plan

    @cached_property
    def cluster(self) -> Cluster:
        return preview_cluster(self.plan)

    @cached_property
    def addons(self) -> dict[Cluster, list[Addon]]:
        return {c: block_addons(self.plan, c) for c in self.plan.topology.clusters}

    @cached_property
    def docs(self) -> list[dict[str, Any]]:
        """The preview cluster's objects, as rendered."""
        tree = OutputTree()
        render_cluster(self.plan, self.cluster, self.addons[self.cluster], tree)
        return [d for path, data in sorted(tree) if path.endswith(".yaml")
                for d in yaml.load_all(data, Loader=yaml.CSafeLoader)
                if isinstance(d, dict) and "kind" in d]

    def objects(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] == kind
                and d["metadata"].get("namespace") == namespace]

    def namespace_labels(self, name: str) -> dict[str, str]:
        return self.namespace_metadata(name)["labels"]

    def namespace_metadata(self, name: str) -> dict[str, dict[str, str]]:
        (found,) = [n for n in self.objects("Namespace") if n["metadata"]["name"] == name]
        meta = found["metadata"]
        return {"labels": dict(meta["labels"]), "annotations": dict(meta.get("annotations") or {})}

    @cached_property
    def argocd(self) -> bool:
        return self.plan.choice("gitops") == "argocd"

    @cached_property
    def appset(self) -> dict[str, Any]:
        (appset,) = [a for a in self.objects("ApplicationSet", "argocd")
                     if "pullRequest" in a["spec"]["generators"][0]]
        return appset

    @cached_property
    def preview_metadata(self) -> dict[str, dict[str, str]]:
        """The labels and annotations a preview namespace is created with (by Argo CD or a Flux
        request), for pull request 42."""
        if self.argocd:
            managed = self.appset["spec"]["template"]["spec"]["syncPolicy"][
                "managedNamespaceMetadata"]
            labels, annotations = managed["labels"], managed.get("annotations") or {}
        else:
            (namespace,) = [d for d in request_template(self.plan) if d["kind"] == "Namespace"]
            labels = namespace["metadata"]["labels"]
            annotations = namespace["metadata"].get("annotations") or {}
        return {"labels": dict(labels),
                "annotations": {k: v.replace("{{.number}}", "42")
                                for k, v in annotations.items()}}

    @cached_property
    def preview_labels(self) -> dict[str, str]:
        return self.preview_metadata["labels"]

    def cluster_object(self, kind: str, name: str) -> dict[str, Any]:
        (found,) = [o for o in self.objects(kind) if o["metadata"]["name"] == name]
        return found


@pytest.fixture(scope="module")
def cases() -> dict[str, Case]:
    return {name: Case(name, _plan(*spec)) for name, spec in CASES.items()}


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels and matchExpressions)."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], \
            expression.get("values") or []
        ok = {"In": labels.get(key) in values,
              "NotIn": key not in labels or labels[key] not in values,
              "Exists": key in labels, "DoesNotExist": key not in labels}[operator]
        if not ok:
            return False
    return True


def _kyverno_policies(addons: list[Addon]) -> dict[str, dict[str, Any]]:
    return {str(o["metadata"]["name"]): dict(o) for a in addons if a.name == "kyverno"
            for o in a.objects if o["kind"] == "ClusterPolicy"}


def _pod_selectors(policy: dict[str, Any]) -> list[dict[str, Any]]:
    (rule,) = policy["spec"]["rules"]
    return [f["resources"]["namespaceSelector"] for f in rule["match"]["any"]
            if f["resources"]["kinds"] == ["Pod"]]


def test_selects() -> None:
    assert selects({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"})
    assert not selects({"matchLabels": {"a": "1"}}, {"a": "2"})
    assert selects({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]}]},
                   {"a": "1"})
    assert not selects({"matchExpressions": [{"key": "a", "operator": "In",
                                              "values": ["1"]}]}, {})


@pytest.mark.parametrize("name", KYVERNO_PREVIEWS)
def test_previews_get_the_application_namespace_network_policies(cases: dict[str, Case],
                                                                 name: str) -> None:
    case = cases[name]
    (policy,) = [p for p in case.objects("ClusterPolicy")
                 if p["metadata"]["name"] == PREVIEW_NETWORK_POLICIES]
    apps = {p["metadata"]["name"]: p for p in case.objects("NetworkPolicy", APP_NAMESPACE)}
    assert "default-deny" in apps
    generated: dict[str, dict[str, Any]] = {}
    rule_names = [r["name"] for r in policy["spec"]["rules"]]
    assert len(set(rule_names)) == len(rule_names)
    for rule in policy["spec"]["rules"]:
        assert len(rule["name"]) <= 63
        (match,) = rule["match"]["any"]
        assert match["resources"]["kinds"] == ["Namespace"]
        # Every preview namespace, and only those, is matched.
        assert selects(match["resources"]["selector"], case.preview_labels)
        assert not selects(match["resources"]["selector"], case.namespace_labels(APP_NAMESPACE))
        generate = rule["generate"]
        assert generate["namespace"] == "{{request.object.metadata.name}}"
        assert generate["synchronize"] is True and generate["generateExisting"] is True
        assert (generate["apiVersion"], generate["kind"]) == ("networking.k8s.io/v1",
                                                              "NetworkPolicy")
        generated[generate["name"]] = {
            "apiVersion": generate["apiVersion"], "kind": generate["kind"],
            "metadata": {"name": generate["name"], "namespace": PREVIEW_NAMESPACE,
                         **generate["data"]["metadata"]},
            "spec": generate["data"]["spec"]}
    # The same names, specs and reasons as the application namespace's.
    assert sorted(generated) == sorted(apps)
    for policy_name, copy in generated.items():
        assert copy["spec"] == apps[policy_name]["spec"], policy_name
        assert copy["metadata"]["annotations"] == apps[policy_name]["metadata"]["annotations"]
    # What Kyverno will create is a valid NetworkPolicy, and the ClusterPolicy fits the CRD.
    version = str(case.plan.metadata.kubernetes_version)
    for copy in generated.values():
        found = kubernetes.check_object(Document("generated.yaml", 0, copy), version)
        assert found == [], [f.render() for f in found or []]
    found = crds.check_object(Document("clusterpolicy.yaml", 0, policy), SHARED_UPSTREAM.resolve(),
                              version)
    assert not found, [f.render() for f in found]


def test_network_policies_are_generated_only_in_the_preview_cluster(
        cases: dict[str, Case]) -> None:
    seen = 0
    for case in cases.values():
        previews = case.plan.choice("preview") == "pull-request-namespaces"
        kyverno = case.plan.choice("policy") == "kyverno"
        for cluster, addons in case.addons.items():
            generates = PREVIEW_NETWORK_POLICIES in _kyverno_policies(addons)
            assert generates == (kyverno and previews and cluster == case.cluster), \
                (case.name, cluster.name)
            seen += generates
    assert seen == len(KYVERNO_PREVIEWS)


@pytest.mark.parametrize("name", KYVERNO_PREVIEWS)
def test_kyverno_image_rules_hold_previews_in_every_cluster(cases: dict[str, Case],
                                                            name: str) -> None:
    case = cases[name]
    apps = case.namespace_labels(APP_NAMESPACE)
    for cluster, addons in case.addons.items():
        policies = _kyverno_policies(addons)
        for policy_name in IMAGE_POLICIES:
            selectors = _pod_selectors(policies[policy_name])
            assert any(selects(s, case.preview_labels) for s in selectors), (cluster.name,
                                                                             policy_name)
            assert any(selects(s, apps) for s in selectors), (cluster.name, policy_name)


def test_without_previews_image_rules_hold_the_application_namespace_only(
        cases: dict[str, Case]) -> None:
    case = cases["shop-no-previews"]
    for addons in case.addons.values():
        policies = _kyverno_policies(addons)
        for policy_name in IMAGE_POLICIES:
            selectors = _pod_selectors(policies[policy_name])
            assert not any(selects(s, dict(PREVIEW_LABEL)) for s in selectors)


def _webhook_selector(addon: Addon) -> dict[str, Any]:
    """policy-controller's webhook namespaceSelector: ours if set, else the chart's default."""
    path = SHARED_UPSTREAM / "charts" / "policy-controller" / "values.yaml"
    defaults = yaml.safe_load(path.read_text("utf-8"))
    webhook = {**defaults["webhook"], **(dict(addon.values).get("webhook") or {})}
    selector: dict[str, Any] = webhook["namespaceSelector"]
    return selector


@pytest.mark.parametrize("name", POLICY_CONTROLLER_PREVIEWS)
def test_policy_controller_verifies_previews_and_the_application_namespace(
        cases: dict[str, Case], name: str) -> None:
    case = cases[name]
    (controller,) = [a for a in case.addons[case.cluster] if a.name == "policy-controller"]
    selector = _webhook_selector(controller)
    assert selects(selector, case.preview_labels), case.preview_labels
    assert selects(selector, case.namespace_labels(APP_NAMESPACE))
    # Platform namespaces stay outside it (their add-ons' images come from upstream).
    platform = [n for n in case.objects("Namespace") if n["metadata"]["name"] != APP_NAMESPACE]
    assert platform and not any(selects(selector, n["metadata"]["labels"]) for n in platform)
    assert [p["metadata"]["name"] for p in case.objects("ClusterImagePolicy")] == \
        ["platform-ci-signatures"]
    # Without Kyverno nothing generates preview policies; the plan says so.
    assert not case.objects("ClusterPolicy")
    assert any("preview namespaces get no default-deny NetworkPolicies" in w
               for w in case.plan.warnings)


@pytest.mark.parametrize("name", [n for n in CASES if n not in POLICY_CONTROLLER_PREVIEWS])
def test_namespaces_are_not_labelled_for_an_absent_policy_controller(
        cases: dict[str, Case], name: str) -> None:
    case = cases[name]
    assert not any(a.name == "policy-controller" for a in case.addons[case.cluster])
    labels = case.namespace_labels(APP_NAMESPACE)
    assert not any(k.startswith("policy.sigstore.dev/") for k in labels)
    if name in WITH_PREVIEWS:
        assert not any(k.startswith("policy.sigstore.dev/") for k in case.preview_labels)
    assert not any("preview namespaces get no default-deny" in w for w in case.plan.warnings)


# --- the preview namespace itself ----------------------------------------------------------


def _prefixed(entries: dict[str, str], prefixes: tuple[str, ...]) -> dict[str, str]:
    return {k: v for k, v in entries.items() if k.startswith(prefixes)}


@pytest.mark.parametrize("name", WITH_PREVIEWS)
def test_preview_namespaces_are_enrolled_like_the_application_namespace(
        cases: dict[str, Case], name: str) -> None:
    case = cases[name]
    apps = case.namespace_metadata(APP_NAMESPACE)
    preview = case.preview_metadata
    # The same Pod Security (level and pinned version) and mesh enrolment as `apps`.
    assert _prefixed(preview["labels"], (PSA,)) == _prefixed(apps["labels"], (PSA,))
    assert preview["labels"][f"{PSA}enforce"] == "restricted"
    assert _prefixed(preview["labels"], MESH_LABELS) == _prefixed(apps["labels"], MESH_LABELS)
    assert _prefixed(preview["annotations"], MESH_ANNOTATIONS) == \
        _prefixed(apps["annotations"], MESH_ANNOTATIONS)
    mesh = MESH_PREVIEWS.get(name, "none")
    assert case.plan.choice("service_mesh") == mesh
    if mesh == "istio":
        assert preview["labels"]["istio.io/dataplane-mode"] == "ambient"
    else:
        assert not _prefixed(preview["labels"], MESH_LABELS)
        assert not _prefixed(preview["annotations"], MESH_ANNOTATIONS)
    # Previews are neither applications nor platform: no tier to be selected by.
    assert TIER_LABEL not in preview["labels"]
    assert preview["labels"][next(iter(PREVIEW_LABEL))] == "true"


@pytest.mark.parametrize("name", ARGOCD_PREVIEWS)
def test_argo_cd_creates_preview_namespaces_and_may_touch_no_other(cases: dict[str, Case],
                                                                   name: str) -> None:
    case = cases[name]
    version = str(case.plan.metadata.kubernetes_version)
    upstream = SHARED_UPSTREAM.resolve()
    (project,) = [p for p in case.objects("AppProject", "argocd")
                  if p["metadata"]["name"] == "previews"]
    spec = project["spec"]
    # Namespace is whitelisted (CreateNamespace goes through the project's check) by name only.
    assert spec["clusterResourceWhitelist"] == [{"group": "", "kind": "Namespace",
                                                 "name": "pr-*"}]
    assert "clusterResourceBlacklist" not in spec
    assert all(d["namespace"] == "pr-*" for d in spec["destinations"])
    others = [n["metadata"]["name"] for n in case.objects("Namespace")]
    assert APP_NAMESPACE in others
    assert not any(fnmatch.fnmatchcase(n, "pr-*") for n in others)
    assert fnmatch.fnmatchcase(PREVIEW_NAMESPACE, "pr-*")
    # Each Application creates its namespace with the preview metadata and owns it (tracking
    # id), so it is deleted with the Application when the pull request closes.
    template = case.appset["spec"]["template"]
    application = template["metadata"]["name"]
    sync = template["spec"]["syncPolicy"]
    assert "CreateNamespace=true" in sync["syncOptions"]
    namespace = template["spec"]["destination"]["namespace"]
    assert template["spec"]["source"]["kustomize"]["namespace"] == namespace
    assert sync["managedNamespaceMetadata"]["annotations"][TRACKING_ID] == \
        f"{application}:/Namespace:/{namespace}"
    for document in (project, case.appset):
        found = crds.check_object(Document("argocd.yaml", 0, document), upstream, version)
        assert not found, [f.render() for f in found]
    policy = case.cluster_object("ValidatingAdmissionPolicy", NAMESPACES_POLICY)
    assert any(CONTROLLER in c["expression"] for c in policy["spec"]["matchConditions"])
    binding = case.cluster_object("ValidatingAdmissionPolicyBinding", NAMESPACES_POLICY)
    assert binding["spec"] == {"policyName": NAMESPACES_POLICY, "validationActions": ["Deny"]}
    for document in (policy, binding):
        invalid = kubernetes.check_object(Document("vap.yaml", 0, document), version)
        assert invalid == [], [f.render() for f in invalid or []]


def _admission(policy: dict[str, Any], request: dict[str, Any],
               obj: dict[str, Any]) -> list[str] | None:
    """A ValidatingAdmissionPolicy's verdict with cel-python: None when its match conditions
    leave the request alone, else the messages of the validations that fail."""
    celpy = pytest.importorskip("celpy")
    env = celpy.Environment()

    def holds(expression: str, activation: dict[str, Any]) -> bool:
        # An evaluation error is a refusal too (failurePolicy Fail).
        result = env.program(env.compile(expression)).evaluate(activation)
        return isinstance(result, celpy.celtypes.BoolType) and bool(result)

    base = {"request": celpy.json_to_cel(request), "object": celpy.json_to_cel(obj)}
    if not all(holds(c["expression"], base) for c in policy["spec"]["matchConditions"]):
        return None
    variables = {v["name"]: env.program(env.compile(v["expression"])).evaluate(base)
                 for v in policy["spec"].get("variables") or []}
    activation = {**base, "variables": celpy.celtypes.MapType(
        {celpy.celtypes.StringType(k): v for k, v in variables.items()})}
    return [v["message"] for v in policy["spec"]["validations"]
            if not holds(v["expression"], activation)]


@pytest.mark.parametrize("name", WITH_PREVIEWS)
def test_admission_holds_preview_namespaces_to_exactly_their_metadata(cases: dict[str, Case],
                                                                      name: str) -> None:
    case = cases[name]
    wanted = case.preview_metadata
    if case.argocd:
        policy = case.cluster_object("ValidatingAdmissionPolicy", NAMESPACES_POLICY)
        user = CONTROLLER
        # What Argo CD adds when it applies managedNamespaceMetadata server-side.
        added_labels: dict[str, str] = {}
        added_annotations = {SYNC_OPTIONS: "ServerSideApply=true"}
    else:
        policy = case.cluster_object("ValidatingAdmissionPolicy", "preview-requests")
        user = f"system:serviceaccount:{FLUX_NAMESPACE}:previews"
        # kustomize-controller's owner labels on everything it applies.
        added_labels = {f"{KUSTOMIZE_GROUP}/name": PREVIEWS_ADDON,
                        f"{KUSTOMIZE_GROUP}/namespace": FLUX_NAMESPACE}
        added_annotations = {}

    def verdict(labels: dict[str, str], annotations: dict[str, str],
                namespace: str = PREVIEW_NAMESPACE, who: str = user) -> list[str] | None:
        obj = {"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": namespace, "annotations": annotations,
                            "labels": {**labels, "kubernetes.io/metadata.name": namespace}}}
        request = {"operation": "CREATE", "name": namespace, "namespace": "",
                   "resource": {"group": "", "version": "v1", "resource": "namespaces"},
                   "userInfo": {"username": who}}
        return _admission(policy, request, obj)

    labels = {**wanted["labels"], **added_labels}
    annotations = {**wanted["annotations"], **added_annotations}
    assert verdict(labels, annotations) == []
    assert verdict(wanted["labels"], wanted["annotations"]) == []
    # Dropping or changing any label or annotation, or adding one, is refused.
    for key in labels.keys() - added_labels.keys():
        assert verdict({k: v for k, v in labels.items() if k != key}, annotations), key
        assert verdict({**labels, key: "changed"}, annotations), key
    for key in wanted["annotations"]:
        assert verdict(labels, {k: v for k, v in annotations.items() if k != key}) or \
            key == TRACKING_ID, key
        assert verdict(labels, {**annotations, key: "disabled"}), key
    assert verdict({**labels, TIER_LABEL: "platform"}, annotations)
    assert verdict(labels, {**annotations, "config.linkerd.io/default-inbound-policy":
                                "all-unauthenticated"})
    # Only pull-request names.
    bad = "pr-main"
    assert verdict(labels, {k: v.replace(PREVIEW_NAMESPACE, bad) for k, v in annotations.items()},
                   namespace=bad)
    if case.argocd:
        # Another preview's namespace, shipped in a deploy folder: Argo CD tracks it as this
        # preview's Application's, which the policy refuses.
        assert verdict(labels, annotations, namespace="pr-7")
        # Other writers (administrators) and other namespaces are not this policy's business.
        assert verdict({}, {}, who="system:admin") is None
        assert verdict({}, {}, namespace=APP_NAMESPACE) is None
