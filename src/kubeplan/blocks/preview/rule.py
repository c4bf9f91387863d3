"""preview: a short-lived namespace per pull request, created and deleted by the GitOps tool.

The trade-off: a preview environment lets reviewers click through a change before it merges,
and catches deploy-time mistakes a unit test cannot; each open pull request costs cluster
capacity, a wildcard DNS name and certificate, and test data that must never be production
data. The GitOps controller owns the lifecycle, so a preview appears when a pull request opens
and is pruned when it closes: Argo CD through an ApplicationSet pull-request generator; Flux,
which has no pull-request generator of its own, through a pruning Kustomization over the
requests the pipeline commits (one folder per open pull request, removed when it closes) to a
branch of the platform repository.

Where the code is hosted is read from spec.delivery.ci (GitHub Actions means GitHub, GitLab CI
means GitLab); the spec has no separate field for it.

Previews run in the first non-production environment (production only when it is the only one),
so their names live in that environment's DNS zone: `pr-<number>.preview.<zone>`, where the zone
is the platform domain in production and the delegated `<environment>.<domain>` elsewhere. That
zone is the one the environment's external-dns may write and its certificates are issued in;
the gateway's certificate covers `*.preview.<zone>` (a TLS wildcard covers one label only).
"""

from __future__ import annotations

from collections.abc import Mapping

from kubeplan.decide import Choice, Conflict, Context, Outcome, Rule
from kubeplan.model import Scalar

NAMESPACE_PATTERN = "pr-{number}"
# ApplicationSet pull-request generator kinds, by where the code is hosted.
ARGO_GENERATOR = {"github-actions": "GitHub", "gitlab-ci": "GitLab merge requests"}
# What opens and closes a Flux preview request, by where the code is hosted.
FLUX_TRIGGER = {"github-actions": "GitHub Actions on pull request open, update and close",
                "gitlab-ci": "GitLab CI merge request pipelines, with a stop job on close"}


def preview_environment(environments: list[str], production: str) -> str:
    """The first non-production environment in spec order, else production."""
    return next((e for e in environments if e != production), production)


def environment_zone(domain: str, environment: str, production: str) -> str:
    return domain if environment == production else f"{environment}.{domain}"


def preview_domain(ctx: Context) -> str:
    """`preview.<zone of the preview environment>`."""
    environments: list[str] = ctx.get("environments")
    production = str(ctx.decision("topology").param("production"))
    zone = environment_zone(str(ctx.get("domain")), preview_environment(environments, production),
                            production)
    return f"preview.{zone}"


class Preview(Rule):
    block = "preview"
    title = "Preview environments"
    needs = ("gitops", "topology", "ingress")
    choices = (
        Choice("pull-request-namespaces",
               "A namespace and hostname per open pull request, created and pruned by the "
               "GitOps controller.",
               "Reviewers see the change running before merge; each open pull request uses "
               "cluster capacity, and previews need their own test data and a wildcard DNS "
               "name and certificate."),
        Choice("none", "No per-change environments; changes are reviewed in the shared "
               "non-production environments.",
               "Nothing extra to run or pay for; changes are first seen running after merge, "
               "where they can collide with other changes."),
    )

    def decide(self, ctx: Context) -> Outcome:
        wanted: bool = ctx.get("delivery.previewEnvironments")
        if not wanted:
            return Outcome("none", "spec.delivery.previewEnvironments is false, so changes are "
                           "reviewed in the shared environments after merge.")
        params = self.parameters("pull-request-namespaces", ctx)
        gitops = ctx.choice("gitops")
        tool = ("an Argo CD ApplicationSet pull-request generator" if gitops == "argocd"
                else "a pruning Flux Kustomization over the preview requests the pipeline "
                "commits")
        return Outcome(
            "pull-request-namespaces",
            f"spec.delivery.previewEnvironments is true and spec.delivery.gitops is {gitops}: "
            f"{tool} deploys every open pull request to its own namespace, reachable at "
            f"{params['hostPattern']} in the preview environment's zone, and removes it when "
            "the pull request closes.", params)

    def parameters(self, choice: str, ctx: Context) -> Mapping[str, Scalar]:
        if choice == "none":
            return {}
        params: dict[str, Scalar] = {
            "hostPattern": f"pr-{{number}}.{preview_domain(ctx)}",
            "namespacePattern": NAMESPACE_PATTERN,
        }
        return params

    def warnings(self, choice: str, ctx: Context) -> tuple[str, ...]:
        environments: list[str] = ctx.get("environments")
        if choice == "none" or len(environments) > 1:
            return ()
        return (f"preview environments run in the only cluster, {environments[0]}, next to "
                "production workloads; add a non-production environment to spec.environments "
                "to keep them apart",)

    def components(self, choice: str, ctx: Context) -> tuple[str, ...]:
        if choice == "none":
            return ()
        ci: str = ctx.get("delivery.ci")
        domain = preview_domain(ctx)
        if ctx.choice("gitops") == "argocd":
            tool = f"Argo CD ApplicationSet with the pull-request generator ({ARGO_GENERATOR[ci]})"
        else:
            tool = (f"Flux Kustomization (prune) over per-pull-request requests committed by "
                    f"{FLUX_TRIGGER[ci]}")
        if ctx.decision("ingress").parameters.get("certManager"):
            certificate = f"cert-manager Certificate for *.{domain} (DNS-01)"
        else:
            certificate = f"the load balancer's managed certificate for *.{domain}"
        return (tool,
                f"a DNS record per preview under {domain} (external-dns, from its HTTPRoute)",
                certificate,
                f"a gateway listener for *.{domain} that admits preview namespaces only")

    def conflict(self, choice: str, ctx: Context) -> Conflict | None:
        wanted: bool = ctx.get("delivery.previewEnvironments")
        if wanted != (choice == "pull-request-namespaces"):
            return Conflict(
                f"spec.delivery.previewEnvironments is {str(wanted).lower()}",
                ("spec", "delivery", "previewEnvironments"),
                "set spec.delivery.previewEnvironments instead of an override")
        return None


RULE = Preview()
