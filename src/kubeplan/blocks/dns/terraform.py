"""dns -> Terraform `edge` layer (the public zone) and `storage` layer (external-dns and
cert-manager identities); on-prem, a BIND zone file.

Each environment owns its zone: the platform domain in production, `<environment>.<domain>`
elsewhere, delegated from the production zone (production's edge layer reads the other
environments' name servers from their state). CAA records limit issuance to the certificate
authorities the plan uses. external-dns gets write access to its zone only.
"""

from __future__ import annotations

from kubeplan.blocks.dns import bind, terraform_aws, terraform_azure, terraform_cloudflare
from kubeplan.render import naming
from kubeplan.render.terraform import gcp, objectstore
from kubeplan.render.terraform.hcl import Block, Expr, Value, block, body, ref, var
from kubeplan.render.terraform.model import Contribution, Output, TerraformEnv, slug
from kubeplan.render.terraform.shared import ZONE_MODULE, cert_manager_dns, has_zone

LAYER = "edge"
FILE = "dns"
# Certificate authorities per provider's managed certificates; Let's Encrypt for cert-manager.
CAA_ISSUERS = {
    "gcp": ("pki.goog", "letsencrypt.org"),
    "aws": ("amazon.com", "amazontrust.com", "awstrust.com", "amazonaws.com", "letsencrypt.org"),
    "azure": ("digicert.com", "letsencrypt.org"),
}
ZONE_TTL = 3600


def zone_resource_name(env: TerraformEnv) -> str:
    return env.zone.replace(".", "-")


def caa_records(env: TerraformEnv) -> list[str]:
    return [f'0 issue "{issuer}"' for issuer in CAA_ISSUERS[env.provider]]


def delegated(env: TerraformEnv) -> list[str]:
    """Environments whose zones production delegates to (all the others)."""
    if not env.production:
        return []
    return [e for e in env.plan.metadata.environments if e != env.environment]


def contribute(env: TerraformEnv) -> list[Contribution]:
    if env.provider == "onprem" or env.choice("dns") == "self-hosted":
        return bind.contribute(env)
    if not has_zone(env):
        return []
    parts = _provider(env)
    if env.choice("dns") == "multi-provider" and env.provider == "gcp":
        # Production's zone is the one the registrar delegates to both providers.
        if env.production:
            parts.append(terraform_cloudflare.contribute(env, caa_records(env), delegated(env),
                                                         ZONE_TTL))
            if naming.cdn_in_front(env.plan):
                parts.append(_cloudflare_cdn_records(env))
    elif env.choice("dns") == "multi-provider":
        parts.append(Contribution(LAYER, FILE, notes=(
            "The second authoritative DNS provider (Cloudflare) is not rendered as Terraform "
            "(its API token must not be in this repository): create the zone there, let its "
            "external-dns instance write the records, and list both providers' name servers at "
            "the registrar.",)))
    return parts


def _provider(env: TerraformEnv) -> list[Contribution]:
    if env.provider == "gcp":
        return _gcp(env)
    if env.provider == "aws":
        return terraform_aws.contribute(env, caa_records(env), delegated(env))
    return terraform_azure.contribute(env, caa_records(env), delegated(env))


def signed(env: TerraformEnv) -> bool:
    """Cloud DNS signs the zones, except beside a second provider (terraform_cloudflare: two
    independent signers need a multi-signer key exchange this plan does not set up)."""
    return env.choice("dns") != "multi-provider"


def _gcp(env: TerraformEnv) -> list[Contribution]:
    dnssec = signed(env)
    records: list[Value] = [{"name": "", "type": "CAA", "ttl": ZONE_TTL,
                             "records": caa_records(env)}]
    for other in delegated(env):
        records.append({"name": other, "type": "NS", "ttl": ZONE_TTL,
                        "records": env.remote_env(other, LAYER, "name_servers")})
        if dnssec:
            records.append({"name": other, "type": "DS", "ttl": ZONE_TTL,
                            "records": env.remote_env(other, LAYER, "ds_records")})
    zone = env.module(ZONE_MODULE, "gcp-cloud-dns", {
        "project_id": var("project_id"),
        "type": "public",
        "name": zone_resource_name(env),
        "domain": f"{env.zone}.",
        "description": f"{env.name} {env.environment} public zone (kubeplan)",
        "dnssec_config": {"state": "on" if dnssec else "off"},
        "enable_logging": True,
        "labels": env.labels,
        "recordsets": records,
    })
    blocks: list[Block] = [zone]
    outputs = [Output("zone_name", ref(f"module.{ZONE_MODULE}.name"),
                      "Cloud DNS managed zone (resource name)."),
               Output("zone_domain", env.zone, "DNS name of the environment's zone."),
               Output("name_servers", ref(f"module.{ZONE_MODULE}.name_servers"),
                      "Name servers to delegate the zone to.")]
    notes: tuple[str, ...] = ()
    if dnssec:
        blocks.append(block("data", "google_dns_keys", "zone", project=var("project_id"),
                            managed_zone=ref(f"module.{ZONE_MODULE}.name")))
        outputs.append(Output("ds_records", Expr("data.google_dns_keys.zone.key_signing_keys[*]"
                                                 ".ds_record"),
                              "DS records the parent zone publishes for DNSSEC."))
        notes = ("Publish the production zone's `ds_records` output at the domain's registrar "
                 "(the parent of the other environments' zones gets theirs from Terraform).",)
    edge = Contribution(
        LAYER, FILE, tuple(blocks), outputs=tuple(outputs),
        gitops={"dns.zone": env.zone, "dns.managed-zone": ref(f"module.{ZONE_MODULE}.name")},
        gcp_apis=frozenset({"dns.googleapis.com"}), notes=notes)
    return [edge, _gcp_identities(env)]


def _cloudflare_cdn_records(env: TerraformEnv) -> Contribution:
    """The second provider answers like Cloud DNS for the records the cdn block writes there:
    the zone's names to Cloud CDN, `origin.<zone>` to the Gateway (DNS only, not proxied)."""
    names = [(f"cdn_{gcp.host_key(host)}", host, ref(f"{gcp.CDN_ADDRESS}.address"))
             for host in gcp.cdn_hosts(env)]
    names.append((f"gateway_{gcp.ORIGIN_HOST}", gcp.ORIGIN_HOST,
                  ref(f"{gcp.GATEWAY_ADDRESS}.address")))
    blocks = [Block("resource", ("cloudflare_dns_record", key), body({
                  "zone_id": ref(f"{terraform_cloudflare.ZONE}.id"),
                  "name": f"{host}.{env.zone}" if host else env.zone, "type": "A", "ttl": 300,
                  "content": address, "proxied": False}))
              for key, host, address in names]
    return Contribution(LAYER, terraform_cloudflare.FILE, tuple(blocks))


def _gcp_identities(env: TerraformEnv) -> Contribution:
    """external-dns (and cert-manager for DNS-01) may change records of this zone only; the
    project-wide DNS reader role lets them find the zone."""
    components = ["external-dns"]
    if cert_manager_dns(env):
        components.append("cert-manager")
    blocks: list[Block] = []
    gitops: dict[str, Value] = {}
    outputs: list[Output] = []
    for component in components:
        name = slug(component)
        blocks += gcp.workload_identity(env, component)
        blocks.append(block("resource", "google_dns_managed_zone_iam_member", f"{name}_zone",
                            project=var("project_id"),
                            managed_zone=env.remote(LAYER, "zone_name"),
                            role="roles/dns.admin", member=gcp.identity_member(component)))
        blocks.append(block("resource", "google_project_iam_member", f"{name}_dns_reader",
                            project=var("project_id"), role="roles/dns.reader",
                            member=gcp.identity_member(component)))
        gitops[f"{component}.identity"] = gcp.identity_email(component)
        outputs.append(Output(f"{name}_identity", gcp.identity_email(component),
                              f"Google service account of {component}."))
    return Contribution(objectstore.STORAGE, FILE, tuple(blocks), outputs=tuple(outputs),
                        gitops=gitops, gcp_apis=frozenset({"iam.googleapis.com"}))
