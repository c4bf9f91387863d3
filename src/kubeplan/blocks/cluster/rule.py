"""cluster: managed Kubernetes unless it is unavailable or explicitly wanted otherwise."""

from __future__ import annotations

from collections.abc import Mapping

from kubeplan.decide import Choice, Conflict, Context, Outcome, Rule
from kubeplan.model import Scalar

MANAGED = {
    "gcp": ("Google Kubernetes Engine (Standard, regional control plane, private nodes)",),
    "aws": ("Amazon EKS (private endpoint, managed node groups across three AZs)",),
    "azure": ("Azure Kubernetes Service (Standard tier, availability zones)",),
}
SELF_MANAGED = (
    "kubeadm (three stacked control-plane nodes)",
    "etcd snapshots with encryption at rest (EncryptionConfiguration)",
    "kured for node reboots after patching",
)


class Cluster(Rule):
    block = "cluster"
    title = "Kubernetes clusters"
    needs = ("topology",)
    choices = (
        Choice("managed", "The provider runs the control plane, etcd and upgrades.",
               "Least operations work and an SLA on the control plane; less control over "
               "versions, flags and the control-plane network."),
        Choice("self-managed", "kubeadm clusters you run: etcd backup and encryption, node "
               "patching and upgrades are yours.",
               "Full control and runs anywhere, but needs a team that patches, upgrades and "
               "restores etcd; recommended only with a dedicated platform team."),
    )

    def decide(self, ctx: Context) -> Outcome:
        provider = ctx.provider
        wanted: str = ctx.get("operations.kubernetes")
        params = self.parameters("", ctx)
        if provider == "onprem":
            return Outcome("self-managed",
                           "spec.provider is onprem, where no managed control plane exists, so "
                           "clusters are kubeadm-built with etcd snapshots, encryption at rest "
                           "and scheduled node patching.", params)
        if wanted == "self-managed":
            return Outcome("self-managed",
                           f"spec.operations.kubernetes asks for self-managed clusters on "
                           f"{provider}; etcd backup, encryption and upgrades become yours.",
                           params)
        return Outcome("managed",
                       f"spec.provider {provider} offers managed Kubernetes and "
                       f"spec.operations.kubernetes is {wanted}: the provider runs the control "
                       "plane, etcd and upgrades, which is the least operations work.", params)

    def warnings(self, choice: str, ctx: Context) -> tuple[str, ...]:
        if choice != "self-managed" or ctx.get("operations.dedicatedPlatformTeam"):
            return ()
        return ("self-managed clusters need a team that patches nodes, upgrades Kubernetes "
                "and rehearses etcd restores, but spec.operations.dedicatedPlatformTeam is false",)

    def parameters(self, choice: str, ctx: Context) -> Mapping[str, Scalar]:
        return {"kubernetesVersion": str(ctx.get("kubernetesVersion")),
                "upgradeChannel": "stable" if ctx.get("security.posture") == "regulated"
                else "regular"}

    def components(self, choice: str, ctx: Context) -> tuple[str, ...]:
        if choice == "managed":
            return MANAGED[ctx.provider]
        return SELF_MANAGED

    def conflict(self, choice: str, ctx: Context) -> Conflict | None:
        if choice == "managed" and ctx.provider == "onprem":
            return Conflict("on-prem has no managed Kubernetes", ("spec", "provider"),
                            "use cluster: self-managed on-prem, or a cloud provider")
        return None


RULE = Cluster()
