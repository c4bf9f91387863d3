"""gitops: the GitOps controller named in spec.delivery.gitops.

The trade-off: Argo CD is one control plane with a UI that can manage many clusters from a hub
(app-of-apps, with ApplicationSets generating one Application per cluster and environment);
the hub is then a single point of control and holds credentials to every cluster. Flux runs
inside each cluster with no UI and no central credentials (HelmRelease and Kustomization
objects reconciled from Git or OCI sources); a fleet view needs extra tooling.

The choice comes straight from the spec; an override that names the other controller
contradicts it.
"""

from __future__ import annotations

from kubeplan.decide import Choice, Conflict, Context, Outcome, Rule

COMPONENTS = {
    "argocd": (
        "Argo CD (HA, app-of-apps root Application)",
        "ApplicationSets generating one Application per cluster and environment",
    ),
    "flux": (
        "Flux (source, kustomize and helm controllers) in every cluster",
        "Flux Kustomization per cluster and environment, HelmRelease per chart",
    ),
}
WHY = {
    "argocd": "Argo CD reconciles every cluster from Git through an app-of-apps root and "
              "ApplicationSets, with one UI for the whole fleet",
    "flux": "Flux in each cluster reconciles Kustomizations and HelmReleases from Git, with no "
            "central credentials",
}


class Gitops(Rule):
    block = "gitops"
    title = "GitOps delivery"
    choices = (
        Choice("argocd",
               "Argo CD: app-of-apps with ApplicationSets, optionally managing every cluster "
               "from one hub.",
               "A UI with diff, sync and rollback for developers and one view over all "
               "clusters; the hub holds credentials to every cluster and is itself a service "
               "to keep available."),
        Choice("flux",
               "Flux controllers in each cluster reconciling HelmRelease and Kustomization "
               "objects.",
               "Small, per-cluster and credential-free from the outside, composes well with "
               "Kustomize and OCI artifacts; no built-in UI, and a fleet-wide view needs extra "
               "tooling."),
    )

    def decide(self, ctx: Context) -> Outcome:
        gitops: str = ctx.get("delivery.gitops")
        return Outcome(gitops, f"spec.delivery.gitops is {gitops}: {WHY[gitops]}.")

    def components(self, choice: str, ctx: Context) -> tuple[str, ...]:
        return COMPONENTS[choice]

    def conflict(self, choice: str, ctx: Context) -> Conflict | None:
        wanted: str = ctx.get("delivery.gitops")
        if choice != wanted:
            return Conflict(f"spec.delivery.gitops asks for {wanted}",
                            ("spec", "delivery", "gitops"),
                            f"set spec.delivery.gitops: {choice} instead of an override")
        return None


RULE = Gitops()
