"""cdn -> Terraform `edge` layer, for the provider's CDN.

AWS: a CloudFront distribution (terraform-aws-modules/cloudfront) for the zone, its origin the
gateway behind `origin.<zone>` (the Global Accelerator, or the regional gateway's record that
external-dns keeps), TLS 1.2+ with an ACM certificate in us-east-1, caching only what the origin
marks cacheable (Cache-Control), and with DDoS protection asked, an AWS WAF web ACL (managed
rule groups including Log4j signatures, a per-IP rate limit, logged).

GCP: a global external Application Load Balancer of its own with Cloud CDN, whose only backend
is a global internet NEG pointing at `origin.<zone>:443`, the GKE Gateway's global address
(`naming.cdn_in_front`). It reuses the Gateway's certificate map and SSL policy, caches only
what the origin marks cacheable, and redirects HTTP to HTTPS. Terraform owns the records: the
apex, `*.<zone>` and (where the previews run) their wildcard point at the CDN's address,
`origin.<zone>` at the Gateway's. They exist before the GitOps sync, and external-dns (TXT
registry) never changes records it does not own, so it leaves them alone. With edge protection
the Cloud Armor edge policy sits on the CDN's backend service (client IPs are real there); the
Gateway's backends get an origin-only policy admitting Google's internet NEG source ranges.

Azure: Azure Front Door (rendered with the load balancer, which it is on Azure). Third-party
CDNs (Cloudflare) are configured in their own account: not rendered.
"""

from __future__ import annotations

from kubeplan.render import naming
from kubeplan.render.terraform import aws, gcp
from kubeplan.render.terraform.hcl import Block, Value, block, body, ref, template, var
from kubeplan.render.terraform.model import Contribution, Output, TerraformEnv
from kubeplan.render.terraform.shared import has_zone, protect

LAYER = "edge"
FILE = "cdn"
CLOUDFRONT_REGION = "us-east-1"
ORIGIN_HOST = gcp.ORIGIN_HOST
# AWS managed rule groups of the CloudFront web ACL, in evaluation order.
MANAGED_RULES = ("AWSManagedRulesAmazonIpReputationList", "AWSManagedRulesCommonRuleSet",
                 "AWSManagedRulesKnownBadInputsRuleSet")
RATE_LIMIT_PER_5_MINUTES = 6000
WAF_LOG_DAYS = 365


def contribute(env: TerraformEnv) -> list[Contribution]:
    if env.provider == "onprem":
        return []
    if env.choice("cdn") == "third-party":
        return [Contribution(LAYER, FILE, notes=(
            "The third-party CDN (Cloudflare) is configured in its own account: point its "
            "origin at the gateway's address (the edge layer's outputs).",))]
    if env.choice("cdn") != "provider" or not has_zone(env):
        return []
    if env.provider == "gcp":
        # The load_balancer rule refuses a regional Gateway under Cloud CDN.
        return [_cloud_cdn(env)] if naming.cdn_in_front(env.plan) else []
    if env.provider != "aws":
        return []
    return [_cloudfront(env)]


def _cloudfront(env: TerraformEnv) -> Contribution:
    blocks: list[Block] = aws.acm_certificate(env, "cdn", CLOUDFRONT_REGION, wildcard=False)
    if protect(env):
        blocks += _waf(env)
    args: dict[str, Value] = {
        "comment": f"{env.name} {env.environment}",
        "aliases": [env.zone],
        "enabled": True,
        "is_ipv6_enabled": True,
        "http_version": "http2and3",
        "price_class": "PriceClass_All"
        if env.plan.inputs.get("traffic", {}).get("audience") == "global" else "PriceClass_100",
        "retain_on_delete": False,
        "wait_for_deployment": False,
        "viewer_certificate": {
            "acm_certificate_arn": ref("aws_acm_certificate_validation.cdn.certificate_arn"),
            "ssl_support_method": "sni-only",
            "minimum_protocol_version": "TLSv1.2_2021"},
        "origin": {"gateway": {
            "domain_name": f"{ORIGIN_HOST}.{env.zone}",
            "custom_origin_config": {"http_port": 80, "https_port": 443,
                                     "origin_protocol_policy": "https-only",
                                     "origin_ssl_protocols": ["TLSv1.2"]}}},
        "cache_policies": {"origin_cache_control": {
            "name": f"{env.prefix}-origin-cache-control",
            "comment": "Cache only what the origin marks cacheable",
            "min_ttl": 0, "default_ttl": 0, "max_ttl": 31536000,
            "parameters_in_cache_key_and_forwarded_to_origin": {
                "enable_accept_encoding_brotli": True,
                "enable_accept_encoding_gzip": True,
                "cookies_config": {"cookie_behavior": "none"},
                "headers_config": {"header_behavior": "none"},
                "query_strings_config": {"query_string_behavior": "all"}}}},
        "origin_request_policies": {"viewer": {
            "name": f"{env.prefix}-viewer",
            "comment": "Forward what the application needs to answer",
            "cookies_config": {"cookie_behavior": "all"},
            "headers_config": {"header_behavior": "allViewer"},
            "query_strings_config": {"query_string_behavior": "all"}}},
        "default_cache_behavior": {
            "target_origin_id": "gateway",
            "viewer_protocol_policy": "redirect-to-https",
            "allowed_methods": ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"],
            "cached_methods": ["GET", "HEAD"],
            "compress": True,
            "cache_policy_key": "origin_cache_control",
            "origin_request_policy_key": "viewer"},
        "tags": env.labels,
    }
    if protect(env):
        args["web_acl_id"] = ref("aws_wafv2_web_acl.cdn.arn")
    blocks.append(env.module("cdn", "aws-cloudfront", args))
    blocks += aws.alias_records(env, "module.cdn.cloudfront_distribution_domain_name",
                                "module.cdn.cloudfront_distribution_hosted_zone_id", "cdn",
                                hosts=("",))
    notes: tuple[str, ...] = ()
    if env.choice("load_balancer") == "global":
        blocks += aws.alias_records(env, "aws_globalaccelerator_accelerator.gateway.dns_name",
                                    "aws_globalaccelerator_accelerator.gateway.hosted_zone_id",
                                    "origin", hosts=(ORIGIN_HOST,))
    else:
        notes = (f"AWS: the CloudFront origin `{ORIGIN_HOST}.{env.zone}` must be a hostname of "
                 "the gateway (external-dns publishes it).",)
    outputs = (Output("cdn_domain_name", ref("module.cdn.cloudfront_distribution_domain_name"),
                      "CloudFront domain name."),
               Output("cdn_distribution_id", ref("module.cdn.cloudfront_distribution_id"),
                      "CloudFront distribution (for invalidations)."))
    return Contribution(LAYER, FILE, tuple(blocks), outputs=outputs,
                        gitops={"cdn.origin-host": f"{ORIGIN_HOST}.{env.zone}",
                                "cdn.distribution-id": ref("module.cdn.cloudfront_distribution_id")},
                        notes=notes)


def _waf(env: TerraformEnv) -> list[Block]:
    rules: list[Block] = []
    for priority, group in enumerate(MANAGED_RULES):
        rules.append(block(
            "rule", name=group, priority=priority,
            override_action=block("override_action", none=block("none")),
            statement=block("statement", managed_rule_group_statement=block(
                "managed_rule_group_statement", name=group, vendor_name="AWS")),
            visibility_config=_visibility(group)))
    rules.append(block(
        "rule", name="rate-limit", priority=len(MANAGED_RULES),
        action=block("action", block=block("block")),
        statement=block("statement", rate_based_statement=block(
            "rate_based_statement", limit=RATE_LIMIT_PER_5_MINUTES, aggregate_key_type="IP")),
        visibility_config=_visibility("rate-limit")))
    log_group = f"aws-waf-logs-{env.prefix}-cdn"
    return [
        *aws.kms_key("waf_logs", "Web ACL logs", CLOUDFRONT_REGION, {
            "Sid": "CloudWatchLogs", "Effect": "Allow",
            "Principal": {"Service": f"logs.{CLOUDFRONT_REGION}.amazonaws.com"},
            "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*",
                       "kms:GenerateDataKey*", "kms:Describe*"],
            "Resource": "*"}),
        block("resource", "aws_wafv2_web_acl", "cdn", region=CLOUDFRONT_REGION,
              name=f"{env.prefix}-cdn", scope="CLOUDFRONT",
              description="Edge protection of the CloudFront distribution",
              default_action=block("default_action", allow=block("allow")),
              rule=rules, visibility_config=_visibility(f"{env.prefix}-cdn"), tags=env.labels),
        block("resource", "aws_cloudwatch_log_group", "waf", region=CLOUDFRONT_REGION,
              name=log_group, retention_in_days=WAF_LOG_DAYS,
              kms_key_id=aws.key_arn("waf_logs")),
        block("resource", "aws_wafv2_web_acl_logging_configuration", "cdn",
              region=CLOUDFRONT_REGION, resource_arn=ref("aws_wafv2_web_acl.cdn.arn"),
              log_destination_configs=[ref("aws_cloudwatch_log_group.waf.arn")]),
    ]


def _visibility(name: str) -> Block:
    return block("visibility_config", cloudwatch_metrics_enabled=True, metric_name=name,
                 sampled_requests_enabled=True)


# Cloud CDN: how long a stale cached object may still be served while the origin fails or is
# being revalidated, and the access-log sample rate (every request, like the WAF logs).
SERVE_WHILE_STALE_SECONDS = 86400
CDN_LOG_SAMPLE_RATE = 1.0


def _cloud_cdn(env: TerraformEnv) -> Contribution:
    """Cloud CDN on a global external Application Load Balancer whose only backend is the
    Gateway, reached over the internet at `origin.<zone>:443`."""
    project = var("project_id")
    name = f"{env.prefix}-cdn"
    origin = f"{ORIGIN_HOST}.{env.zone}"
    backend: dict[str, Value | Block] = {
        "project": project, "name": name,
        "description": f"Cloud CDN in front of the platform Gateway ({origin})",
        "load_balancing_scheme": "EXTERNAL_MANAGED",
        "protocol": "HTTPS",
        "timeout_sec": 30,
        # The internet NEG forwards the client's Host header unless the backend service sets
        # one (https://cloud.google.com/cdn/docs/ext-backend-internet-neg-overview): the
        # Gateway's routes match the zone's names, so no custom Host header.
        "backend": block("backend", group=ref(
            "google_compute_global_network_endpoint_group.origin.id")),
        "enable_cdn": True,
        "compression_mode": "AUTOMATIC",
        "cdn_policy": block(
            "cdn_policy",
            # Cache only what the origin marks cacheable (Cache-Control/Expires), as the AWS
            # CloudFront cache policy does; errors are cached briefly (negative caching).
            cache_mode="USE_ORIGIN_HEADERS", negative_caching=True,
            serve_while_stale=SERVE_WHILE_STALE_SECONDS, request_coalescing=True,
            cache_key_policy=block("cache_key_policy", include_host=True,
                                   include_protocol=True, include_query_string=True)),
        "log_config": block("log_config", enable=True, sample_rate=CDN_LOG_SAMPLE_RATE),
    }
    if protect(env):
        # The edge policy (WAF, per-client rate limit, adaptive DDoS defence) filters what the
        # cache does not answer; here the client IP is the real one, not the CDN's.
        backend["security_policy"] = ref("google_compute_security_policy.edge.id")
    blocks: list[Block] = [
        block("resource", "google_compute_global_address", "cdn", project=project, name=name,
              description="Anycast address of Cloud CDN in front of the platform Gateway",
              labels=env.labels),
        block("resource", "google_compute_global_network_endpoint_group", "origin",
              project=project, name=f"{env.prefix}-origin",
              description="The platform Gateway, Cloud CDN's origin",
              network_endpoint_type="INTERNET_FQDN_PORT", default_port=443),
        block("resource", "google_compute_global_network_endpoint", "origin", project=project,
              global_network_endpoint_group=ref(
                  "google_compute_global_network_endpoint_group.origin.name"),
              fqdn=origin, port=443),
        Block("resource", ("google_compute_backend_service", "cdn"), body(backend)),
        block("resource", "google_compute_url_map", "cdn", project=project, name=name,
              description="Every request to Cloud CDN's backend",
              default_service=ref("google_compute_backend_service.cdn.id")),
        block("resource", "google_compute_target_https_proxy", "cdn", project=project,
              name=name, url_map=ref("google_compute_url_map.cdn.id"),
              # The Gateway's map already holds the zone's certificates.
              certificate_map=template(
                  "//certificatemanager.googleapis.com/",
                  ref("google_certificate_manager_certificate_map.gateway.id")),
              ssl_policy=ref("google_compute_ssl_policy.gateway.id")),
        block("resource", "google_compute_global_forwarding_rule", "cdn_https",
              project=project, name=f"{name}-https", ip_protocol="TCP", port_range="443",
              load_balancing_scheme="EXTERNAL_MANAGED",
              ip_address=ref(f"{gcp.CDN_ADDRESS}.id"),
              target=ref("google_compute_target_https_proxy.cdn.id"), labels=env.labels),
        # Plain HTTP only redirects to HTTPS, like the Gateway's https-redirect route.
        block("resource", "google_compute_url_map", "cdn_redirect", project=project,
              name=f"{name}-redirect", description="HTTP to HTTPS",
              default_url_redirect=block("default_url_redirect", https_redirect=True,
                                         strip_query=False,
                                         redirect_response_code="MOVED_PERMANENTLY_DEFAULT")),
        block("resource", "google_compute_target_http_proxy", "cdn_redirect", project=project,
              name=f"{name}-redirect", url_map=ref("google_compute_url_map.cdn_redirect.id")),
        block("resource", "google_compute_global_forwarding_rule", "cdn_http",
              project=project, name=f"{name}-http", ip_protocol="TCP", port_range="80",
              load_balancing_scheme="EXTERNAL_MANAGED",
              ip_address=ref(f"{gcp.CDN_ADDRESS}.id"),
              target=ref("google_compute_target_http_proxy.cdn_redirect.id"),
              labels=env.labels),
        _origin_policy(env),
        *gcp.address_records(env, "cdn", gcp.cdn_hosts(env), ref(f"{gcp.CDN_ADDRESS}.address")),
        *gcp.address_records(env, "gateway", (ORIGIN_HOST,),
                             ref(f"{gcp.GATEWAY_ADDRESS}.address")),
    ]
    outputs = (Output("cdn_ip", ref(f"{gcp.CDN_ADDRESS}.address"),
                      "Anycast IP of Cloud CDN (the zone's names point here)."),
               Output("cdn_backend_service", ref("google_compute_backend_service.cdn.name"),
                      "Cloud CDN's backend service (for cache invalidations)."),
               Output("origin_security_policy",
                      ref("google_compute_security_policy.origin.name"),
                      "Cloud Armor policy of the Gateway's backends: only the CDN gets through "
                      "(GCPBackendPolicy securityPolicy)."))
    return Contribution(
        LAYER, FILE, tuple(blocks), outputs=outputs,
        gitops={"cdn.origin-host": origin, "cdn.address": ref(f"{gcp.CDN_ADDRESS}.address"),
                "gateway.origin-security-policy": ref(
                    "google_compute_security_policy.origin.name")},
        # Every other name external-dns publishes from the Gateway's routes points at the CDN
        # too (the Gateway's target annotation), so no route bypasses it.
        platform={"CDN_ADDRESS": ref(f"{gcp.CDN_ADDRESS}.address")},
        gcp_apis=frozenset({"compute.googleapis.com"}),
        notes=(f"GCP: the zone's names point at Cloud CDN and `{origin}` at the Gateway; "
               "Terraform creates these records before the GitOps sync, and external-dns "
               "skips records it does not own; the names it publishes from the Gateway's "
               "routes point at the CDN as well (the Gateway's "
               "`external-dns.alpha.kubernetes.io/target`).",))


def _origin_policy(env: TerraformEnv) -> Block:
    """The Gateway's backends admit Cloud CDN's origin fetches only, so nobody can bypass the
    CDN (and the edge policy on it) by calling the Gateway's address directly."""
    def source(ranges: list[str]) -> Block:
        return block("match", versioned_expr="SRC_IPS_V1",
                     config=block("config", src_ip_ranges=ranges))
    return block(
        "resource", "google_compute_security_policy", "origin", project=var("project_id"),
        name=naming.origin_security_policy(env.plan, env.environment),
        description="Only Cloud CDN reaches the platform Gateway",
        rule=[
            # Log4Shell probes are refused even where no edge WAF was asked for.
            block("rule", action="deny(403)", priority=900,
                  description="Preconfigured WAF rule cve-canary",
                  match=block("match", expr=block(
                      "expr", expression="evaluatePreconfiguredWaf('cve-canary')"))),
            block("rule", action="allow", priority=1000,
                  description="Google's front ends towards internet NEG backends (Cloud CDN)",
                  match=source(list(gcp.INTERNET_NEG_RANGES))),
            block("rule", action="deny(403)", priority=2147483647,
                  description="Default: nothing else reaches the origin", match=source(["*"])),
        ])
