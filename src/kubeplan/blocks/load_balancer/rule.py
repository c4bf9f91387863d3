"""load_balancer: one anycast entry point when users or regions are spread out, else a regional one.

Trade-off: a global load balancer (anycast IP) terminates connections near the user and fails
over between regions without waiting for DNS TTLs, but it is another serial component on the
request path and costs more; a regional load balancer is simpler and cheaper, and is enough when
production lives in one region for users near it. On-prem there is no anycast and no provider
load balancer: MetalLB announces the gateway's address from the cluster's own nodes.

The load balancer is provisioned from Kubernetes where the provider allows it (a Gateway API
GatewayClass on GKE, the AWS Load Balancer Controller on EKS, a Service of type LoadBalancer
elsewhere); `provisionedBy` names that construct and `tlsTermination` where TLS ends.
"""

from __future__ import annotations

from collections.abc import Mapping

from kubeplan.decide import Choice, Conflict, Context, Outcome, Rule
from kubeplan.model import Scalar

COMPONENTS: dict[str, dict[str, tuple[str, ...]]] = {
    "global": {
        "gcp": ("Global external Application Load Balancer (anycast IP, Premium Tier)",
                "Google-managed certificate (Certificate Manager)"),
        "aws": ("AWS Global Accelerator (two static anycast IPs)",
                "Application Load Balancer per region (multi-AZ)",
                "AWS Certificate Manager certificates"),
        "azure": ("Azure Front Door (Standard, anycast, managed certificate)",
                  "Azure Load Balancer (Standard SKU) per region in front of the gateway"),
    },
    "regional": {
        "gcp": ("Regional external Application Load Balancer (Envoy-based, proxy-only subnet)",),
        "aws": ("Application Load Balancer (multi-AZ)", "AWS Certificate Manager certificate"),
        "azure": ("Azure Load Balancer (Standard SKU, zone-redundant frontend IP)",),
    },
    "self-hosted": {
        "onprem": ("MetalLB (BGP mode towards the site routers; L2 mode where BGP is not "
                   "available) in front of the gateway",),
    },
}
TLS_TERMINATION: dict[str, dict[str, str]] = {
    "global": {
        "gcp": "load balancer (Google-managed certificate)",
        "aws": "load balancer (AWS Certificate Manager certificate on each ALB; Global "
               "Accelerator passes TCP through)",
        "azure": "Azure Front Door (managed certificate), re-encrypted to the gateway "
                 "(cert-manager)",
    },
    "regional": {
        "gcp": "load balancer (cert-manager certificate in a Kubernetes Secret)",
        "aws": "load balancer (AWS Certificate Manager certificate on the ALB)",
        "azure": "gateway (cert-manager; the Azure Load Balancer passes TCP through)",
    },
}
GATEWAY_TLS = "gateway (cert-manager)"
PROVISIONED_BY: dict[str, dict[str, str]] = {
    "global": {
        "gcp": "Gateway API GatewayClass gke-l7-global-external-managed (GKE Gateway controller)",
        "aws": "AWS Load Balancer Controller (Gateway API, one ALB per region) with Global "
               "Accelerator endpoint groups from Terraform",
        "azure": "Azure Front Door from Terraform, its origins the gateway's Service of type "
                 "LoadBalancer in each region",
    },
    "regional": {
        "gcp": "Gateway API GatewayClass gke-l7-regional-external-managed (GKE Gateway "
               "controller)",
        "aws": "AWS Load Balancer Controller (Gateway API GatewayClass for ALB)",
        "azure": "the gateway's Service of type LoadBalancer (cloud-provider-azure)",
    },
}
METALLB_PROVISIONING = ("MetalLB IPAddressPool and BGPAdvertisement; the gateway's Service of "
                        "type LoadBalancer takes an address from the pool")
GLOBAL_NAME = {
    "gcp": "the global external Application Load Balancer",
    "aws": "AWS Global Accelerator",
    "azure": "Azure Front Door",
}


class LoadBalancer(Rule):
    block = "load_balancer"
    title = "Load balancing"
    needs = ("topology", "cdn")
    choices = (
        Choice("global", "One anycast address at the provider's edge in front of every region.",
               "Connections end near the user and regions fail over without DNS TTLs; one more "
               "serial component on the request path and a higher bill."),
        Choice("regional", "A regional load balancer in the production region.",
               "Simplest and cheapest; far users pay the round trips and a second region "
               "needs DNS failover."),
        Choice("self-hosted", "MetalLB gives the gateway a routable address from the cluster's "
               "own nodes.",
               "Works on-prem with no appliance; its availability is your routers' and nodes', "
               "and there is no anycast or edge DDoS absorption."),
    )

    def decide(self, ctx: Context) -> Outcome:
        provider = ctx.provider
        if provider == "onprem":
            return Outcome("self-hosted",
                           "spec.provider is onprem, which has neither a provider load balancer "
                           "nor anycast, so MetalLB announces the gateway's address from the "
                           "cluster nodes (BGP to the site routers).",
                           self.parameters("self-hosted", ctx))
        topology = ctx.choice("topology")
        if topology != "single-region":
            regions = len(ctx.get("regions"))
            return Outcome("global",
                           f"decisions.topology is {topology} across {regions} regions from "
                           f"spec.regions: {GLOBAL_NAME[provider]} sends users to a healthy "
                           "region behind one anycast address, without waiting for DNS TTLs.",
                           self.parameters("global", ctx))
        audience: str = ctx.get("traffic.audience")
        if audience == "global":
            return Outcome("global",
                           "spec.traffic.audience is global: "
                           f"{GLOBAL_NAME[provider]} ends connections at the provider's edge "
                           "near each user and carries them over the provider's backbone.",
                           self.parameters("global", ctx))
        cdn_note = ""
        if provider == "gcp":
            cdn = ctx.choice("cdn")
            if cdn == "provider":
                return Outcome("global",
                               "spec.provider is gcp and decisions.cdn is provider: Cloud CDN's "
                               "own global load balancer fronts the Gateway and reuses the "
                               "global Gateway's certificate map and SSL policy.",
                               self.parameters("global", ctx))
            cdn_note = f" and decisions.cdn is {cdn}"
        return Outcome("regional",
                       f"decisions.topology is single-region, spec.traffic.audience is "
                       f"{audience}{cdn_note}: a regional load balancer in {ctx.get('regions')[0]} "
                       "serves the users at lower cost and with one component fewer.",
                       self.parameters("regional", ctx))

    def parameters(self, choice: str, ctx: Context) -> Mapping[str, Scalar]:
        provider = ctx.provider
        if choice == "self-hosted" or provider == "onprem":
            return {"tlsTermination": GATEWAY_TLS, "provisionedBy": METALLB_PROVISIONING}
        params: dict[str, Scalar] = {"tlsTermination": TLS_TERMINATION[choice][provider],
                                     "provisionedBy": PROVISIONED_BY[choice][provider]}
        return params

    def warnings(self, choice: str, ctx: Context) -> tuple[str, ...]:
        if choice != "regional" or ctx.choice("topology") == "single-region":
            return ()
        return (f"decisions.topology is {ctx.choice('topology')} but load_balancer is regional: "
                "failover between regions waits on health-checked DNS records and their TTL",)

    def components(self, choice: str, ctx: Context) -> tuple[str, ...]:
        return COMPONENTS[choice].get(ctx.provider, ())

    def conflict(self, choice: str, ctx: Context) -> Conflict | None:
        provider = ctx.provider
        if choice == "global" and provider == "onprem":
            return Conflict("on-prem has no anycast network for a global load balancer",
                            ("spec", "provider"),
                            "use load_balancer: self-hosted (MetalLB), and cdn: third-party "
                            "for an edge in front of the sites")
        if choice == "regional" and provider == "onprem":
            return Conflict("on-prem has no provider regional load balancer",
                            ("spec", "provider"), "use load_balancer: self-hosted (MetalLB)")
        if choice == "regional" and provider == "gcp" and ctx.choice("cdn") == "provider":
            return Conflict("Cloud CDN on GCP fronts the global Gateway (its load balancer "
                            "reuses the Gateway's certificate map and SSL policy); a regional "
                            "Gateway leaves it nothing to attach to",
                            ("spec", "traffic"),
                            "drop the override, or add overrides.cdn: none")
        if choice == "self-hosted" and provider != "onprem":
            return Conflict(f"MetalLB cannot announce addresses inside a cloud network "
                            f"(spec.provider {provider}): the provider's routers neither learn "
                            "ARP from nodes nor peer BGP with them",
                            ("spec", "provider"), "use load_balancer: regional or global")
        return None


RULE = LoadBalancer()
