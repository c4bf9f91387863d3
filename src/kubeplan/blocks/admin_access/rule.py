"""admin_access: how operators reach private nodes and the private control-plane endpoint.

Trade-off: an identity-aware proxy authenticates and authorises every connection per person and
logs it, with no inbound port on the network (zero trust); a bastion is one well-understood
entry point, but a host to patch and a foothold if it falls; a VPN puts the operator's machine
on the private network, which is simple to use but grants network-level, not per-service,
access. kubeplan honours an explicit spec.security.adminAccess; on `auto` it picks what each
provider does best: IAP TCP forwarding on GCP, Session Manager on AWS (the same idea: no open
SSH), Azure Bastion on Azure, WireGuard on-prem where no identity-aware service is at hand.

Two asks (in the field or an override) are refused rather than planned and left unbuilt: `vpn`
on GCP and `identity-aware-proxy` on Azure (UNRENDERED has the reasons and the alternatives).
"""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import IPv4Network

from kubeplan.decide import Choice, Conflict, Context, Outcome, Rule
from kubeplan.errors import Cause, DecisionConflict
from kubeplan.model import Scalar

AUTO = {
    "gcp": "identity-aware-proxy",
    "aws": "identity-aware-proxy",
    "azure": "bastion",
    "onprem": "vpn",
}
AUTO_REASON = {
    "gcp": "Identity-Aware Proxy TCP forwarding reaches private nodes and the control plane "
           "with per-user IAM checks and audit logs, and no inbound port beyond Google's IAP "
           "range",
    "aws": "AWS Systems Manager Session Manager gives the same identity-aware access: IAM "
           "decides per user, sessions are logged, and no SSH port is open anywhere",
    "azure": "Azure Bastion is the managed entry point into a VNet: TLS from the portal or "
             "native client, Microsoft Entra ID sign-in and no public IP on any node",
    "onprem": "on-prem has no provider identity-aware proxy, so a WireGuard gateway at the site "
              "edge is the smallest, auditable way in",
}
# Google's published source range of IAP TCP forwarding; firewalls admit only this for SSH/API.
IAP_SOURCE_RANGE = "35.235.240.0/20"
# WireGuard's conventional UDP listen port.
WIREGUARD_PORT = 51820
# VPN clients get addresses from the last /22 of their region's /12 (the network decision's
# `regionCidr.<region>`): outside every VPC/VNet range, pod and service range of the plan, and
# unique per region, so an operator connected to two regions has no overlapping routes. A /22 is
# the smallest client range AWS Client VPN accepts.
VPN_CLIENT_PREFIX = 22
# Providers whose managed client VPN kubeplan renders (on-prem: WireGuard at the site edge).
MANAGED_VPN = ("aws", "azure")
# (choice, provider) pairs with no listener of ours reachable from the internet: the provider's
# proxy (or IAP in front of the GCP bastion) is the only way in.
NOT_EXPOSED = {
    ("identity-aware-proxy", "gcp"),
    ("identity-aware-proxy", "aws"),
    ("bastion", "gcp"),
}
# Asks kubeplan refuses instead of planning an access path it would not build: (why, what to
# ask for instead). GCP has no managed client VPN; a self-run WireGuard VM would be a host to
# patch with an open UDP port, and its static peer keys bypass Google identities (no per-person
# sign-in, MFA, IAM condition or audit log), while IAP already reaches private nodes and the
# private control plane per user with no open port. Microsoft Entra Private Access lives in
# Microsoft Graph, which neither azurerm nor azapi (Azure Resource Manager) can configure.
UNRENDERED: dict[tuple[str, str], tuple[str, str]] = {
    ("vpn", "gcp"): (
        "kubeplan does not build a VPN on gcp: Google Cloud has no managed client VPN, and a "
        "self-run WireGuard VM would be an internet-facing host whose static keys bypass Google "
        "identities (no per-person sign-in, MFA or IAM audit), while Identity-Aware Proxy "
        "already reaches private nodes and the private control plane per user with no open port",
        "identity-aware-proxy (IAP TCP forwarding) or bastion (a hardened VM behind IAP); both "
        "are built on gcp"),
    ("identity-aware-proxy", "azure"): (
        "kubeplan does not build identity-aware access on azure: Microsoft Entra Private Access "
        "is configured in Microsoft Graph, which the azurerm and azapi providers (Azure Resource "
        "Manager) cannot reach, so the build would contain no access path",
        "bastion (Azure Bastion with Microsoft Entra ID sign-in) or vpn (a point-to-site VPN "
        "gateway with Microsoft Entra ID authentication); both are built on azure"),
}
# Postures whose audits require a recording of every administrative session.
RECORDED_POSTURES = ("regulated",)

COMPONENTS: dict[str, dict[str, tuple[str, ...]]] = {
    "identity-aware-proxy": {
        "gcp": ("Identity-Aware Proxy TCP forwarding (IAP tunnels to private nodes and the "
                "private control-plane endpoint)",
                "IAM role roles/iap.tunnelResourceAccessor granted per administrator group"),
        "aws": ("AWS Systems Manager Session Manager (port forwarding to the private EKS "
                "endpoint through an SSM-managed instance; no inbound SSH, no bastion)",
                "SSM Agent with the AmazonSSMManagedInstanceCore policy"),
        "onprem": ("Pomerium (identity-aware access proxy for the Kubernetes API and SSH)",
                   "OIDC identity provider (the corporate IdP or Keycloak)"),
    },
    "bastion": {
        "gcp": ("terraform-google-modules bastion-host (hardened VM without public IP, itself "
                "reached through Identity-Aware Proxy TCP forwarding, OS Login)",),
        "aws": ("EC2 bastion host in a public subnet (SSH from an allow-list only, keys pushed "
                "by EC2 Instance Connect)",),
        "azure": ("Azure Bastion (Standard SKU, native client tunneling to the private AKS API)",),
        "onprem": ("hardened jump host in a DMZ VLAN (OpenSSH with short-lived certificates)",),
    },
    "vpn": {
        "aws": ("AWS Client VPN endpoint per region (SAML federation, split tunnel, "
                "authorisation rules per IdP group to the VPC's primary range only)",
                "Client VPN connection logs in a KMS-encrypted CloudWatch Logs group"),
        "azure": ("Azure VPN Gateway per region (VpnGw1AZ, point-to-site OpenVPN, Microsoft "
                  "Entra ID authentication)",
                  "Azure DNS Private Resolver inbound endpoint (VPN clients resolve the private "
                  "AKS API server)",
                  "VPN gateway diagnostic logs in Log Analytics"),
        "onprem": ("WireGuard gateway at the site edge (one key pair per administrator)",),
    },
}
AZURE_BASTION_RECORDED = ("Azure Bastion (Premium SKU: session recording, native client "
                          "tunneling to the private AKS API)",)
RECORDING = {
    ("identity-aware-proxy", "gcp"): "Cloud Audit Logs (IAP data access logs) kept for the "
                                     "audit period",
    ("identity-aware-proxy", "aws"): "Session Manager session logs to S3 and CloudWatch Logs",
    ("identity-aware-proxy", "onprem"): "Pomerium authorization logs in the central log store",
    ("bastion", "azure"): "Microsoft Entra ID sign-in and audit logs in Log Analytics",
}
# Bastions and VPNs elsewhere record on the host we run: the provider logs only connections.
BASTION_RECORDING = "SSH session recording on the jump host (tlog) to the central log store"
VPN_RECORDING = "VPN connection logs and Kubernetes API audit logs in the central log store"


class AdminAccess(Rule):
    block = "admin_access"
    title = "Administrative access"
    needs = ("network",)
    choices = (
        Choice("identity-aware-proxy", "Zero-trust access: each connection is authenticated "
               "and authorised per person by an identity-aware proxy.",
               "No inbound port on the network and a per-user audit trail; depends on the "
               "provider's identity service, and on-prem means running a proxy (Pomerium) "
               "yourself. kubeplan builds it on gcp, aws and onprem, not on azure."),
        Choice("bastion", "A jump host in the cluster's network is the one way in.",
               "A single, familiar entry point; a host to patch and monitor, keys to manage, "
               "and a foothold inside the network if it is compromised."),
        Choice("vpn", "Operators join the private network through a VPN.",
               "Any tool works once connected; access is network-wide rather than per service, "
               "and client keys or certificates must be rotated and revoked. kubeplan builds it "
               "on aws, azure and onprem, not on gcp."),
    )

    def decide(self, ctx: Context) -> Outcome:
        asked: str = ctx.get("security.adminAccess")
        provider = ctx.provider
        posture: str = ctx.get("security.posture")
        recorded = ("; spec.security.posture is regulated, so every session is recorded"
                    if posture in RECORDED_POSTURES else "")
        if (asked, provider) in UNRENDERED:
            why, instead = UNRENDERED[(asked, provider)]
            raise DecisionConflict(
                why, [Cause(self.block, ("spec", "security", "adminAccess")),
                      Cause(self.block, ("spec", "provider"))],
                f"set spec.security.adminAccess to {instead}")
        if asked != "auto":
            return Outcome(asked, f"spec.security.adminAccess asks for {asked} on {provider}"
                           f"{recorded}.", self.parameters(asked, ctx))
        choice = AUTO[provider]
        return Outcome(choice, f"spec.security.adminAccess is auto and spec.provider is "
                       f"{provider}: {AUTO_REASON[provider]}{recorded}.",
                       self.parameters(choice, ctx))

    def parameters(self, choice: str, ctx: Context) -> Mapping[str, Scalar]:
        provider = ctx.provider
        params: dict[str, Scalar] = {
            "exposedToInternet": (choice, provider) not in NOT_EXPOSED,
            "sessionRecording": ctx.get("security.posture") in RECORDED_POSTURES,
        }
        if provider == "gcp" and choice in ("identity-aware-proxy", "bastion"):
            params["adminSourceRange"] = IAP_SOURCE_RANGE
        if choice == "vpn" and provider == "onprem":
            params["vpnPort"] = WIREGUARD_PORT
        if choice == "vpn" and provider in MANAGED_VPN:
            network = ctx.decision("network").parameters
            for region in ctx.get("regions"):
                supernet = IPv4Network(str(network[f"regionCidr.{region}"]))
                params[f"vpnClientCidr.{region}"] = str(
                    list(supernet.subnets(new_prefix=VPN_CLIENT_PREFIX))[-1])
        return params

    def components(self, choice: str, ctx: Context) -> tuple[str, ...]:
        provider = ctx.provider
        recorded = ctx.get("security.posture") in RECORDED_POSTURES
        base: tuple[str, ...]
        if choice == "bastion" and provider == "azure" and recorded:
            base = AZURE_BASTION_RECORDED
        else:
            base = COMPONENTS[choice][provider]
        if not recorded:
            return base
        fallback = BASTION_RECORDING if choice == "bastion" else VPN_RECORDING
        return (*base, RECORDING.get((choice, provider), fallback))

    def conflict(self, choice: str, ctx: Context) -> Conflict | None:
        asked: str = ctx.get("security.adminAccess")
        if asked not in ("auto", choice):
            return Conflict(f"spec.security.adminAccess asks for {asked} but the override asks "
                            f"for {choice}", ("spec", "security", "adminAccess"),
                            "state the access path once: set spec.security.adminAccess and drop "
                            "the override")
        if (choice, ctx.provider) in UNRENDERED:
            why, instead = UNRENDERED[(choice, ctx.provider)]
            return Conflict(why, ("spec", "provider"),
                            f"drop spec.overrides.admin_access, or set it to {instead}")
        return None


RULE = AdminAccess()
