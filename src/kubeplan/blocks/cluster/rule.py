"""cluster: managed Kubernetes in the clouds, kubeadm clusters on-prem.

kubeplan renders self-managed clusters (kubeadm configuration, encryption at rest, audit policy,
etcd snapshots) only for provider onprem, where no managed control plane exists; in a cloud it
renders the provider's managed clusters only. Asking for self-managed clusters in a cloud, by
spec.operations.kubernetes or by an override, is therefore refused rather than planned: the
build would contain no control plane and no nodes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubeplan import catalogue
from kubeplan.catalogue import CatalogueError
from kubeplan.decide import Choice, Conflict, Context, Outcome, Rule
from kubeplan.errors import Cause, DecisionConflict
from kubeplan.model import Scalar

MANAGED = {
    "gcp": ("Google Kubernetes Engine (Standard, regional control plane, private nodes)",),
    "aws": ("Amazon EKS (private endpoint, managed node groups across three AZs)",),
    "azure": ("Azure Kubernetes Service (Standard tier, availability zones)",),
}
MANAGED_NAME = {"gcp": "GKE", "aws": "EKS", "azure": "AKS"}
SELF_MANAGED = (
    "kubeadm (three stacked control-plane nodes)",
    "Secrets encrypted at rest through a KMS v2 plugin (EncryptionConfiguration)",
    "API server audit policy",
    "kured for node reboots after patching",
)


def _release(minor: str) -> dict[str, Any] | None:
    """The catalogue's pin of a Kubernetes minor version (patch release, end of life)."""
    try:
        return catalogue.entry("tools", f"kubernetes-{minor}")
    except CatalogueError:
        return None


def _pinned_minors() -> list[str]:
    return sorted(k.removeprefix("kubernetes-") for k in catalogue.load()["tools"]
                  if k.startswith("kubernetes-"))


def _onprem_only(provider: str) -> str:
    return (f"kubeplan renders self-managed (kubeadm) clusters only for provider onprem; on "
            f"{provider} the build would contain no control plane and no nodes")


def _onprem_only_hint(provider: str, field: str) -> str:
    return (f"use managed clusters on {provider} ({MANAGED_NAME[provider]}): {field}; or set "
            "spec.provider: onprem to build kubeadm clusters on your own machines")


class Cluster(Rule):
    block = "cluster"
    title = "Kubernetes clusters"
    needs = ("topology",)
    choices = (
        Choice("managed", "The provider runs the control plane, etcd and upgrades.",
               "Least operations work and an SLA on the control plane; less control over "
               "versions, flags and the control-plane network."),
        Choice("self-managed", "kubeadm clusters on your own machines (provider onprem): etcd "
               "backup and encryption, node patching and upgrades are yours.",
               "Full control of versions, flags and the control-plane network without a cloud, "
               "but needs a team that patches, upgrades and restores etcd; recommended only "
               "with a dedicated platform team. kubeplan renders it for provider onprem only."),
    )

    def decide(self, ctx: Context) -> Outcome:
        provider = ctx.provider
        wanted: str = ctx.get("operations.kubernetes")
        params = self.parameters("", ctx)
        if provider == "onprem":
            minor = str(ctx.get("kubernetesVersion"))
            if _release(minor) is None:
                raise DecisionConflict(
                    f"kubeadm needs an exact Kubernetes release and kubeplan pins none for "
                    f"{minor} yet",
                    [Cause(self.block, ("spec", "kubernetesVersion"))],
                    f"set spec.kubernetesVersion to one of {', '.join(_pinned_minors())}")
            return Outcome("self-managed",
                           "spec.provider is onprem, where no managed control plane exists, so "
                           "clusters are kubeadm-built with etcd snapshots, encryption at rest "
                           "and scheduled node patching.", params)
        if wanted == "self-managed":
            raise DecisionConflict(
                _onprem_only(provider),
                [Cause(self.block, ("spec", "operations", "kubernetes")),
                 Cause(self.block, ("spec", "provider"))],
                _onprem_only_hint(provider, "set spec.operations.kubernetes to managed or auto"))
        return Outcome("managed",
                       f"spec.provider {provider} offers managed Kubernetes and "
                       f"spec.operations.kubernetes is {wanted}: the provider runs the control "
                       "plane, etcd and upgrades, which is the least operations work.", params)

    def warnings(self, choice: str, ctx: Context) -> tuple[str, ...]:
        out: list[str] = []
        minor = str(ctx.get("kubernetesVersion"))
        release = _release(minor) or {}
        if release.get("endOfLife"):
            out.append(f"spec.kubernetesVersion {minor} reached the end of upstream support on "
                       f"{release['endOfLife']}: it gets no security patches, and managed "
                       "services drop it or charge for extended support; choose a supported "
                       "minor version")
        if choice == "self-managed" and not ctx.get("operations.dedicatedPlatformTeam"):
            out.append("self-managed clusters need a team that patches nodes, upgrades "
                       "Kubernetes and rehearses etcd restores, but "
                       "spec.operations.dedicatedPlatformTeam is false")
        return tuple(out)

    def parameters(self, choice: str, ctx: Context) -> Mapping[str, Scalar]:
        return {"kubernetesVersion": str(ctx.get("kubernetesVersion")),
                "upgradeChannel": "stable" if ctx.get("security.posture") == "regulated"
                else "regular"}

    def components(self, choice: str, ctx: Context) -> tuple[str, ...]:
        if choice == "managed":
            return MANAGED[ctx.provider]
        return SELF_MANAGED

    def conflict(self, choice: str, ctx: Context) -> Conflict | None:
        provider = ctx.provider
        if choice == "managed" and provider == "onprem":
            return Conflict("on-prem has no managed Kubernetes", ("spec", "provider"),
                            "use cluster: self-managed on-prem, or a cloud provider")
        if choice == "self-managed" and provider != "onprem":
            return Conflict(_onprem_only(provider), ("spec", "provider"),
                            _onprem_only_hint(provider, "drop spec.overrides.cluster, "
                                                        "managed is the default there"))
        return None


RULE = Cluster()
