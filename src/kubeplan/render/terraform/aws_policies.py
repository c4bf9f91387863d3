"""Least-privilege IAM statements of the AWS add-on identities (EKS Pod Identity roles).

They follow the policies each project publishes (external-dns's AWS tutorial, cert-manager's
Route 53 DNS-01 guide, the External Secrets provider docs, velero-plugin-for-aws, the AWS Load
Balancer Controller's `iam_policy.json`), narrowed to the resources kubeplan creates. They are
plain statements rather than the iam-role-for-service-accounts module's `attach_*_policy`
switches because that module only writes OIDC (IRSA) trust policies.
"""

from __future__ import annotations

from collections.abc import Sequence

from kubeplan.render.terraform.hcl import Expr, Value, template

# AWS-managed policies the EKS CSI add-ons are documented with (kept current by AWS).
EBS_CSI_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
EFS_CSI_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEFSCSIDriverPolicy"
_LB_TAG = "elbv2.k8s.aws/cluster"
_LB_WHY = ("the AWS Load Balancer Controller creates the load balancers, listeners, target "
           "groups and security groups it then manages, so their ARNs are unknown beforehand; "
           "its published policy limits writes to resources carrying its cluster tag where the "
           "API supports tag conditions")
LOAD_BALANCER_CONTROLLER_SKIPS = (f"checkov:skip=CKV_AWS_290:{_LB_WHY}",
                                  f"checkov:skip=CKV_AWS_355:{_LB_WHY}")


def statement(sid: str, actions: Sequence[str], resources: Sequence[Value] | str,
              condition: dict[str, Value] | None = None) -> dict[str, Value]:
    out: dict[str, Value] = {"Sid": sid, "Effect": "Allow", "Action": list(actions),
                             "Resource": resources if isinstance(resources, str)
                             else list(resources)}
    if condition:
        out["Condition"] = condition
    return out


def external_dns(zones: Sequence[Value]) -> list[dict[str, Value]]:
    """Change records in the environment's zone only; list (not resource-scoped) everywhere."""
    return [
        statement("ChangeRecords", ["route53:ChangeResourceRecordSets",
                                    "route53:ListResourceRecordSets",
                                    "route53:ListTagsForResources"], zones),
        statement("ListZones", ["route53:ListHostedZones"], "*"),
    ]


def cert_manager(zones: Sequence[Value]) -> list[dict[str, Value]]:
    """DNS-01 challenges in the environment's zone only."""
    return [
        statement("GetChange", ["route53:GetChange"], ["arn:aws:route53:::change/*"]),
        statement("ChangeRecords", ["route53:ChangeResourceRecordSets",
                                    "route53:ListResourceRecordSets"], zones),
        statement("FindZone", ["route53:ListHostedZonesByName"], "*"),
    ]


def external_secrets(secrets: Sequence[Value]) -> list[dict[str, Value]]:
    """Read the environment's Secrets Manager secrets; no SSM parameters, no writes."""
    return [
        statement("ReadSecrets", ["secretsmanager:GetResourcePolicy",
                                  "secretsmanager:GetSecretValue",
                                  "secretsmanager:DescribeSecret",
                                  "secretsmanager:ListSecretVersionIds"], secrets),
        # Listing is not resource-scoped; values still need GetSecretValue above.
        statement("ListSecrets", ["secretsmanager:ListSecrets",
                                  "secretsmanager:BatchGetSecretValue"], "*"),
    ]


def objects(bucket: Expr, key: Expr) -> list[dict[str, Value]]:
    """List the bucket, read/write/delete its objects, use its key: nothing more."""
    return [
        statement("ListBucket", ["s3:ListBucket", "s3:GetBucketLocation"], [bucket]),
        statement("Objects", ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                  [template(bucket, "/*")]),
        statement("Key", ["kms:Decrypt", "kms:GenerateDataKey"], [key]),
    ]


def velero(bucket: Expr, key: Expr, account: Expr) -> list[dict[str, Value]]:
    """EBS snapshots of the account's volumes, and its own bucket and key."""
    volumes = template("arn:aws:ec2:*:", account, ":volume/*")
    snapshots = "arn:aws:ec2:*::snapshot/*"  # snapshot ARNs carry no account
    return [
        statement("Describe", ["ec2:DescribeVolumes", "ec2:DescribeSnapshots"], "*"),
        statement("Snapshots", ["ec2:CreateSnapshot", "ec2:CreateVolume", "ec2:CreateTags"],
                  [volumes, snapshots]),
        statement("DeleteSnapshots", ["ec2:DeleteSnapshot"], [snapshots]),
        statement("Objects", ["s3:GetObject", "s3:DeleteObject", "s3:PutObject",
                              "s3:PutObjectTagging", "s3:AbortMultipartUpload",
                              "s3:ListMultipartUploadParts"], [template(bucket, "/*")]),
        statement("ListBucket", ["s3:ListBucket"], [bucket]),
        statement("Key", ["kms:Decrypt", "kms:GenerateDataKey"], [key]),
    ]


def disk_key(keys: Sequence[Value]) -> list[dict[str, Value]]:
    """The EBS CSI driver on volumes encrypted with the platform's customer-managed key."""
    return [
        statement("KeyGrants", ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], keys,
                  {"Bool": {"kms:GrantIsForAWSResource": "true"}}),
        statement("KeyUse", ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*",
                             "kms:GenerateDataKey*", "kms:DescribeKey"], keys),
    ]


def _tagged(present: bool, kind: str = "Resource") -> dict[str, Value]:
    """Condition: the controller's cluster tag is (or is not) on the resource or request."""
    return {"Null": {f"aws:{kind}Tag/{_LB_TAG}": "false" if present else "true"}}


def load_balancer_controller() -> list[dict[str, Value]]:
    """The AWS Load Balancer Controller's published policy: writes only to load balancers,
    target groups and security groups carrying its cluster tag (or while creating them)."""
    elb = "arn:aws:elasticloadbalancing:*:*:"
    balancers = [f"{elb}targetgroup/*/*", f"{elb}loadbalancer/net/*/*",
                 f"{elb}loadbalancer/app/*/*"]
    groups = ["arn:aws:ec2:*:*:security-group/*"]
    describe = [f"ec2:{a}" for a in (
        "DescribeAccountAttributes", "DescribeAddresses", "DescribeAvailabilityZones",
        "DescribeInternetGateways", "DescribeVpcs", "DescribeVpcPeeringConnections",
        "DescribeSubnets", "DescribeSecurityGroups", "DescribeInstances",
        "DescribeNetworkInterfaces", "DescribeTags", "GetCoipPoolUsage", "DescribeCoipPools",
        "GetSecurityGroupsForVpc", "DescribeIpamPools", "DescribeRouteTables")]
    describe += [f"elasticloadbalancing:{a}" for a in (
        "DescribeLoadBalancers", "DescribeLoadBalancerAttributes", "DescribeListeners",
        "DescribeListenerCertificates", "DescribeSSLPolicies", "DescribeRules",
        "DescribeTargetGroups", "DescribeTargetGroupAttributes", "DescribeTargetHealth",
        "DescribeTags", "DescribeTrustStores", "DescribeListenerAttributes",
        "DescribeCapacityReservation")]
    return [
        statement("ServiceLinkedRole", ["iam:CreateServiceLinkedRole"], "*",
                  {"StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}}),
        statement("Describe", describe, "*"),
        statement("Integrations", [
            "cognito-idp:DescribeUserPoolClient", "acm:ListCertificates",
            "acm:DescribeCertificate", "iam:ListServerCertificates", "iam:GetServerCertificate",
            "waf-regional:GetWebACL", "waf-regional:GetWebACLForResource",
            "waf-regional:AssociateWebACL", "waf-regional:DisassociateWebACL", "wafv2:GetWebACL",
            "wafv2:GetWebACLForResource", "wafv2:AssociateWebACL", "wafv2:DisassociateWebACL",
            "shield:GetSubscriptionState", "shield:DescribeProtection",
            "shield:CreateProtection", "shield:DeleteProtection"], "*"),
        statement("SecurityGroupRules", ["ec2:AuthorizeSecurityGroupIngress",
                                         "ec2:RevokeSecurityGroupIngress"], "*"),
        statement("CreateSecurityGroup", ["ec2:CreateSecurityGroup"], "*"),
        statement("TagNewSecurityGroup", ["ec2:CreateTags"], groups,
                  {"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"},
                   **_tagged(True, "Request")}),
        statement("TagOwnSecurityGroups", ["ec2:CreateTags", "ec2:DeleteTags"], groups,
                  {"Null": {f"aws:RequestTag/{_LB_TAG}": "true",
                            f"aws:ResourceTag/{_LB_TAG}": "false"}}),
        statement("OwnSecurityGroups", ["ec2:AuthorizeSecurityGroupIngress",
                                        "ec2:RevokeSecurityGroupIngress",
                                        "ec2:DeleteSecurityGroup"], "*", _tagged(True)),
        statement("CreateTagged", ["elasticloadbalancing:CreateLoadBalancer",
                                   "elasticloadbalancing:CreateTargetGroup"], "*",
                  _tagged(True, "Request")),
        statement("Listeners", ["elasticloadbalancing:CreateListener",
                                "elasticloadbalancing:DeleteListener",
                                "elasticloadbalancing:CreateRule",
                                "elasticloadbalancing:DeleteRule"], "*"),
        statement("TagOwnBalancers", ["elasticloadbalancing:AddTags",
                                      "elasticloadbalancing:RemoveTags"], balancers,
                  {"Null": {f"aws:RequestTag/{_LB_TAG}": "true",
                            f"aws:ResourceTag/{_LB_TAG}": "false"}}),
        statement("TagListeners", ["elasticloadbalancing:AddTags",
                                   "elasticloadbalancing:RemoveTags"],
                  [f"{elb}listener/net/*/*/*", f"{elb}listener/app/*/*/*",
                   f"{elb}listener-rule/net/*/*/*", f"{elb}listener-rule/app/*/*/*"]),
        statement("ModifyOwn", [f"elasticloadbalancing:{a}" for a in (
            "ModifyLoadBalancerAttributes", "SetIpAddressType", "SetSecurityGroups",
            "SetSubnets", "DeleteLoadBalancer", "ModifyTargetGroup",
            "ModifyTargetGroupAttributes", "DeleteTargetGroup", "ModifyListenerAttributes",
            "ModifyCapacityReservation", "ModifyIpPools")], "*", _tagged(True)),
        statement("TagOnCreate", ["elasticloadbalancing:AddTags"], balancers,
                  {"StringEquals": {"elasticloadbalancing:CreateAction":
                                    ["CreateTargetGroup", "CreateLoadBalancer"]},
                   **_tagged(True, "Request")}),
        statement("Targets", ["elasticloadbalancing:RegisterTargets",
                              "elasticloadbalancing:DeregisterTargets"],
                  [f"{elb}targetgroup/*/*"]),
        statement("ListenerSettings", [f"elasticloadbalancing:{a}" for a in (
            "SetWebAcl", "ModifyListener", "AddListenerCertificates",
            "RemoveListenerCertificates", "ModifyRule", "SetRulePriorities")], "*"),
    ]


__all__ = ["EBS_CSI_POLICY", "EFS_CSI_POLICY", "LOAD_BALANCER_CONTROLLER_SKIPS", "cert_manager",
           "disk_key", "external_dns", "external_secrets", "load_balancer_controller", "objects",
           "statement", "velero"]
