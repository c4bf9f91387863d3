"""ci: the CI service named in spec.delivery.ci, authenticating to the cloud without stored keys.

The trade-off between the two is mostly where the code already lives: GitHub Actions with
GitHub, GitLab CI with GitLab. Either way the pipeline builds the image, scans it, runs the
tests, pushes and signs it, and deploys only by committing to the GitOps repository. Neither
keeps a long-lived cloud key: GitHub Actions presents its OIDC token and GitLab CI its ID token
(`id_tokens`) to the cloud's workload identity federation, which trades it for a short-lived
credential scoped to one repository and branch. On-prem there is no cloud identity to federate
with, so runners run inside the site and push with a Harbor robot account.

The choice comes straight from the spec; an override that names the other CI contradicts it.
"""

from __future__ import annotations

from kubeplan.decide import Choice, Conflict, Context, Outcome, Rule

FEDERATION = {
    "gcp": "Google Cloud Workload Identity Federation",
    "aws": "an AWS IAM OIDC identity provider and IAM role",
    "azure": "a Microsoft Entra ID federated credential",
}
SITE = {
    "github-actions": "GitHub Actions with self-hosted runners in the cluster (Actions Runner "
                      "Controller), pushing with a Harbor robot account",
    "gitlab-ci": "GitLab CI with GitLab Runner in the cluster (Kubernetes executor), pushing "
                 "with a Harbor robot account",
}
NAME = {"github-actions": "GitHub Actions", "gitlab-ci": "GitLab CI"}
TOKEN = {"github-actions": "OIDC federation", "gitlab-ci": "ID tokens (id_tokens)"}
TOKEN_NAME = {"github-actions": "its OIDC token", "gitlab-ci": "its ID token"}
PIPELINE = ("Pipeline: build, Trivy image scan, tests, push, cosign signing, then a commit to "
            "the GitOps repository")


class Ci(Rule):
    block = "ci"
    title = "Continuous integration"
    choices = (
        Choice("github-actions",
               "GitHub Actions workflows, authenticating to the cloud through OIDC federation.",
               "Next to code hosted on GitHub with a large marketplace of actions; hosted "
               "runners bill per minute, and third-party actions must be pinned by SHA."),
        Choice("gitlab-ci",
               "GitLab CI pipelines, authenticating to the cloud with ID tokens.",
               "Next to code hosted on GitLab, self-hostable end to end; fewer ready-made "
               "building blocks, and self-managed GitLab is one more service to run."),
    )

    def decide(self, ctx: Context) -> Outcome:
        ci: str = ctx.get("delivery.ci")
        provider = ctx.provider
        if provider in FEDERATION:
            how = (f"trades {TOKEN_NAME[ci]} with {FEDERATION[provider]} (spec.provider "
                   f"{provider}) for short-lived credentials, so no cloud key is stored in CI")
        else:
            how = ("on-prem (spec.provider) has no cloud identity to federate with, so runners "
                   "run inside the site and push to Harbor with a robot account")
        return Outcome(ci, f"spec.delivery.ci is {ci}: {NAME[ci]} builds, scans, tests, pushes "
                       f"and signs images, and {how}.")

    def components(self, choice: str, ctx: Context) -> tuple[str, ...]:
        provider = ctx.provider
        if provider in FEDERATION:
            return (f"{NAME[choice]} with {TOKEN[choice]} to {FEDERATION[provider]}", PIPELINE)
        return (SITE[choice], PIPELINE)

    def conflict(self, choice: str, ctx: Context) -> Conflict | None:
        wanted: str = ctx.get("delivery.ci")
        if choice != wanted:
            return Conflict(f"spec.delivery.ci asks for {wanted}", ("spec", "delivery", "ci"),
                            f"set spec.delivery.ci: {choice} instead of an override")
        return None


RULE = Ci()
