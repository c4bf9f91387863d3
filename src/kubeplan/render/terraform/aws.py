"""AWS building blocks several blocks share: KMS keys with explicit key policies, IAM roles the
in-cluster add-ons get through EKS Pod Identity (trusting `pods.eks.amazonaws.com` for their
ServiceAccount in the environment's clusters, bound by a pod identity association per cluster,
so no role ARN or account id reaches the cluster), and private, versioned, KMS-encrypted S3
buckets with optional cross-region replication.

AWS provider 6 accepts `region` on every resource and the modules pass it through, so one
provider configuration serves all regions of an environment.
"""

from __future__ import annotations

from collections.abc import Sequence

from kubeplan.model import Plan
from kubeplan.render.naming import WORKLOADS, identity
from kubeplan.render.terraform import aws_policies as policies
from kubeplan.render.terraform import roots
from kubeplan.render.terraform.hcl import Block, Expr, Value, block, call, ref, template, var
from kubeplan.render.terraform.model import TerraformEnv, module_block, slug
from kubeplan.render.terraform.shared import ZONE_MODULE

KEY_DELETION_DAYS = 30
# Versions of overwritten or deleted objects are kept this long.
NONCURRENT_DAYS = 7
ROOT_ACCOUNT = template("arn:aws:iam::", var("aws_account_id"), ":root")


def key_policy(*statements: Value) -> Expr:
    """A key policy: the account administers the key (IAM policies grant use), plus extras."""
    return call("jsonencode", {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "AccountAdministration", "Effect": "Allow",
             "Principal": {"AWS": ROOT_ACCOUNT}, "Action": "kms:*", "Resource": "*"},
            *statements,
        ],
    })


def kms_key(name: str, description: str, region: str, *statements: Value) -> list[Block]:
    return [
        block("resource", "aws_kms_key", name, region=region, description=description,
              enable_key_rotation=True, deletion_window_in_days=KEY_DELETION_DAYS,
              policy=key_policy(*statements)),
    ]


def key_arn(name: str) -> Expr:
    return ref("aws_kms_key", name, "arn")


def role_arn(role_name: str) -> Expr:
    """The ARN of a role of the account by name (one another layer creates)."""
    return template("arn:aws:iam::", var("aws_account_id"), f":role/{role_name}")


def secrets_key_use(reader: Value, region: str) -> dict[str, Value]:
    """A key policy statement: the role `reader` (an ARN) of this account may decrypt what
    Secrets Manager encrypted with the key in `region`, through Secrets Manager only. The role
    is matched by condition rather than named as principal: KMS refuses a policy naming a role
    that does not exist yet, and a later layer may create it."""
    return {"Sid": "ReadSecrets", "Effect": "Allow", "Principal": {"AWS": "*"},
            "Action": ["kms:Decrypt", "kms:DescribeKey"], "Resource": "*",
            "Condition": {"StringEquals": {
                "aws:PrincipalArn": reader, "kms:CallerAccount": var("aws_account_id"),
                "kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}}}


POD_IDENTITY_SERVICE = "pods.eks.amazonaws.com"


def pod_identity_trust(clusters: Sequence[str], namespace: str, service_account: str) -> Expr:
    """Trust EKS Pod Identity, for these clusters' ServiceAccounts only: the session tags it
    sets (eks-cluster-name, kubernetes-namespace, kubernetes-service-account) must match."""
    return call("jsonencode", {"Version": "2012-10-17", "Statement": [{
        "Sid": "EksPodIdentity", "Effect": "Allow",
        "Principal": {"Service": POD_IDENTITY_SERVICE},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
        "Condition": {"StringEquals": {
            "aws:RequestTag/eks-cluster-name": sorted(clusters),
            "aws:RequestTag/kubernetes-namespace": namespace,
            "aws:RequestTag/kubernetes-service-account": service_account}}}]})


def pod_identity_role(env: TerraformEnv, name: str, role_name: str, description: str, *,
                      clusters: Sequence[str], namespace: str, service_account: str,
                      statements: Sequence[Value], managed: Sequence[str] = (),
                      policy_comments: Sequence[str] = ()) -> list[Block]:
    """An IAM role EKS Pod Identity hands to one ServiceAccount, with an inline policy of
    `statements` (`policy_comments` above it) and the AWS-managed policies `managed`."""
    blocks = [block("resource", "aws_iam_role", name, name=role_name, description=description,
                    assume_role_policy=pod_identity_trust(clusters, namespace, service_account),
                    force_detach_policies=True, tags=env.labels)]
    if statements:
        blocks.append(block("resource", "aws_iam_role_policy", name, comments=policy_comments,
                            name=name,
                            role=ref("aws_iam_role", name, "id"),
                            policy=call("jsonencode", {"Version": "2012-10-17",
                                                       "Statement": list(statements)})))
    for arn in managed:
        blocks.append(block("resource", "aws_iam_role_policy_attachment",
                            f"{name}_{slug(arn.rsplit('/', 1)[-1])}",
                            role=ref("aws_iam_role", name, "name"), policy_arn=arn))
    return blocks


def _role(component: str) -> str:
    return f"identity_{slug(component)}"


def workload_identity(env: TerraformEnv, component: str, statements: Sequence[Value],
                      policy_comments: Sequence[str] = ()) -> list[Block]:
    """The role of `component` (named by `naming.identity()`) and its EKS Pod Identity
    association in every cluster of the environment, on the namespace and ServiceAccount of
    `naming.WORKLOADS`: the GitOps tree's ServiceAccounts carry no annotation."""
    workload = WORKLOADS[component]
    name = _role(component)
    blocks = pod_identity_role(
        env, name, identity(env.plan, env.environment, component),
        f"{component} in the {env.environment} clusters (EKS Pod Identity)",
        clusters=[env.cluster_name(c) for c in env.clusters], namespace=workload.namespace,
        service_account=workload.service_account, statements=statements,
        policy_comments=policy_comments)
    for c in env.clusters:
        blocks.append(block("resource", "aws_eks_pod_identity_association",
                            f"{name}_{slug(c.name)}", region=c.region,
                            cluster_name=env.remote("cluster", "cluster_names").index(c.name),
                            namespace=workload.namespace,
                            service_account=workload.service_account,
                            role_arn=identity_arn(component), tags=env.labels))
    return blocks


def identity_arn(component: str) -> Expr:
    return ref("aws_iam_role", _role(component), "arn")


STORAGE_KEY = "storage"


def storage_key(region: str, primary: bool) -> tuple[str, list[Block]]:
    name = STORAGE_KEY if primary else f"{STORAGE_KEY}_{slug(region)}"
    return name, kms_key(name, f"Buckets of the platform in {region}", region)


def s3_bucket(env: TerraformEnv, module: str, name: str, region: str, key: Expr, *,
              expire_days: int | None, versioned: bool,
              replication: dict[str, Value] | None = None,
              noncurrent_days: int = NONCURRENT_DAYS,
              extra: dict[str, Value] | None = None) -> Block:
    rule: dict[str, Value] = {"id": "housekeeping", "enabled": True,
                              "abort_incomplete_multipart_upload_days": 1}
    if expire_days is not None:
        rule["expiration"] = {"days": expire_days}
    if versioned:
        rule["noncurrent_version_expiration"] = {"days": noncurrent_days}
    args: dict[str, Value] = {
        "bucket": name,
        "region": region,
        "force_destroy": False,
        "control_object_ownership": True,
        "object_ownership": "BucketOwnerEnforced",
        "block_public_acls": True,
        "block_public_policy": True,
        "ignore_public_acls": True,
        "restrict_public_buckets": True,
        "attach_deny_insecure_transport_policy": True,
        "attach_require_latest_tls_policy": True,
        "versioning": {"enabled": versioned},
        "server_side_encryption_configuration": {"rule": {
            "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms",
                                                        "kms_master_key_id": key},
            "bucket_key_enabled": True}},
        "lifecycle_rule": [rule],
        "tags": env.labels,
    }
    if replication:
        args["replication_configuration"] = replication
    args |= extra or {}
    return module_block(module, "aws-s3-bucket", args)


def component_bucket(env: TerraformEnv, purpose: str, component: str, *, name: str,
                     replica: str | None, replica_name: str | None,
                     expire_days: int | None, versioned: bool
                     ) -> tuple[list[Block], Expr, Expr]:
    """A bucket (and replica) for `component`, and the component's Pod Identity role on it."""
    module = f"bucket_{slug(purpose)}"
    key_name, blocks = storage_key(env.primary_region, True)
    key = key_arn(key_name)
    bucket_arn = ref(f"module.{module}.s3_bucket_arn")
    replication: dict[str, Value] | None = None
    if replica and replica_name:
        replica_key_name, replica_key = storage_key(replica, False)
        blocks += replica_key
        replica_module = f"{module}_replica"
        blocks.append(s3_bucket(env, replica_module, replica_name, replica,
                                key_arn(replica_key_name), expire_days=expire_days,
                                versioned=True))
        replica_arn = ref(f"module.{replica_module}.s3_bucket_arn")
        blocks += _replication_role(env, purpose, source=bucket_arn, destination=replica_arn,
                                    source_key=key, destination_key=key_arn(replica_key_name))
        replication = {
            "role": ref("aws_iam_role", f"replication_{slug(purpose)}", "arn"),
            "rules": [{
                "id": "replica",
                "status": "Enabled",
                "priority": 1,
                "delete_marker_replication": True,
                "source_selection_criteria": {"sse_kms_encrypted_objects": {"enabled": True}},
                "destination": {"bucket": replica_arn, "storage_class": "STANDARD",
                                "replica_kms_key_id": key_arn(replica_key_name)},
            }],
        }
    blocks.append(s3_bucket(env, module, name, env.primary_region, key,
                            expire_days=expire_days, versioned=versioned or bool(replica),
                            replication=replication))
    statements = (policies.velero(bucket_arn, key, var("aws_account_id"))
                  if component == "velero"
                  else policies.objects(bucket_arn, key))
    blocks += workload_identity(env, component, statements)
    return blocks, ref(f"module.{module}.s3_bucket_id"), identity_arn(component)


def _replication_role(env: TerraformEnv, purpose: str, *, source: Expr, destination: Expr,
                      source_key: Expr, destination_key: Expr) -> list[Block]:
    name = f"replication_{slug(purpose)}"
    trust = call("jsonencode", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "sts:AssumeRole"}]})
    policy = call("jsonencode", {"Version": "2012-10-17", "Statement": [
        {"Sid": "ReadSource", "Effect": "Allow",
         "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"], "Resource": [source]},
        {"Sid": "ReadVersions", "Effect": "Allow",
         "Action": ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl",
                    "s3:GetObjectVersionTagging"], "Resource": [template(source, "/*")]},
        {"Sid": "WriteReplica", "Effect": "Allow",
         "Action": ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
         "Resource": [template(destination, "/*")]},
        {"Sid": "Keys", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [source_key]},
        {"Sid": "ReplicaKey", "Effect": "Allow", "Action": ["kms:Encrypt", "kms:GenerateDataKey"],
         "Resource": [destination_key]},
    ]})
    return [
        block("resource", "aws_iam_role", name,
              name=f"{env.prefix}-{purpose}-replication", assume_role_policy=trust),
        block("resource", "aws_iam_role_policy", name, name="replication",
              role=ref("aws_iam_role", name, "id"), policy=policy),
    ]


WILDCARD_SKIP = ("checkov:skip=CKV2_AWS_71:the gateway serves every host of the zone (preview "
                 "environments get one per pull request); a wildcard avoids a certificate per "
                 "host, and the key never leaves ACM")


def acm_certificate(env: TerraformEnv, name: str, region: str, wildcard: bool = True, *,
                    domain: str | None = None, skip: str = WILDCARD_SKIP) -> list[Block]:
    """An ACM certificate in `region`, validated in the zone's DNS: for the zone (and, with
    `wildcard`, its subdomains), or for one `domain` in the zone (itself a wildcard: `skip`
    says why)."""
    fields: dict[str, object] = {"domain_name": domain or env.zone}
    if domain is None:
        fields["subject_alternative_names"] = [f"*.{env.zone}"] if wildcard else []
    comments = [skip] if wildcard or domain is not None else []
    cert = block("resource", "aws_acm_certificate", name, comments=comments, region=region,
                 **fields,  # type: ignore[arg-type]
                 validation_method="DNS", key_algorithm="EC_prime256v1", tags=env.labels,
                 lifecycle=block("lifecycle", create_before_destroy=True))
    records = block(
        "resource", "aws_route53_record", f"{name}_validation",
        for_each=Expr(f"{{ for o in aws_acm_certificate.{name}.domain_validation_options : "
                      "o.domain_name => o }"),
        zone_id=ref(f"module.{ZONE_MODULE}.id"), name=Expr("each.value.resource_record_name"),
        type=Expr("each.value.resource_record_type"),
        records=[Expr("each.value.resource_record_value")], ttl=300, allow_overwrite=True)
    validation = block("resource", "aws_acm_certificate_validation", name, region=region,
                       certificate_arn=ref(f"aws_acm_certificate.{name}.arn"),
                       validation_record_fqdns=Expr(f"[for r in aws_route53_record.{name}"
                                                    "_validation : r.fqdn]"))
    return [cert, records, validation]


def alias_records(env: TerraformEnv, target: str, zone: str, name: str,
                 hosts: tuple[str, ...] = ("", "*")) -> list[Block]:
    """Alias records (apex and wildcard) to a global entry point."""
    out = []
    for host in hosts:
        key = {"": "apex", "*": "wildcard"}.get(host, slug(host))
        out.append(block("resource", "aws_route53_record", f"{name}_{key}",
                         zone_id=ref(f"module.{ZONE_MODULE}.id"),
                         name=f"{host}.{env.zone}" if host else env.zone, type="A",
                         alias=block("alias", name=ref(target), zone_id=ref(zone),
                                     evaluate_target_health=True)))
    return out


def state_bucket(plan: Plan, noncurrent_days: int) -> list[Block]:
    """The bootstrap's state bucket: private, versioned, KMS-encrypted; S3 locks with a lock
    file beside the state (`use_lockfile`), so no DynamoDB table is needed."""
    env = TerraformEnv(plan, plan.topology.production)
    region = roots.state_region(plan)
    bucket = s3_bucket(env, "state", roots.state_bucket(plan), region, key_arn("state"),
                       expire_days=None, versioned=True, noncurrent_days=noncurrent_days)
    return [*kms_key("state", "Terraform state of the platform", region), bucket]


__all__ = ["component_bucket", "identity_arn", "key_arn", "kms_key", "pod_identity_role",
           "role_arn", "secrets_key_use", "state_bucket", "workload_identity"]
