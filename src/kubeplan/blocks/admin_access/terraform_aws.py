"""admin_access on AWS: an access host per region, in the environment's VPC.

identity-aware-proxy: Session Manager only; the host sits in a private subnet, has no inbound
rule and no SSH key, and operators port-forward to the private EKS endpoint through it (IAM
decides who may start a session). With session recording, sessions are logged to an encrypted
CloudWatch log group. bastion: the host sits in a public subnet behind a security group that
admits SSH from `admin_cidrs` only, and has no key pair: EC2 Instance Connect pushes a
short-lived key per session.

vpn: an AWS Client VPN endpoint per region, in that region's VPC. Administrators sign in
through the corporate IdP (SAML federation, re-authenticated every 8 hours), and one
authorisation rule per IdP group admits them to the VPC's primary range only: the EKS
control-plane interfaces and the VPC resolver. Split tunnel pushes that range alone, so the
rest of an operator's traffic never crosses the VPC. The endpoint's security group lets VPN
traffic reach the Kubernetes API (443) and DNS, nothing else (no SSH to nodes), and the EKS
clusters admit it on 443. Every connection is logged to a KMS-encrypted CloudWatch log group.
"""

from __future__ import annotations

import json
from ipaddress import IPv4Network

from kubeplan.render.terraform import aws
from kubeplan.render.terraform.hcl import Block, Expr, Value, block, call, ref, template, var
from kubeplan.render.terraform.model import (
    Contribution,
    Output,
    TerraformEnv,
    Validation,
    Variable,
    module_block,
    slug,
)
from kubeplan.render.terraform.roots import ADMIN_CIDRS

LAYER = "access"
FILE = "access"
INSTANCE_TYPE = "t3.micro"
AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
SESSION_LOG_DAYS = 365
# Client VPN: operators re-authenticate with the IdP at least every 8 hours (the shortest
# session AWS offers), and a session that times out is dropped, not silently renewed.
VPN_SESSION_HOURS = 8
# AWS Client VPN's TLS port: reachable from networks that only let HTTPS out.
VPN_PORT = 443
# Zones whose control-plane subnets carry a Client VPN association: all of them in production
# (a zone's loss keeps the admin path), one elsewhere (each association is billed per hour).
VPN_ZONES_PRODUCTION = 3
VPN_SAML_PROVIDER = Variable(
    "vpn_saml_provider_arn", "string",
    "IAM SAML identity provider of the corporate IdP's Client VPN application: administrators "
    "sign in to the Client VPN through it. The application must send the user's groups in the "
    "`memberOf` attribute (the authorisation rules match them).",
    validations=(Validation(
        'can(regex("^arn:aws:iam::[0-9]{12}:saml-provider/[A-Za-z0-9._-]+$", '
        "var.vpn_saml_provider_arn))",
        "vpn_saml_provider_arn must be an IAM SAML provider ARN "
        "(arn:aws:iam::<account>:saml-provider/<name>)."),))
VPN_ADMIN_GROUPS = Variable(
    "vpn_admin_group_ids", "list(string)",
    "IdP group IDs (as the SAML assertion's `memberOf` attribute carries them) of the "
    "administrators allowed through the Client VPN; members of other groups connect to nothing.",
    validations=(
        Validation("length(var.vpn_admin_group_ids) > 0",
                   "vpn_admin_group_ids must name at least one group."),
        Validation('alltrue([for g in var.vpn_admin_group_ids : trimspace(g) != ""])',
                   "vpn_admin_group_ids entries must not be empty.")))


def contribute(env: TerraformEnv, choice: str) -> list[Contribution]:
    if choice == "vpn":
        return [_client_vpn(env)]
    if choice not in ("identity-aware-proxy", "bastion"):
        return []
    bastion = choice == "bastion"
    blocks: list[Block] = []
    groups: dict[str, Value] = {}
    hosts: dict[str, Value] = {}
    addresses: dict[str, Value] = {}
    for region in env.regions:
        kind = "bastion" if bastion else "access"
        host = f"{kind}_{slug(region)}"
        args: dict[str, Value] = {
            "name": f"{env.prefix}-{kind}-{region}",
            "region": region,
            "instance_type": INSTANCE_TYPE,
            "ami_ssm_parameter": AMI_PARAMETER,
            "monitoring": True,
            "ebs_optimized": True,
            "disable_api_termination": True,
            "metadata_options": {"http_endpoint": "enabled", "http_tokens": "required",
                                 "http_put_response_hop_limit": 1},
            "root_block_device": {"encrypted": True, "type": "gp3", "size": 20,
                                  "delete_on_termination": True},
            "create_iam_instance_profile": True,
            "iam_role_description": "Access host: Systems Manager only",
            "iam_role_policies": {"ssm": "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"},
            "tags": env.labels,
        }
        if bastion:
            group = f"bastion_ssh_{slug(region)}"
            blocks.append(module_block(group, "aws-security-group", {
                "name": f"{env.prefix}-bastion-{region}",
                "description": "SSH to the bastion from the operators' networks only",
                "vpc_id": env.remote("network", "vpc_ids").index(region),
                "ingress_cidr_blocks": ref("var.admin_cidrs"),
                "ingress_rules": ["ssh-tcp"],
                "egress_rules": ["https-443-tcp"],
                "tags": env.labels,
            }))
            args |= {
                "subnet_id": env.remote("network", "public_subnets").index(region).index(0),
                "associate_public_ip_address": True,
                "create_security_group": False,
                "vpc_security_group_ids": [ref(f"module.{group}.security_group_id")],
            }
            groups[region] = ref(f"module.{group}.security_group_id")
            addresses[region] = ref(f"module.{host}.public_ip")
        else:
            args |= {
                "subnet_id": env.remote("network", "control_plane_subnets").index(region)
                .index(0),
                "associate_public_ip_address": False,
                "create_security_group": True,
                "security_group_vpc_id": env.remote("network", "vpc_ids").index(region),
                "security_group_ingress_rules": {},
                "security_group_egress_rules": {"https": {
                    "cidr_ipv4": "0.0.0.0/0", "ip_protocol": "tcp", "from_port": 443,
                    "to_port": 443,
                    "description": "Systems Manager endpoints and the EKS API"}},
            }
            groups[region] = ref(f"module.{host}.security_group_id")
        blocks.append(module_block(host, "aws-ec2-instance", args))
        hosts[region] = ref(f"module.{host}.id")
    if env.param("admin_access", "sessionRecording"):
        blocks += _session_logs(env)
    outputs = [Output("access_security_groups", groups,
                      "Security group of the access host per region (the EKS API admits it)."),
               Output("access_hosts", hosts, "Access host instance per region.")]
    if addresses:
        outputs.append(Output("bastion_addresses", addresses, "Public IP of each bastion."))
    return [Contribution(LAYER, FILE, tuple(blocks),
                         variables=(ADMIN_CIDRS,) if bastion else (), outputs=tuple(outputs))]


def _session_logs(env: TerraformEnv) -> list[Block]:
    """Every Session Manager session's input and output, in an encrypted log group."""
    region = env.primary_region
    blocks = aws.kms_key("sessions", "Session Manager session logs", region, {
        "Sid": "CloudWatchLogs", "Effect": "Allow",
        "Principal": {"Service": f"logs.{region}.amazonaws.com"},
        "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                   "kms:Describe*"],
        "Resource": "*"})
    blocks.append(block("resource", "aws_cloudwatch_log_group", "sessions", region=region,
                        name=f"/kubeplan/{env.prefix}/sessions",
                        retention_in_days=SESSION_LOG_DAYS, kms_key_id=aws.key_arn("sessions")))
    blocks.append(block(
        "resource", "aws_ssm_document", "session_preferences", region=region,
        name="SSM-SessionManagerRunShell", document_type="Session", document_format="JSON",
        content=call("jsonencode", {
            "schemaVersion": "1.0",
            "description": "Session Manager preferences: every session is logged",
            "sessionType": "Standard_Stream",
            "inputs": {"cloudWatchLogGroupName": ref("aws_cloudwatch_log_group.sessions.name"),
                       "cloudWatchEncryptionEnabled": True, "cloudWatchStreamingEnabled": True,
                       "kmsKeyId": aws.key_arn("sessions"), "idleSessionTimeout": "20"}})))
    return blocks


def _server_certificates(env: TerraformEnv) -> Variable:
    """ACM certificates are regional, so each region's endpoint needs its own."""
    regions = json.dumps(list(env.regions))
    return Variable(
        "vpn_server_certificate_arns", "map(string)",
        "ACM certificate ARN of each region's Client VPN endpoint (the server certificate the "
        "VPN client verifies), keyed by region; ACM certificates are regional.",
        validations=(Validation(
            f"alltrue([for r in {regions} : can(regex("
            '"^arn:aws:acm:${r}:[0-9]{12}:certificate/[0-9a-f-]+$", '
            "var.vpn_server_certificate_arns[r]))])",
            f"vpn_server_certificate_arns needs an ACM certificate ARN for each of "
            f"{', '.join(env.regions)}, issued in that region."),))


def _client_vpn(env: TerraformEnv) -> Contribution:
    zones = VPN_ZONES_PRODUCTION if env.production else 1
    blocks: list[Block] = []
    groups: dict[str, Value] = {}
    endpoints: dict[str, Value] = {}
    for region in env.regions:
        r = slug(region)
        primary = env.network("node", region)
        # The VPC resolver (the primary range's base + 2): it answers for the EKS private
        # endpoint's private hosted zone.
        resolver = str(IPv4Network(primary)[2])
        log_group = f"/kubeplan/{env.prefix}/client-vpn/{region}"
        key = f"vpn_logs_{r}"
        blocks += aws.kms_key(key, f"Client VPN connection logs in {region}", region, {
            "Sid": "CloudWatchLogs", "Effect": "Allow",
            "Principal": {"Service": f"logs.{region}.amazonaws.com"},
            "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                       "kms:Describe*"],
            "Resource": "*",
            "Condition": {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": template(
                f"arn:aws:logs:{region}:", var("aws_account_id"), f":log-group:{log_group}")}}})
        blocks.append(block("resource", "aws_cloudwatch_log_group", f"vpn_{r}", region=region,
                            name=log_group, retention_in_days=SESSION_LOG_DAYS,
                            kms_key_id=aws.key_arn(key)))
        group = f"vpn_{r}"
        blocks.append(block(
            "resource", "aws_security_group", group, region=region,
            name=f"{env.prefix}-client-vpn-{region}",
            description="Client VPN: administrators reach the Kubernetes API and DNS only",
            vpc_id=env.remote("network", "vpc_ids").index(region), tags=env.labels))
        rules: list[tuple[str, str, int, str, str]] = [
            ("api", "tcp", 443, primary, "Kubernetes API (private EKS endpoint)"),
            ("dns_udp", "udp", 53, f"{resolver}/32", "VPC resolver"),
            ("dns_tcp", "tcp", 53, f"{resolver}/32", "VPC resolver (large answers)"),
        ]
        for name, protocol, port, cidr, description in rules:
            blocks.append(block("resource", "aws_vpc_security_group_egress_rule",
                                f"vpn_{r}_{name}", region=region,
                                security_group_id=ref(f"aws_security_group.{group}.id"),
                                ip_protocol=protocol, from_port=port, to_port=port,
                                cidr_ipv4=cidr, description=description, tags=env.labels))
        endpoint = f"aws_ec2_client_vpn_endpoint.{r}"
        blocks.append(block(
            "resource", "aws_ec2_client_vpn_endpoint", r, region=region,
            description=f"{env.prefix} administrators ({region})",
            client_cidr_block=str(env.param("admin_access", f"vpnClientCidr.{region}")),
            server_certificate_arn=var("vpn_server_certificate_arns").index(region),
            vpc_id=env.remote("network", "vpc_ids").index(region),
            security_group_ids=[ref(f"aws_security_group.{group}.id")],
            dns_servers=[resolver], split_tunnel=True, transport_protocol="udp",
            vpn_port=VPN_PORT, self_service_portal="disabled",
            session_timeout_hours=VPN_SESSION_HOURS, disconnect_on_session_timeout=True,
            authentication_options=block(
                "authentication_options", type="federated-authentication",
                saml_provider_arn=var("vpn_saml_provider_arn")),
            connection_log_options=block(
                "connection_log_options", enabled=True,
                cloudwatch_log_group=ref(f"aws_cloudwatch_log_group.vpn_{r}.name")),
            client_login_banner_options=block(
                "client_login_banner_options", enabled=True,
                banner_text=f"{env.prefix}: authorised administrators only. Every connection "
                            "is logged."),
            # Clients keep the pushed routes: nothing local may redirect the VPC's range.
            client_route_enforcement_options=block("client_route_enforcement_options",
                                                   enforced=True),
            tags={**env.labels, "Name": f"{env.prefix}-{region}"}))
        subnets = env.remote("network", "control_plane_subnets").index(region)
        blocks.append(block("resource", "aws_ec2_client_vpn_network_association", r,
                            count=zones, region=region,
                            client_vpn_endpoint_id=ref(f"{endpoint}.id"),
                            subnet_id=Expr(f"{subnets.text}[count.index]")))
        blocks.append(block("resource", "aws_ec2_client_vpn_authorization_rule", r,
                            for_each=call("toset", var("vpn_admin_group_ids")), region=region,
                            client_vpn_endpoint_id=ref(f"{endpoint}.id"),
                            target_network_cidr=primary, access_group_id=Expr("each.value"),
                            authorize_all_groups=False,
                            description="Administrators: the VPC's primary range"))
        groups[region] = ref(f"aws_security_group.{group}.id")
        endpoints[region] = ref(f"{endpoint}.id")
    outputs = (
        Output("access_security_groups", groups,
               "Security group of the Client VPN per region (the EKS API admits it)."),
        Output("vpn_endpoints", endpoints, "Client VPN endpoint per region."),
    )
    note = ("AWS Client VPN: export each region's client configuration "
            "(`aws ec2 export-client-vpn-client-configuration --client-vpn-endpoint-id <id>`, "
            "the ids are the access layer's `vpn_endpoints` output) and hand it to the "
            "administrators; they connect with the AWS-provided client (5.2 or later, for "
            "route enforcement), which signs them in through the IdP.")
    return Contribution(LAYER, FILE, tuple(blocks),
                        variables=(VPN_SAML_PROVIDER, VPN_ADMIN_GROUPS,
                                   _server_certificates(env)),
                        outputs=outputs, notes=(note,))
