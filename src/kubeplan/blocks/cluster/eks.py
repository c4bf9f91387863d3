"""EKS clusters (terraform-aws-modules/eks): private endpoint (or allow-listed), access entries
instead of the aws-auth ConfigMap, secrets encrypted with a KMS key the module creates and
rotates, control-plane logs kept a year, managed node groups on encrypted gp3 volumes with IMDSv2
only, and the EKS add-ons (EKS Pod Identity agent, VPC CNI with network policy, EBS CSI with its
own Pod Identity role and a customer-managed key, snapshot controller, EFS CSI for shared file
systems). Workloads get AWS credentials through EKS Pod Identity only, so the clusters have no
IAM OIDC provider (no IRSA).
"""

from __future__ import annotations

from kubeplan.render import mirrors, naming
from kubeplan.render.terraform import aws
from kubeplan.render.terraform import aws_policies as policies
from kubeplan.render.terraform.hcl import Block, Value, block, call, ref, template, var
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

LAYER = "cluster"
FILE = "cluster"
# 4 vCPU / 16 GiB, the same shape as the GKE and AKS pools.
INSTANCE_TYPE = "m6i.xlarge"
ZONES = 3
LOG_RETENTION_DAYS = 365
# The controller ServiceAccounts the EKS CSI add-ons create in kube-system.
EBS_CSI_ACCOUNT = "ebs-csi-controller-sa"
EFS_CSI_ACCOUNT = "efs-csi-controller-sa"
ADMIN_ROLE = Variable(
    "admin_role_arn", "string",
    "IAM role the platform administrators assume; it gets cluster-admin through an EKS access "
    "entry (no aws-auth ConfigMap, no cluster-creator admin).",
    validations=(Validation('can(regex("^arn:aws:iam::[0-9]{12}:role/.+$", var.admin_role_arn))',
                            "admin_role_arn must be an IAM role ARN."),))
# The Auto Scaling service-linked role launches nodes with volumes encrypted by the disk key.
AUTOSCALING_ROLE = template(
    "arn:aws:iam::", var("aws_account_id"),
    ":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling")


def disk_key(region: str) -> str:
    return f"disks_{slug(region)}"


def contribute(env: TerraformEnv, max_nodes: int) -> Contribution:
    private = env.param("network", "controlPlaneEndpoint") == "private"
    # The access layer's security group per region: the access host's, or the Client VPN's.
    access_hosts = env.choice("admin_access") in ("identity-aware-proxy", "bastion", "vpn")
    shared_fs = bool(env.plan.inputs.get("workloads", {}).get("sharedFilesystem"))
    snapshots = bool(env.param("backup", "snapshotVolumes", False))
    blocks: list[Block] = []
    mirror = env.choice("registry") == "provider" and mirrors.enabled(env.plan)
    if mirror:
        blocks.append(_mirror_policy(env))
    for region in env.regions:
        blocks += aws.kms_key(disk_key(region), f"Node and persistent volumes in {region}",
                              region, {
                                  "Sid": "AutoScalingUse", "Effect": "Allow",
                                  "Principal": {"AWS": AUTOSCALING_ROLE},
                                  "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*",
                                             "kms:GenerateDataKey*", "kms:DescribeKey",
                                             "kms:CreateGrant"],
                                  "Resource": "*"})
        # The GitOps tree's StorageClass refers to the key by this alias (kmsKeyId).
        blocks.append(block("resource", "aws_kms_alias", disk_key(region), region=region,
                            name=f"alias/{naming.disk_encryption_key(env.plan, env.environment)}",
                            target_key_id=aws.key_arn(disk_key(region))))
    names: dict[str, Value] = {}
    node_groups: dict[str, Value] = {}
    cluster_groups: dict[str, Value] = {}
    variables = [ADMIN_ROLE]
    if not private:
        variables.append(ADMIN_CIDRS)
    for cluster in env.clusters:
        region = cluster.region
        module = f"eks_{slug(cluster.name)}"
        csi = f"ebs_csi_{slug(cluster.name)}"
        addons: dict[str, Value] = {
            # Before the nodes, so add-on and workload pods find it when they first start.
            "eks-pod-identity-agent": {"before_compute": True},
            "coredns": {},
            "kube-proxy": {},
            "vpc-cni": {"before_compute": True,
                        "configuration_values": call("jsonencode",
                                                     {"enableNetworkPolicy": "true"})},
            "aws-ebs-csi-driver": {"pod_identity_association": [{
                "role_arn": ref("aws_iam_role", csi, "arn"),
                "service_account": EBS_CSI_ACCOUNT}]},
        }
        if snapshots:
            addons["snapshot-controller"] = {}
        blocks += aws.pod_identity_role(
            env, csi, f"{env.cluster_name(cluster)}-ebs-csi",
            f"EBS CSI driver of {env.cluster_name(cluster)} (EKS Pod Identity)",
            clusters=[env.cluster_name(cluster)], namespace="kube-system",
            service_account=EBS_CSI_ACCOUNT,
            statements=policies.disk_key([aws.key_arn(disk_key(region))]),
            managed=[policies.EBS_CSI_POLICY])
        if shared_fs:
            efs = f"efs_csi_{slug(cluster.name)}"
            addons["aws-efs-csi-driver"] = {"pod_identity_association": [{
                "role_arn": ref("aws_iam_role", efs, "arn"),
                "service_account": EFS_CSI_ACCOUNT}]}
            blocks += aws.pod_identity_role(
                env, efs, f"{env.cluster_name(cluster)}-efs-csi",
                f"EFS CSI driver of {env.cluster_name(cluster)} (EKS Pod Identity)",
                clusters=[env.cluster_name(cluster)], namespace="kube-system",
                service_account=EFS_CSI_ACCOUNT, statements=[],
                managed=[policies.EFS_CSI_POLICY])
        args: dict[str, Value] = {
            "name": env.cluster_name(cluster),
            "kubernetes_version": str(env.param("cluster", "kubernetesVersion")),
            "region": region,
            "vpc_id": env.remote("network", "vpc_ids").index(region),
            "subnet_ids": env.remote("network", "worker_subnets").index(region),
            "control_plane_subnet_ids": env.remote("network", "control_plane_subnets")
            .index(region),
            "endpoint_private_access": True,
            "endpoint_public_access": not private,
            "authentication_mode": "API",
            "enable_cluster_creator_admin_permissions": False,
            "access_entries": {"administrators": {
                "principal_arn": var("admin_role_arn"),
                "policy_associations": {"cluster_admin": {
                    "policy_arn": "arn:aws:eks::aws:cluster-access-policy/"
                                  "AmazonEKSClusterAdminPolicy",
                    "access_scope": {"type": "cluster"}}}}},
            "create_kms_key": True,
            "enable_kms_key_rotation": True,
            "kms_key_deletion_window_in_days": aws.KEY_DELETION_DAYS,
            "encryption_config": {"resources": ["secrets"]},
            "enabled_log_types": ["api", "audit", "authenticator", "controllerManager",
                                  "scheduler"],
            "cloudwatch_log_group_retention_in_days": LOG_RETENTION_DAYS,
            "enable_irsa": False,
            "deletion_protection": True,
            "upgrade_policy": {"support_type": "STANDARD"},
            "zonal_shift_config": {"enabled": True},
            "addons": addons,
            "eks_managed_node_groups": {"general": {
                "ami_type": "AL2023_x86_64_STANDARD",
                "instance_types": [INSTANCE_TYPE],
                "min_size": ZONES if env.production else 1,
                "desired_size": ZONES if env.production else 1,
                "max_size": max_nodes * ZONES,
                "metadata_options": {"http_endpoint": "enabled", "http_tokens": "required",
                                     "http_put_response_hop_limit": 1},
                "block_device_mappings": {"root": {
                    "device_name": "/dev/xvda",
                    "ebs": {"volume_size": 100, "volume_type": "gp3", "encrypted": True,
                            "kms_key_id": aws.key_arn(disk_key(region)),
                            "delete_on_termination": True}}},
                "labels": {"kubeplan.dev/pool": "general"},
                **({"iam_role_additional_policies": {
                    "image_mirror": ref("aws_iam_policy.image_mirror.arn")}} if mirror else {}),
            }},
            "tags": env.labels,
        }
        if not private:
            args["endpoint_public_access_cidrs"] = var("admin_cidrs")
        if access_hosts:
            args["security_group_additional_rules"] = {"admin_access": {
                "type": "ingress", "protocol": "tcp", "from_port": 443, "to_port": 443,
                "description": "Kubernetes API from the operators' access path",
                "source_security_group_id": env.remote("access", "access_security_groups")
                .index(region)}}
        blocks.append(module_block(module, "aws-eks", args))
        names[cluster.name] = ref(f"module.{module}.cluster_name")
        node_groups[cluster.name] = ref(f"module.{module}.node_security_group_id")
        cluster_groups[cluster.name] = ref(f"module.{module}.cluster_security_group_id")
    outputs = (
        Output("cluster_names", names, "EKS cluster name per topology cluster."),
        Output("node_security_groups", node_groups, "Node security group per cluster."),
        Output("cluster_security_groups", cluster_groups,
               "Control-plane security group per cluster."),
        Output("disk_kms_keys", {r: aws.key_arn(disk_key(r)) for r in env.regions},
               "KMS key per region for EBS volumes (StorageClass kmsKeyId)."),
    )
    gitops: dict[str, Value] = {f"storage.disk-kms-key.{r}": aws.key_arn(disk_key(r))
                                for r in env.regions}
    return Contribution(LAYER, FILE, tuple(blocks), variables=tuple(variables),
                        outputs=outputs, gitops=gitops)


def _mirror_policy(env: TerraformEnv) -> Block:
    """The nodes pull public images through the registry's pull-through caches: the first pull
    of an image creates its cached repository and imports it, which the managed read-only
    policy does not allow. Only under the environment's cache prefix."""
    cached = template("arn:aws:ecr:*:", var("aws_account_id"),
                      f":repository/{mirrors.ecr_prefix(env.prefix)}/*")
    return block("resource", "aws_iam_policy", "image_mirror",
                 name=f"{env.prefix}-nodes-image-mirror",
                 description="Nodes fill the pull-through image caches on first pull",
                 policy=call("jsonencode", {"Version": "2012-10-17", "Statement": [{
                     "Sid": "PullThroughCache", "Effect": "Allow",
                     "Action": ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"],
                     "Resource": [cached]}]}),
                 tags=env.labels)
