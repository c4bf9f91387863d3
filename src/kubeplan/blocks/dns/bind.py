"""dns self-hosted (on-prem): the platform's zone for BIND 9, and the zone statement that lets
external-dns update it over RFC 2136 with a TSIG key the operator provides.

Records: the name servers (two sites), the production gateway at the apex and as a wildcard,
each non-production environment's gateway under `<environment>`, and every cluster's control
plane as `api.<cluster>`. external-dns adds the application records next to these.
"""

from __future__ import annotations

from kubeplan.model import Plan
from kubeplan.render import naming
from kubeplan.render.terraform import onprem
from kubeplan.render.terraform.model import ONPREM, Contribution, TerraformEnv

TTL = 300
# SOA timers: refresh, retry, expire, negative caching (RFC 1912 recommendations).
SOA_TIMERS = (3600, 600, 1209600, 300)
TSIG_KEY = "external-dns"
CAA_ISSUER = "letsencrypt.org"


def records(env: TerraformEnv) -> list[onprem.Record]:
    plan = env.plan
    domain = f".{plan.metadata.domain}"
    out = [onprem.Record("@", "NS", "ns1"), onprem.Record("@", "NS", "ns2"),
           onprem.Record("@", "CAA", f'0 issue "{CAA_ISSUER}"'),
           onprem.Record("ns1", "A", onprem.name_server_address(plan, 0)),
           onprem.Record("ns2", "A", onprem.name_server_address(plan, 1)),
           onprem.Record(naming.dns_primary(plan).removesuffix(domain), "A",
                         onprem.dns_primary_address(plan), "hidden primary (RFC 2136 updates)"),
           onprem.Record(vault_host(plan).removesuffix(domain), "A",
                         onprem.vault_address(plan), "Vault (three Raft nodes)")]
    production = plan.topology.production
    for environment in [production, *(e for e in plan.metadata.environments if e != production)]:
        other = type(env)(plan, environment)
        serving = [c for c in other.clusters if c.role != "standby"] or list(other.clusters)
        first = serving[0]
        gateway = onprem.gateway_address(other, first.region)
        host = "@" if environment == production else environment
        wildcard = "*" if environment == production else f"*.{environment}"
        note = f"{environment} gateway ({first.name})"
        out += [onprem.Record(host, "A", gateway, note), onprem.Record(wildcard, "A", gateway)]
        for cluster in other.clusters:
            host = naming.kubernetes_api_host(plan, cluster.name).removesuffix(domain)
            out.append(onprem.Record(host, "A", onprem.api_address(other, cluster.region),
                                     f"{cluster.name} control plane ({cluster.role})"))
    if plan.choice("registry") == "harbor":
        # Harbor in each site, behind that site's production gateway.
        prod = type(env)(plan, production)
        for cluster in prod.clusters:
            out.append(onprem.Record(
                naming.harbor_host(plan, cluster.region).removesuffix(domain), "A",
                onprem.gateway_address(prod, cluster.region), f"Harbor in {cluster.region}"))
    return out


def vault_host(plan: Plan) -> str:
    """The host of `naming.vault_address` (https://<host>:8200)."""
    return naming.vault_address(plan).split("://", 1)[1].rsplit(":", 1)[0]


def named_conf(zone: str) -> str:
    """The zone statement for the hidden primary (named.conf syntax)."""
    return "\n".join([
        f'include "{onprem.OPERATOR_FILES}/bind/{TSIG_KEY}.key";',
        "",
        f'zone "{zone}" {{',
        "    type primary;",
        f'    file "/var/lib/bind/{zone}.zone";',
        f'    update-policy {{ grant {TSIG_KEY} zonesub ANY; }};',
        "    notify yes;",
        "};",
        "",
    ])


def contribute(env: TerraformEnv) -> list[Contribution]:
    if not env.production:
        return []
    zone = env.domain
    soa = (f"{naming.dns_primary(env.plan)}.", f"hostmaster.{zone}.", 1, *SOA_TIMERS)
    text = onprem.zone_file(zone, TTL, soa, records(env))
    return [Contribution(ONPREM, "dns", files={
        f"{onprem.DNS}/{zone}.zone": text,
        f"{onprem.DNS}/named.conf.local": named_conf(zone),
    })]
