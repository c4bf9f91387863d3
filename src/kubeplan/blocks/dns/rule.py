"""dns: the entry point, as available as the service behind it must be.

Trade-off: the provider's managed DNS costs nothing to run and external-dns keeps its records in
step with the cluster, but the provider's DNS is then a single point of failure for the whole
platform. A second authoritative provider removes that, at the price of two bills and only the
record types both support. On-prem, the zone is served by BIND 9 that external-dns updates over
RFC 2136.
"""

from __future__ import annotations

from collections.abc import Mapping

from kubeplan.decide import Choice, Conflict, Context, Outcome, Rule
from kubeplan.decide.availability import MINUTES_PER_MONTH
from kubeplan.model import Scalar

# At 99.99% the monthly error budget is about 4.4 minutes: one DNS provider incident spends it,
# so from here the zone is served by two independent authoritative providers.
MULTI_PROVIDER_TARGET = 99.99

MANAGED = {
    "gcp": ("Cloud DNS (public managed zone, DNSSEC)",),
    "aws": ("Amazon Route 53 (public hosted zone, DNSSEC signing)",),
    "azure": ("Azure DNS (public zone)",),
}
# Beside a second provider, Cloud DNS does not sign: one zone from two independent signers needs
# a multi-signer key exchange (RFC 8901) that the plan does not set up (terraform_cloudflare.py).
MANAGED_BESIDE_SECOND = {
    "gcp": ("Cloud DNS (public managed zone, unsigned: two independent DNSSEC signers would need "
            "a multi-signer key exchange)",),
    "aws": ("Amazon Route 53 (public hosted zone, unsigned: two independent DNSSEC signers "
            "would need a multi-signer key exchange)",),
}
SELF_HOSTED = ("BIND 9 authoritative servers (hidden primary, two public secondaries in separate "
               "sites, TSIG-signed RFC 2136 updates)",)
SECOND_PROVIDER = ("Cloudflare DNS (second authoritative provider, listed beside the first in "
                   "the registrar's NS set)",)
# external-dns provider names (its --provider flag) per provider's managed DNS.
EXTERNAL_DNS_PROVIDER = {"gcp": "google", "aws": "aws", "azure": "azure"}
EXTERNAL_DNS_AUTH = {
    "gcp": "GKE Workload Identity Federation",
    "aws": "EKS IAM roles for service accounts",
    "azure": "Microsoft Entra Workload ID",
}
PRIMARY_NAME = {"gcp": "Cloud DNS", "aws": "Route 53", "azure": "Azure DNS", "onprem": "BIND 9"}
RFC2136 = "rfc2136"
SECONDARY = "cloudflare"


class Dns(Rule):
    block = "dns"
    title = "DNS"
    choices = (
        Choice("provider-managed", "The cloud's managed DNS, records kept by external-dns.",
               "No servers to run and a 100% provider SLA; a provider-wide DNS outage takes "
               "every name down with it."),
        Choice("self-hosted", "BIND 9 authoritative servers you run, updated by external-dns "
               "over RFC 2136.",
               "Works anywhere and keeps the zone in your hands; you patch, secure and keep "
               "the servers up, and a flood aimed at them is yours to absorb."),
        Choice("multi-provider", "Two independent authoritative providers serve the zone, "
               "each written by its own external-dns.",
               "Survives one provider's outage; two bills, and only records both providers "
               "support (no provider alias records or proprietary geo routing)."),
    )

    def decide(self, ctx: Context) -> Outcome:
        provider = ctx.provider
        target: float = ctx.get("availability.target")
        first = PRIMARY_NAME[provider]
        if target >= MULTI_PROVIDER_TARGET:
            budget = (100 - target) / 100 * MINUTES_PER_MONTH
            return Outcome("multi-provider",
                           f"spec.availability.target {target}% leaves {budget:.1f} minutes of "
                           f"error budget a month, which one DNS provider's outage would spend, so "
                           f"{first} and Cloudflare DNS both serve the zone "
                           f"(spec.provider {provider}).", self.parameters("multi-provider", ctx))
        if provider == "onprem":
            return Outcome("self-hosted",
                           f"spec.provider is onprem and spec.availability.target {target}% is "
                           f"below {MULTI_PROVIDER_TARGET}%: BIND 9 serves the zone and "
                           "external-dns updates it over RFC 2136.",
                           self.parameters("self-hosted", ctx))
        return Outcome("provider-managed",
                       f"spec.provider is {provider} and spec.availability.target {target}% is "
                       f"below {MULTI_PROVIDER_TARGET}%: {first} (100% SLA) serves the zone and "
                       "external-dns keeps the records in step with the cluster.",
                       self.parameters("provider-managed", ctx))

    def parameters(self, choice: str, ctx: Context) -> Mapping[str, Scalar]:
        provider = ctx.provider
        cloud = provider != "onprem" and choice != "self-hosted"
        params: dict[str, Scalar] = {
            "zone": str(ctx.get("domain")),
            "externalDnsProvider": EXTERNAL_DNS_PROVIDER[provider] if cloud else RFC2136,
            "txtOwnerId": ctx.name,
        }
        if cloud:
            params["externalDnsAuth"] = EXTERNAL_DNS_AUTH[provider]
        if choice == "multi-provider":
            params["secondaryProvider"] = SECONDARY
        return params

    def components(self, choice: str, ctx: Context) -> tuple[str, ...]:
        provider = ctx.provider
        self_hosted = provider == "onprem" or choice == "self-hosted"
        primary = SELF_HOSTED if self_hosted else MANAGED[provider]
        if choice == "multi-provider" and provider in MANAGED_BESIDE_SECOND:
            primary = MANAGED_BESIDE_SECOND[provider]
        params = self.parameters(choice, ctx)
        updater = (f"external-dns ({params['externalDnsProvider']} provider"
                   + (f", {params['externalDnsAuth']})" if "externalDnsAuth" in params else ")"))
        if choice == "multi-provider":
            return (*primary, *SECOND_PROVIDER, updater,
                    "external-dns second instance (cloudflare provider, API token from the "
                    "secrets block)")
        return (*primary, updater)

    def warnings(self, choice: str, ctx: Context) -> tuple[str, ...]:
        # The Cloudflare side is rendered as Terraform only beside Cloud DNS.
        if choice == "multi-provider" and ctx.provider != "gcp":
            return ("The second provider's zone (Cloudflare) is rendered as Terraform only on "
                    f"gcp: on {ctx.provider} create it in the Cloudflare account with the static "
                    "records of the first zone (the second external-dns keeps the dynamic "
                    "ones), and list both providers' name servers at the registrar.",)
        return ()

    def conflict(self, choice: str, ctx: Context) -> Conflict | None:
        if choice == "provider-managed" and ctx.provider == "onprem":
            return Conflict("on-prem has no provider-managed DNS", ("spec", "provider"),
                            "use dns: self-hosted (BIND 9) or dns: multi-provider")
        return None


RULE = Dns()
