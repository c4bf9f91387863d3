"""dns: multi-provider -> the second authoritative provider (Cloudflare) in production's `edge`
layer, beside the Cloud DNS zone.

Cloud DNS serves no outbound zone transfers, so Cloudflare cannot be a secondary fed by AXFR:
both providers are written to. Terraform writes the static records the Cloud DNS side holds
(CAA, the delegations of the other environments' zones, the Certificate Manager DNS
authorisations); the names of the routes (apex and wildcard among them) are written to both by
two external-dns instances (blocks/dns/gitops.py). Every record is DNS only (not proxied): the
CDN is Cloud CDN and TLS ends at Google's load balancer.

The zone is not DNSSEC-signed here: two independent signers of one zone need a multi-signer key
exchange (RFC 8901), so the Cloud DNS side is unsigned too under this decision. The API token
comes from CLOUDFLARE_API_TOKEN at apply time; it is never an input, a state output or a file.
"""

from __future__ import annotations

from kubeplan.render.delivery import preview_cluster
from kubeplan.render.gitops import network
from kubeplan.render.terraform.hcl import Block, Expr, Value, block, body, call, ref, var
from kubeplan.render.terraform.model import (
    Contribution,
    Output,
    TerraformEnv,
    Validation,
    Variable,
    slug,
)

LAYER = "edge"
FILE = "dns-cloudflare"
ZONE = "cloudflare_zone.secondary"
ACCOUNT_ID = Variable(
    "cloudflare_account_id", "string",
    "ID of the Cloudflare account that holds the second authoritative zone (the API token, "
    "from CLOUDFLARE_API_TOKEN, must be scoped to this account's zone: Zone Read, DNS Write).",
    validations=(Validation('can(regex("^[0-9a-f]{32}$", var.cloudflare_account_id))',
                            "cloudflare_account_id must be a Cloudflare account ID "
                            "(32 lower-case hexadecimal characters)."),))


def certificate_authorizations(env: TerraformEnv) -> list[str]:
    """Certificate Manager DNS authorisations the load_balancer block creates in this
    environment's edge layer (the same conditions as there): their CNAMEs must answer from
    both providers, or a renewal check that reaches Cloudflare fails."""
    if env.provider != "gcp" or env.choice("load_balancer") != "global":
        return []
    out = ["zone"]
    if env.environment == preview_cluster(env.plan).environment \
            and network.preview_wildcard(env.plan):
        out.append("previews")
    return out


def _record(name: str, type_: str, ttl: int, *, for_each: Expr | None = None,
            **fields: Value) -> Block:
    attributes: dict[str, Value] = {"for_each": for_each} if for_each is not None else {}
    attributes |= {"zone_id": ref(f"{ZONE}.id"), "name": fields.pop("fqdn"), "type": type_,
                   "ttl": ttl, **fields, "proxied": False}
    return Block("resource", ("cloudflare_dns_record", name), body(attributes))


def contribute(env: TerraformEnv, caa: list[str], delegated: list[str], ttl: int
               ) -> Contribution:
    """The Cloudflare zone of production's domain and the records Terraform owns in Cloud DNS.
    `caa` are the Cloud DNS CAA values (`0 issue "<ca>"`), `delegated` the other environments."""
    blocks: list[Block] = [block("resource", "cloudflare_zone", "secondary",
                                 account={"id": var(ACCOUNT_ID.name)}, name=env.zone,
                                 type="full")]
    for index, value in enumerate(caa):
        flags, tag, issuer = value.split(" ", 2)
        blocks.append(_record(f"caa_{index}", "CAA", ttl, fqdn=env.zone,
                              data={"flags": int(flags), "tag": tag,
                                    "value": issuer.strip('"')}))
    for other in delegated:
        # One record per name server of the delegated zone (Cloud DNS holds them as one set).
        blocks.append(_record(f"{slug(other)}_ns", "NS", ttl, fqdn=f"{other}.{env.zone}",
                              for_each=call("toset", env.remote_env(other, LAYER,
                                                                    "name_servers")),
                              content=Expr("each.value")))
    for key in certificate_authorizations(env):
        record = f"google_certificate_manager_dns_authorization.{key}.dns_resource_record[0]"
        blocks.append(_record(f"{key}_certificate_authorization", "CNAME", 300,
                              fqdn=call("trimsuffix", Expr(f"{record}.name"), "."),
                              content=call("trimsuffix", Expr(f"{record}.data"), ".")))
    return Contribution(
        LAYER, FILE, tuple(blocks), variables=(ACCOUNT_ID,),
        outputs=(Output("cloudflare_zone_id", ref(f"{ZONE}.id"),
                        "Cloudflare zone of the second authoritative provider."),
                 Output("cloudflare_name_servers", ref(f"{ZONE}.name_servers"),
                        "Cloudflare name servers; the registrar's NS set lists these beside "
                        "the Cloud DNS `name_servers`.")),
        notes=("List both providers' name servers in the registrar's NS set: the production "
               "edge layer's `name_servers` (Cloud DNS) and `cloudflare_name_servers`. Apply "
               "with CLOUDFLARE_API_TOKEN set to a token scoped to that zone (Zone Read, "
               "DNS Write); the cluster's external-dns reads its own token from the secret "
               "store (`cloudflare-dns-token`).",
               "The platform zones are not DNSSEC-signed under dns: multi-provider: Cloud DNS "
               "and Cloudflare each sign with their own keys, and one zone served by two "
               "signers needs a multi-signer key exchange (RFC 8901: each provider publishing "
               "the other's zone-signing key, DS records for both at the registrar) that this "
               "plan does not set up. Enabling DNSSEC on either side alone makes validating "
               "resolvers fail on the other side's unsigned answers."))
