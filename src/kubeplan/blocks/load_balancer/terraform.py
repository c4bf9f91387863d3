"""load_balancer -> Terraform `edge` layer: the public entry point's address, certificates and
edge protection; the load balancer itself is programmed from Kubernetes (Gateway API).

GCP global: a global anycast address the Gateway claims by name, Certificate Manager
certificates (DNS-authorised, so they renew without traffic) in a certificate map the Gateway
references, and, with several clusters, the fleet features of the multi-cluster Gateway. GCP
regional: a regional address. Cloud Armor (WAF rules, adaptive DDoS protection) when the spec
asks for DDoS protection or the posture is regulated. AWS: ACM certificates per region for the
ALBs, and for a global load balancer an AWS Global Accelerator whose endpoint groups pick up the
gateway ALBs the AWS Load Balancer Controller creates (re-apply after the GitOps bootstrap).
Azure: a static public IP per region for the gateway's Service, and Azure Front Door for a
global entry point. In the environment that runs the pull-request previews, the certificates
also cover `*.preview.<zone>` (GKE: a certificate and map entry of its own; AWS: an ACM
certificate the ALB finds by its preview listener's hostname).
"""

from __future__ import annotations

from kubeplan.blocks.load_balancer import terraform_aws, terraform_azure
from kubeplan.blocks.load_balancer.previews import preview_wildcard
from kubeplan.render import naming
from kubeplan.render.terraform.hcl import Block, Expr, Value, block, body, call, ref, var
from kubeplan.render.terraform.model import Contribution, Output, TerraformEnv
from kubeplan.render.terraform.shared import ZONE_MODULE, has_zone, protect

LAYER = "edge"
FILE = "load-balancer"
# Preconfigured Cloud Armor WAF rules (ModSecurity CRS 3.3 sensitivity 1 plus the Log4Shell
# signatures), each denying with 403.
ARMOR_RULES = ("sqli-v33-stable", "xss-v33-stable", "lfi-v33-stable", "rce-v33-stable",
               "cve-canary")
# Requests per minute per client IP before Cloud Armor throttles (a flood, not a busy user).
RATE_LIMIT_PER_MINUTE = 1200


def contribute(env: TerraformEnv) -> list[Contribution]:
    choice = env.choice("load_balancer")
    if env.provider == "gcp":
        return [_gcp(env, choice)]
    if env.provider == "aws":
        return terraform_aws.contribute(env, choice)
    if env.provider == "azure":
        return terraform_azure.contribute(env, choice)
    return []


def _gcp(env: TerraformEnv, choice: str) -> Contribution:
    blocks: list[Block] = []
    outputs: list[Output] = []
    gitops: dict[str, Value] = {}
    apis = {"compute.googleapis.com"}
    if choice == "global":
        blocks.append(block("resource", "google_compute_global_address", "gateway",
                            project=var("project_id"),
                            name=naming.gateway_address(env.plan, env.environment),
                            description="Anycast address of the platform Gateway",
                            labels=env.labels))
        outputs += [Output("gateway_address_name", ref("google_compute_global_address.gateway.name"),
                           "Global address the Gateway claims (NamedAddress)."),
                    Output("gateway_ip", ref("google_compute_global_address.gateway.address"),
                           "Public anycast IP of the platform.")]
        gitops["gateway.address-name"] = ref("google_compute_global_address.gateway.name")
        gitops["gateway.address"] = ref("google_compute_global_address.gateway.address")
        if has_zone(env):
            blocks += _certificates(env)
            outputs.append(Output("certificate_map",
                                  ref("google_certificate_manager_certificate_map.gateway.name"),
                                  "Certificate map of the Gateway (networking.gke.io/certmap)."))
            gitops["gateway.certificate-map"] = ref(
                "google_certificate_manager_certificate_map.gateway.name")
            apis.add("certificatemanager.googleapis.com")
        # Several clusters form a fleet: one multi-cluster Gateway in the config cluster.
        config = naming.config_cluster(env.plan, env.environment)
        if config is not None:
            blocks += _fleet(env, config)
            outputs.append(Output("config_cluster", config,
                                  "Config cluster of the multi-cluster Gateway."))
            gitops["gateway.config-cluster"] = config
    else:
        blocks.append(block("resource", "google_compute_address", "gateway",
                            project=var("project_id"),
                            name=naming.gateway_address(env.plan, env.environment),
                            region=env.primary_region, address_type="EXTERNAL",
                            network_tier="PREMIUM",
                            description="Address of the platform Gateway", labels=env.labels))
        outputs += [Output("gateway_address_name", ref("google_compute_address.gateway.name"),
                           "Regional address the Gateway claims (NamedAddress)."),
                    Output("gateway_ip", ref("google_compute_address.gateway.address"),
                           "Public IP of the platform.")]
        gitops["gateway.address-name"] = ref("google_compute_address.gateway.name")
        gitops["gateway.address"] = ref("google_compute_address.gateway.address")
    blocks.append(_ssl_policy(env, choice))
    if protect(env):
        blocks.append(_armor(env))
        outputs.append(Output("security_policy", ref("google_compute_security_policy.edge.name"),
                              "Cloud Armor edge policy: on Cloud CDN's backend service when "
                              "the CDN fronts the Gateway, else on the Gateway's backends "
                              "(GCPBackendPolicy securityPolicy)."))
        gitops["gateway.security-policy"] = ref("google_compute_security_policy.edge.name")
    return Contribution(LAYER, FILE, tuple(blocks), outputs=tuple(outputs), gitops=gitops,
                        gcp_apis=frozenset(apis))


def _authorised_certificate(env: TerraformEnv, key: str, domain: str, names: list[str], *,
                            certificate: str, record: str) -> list[Block]:
    """A Google-managed certificate for `names`, authorised through a DNS record in the zone.
    One DNS authorization covers a domain and its wildcard only, so each domain has its own."""
    auth = f"google_certificate_manager_dns_authorization.{key}"
    authorization = block("resource", "google_dns_record_set", record,
                          project=var("project_id"),
                          managed_zone=ref(f"module.{ZONE_MODULE}.name"),
                          name=Expr(f"{auth}.dns_resource_record[0].name"),
                          type=Expr(f"{auth}.dns_resource_record[0].type"),
                          ttl=300,
                          rrdatas=[Expr(f"{auth}.dns_resource_record[0].data")])
    return [
        block("resource", "google_certificate_manager_dns_authorization", key,
              project=var("project_id"), name=f"{env.prefix}-{key}", domain=domain,
              labels=env.labels),
        authorization,
        block("resource", "google_certificate_manager_certificate", certificate,
              project=var("project_id"), name=f"{env.prefix}-{certificate}", labels=env.labels,
              managed=block("managed", domains=names, dns_authorizations=[ref(f"{auth}.id")])),
    ]


def _certificates(env: TerraformEnv) -> list[Block]:
    """Google-managed certificates for the zone and its subdomains and, where the previews run,
    for their wildcard, in the certificate map the Gateway names."""
    blocks = _authorised_certificate(env, "zone", env.zone, [env.zone, f"*.{env.zone}"],
                                     certificate="gateway", record="certificate_authorization")
    hosts = [("apex", env.zone, "gateway"), ("wildcard", f"*.{env.zone}", "gateway")]
    previews = preview_wildcard(env)
    if previews:
        blocks += _authorised_certificate(env, "previews", previews.removeprefix("*."),
                                          [previews], certificate="previews",
                                          record="previews_authorization")
        hosts.append(("previews", previews, "previews"))
    blocks.append(block("resource", "google_certificate_manager_certificate_map", "gateway",
                        project=var("project_id"),
                        name=naming.certificate_map(env.plan, env.environment),
                        labels=env.labels))
    blocks += [block("resource", "google_certificate_manager_certificate_map_entry", key,
                     project=var("project_id"), name=f"{env.prefix}-{key}",
                     map=ref("google_certificate_manager_certificate_map.gateway.name"),
                     hostname=host,
                     certificates=[ref(f"google_certificate_manager_certificate.{cert}.id")])
               for key, host, cert in hosts]
    return blocks


def _fleet(env: TerraformEnv, config: str) -> list[Block]:
    """Multi-cluster Gateway and multi-cluster services across the environment's clusters;
    `config` (naming.config_cluster, where the GitOps tree puts the Gateway) holds the Gateway
    configuration."""
    # GKE's fleet registration reports the membership's full resource name; the feature wants
    # the relative name (projects/.../memberships/...).
    membership = call("trimprefix", env.remote("cluster", "fleet_memberships").index(config),
                      "//gkehub.googleapis.com/")
    return [
        block("resource", "google_gke_hub_feature", "multiclusterservicediscovery",
              project=var("project_id"), name="multiclusterservicediscovery", location="global"),
        block("resource", "google_gke_hub_feature", "multiclusteringress",
              project=var("project_id"), name="multiclusteringress", location="global",
              spec=block("spec", multiclusteringress=block(
                  "multiclusteringress", config_membership=membership)),
              depends_on=[ref("google_gke_hub_feature.multiclusterservicediscovery")]),
    ]


def _ssl_policy(env: TerraformEnv, choice: str) -> Block:
    """TLS 1.2 or later with forward-secret ciphers (RESTRICTED for a regulated posture); the
    Gateway names it (GCPGatewayPolicy sslPolicy)."""
    regulated = env.plan.inputs.get("security", {}).get("posture") == "regulated"
    args: dict[str, Value] = {"project": var("project_id"),
                              "name": naming.ssl_policy(env.plan, env.environment),
                              "description": "TLS policy of the platform Gateway",
                              "min_tls_version": "TLS_1_2",
                              "profile": "RESTRICTED" if regulated else "MODERN"}
    if choice == "global":
        return Block("resource", ("google_compute_ssl_policy", "gateway"), body(args))
    return Block("resource", ("google_compute_region_ssl_policy", "gateway"),
                 body({**args, "region": env.primary_region}))


def _armor(env: TerraformEnv) -> Block:
    rules: list[Block] = []
    for index, rule in enumerate(ARMOR_RULES):
        rules.append(block("rule", action="deny(403)", priority=1000 + index,
                           description=f"Preconfigured WAF rule {rule}",
                           match=block("match", expr=block(
                               "expr", expression=f"evaluatePreconfiguredWaf('{rule}')"))))
    rules.append(block(
        "rule", action="throttle", priority=2000,
        description="Per-client rate limit",
        match=block("match", versioned_expr="SRC_IPS_V1",
                    config=block("config", src_ip_ranges=["*"])),
        rate_limit_options=block(
            "rate_limit_options", conform_action="allow", exceed_action="deny(429)",
            enforce_on_key="IP",
            rate_limit_threshold=block("rate_limit_threshold", count=RATE_LIMIT_PER_MINUTE,
                                       interval_sec=60))))
    rules.append(block("rule", action="allow", priority=2147483647,
                       description="Default: allow what no rule above stopped",
                       match=block("match", versioned_expr="SRC_IPS_V1",
                                   config=block("config", src_ip_ranges=["*"]))))
    return block("resource", "google_compute_security_policy", "edge",
                 project=var("project_id"),
                 name=naming.edge_security_policy(env.plan, env.environment),
                 description=("WAF and DDoS protection of Cloud CDN in front of the platform "
                              "Gateway" if naming.cdn_in_front(env.plan)
                              else "WAF and DDoS protection of the platform Gateway"),
                 adaptive_protection_config=block(
                     "adaptive_protection_config",
                     layer_7_ddos_defense_config=block("layer_7_ddos_defense_config",
                                                       enable=True)),
                 rule=rules)
