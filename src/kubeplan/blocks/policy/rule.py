"""policy: admission control: what may run, and from where.

Trade-off: Pod Security Admission is built in and costs nothing, but only enforces the Pod
Security Standards; a policy engine (Kyverno, Gatekeeper) adds image-signature checks, registry
restrictions, mutation and audit reports, as one more webhook on every API write that must stay
available. Every posture enforces the `restricted` Pod Security Standard; hardened and regulated
postures also admit only signed images from the platform registry, which needs an engine.
"""

from __future__ import annotations

from collections.abc import Mapping

from kubeplan.decide import Choice, Conflict, Context, Outcome, Rule
from kubeplan.model import Scalar

# Postures that admit only images signed by the platform's pipeline (supply-chain control).
VERIFY_POSTURES = ("hardened", "regulated")
# Postures whose audits need registry restrictions and violation reports PSA cannot give.
ENGINE_POSTURES = ("regulated",)
POD_SECURITY = "restricted"

COMPONENTS = {
    "kyverno": ("Kyverno (Pod Security Standards restricted policies in Enforce mode, policy "
                "reports)",),
    "gatekeeper": ("OPA Gatekeeper (gatekeeper-library Pod Security Standards restricted "
                   "constraints)",),
    "pod-security-admission": ("Pod Security Admission (built in; namespaces labelled "
                               "pod-security.kubernetes.io/enforce=restricted)",),
}
VERIFIER = {
    "kyverno": "Kyverno verifyImages rules (Cosign signatures, images from the platform "
               "registry only)",
    "gatekeeper": "Sigstore policy-controller (ClusterImagePolicy: Cosign signatures, images "
                  "from the platform registry only)",
    "pod-security-admission": "Sigstore policy-controller (ClusterImagePolicy: Cosign "
                              "signatures, images from the platform registry only)",
}
MIRROR = ("Kyverno mutate rules sending public images (Docker Hub, GitHub, Quay, registry.k8s.io, "
          "ECR Public) through the platform registry's pull-through caches")
PREVIEW_NETWORK = ("Kyverno generate rules that give every preview namespace the application "
                   "namespace's NetworkPolicies (default deny and the same allowances)")


class Policy(Rule):
    block = "policy"
    title = "Admission policy"
    choices = (
        Choice("kyverno", "Kyverno policies as Kubernetes resources: validate, mutate, verify "
               "images.",
               "Policies in YAML that cluster operators can read, image verification built in, "
               "policy reports; one more admission webhook to keep highly available."),
        Choice("gatekeeper", "OPA Gatekeeper constraints written in Rego (not buildable yet: "
               "no pinned chart or constraint data).",
               "Powerful and shared with other OPA uses; Rego is a language to learn, and image "
               "signatures need a separate verifier (Sigstore policy-controller)."),
        Choice("pod-security-admission", "The built-in Pod Security Admission, restricted "
               "profile on every namespace.",
               "Nothing to run; enforces only the Pod Security Standards (no registry rules, "
               "no signatures, no mutation, no reports)."),
    )

    def decide(self, ctx: Context) -> Outcome:
        posture: str = ctx.get("security.posture")
        if posture in VERIFY_POSTURES:
            return Outcome("kyverno",
                           f"spec.security.posture is {posture}: besides the restricted Pod "
                           "Security Standard, only signed images from the platform registry "
                           "may run, which Pod Security Admission cannot check, so Kyverno "
                           "enforces both.", self.parameters("kyverno", ctx))
        return Outcome("pod-security-admission",
                       f"spec.security.posture is {posture}: the built-in Pod Security "
                       "Admission enforces the restricted Pod Security Standard on every "
                       "namespace with no webhook to run.",
                       self.parameters("pod-security-admission", ctx))

    def parameters(self, choice: str, ctx: Context) -> Mapping[str, Scalar]:
        posture: str = ctx.get("security.posture")
        return {"podSecurity": POD_SECURITY, "verifyImages": posture in VERIFY_POSTURES}

    def components(self, choice: str, ctx: Context) -> tuple[str, ...]:
        out: tuple[str, ...] = COMPONENTS[choice]
        if self.parameters(choice, ctx)["verifyImages"]:
            out = (*out, VERIFIER[choice])
            if choice == "kyverno":
                out = (*out, MIRROR)
        if choice == "kyverno" and ctx.get("delivery.previewEnvironments"):
            out = (*out, PREVIEW_NETWORK)
        return out

    def warnings(self, choice: str, ctx: Context) -> tuple[str, ...]:
        if choice == "kyverno":
            return ()
        out: list[str] = []
        # The registry's pull-through caches are used because Kyverno rewrites image
        # references when pods are created; nothing else here does.
        if self.parameters(choice, ctx)["verifyImages"]:
            out.append(f"with policy {choice} nothing sends public images through the platform "
                       "registry's pull-through caches: the clusters pull Docker Hub, GitHub, "
                       "Quay and registry.k8s.io directly; use policy: kyverno, or set each "
                       "chart's image registry to the cache (IMAGE_MIRROR)")
        # Preview namespaces appear at run time, after the baseline's policies were written;
        # only a policy engine that generates resources (Kyverno) can give them their own.
        if ctx.get("delivery.previewEnvironments"):
            out.append(f"preview namespaces get no default-deny NetworkPolicies with policy "
                       f"{choice}: they are created per pull request, after the baseline's "
                       "policies were written, and only Kyverno can generate them into new "
                       "namespaces; use policy: kyverno, or ship a default-deny NetworkPolicy "
                       "in the service's deploy folder")
        return tuple(out)

    def conflict(self, choice: str, ctx: Context) -> Conflict | None:
        if choice == "gatekeeper":
            return Conflict("kubeplan cannot build OPA Gatekeeper yet: its chart, CRDs and the "
                            "gatekeeper-library constraint templates are not in the pinned "
                            "upstream data, so the admission policies it would enforce could "
                            "not be rendered and validated", ("spec", "security", "posture"),
                            "use policy: kyverno (the default for hardened and regulated "
                            "postures) or pod-security-admission")
        posture: str = ctx.get("security.posture")
        if choice == "pod-security-admission" and posture in ENGINE_POSTURES:
            return Conflict("a regulated posture needs registry restrictions and policy "
                            "violation reports that Pod Security Admission cannot enforce",
                            ("spec", "security", "posture"),
                            "use policy: kyverno")
        return None


RULE = Policy()
