"""admin_access on AWS: an access host per region, in the environment's VPC.

identity-aware-proxy: Session Manager only; the host sits in a private subnet, has no inbound
rule and no SSH key, and operators port-forward to the private EKS endpoint through it (IAM
decides who may start a session). With session recording, sessions are logged to an encrypted
CloudWatch log group. bastion: the host sits in a public subnet behind a security group that
admits SSH from `admin_cidrs` only, and has no key pair: EC2 Instance Connect pushes a
short-lived key per session.
"""

from __future__ import annotations

from kubeplan.render.terraform import aws
from kubeplan.render.terraform.hcl import Block, Value, block, call, ref
from kubeplan.render.terraform.model import Contribution, Output, TerraformEnv, module_block, slug
from kubeplan.render.terraform.roots import ADMIN_CIDRS

LAYER = "access"
FILE = "access"
INSTANCE_TYPE = "t3.micro"
AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
SESSION_LOG_DAYS = 365


def contribute(env: TerraformEnv, choice: str) -> list[Contribution]:
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
