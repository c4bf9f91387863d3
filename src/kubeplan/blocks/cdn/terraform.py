"""cdn -> Terraform `edge` layer, for the provider's CDN.

AWS: a CloudFront distribution (terraform-aws-modules/cloudfront) for the zone, its origin the
gateway behind `origin.<zone>` (the Global Accelerator, or the regional gateway's record that
external-dns keeps), TLS 1.2+ with an ACM certificate in us-east-1, caching only what the origin
marks cacheable (Cache-Control), and with DDoS protection asked, an AWS WAF web ACL (managed
rule groups including Log4j signatures, a per-IP rate limit, logged). Azure: Azure Front Door
(rendered with the load balancer, which it is on Azure). GCP: Cloud CDN is a property of the
Gateway's backends (GCPBackendPolicy in the GitOps tree), so nothing here. Third-party CDNs
(Cloudflare) are configured in their own account: not rendered.
"""

from __future__ import annotations

from kubeplan.render.terraform import aws
from kubeplan.render.terraform.hcl import Block, Value, block, ref
from kubeplan.render.terraform.model import Contribution, Output, TerraformEnv
from kubeplan.render.terraform.shared import has_zone, protect

LAYER = "edge"
FILE = "cdn"
CLOUDFRONT_REGION = "us-east-1"
ORIGIN_HOST = "origin"
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
    if env.choice("cdn") != "provider" or env.provider != "aws" or not has_zone(env):
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
