"""cdn: a CDN only where static share, a far-flung audience or DDoS exposure pay for it."""

from __future__ import annotations

from kubeplan.decide import Choice, Conflict, Context, Outcome, Rule

PROVIDER_CDN = {
    "gcp": ("Cloud CDN (on a global external Application Load Balancer of its own, in front "
            "of the Gateway)",),
    "aws": ("Amazon CloudFront", "AWS Shield Standard"),
    "azure": ("Azure Front Door (Standard)",),
}
THIRD_PARTY = ("Cloudflare CDN (proxied DNS, WAF and DDoS mitigation)",)
# Below this share, cache hits save too little to pay for the extra hop and invalidations.
STATIC_SHARE_WORTH_CACHING = 0.3
# A local audience with little static content gains no latency from edge locations.
BUSY_RPS = 1000


class Cdn(Rule):
    block = "cdn"
    title = "Content delivery network"
    choices = (
        Choice("none", "Traffic goes straight to the load balancer.",
               "Fewer moving parts and no cache invalidation; every request reaches the "
               "origin, far users see more latency and floods hit the load balancer."),
        Choice("provider", "The cloud's own CDN in front of its load balancer.",
               "Cuts latency and origin load for static content and absorbs floods at the "
               "edge; adds egress cost per GB and cache rules to keep right."),
        Choice("third-party", "An independent CDN (Cloudflare) in front of any origin.",
               "Works on-prem and across clouds with strong DDoS mitigation; another vendor, "
               "another bill, and TLS terminates outside your cloud."),
    )

    def decide(self, ctx: Context) -> Outcome:
        share: float = ctx.get("traffic.staticShare")
        audience: str = ctx.get("traffic.audience")
        ddos: bool = ctx.get("traffic.ddosProtection")
        rps: int = ctx.get("traffic.peakRps")
        onprem = ctx.provider == "onprem"
        kind = "third-party" if onprem else "provider"
        if ddos:
            return Outcome(kind, "spec.traffic.ddosProtection is true: an edge network absorbs "
                           "floods before they reach the load balancer"
                           + (" and on-prem has no provider CDN." if onprem else "."))
        if share >= STATIC_SHARE_WORTH_CACHING and (audience != "local" or rps >= BUSY_RPS):
            return Outcome(kind, f"spec.traffic.staticShare {share} of requests is cacheable "
                           f"and the audience is {audience} at {rps} peak rps: edge caching cuts "
                           "latency and origin load"
                           + (" (on-prem has no provider CDN)." if onprem else "."))
        if audience == "global" and share > 0:
            return Outcome(kind, f"spec.traffic.audience is global and {share} of requests is "
                           "static: edge locations cut latency for far users.")
        reason = (f"spec.traffic.staticShare is {share}" if share < STATIC_SHARE_WORTH_CACHING
                  else f"the audience is {audience} at only {rps} peak rps")
        return Outcome("none", f"{reason} and spec.traffic.ddosProtection is false: a CDN would "
                       "add cost and cache rules without much gain, so traffic goes straight to "
                       "the load balancer.")

    def components(self, choice: str, ctx: Context) -> tuple[str, ...]:
        if choice == "provider":
            return PROVIDER_CDN[ctx.provider]
        if choice == "third-party":
            return THIRD_PARTY
        return ()

    def warnings(self, choice: str, ctx: Context) -> tuple[str, ...]:
        # Said plainly where the build stops short of the decision.
        if choice == "third-party":
            return ("The third-party CDN is configured in its own account: the build renders no "
                    "Cloudflare configuration, only the gateway's address to use as its origin.",)
        return ()

    def conflict(self, choice: str, ctx: Context) -> Conflict | None:
        if choice == "provider" and ctx.provider == "onprem":
            return Conflict("on-prem has no provider CDN", ("spec", "provider"),
                            "use cdn: third-party (for example Cloudflare) or cdn: none")
        return None


RULE = Cdn()
