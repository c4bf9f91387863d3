"""network_policy: who enforces NetworkPolicy; every namespace starts from default deny.

Trade-off: the provider's dataplane (GKE Dataplane V2, the Amazon VPC CNI's policy agent, Azure
CNI powered by Cilium) enforces policy with nothing extra to run or upgrade, but with only the
features the provider exposes; running Cilium or Calico yourself gives richer policy (Layer 7,
FQDN, cluster-wide rules) and flow visibility at the price of owning the CNI. Whatever the
engine, each namespace gets a default-deny policy for ingress and egress, with DNS egress
allowed, and flows are opened one by one.
"""

from __future__ import annotations

from collections.abc import Mapping

from kubeplan.decide import Choice, Conflict, Context, Outcome, Rule
from kubeplan.model import Scalar

PROVIDER_DATAPLANE = {
    "gcp": ("GKE Dataplane V2 (eBPF, Cilium-based policy enforcement and network policy "
            "logging)",),
    "aws": ("Amazon VPC CNI network policy agent (eBPF; EKS add-on with enableNetworkPolicy)",),
    "azure": ("Azure CNI powered by Cilium (overlay mode, network dataplane cilium)",),
}
CILIUM = {
    "gcp": ("Cilium (CNI on GKE without Dataplane V2, Hubble flow visibility)",),
    "aws": ("Cilium (ENI IPAM mode replacing the Amazon VPC CNI, Hubble flow visibility)",),
    "azure": ("Cilium (bring-your-own CNI on AKS, Hubble flow visibility)",),
    "onprem": ("Cilium (CNI, kube-proxy replacement, Hubble flow visibility)",),
}
CALICO = {
    "gcp": ("GKE network policy enforcement with Calico (legacy Dataplane V1)",),
    "aws": ("Calico policy engine on top of the Amazon VPC CNI (Tigera operator)",),
    "azure": ("Azure CNI with Calico network policy",),
    "onprem": ("Calico (Tigera operator; CNI and policy engine)",),
}
DATAPLANE_NAME = {
    "gcp": "GKE Dataplane V2",
    "aws": "the Amazon VPC CNI network policy agent",
    "azure": "Azure CNI powered by Cilium",
}
POLICY_API = {
    "provider-dataplane": "NetworkPolicy",
    "cilium": "NetworkPolicy and CiliumNetworkPolicy",
    "calico": "NetworkPolicy and Calico GlobalNetworkPolicy",
}


class NetworkPolicy(Rule):
    block = "network_policy"
    title = "Network policy"
    needs = ("service_mesh",)
    choices = (
        Choice("provider-dataplane", "The managed dataplane enforces NetworkPolicy.",
               "Nothing to install or upgrade and supported by the provider; only standard "
               "NetworkPolicy and the provider's extras, and not available on-prem."),
        Choice("cilium", "Cilium as the CNI enforces policy with eBPF.",
               "Layer-7 and FQDN policy, Hubble flow visibility, kube-proxy replacement; you own "
               "the CNI's upgrades, and on a cloud it replaces the provider's dataplane."),
        Choice("calico", "Calico enforces policy, as CNI on-prem or policy engine on a cloud.",
               "Mature, with cluster-wide GlobalNetworkPolicy; one more component to run, and "
               "its richest features need Calico Enterprise."),
    )

    def decide(self, ctx: Context) -> Outcome:
        provider = ctx.provider
        mesh = ctx.choice("service_mesh")
        deny = ("; every namespace starts from default deny for ingress and egress, DNS egress "
                "allowed")
        if mesh == "cilium":
            return Outcome("cilium",
                           "decisions.service_mesh is cilium (spec.overrides.service_mesh), "
                           "which needs Cilium as the CNI, so Cilium also enforces network "
                           f"policy on {provider}{deny}.",
                           self.parameters("cilium", ctx))
        if provider == "onprem":
            return Outcome("cilium",
                           "spec.provider is onprem, where no managed dataplane exists: Cilium "
                           f"is the CNI and enforces policy with eBPF{deny}.",
                           self.parameters("cilium", ctx))
        return Outcome("provider-dataplane",
                       f"spec.provider is {provider}: {DATAPLANE_NAME[provider]} enforces "
                       f"NetworkPolicy with nothing extra to run{deny}.",
                       self.parameters("provider-dataplane", ctx))

    def parameters(self, choice: str, ctx: Context) -> Mapping[str, Scalar]:
        return {"defaultDeny": True, "allowDnsEgress": True, "policyApi": POLICY_API[choice]}

    def components(self, choice: str, ctx: Context) -> tuple[str, ...]:
        provider = ctx.provider
        if choice == "provider-dataplane":
            return PROVIDER_DATAPLANE.get(provider, ())
        return CILIUM[provider] if choice == "cilium" else CALICO[provider]

    def conflict(self, choice: str, ctx: Context) -> Conflict | None:
        if choice == "provider-dataplane" and ctx.provider == "onprem":
            return Conflict("on-prem has no provider dataplane to enforce network policy",
                            ("spec", "provider"), "use network_policy: cilium or calico")
        if choice != "cilium" and ctx.choice("service_mesh") == "cilium":
            return Conflict(f"the cilium service mesh needs Cilium as the CNI, not {choice}",
                            ("spec", "overrides", "service_mesh"),
                            "use network_policy: cilium, or another service mesh")
        return None


RULE = NetworkPolicy()
