"""AWS building blocks several blocks share: KMS keys with explicit key policies, IAM roles for
service accounts (IRSA) trusted by every cluster of the environment, and private, versioned,
KMS-encrypted S3 buckets with optional cross-region replication.

AWS provider 6 accepts `region` on every resource and the modules pass it through, so one
provider configuration serves all regions of an environment.
"""

from __future__ import annotations

from kubeplan.model import Plan
from kubeplan.render.naming import WORKLOADS, identity
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


def oidc_providers(env: TerraformEnv, component: str) -> dict[str, Value]:
    """The IRSA trust: the component's service account in every cluster of the environment."""
    workload = WORKLOADS[component]
    return {slug(c.name): {
        "provider_arn": env.remote("cluster", "oidc_provider_arns").index(c.name),
        "namespace_service_accounts": [f"{workload.namespace}:{workload.service_account}"],
    } for c in env.clusters}


def irsa(env: TerraformEnv, component: str, args: dict[str, Value]) -> Block:
    """An IAM role for the component's service account, named by `naming.identity()`."""
    return module_block(f"irsa_{slug(component)}", "aws-iam-role-for-service-accounts", {
        "name": identity(env.plan, env.environment, component),
        "use_name_prefix": False,
        "description": f"{component} in the {env.environment} clusters (IRSA)",
        "oidc_providers": oidc_providers(env, component),
        **args,
        "tags": env.labels,
    })


def irsa_arn(component: str) -> Expr:
    return ref(f"module.irsa_{slug(component)}.arn")


def object_permissions(bucket_arn: Expr, key: Expr) -> dict[str, Value]:
    """List the bucket, read/write/delete its objects, use its key: nothing more."""
    return {
        "ListBucket": {"actions": ["s3:ListBucket", "s3:GetBucketLocation"],
                       "resources": [bucket_arn]},
        "Objects": {"actions": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                    "resources": [template(bucket_arn, "/*")]},
        "Key": {"actions": ["kms:Decrypt", "kms:GenerateDataKey"], "resources": [key]},
    }


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
    """A bucket (and replica) for `component`, and the component's IRSA role on it."""
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
    if component == "velero":
        policy: dict[str, Value] = {"attach_velero_policy": True,
                                    "velero_s3_bucket_arns": [bucket_arn],
                                    "create_inline_policy": True,
                                    "inline_policy_permissions": {
                                        "Key": {"actions": ["kms:Decrypt", "kms:GenerateDataKey"],
                                                "resources": [key]}}}
    else:
        policy = {"create_inline_policy": True,
                  "inline_policy_permissions": object_permissions(bucket_arn, key)}
    blocks.append(irsa(env, component, policy))
    return blocks, ref(f"module.{module}.s3_bucket_id"), irsa_arn(component)


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


def acm_certificate(env: TerraformEnv, name: str, region: str, wildcard: bool = True
                    ) -> list[Block]:
    """An ACM certificate for the zone (and its subdomains) in `region`, validated in DNS."""
    comments = ["checkov:skip=CKV2_AWS_71:the gateway serves every host of the zone (preview "
                "environments get one per pull request); a wildcard avoids a certificate per "
                "host, and the key never leaves ACM"] if wildcard else []
    cert = block("resource", "aws_acm_certificate", name, comments=comments, region=region,
                 domain_name=env.zone,
                 subject_alternative_names=[f"*.{env.zone}"] if wildcard else [],
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


__all__ = ["component_bucket", "irsa", "irsa_arn", "key_arn", "kms_key", "state_bucket"]
