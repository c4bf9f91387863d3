"""load_balancer on AWS: ACM certificates for the gateway ALBs of each region (DNS-validated in
the zone, so they renew unattended), one for the pull-request previews' wildcard where they run,
and, for a global load balancer, an AWS Global Accelerator.

The ALBs themselves belong to the AWS Load Balancer Controller (Gateway API). The accelerator's
endpoint group in each region lists the ALBs that controller created for the region's cluster
(found by the `elbv2.k8s.aws/cluster` tag it puts on them): the first apply, before the GitOps
bootstrap, creates an accelerator without endpoints; applying the edge layer again afterwards
attaches them. A standby region's endpoint group takes no traffic until `failover` is set.
"""

from __future__ import annotations

from kubeplan.blocks.load_balancer.previews import preview_region, preview_wildcard
from kubeplan.render.terraform import aws, roots
from kubeplan.render.terraform.hcl import Block, Expr, Value, block, call, ref, template, var
from kubeplan.render.terraform.model import (
    Contribution,
    Output,
    TerraformEnv,
    Variable,
    slug,
)
from kubeplan.render.terraform.shared import has_zone

LAYER = "edge"
FILE = "load-balancer"
# The tag the AWS Load Balancer Controller puts on every load balancer it creates.
CONTROLLER_TAG = "elbv2.k8s.aws/cluster"
# Flow logs are kept a year (the usual audit horizon), then expire.
FLOW_LOG_DAYS = 365
PREVIEWS = "gateway_previews"
FAILOVER = Variable(
    "failover", "bool",
    "Send traffic to the standby region (set true during a regional failover, false after).",
    default=False)


def contribute(env: TerraformEnv, choice: str) -> list[Contribution]:
    if not has_zone(env):
        return []
    blocks: list[Block] = []
    certificates: dict[str, Value] = {}
    for region in env.regions:
        name = f"gateway_{slug(region)}"
        blocks += aws.acm_certificate(env, name, region)
        certificates[region] = ref(f"aws_acm_certificate_validation.{name}.certificate_arn")
    outputs = [Output("gateway_certificates", certificates,
                      "ACM certificate per region for the gateway ALBs.")]
    previews = preview_wildcard(env)
    if previews:
        blocks += _preview_certificate(env, previews, preview_region(env))
        outputs.append(Output("preview_certificate",
                              ref(f"aws_acm_certificate_validation.{PREVIEWS}.certificate_arn"),
                              f"ACM certificate for {previews} (the preview listener's)."))
    gitops: dict[str, Value] = {f"gateway.certificate-arn.{r}": v
                                for r, v in certificates.items()}
    variables: tuple[Variable, ...] = ()
    notes: tuple[str, ...] = ()
    if choice == "global":
        blocks += _accelerator(env)
        variables = (FAILOVER,) if any(c.role == "standby" for c in env.clusters) else ()
        outputs += [Output("accelerator_dns_name",
                           ref("aws_globalaccelerator_accelerator.gateway.dns_name"),
                           "DNS name of the Global Accelerator."),
                    Output("accelerator_addresses", Expr(
                        "aws_globalaccelerator_accelerator.gateway.ip_sets[0].ip_addresses"),
                           "The two static anycast addresses of the platform.")]
        gitops["gateway.accelerator-dns-name"] = ref(
            "aws_globalaccelerator_accelerator.gateway.dns_name")
        notes = ("AWS: apply each environment's edge layer again after the GitOps bootstrap, "
                 "so the Global Accelerator attaches the gateway ALBs the AWS Load Balancer "
                 "Controller created.",)
        if env.choice("cdn") != "provider":
            blocks += aws.alias_records(env, "aws_globalaccelerator_accelerator.gateway.dns_name",
                                   "aws_globalaccelerator_accelerator.gateway.hosted_zone_id",
                                   "gateway")
    return [Contribution(LAYER, FILE, tuple(blocks), variables=variables,
                         outputs=tuple(outputs), gitops=gitops, notes=notes)]


def _preview_certificate(env: TerraformEnv, name: str, region: str) -> list[Block]:
    """An ACM certificate for the previews' wildcard in the region of the cluster that runs
    them, validated in the zone. The ALB controller attaches it by the preview listener's
    hostname, beside the zone's certificate (SNI picks one per request)."""
    return aws.acm_certificate(
        env, PREVIEWS, region, domain=name,
        skip="checkov:skip=CKV2_AWS_71:every open pull request gets its own preview host; a "
             "wildcard avoids a certificate per pull request, and the key never leaves ACM")


def _flow_logs(env: TerraformEnv) -> list[Block]:
    """A bucket for the accelerator's flow logs, written by the log delivery service only."""
    region = env.primary_region
    delivery = {"Service": "delivery.logs.amazonaws.com"}
    bucket_arn = template("arn:aws:s3:::", flow_log_bucket(env))
    policy = call("jsonencode", {"Version": "2012-10-17", "Statement": [
        {"Sid": "LogDeliveryWrite", "Effect": "Allow", "Principal": delivery,
         "Action": "s3:PutObject", "Resource": template(bucket_arn, "/*"),
         "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control",
                                        "aws:SourceAccount": var("aws_account_id")}}},
        {"Sid": "LogDeliveryAclCheck", "Effect": "Allow", "Principal": delivery,
         "Action": "s3:GetBucketAcl", "Resource": bucket_arn,
         "Condition": {"StringEquals": {"aws:SourceAccount": var("aws_account_id")}}},
    ]})
    key = aws.kms_key("edge_logs", "Edge flow logs", region, {
        "Sid": "LogDelivery", "Effect": "Allow", "Principal": delivery,
        "Action": ["kms:GenerateDataKey*", "kms:Decrypt"], "Resource": "*"})
    bucket = aws.s3_bucket(env, "flow_logs", flow_log_bucket(env), region,
                           aws.key_arn("edge_logs"), expire_days=FLOW_LOG_DAYS, versioned=False,
                           extra={"attach_policy": True, "policy": policy})
    return [*key, bucket]


def flow_log_bucket(env: TerraformEnv) -> str:
    return f"{env.prefix}-edge-logs-{roots.suffix(env.plan)}"


def _accelerator(env: TerraformEnv) -> list[Block]:
    blocks: list[Block] = [
        *_flow_logs(env),
        block("resource", "aws_globalaccelerator_accelerator", "gateway",
              name=f"{env.prefix}-gateway", ip_address_type="IPV4", enabled=True,
              attributes=block("attributes", flow_logs_enabled=True,
                               flow_logs_s3_bucket=ref("module.flow_logs.s3_bucket_id"),
                               flow_logs_s3_prefix="global-accelerator/"),
              tags=env.labels),
        block("resource", "aws_globalaccelerator_listener", "https",
              accelerator_arn=ref("aws_globalaccelerator_accelerator.gateway.id"),
              protocol="TCP", client_affinity="NONE",
              port_range=[block("port_range", from_port=443, to_port=443),
                          block("port_range", from_port=80, to_port=80)]),
    ]
    for cluster in env.clusters:
        name = slug(cluster.name)
        blocks.append(block("data", "aws_lbs", f"gateway_{name}", region=cluster.region,
                            tags={CONTROLLER_TAG: env.cluster_name(cluster)}))
        dial: Value = 100
        if cluster.role == "standby":
            dial = Expr("var.failover ? 100 : 0")
        blocks.append(block(
            "resource", "aws_globalaccelerator_endpoint_group", name,
            listener_arn=ref("aws_globalaccelerator_listener.https.id"),
            endpoint_group_region=cluster.region, traffic_dial_percentage=dial,
            health_check_protocol="TCP", health_check_port=443,
            health_check_interval_seconds=10, threshold_count=3,
            dynamic=block("dynamic", "endpoint_configuration",
                          for_each=ref(f"data.aws_lbs.gateway_{name}.arns"),
                          content=block("content",
                                        endpoint_id=Expr("endpoint_configuration.value"),
                                        client_ip_preservation_enabled=True, weight=100))))
    return blocks
