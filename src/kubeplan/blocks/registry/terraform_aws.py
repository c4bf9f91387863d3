"""registry on AWS: Amazon ECR (terraform-aws-modules/ecr).

Registry level: enhanced scanning (Amazon Inspector) on push for every repository, and for a
multi-region environment replication of the environment's repositories to the second region,
where a repository creation template gives the replicas the same immutability, key and
lifecycle. Repositories: one per name in `repositories` (the services' images), under
`<platform>/<environment>/`, immutable tags, KMS-encrypted, untagged images expire.
"""

from __future__ import annotations

from kubeplan.render import mirrors
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

LAYER = "registry"
FILE = "registry"
UNTAGGED_DAYS = 14
CREDENTIALS_PREFIX = "ecr-pullthroughcache/"
# Images kept per cached repository (a few versions of an add-on across an upgrade).
CACHED_IMAGES = 20
REPOSITORIES = Variable(
    "repositories", "list(string)",
    "Image repositories to create (one per service), under <platform>/<environment>/.",
    default=[],
    validations=(Validation(
        'alltrue([for r in var.repositories : can(regex("^[a-z0-9]+(?:[._-][a-z0-9]+)*$", r))])',
        "repositories must be lower-case names (letters, digits, . _ -)."),))


def lifecycle() -> Expr:
    return call("jsonencode", {"rules": [{
        "rulePriority": 1,
        "description": f"Expire untagged images after {UNTAGGED_DAYS} days",
        "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                      "countUnit": "days", "countNumber": UNTAGGED_DAYS},
        "action": {"type": "expire"}}]})


def contribute(env: TerraformEnv, regions: list[str]) -> Contribution:
    prefix = f"{env.name}/{env.environment}"
    blocks: list[Block] = []
    for region in regions:
        blocks += aws.kms_key(f"images_{slug(region)}", f"Container images in {region}", region)
    registry: dict[str, Value] = {
        "create_repository": False,
        "manage_registry_scanning_configuration": True,
        "registry_scan_type": "ENHANCED",
        "registry_scan_rules": [{"scan_frequency": "SCAN_ON_PUSH",
                                 "filter": [{"filter": f"{prefix}/*",
                                             "filter_type": "WILDCARD"}]}],
        "tags": env.labels,
    }
    if len(regions) > 1:
        registry |= {
            "create_registry_replication_configuration": True,
            "registry_replication_rules": [{
                "destinations": [{"region": r, "registry_id": var("aws_account_id")}
                                 for r in regions[1:]],
                "repository_filters": [{"filter": prefix, "filter_type": "PREFIX_MATCH"}]}],
        }
        for region in regions[1:]:
            blocks.append(block(
                "resource", "aws_ecr_repository_creation_template", f"replica_{slug(region)}",
                region=region, prefix=prefix, applied_for=["REPLICATION"],
                description="Replicas of the environment's repositories",
                image_tag_mutability="IMMUTABLE", lifecycle_policy=lifecycle(),
                encryption_configuration=block(
                    "encryption_configuration", encryption_type="KMS",
                    kms_key=aws.key_arn(f"images_{slug(region)}")),
                resource_tags=env.labels))
    primary = regions[0]
    notes: tuple[str, ...] = ()
    platform: dict[str, Value] = {}
    if mirrors.enabled(env.plan):
        cache_blocks, rules = _caches(env, primary)
        blocks += cache_blocks
        registry["registry_pull_through_cache_rules"] = rules
        platform[mirrors.OUTPUT] = template(var("aws_account_id"),
                                            f".dkr.ecr.{primary}.amazonaws.com/"
                                            f"{mirrors.ecr_prefix(env.prefix)}")
        notes = (_credentials_note(env),)
    blocks.append(module_block("registry", "aws-ecr", {**registry, "region": primary}))
    blocks.append(module_block("repository", "aws-ecr", {
        "region": primary,
        "repository_name": template(f"{prefix}/", Expr("each.key")),
        "repository_type": "private",
        "repository_image_tag_mutability": "IMMUTABLE",
        "repository_encryption_type": "KMS",
        "repository_kms_key": aws.key_arn(f"images_{slug(primary)}"),
        "repository_force_delete": False,
        "create_lifecycle_policy": True,
        "repository_lifecycle_policy": lifecycle(),
        "tags": env.labels,
    }, meta={"for_each": call("toset", var("repositories"))}))
    url = template(var("aws_account_id"), f".dkr.ecr.{primary}.amazonaws.com/{prefix}")
    return Contribution(
        LAYER, FILE, tuple(blocks), variables=(REPOSITORIES,),
        outputs=(Output("registry_url", url, "Registry prefix of the environment's images."),
                 Output("repository_urls",
                        Expr("{ for name, r in module.repository : name => r.repository_url }"),
                        "URL of each repository.")),
        gitops={f"registry.url.{primary}": url}, platform={"REGISTRY_URL": url, **platform},
        notes=notes)


def credential_secret(env: TerraformEnv, upstream: mirrors.Upstream) -> str:
    """ECR reads an upstream's credentials only from a secret named `ecr-pullthroughcache/...`
    in the registry's account and region."""
    return f"{CREDENTIALS_PREFIX}{env.prefix}-{upstream.name}"


def _caches(env: TerraformEnv, region: str) -> tuple[list[Block], dict[str, Value]]:
    """Pull-through cache rules in the primary region under `<prefix>/<upstream>/`, the
    credential secrets Docker Hub and GitHub require (created empty: the value is put there by
    hand, never through Terraform), and a creation template giving the cached repositories
    encryption and a lifecycle. Cached repositories stay mutable: upstream tags move and ECR
    refreshes a cached tag on pull."""
    prefix = mirrors.ecr_prefix(env.prefix)
    blocks: list[Block] = [*aws.kms_key("mirror_credentials",
                                        "Upstream registry credentials of the image caches",
                                        region)]
    rules: dict[str, Value] = {}
    for upstream in mirrors.UPSTREAMS:
        rule: dict[str, Value] = {"ecr_repository_prefix": f"{prefix}/{upstream.name}",
                                  "upstream_registry_url": upstream.ecr_url}
        if upstream.ecr_credentials:
            label = f"mirror_{slug(upstream.name)}"
            blocks.append(block(
                "resource", "aws_secretsmanager_secret", label,
                comments=["checkov:skip=CKV2_AWS_57:a registry token is issued by the upstream "
                          "(Docker Hub, GitHub) and cannot be rotated by a Lambda here; the "
                          "runbook says how to replace it"],
                region=region, name=credential_secret(env, upstream),
                description=f"Credentials ECR uses to pull {upstream.host} "
                            "(JSON: username, accessToken)",
                kms_key_id=aws.key_arn("mirror_credentials"),
                recovery_window_in_days=7, tags=env.labels))
            rule["credential_arn"] = ref("aws_secretsmanager_secret", label, "arn")
        rules[upstream.name] = rule
    blocks.append(block(
        "resource", "aws_ecr_repository_creation_template", "mirror",
        region=region, prefix=prefix, applied_for=["PULL_THROUGH_CACHE"],
        description="Repositories the pull-through caches create",
        image_tag_mutability="MUTABLE",
        lifecycle_policy=call("jsonencode", {"rules": [{
            "rulePriority": 1,
            "description": f"Keep the last {CACHED_IMAGES} cached images of each repository",
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
                          "countNumber": CACHED_IMAGES},
            "action": {"type": "expire"}}]}),
        encryption_configuration=block("encryption_configuration", encryption_type="AES256"),
        resource_tags=env.labels))
    return blocks, rules


def _credentials_note(env: TerraformEnv) -> str:
    names = ", ".join(f"`{credential_secret(env, u)}` ({u.host})"
                      for u in mirrors.UPSTREAMS if u.ecr_credentials)
    return (f"ECR's pull-through caches of Docker Hub and GitHub need credentials: before the "
            f"clusters' first sync, put a read-only access token of a service account of each "
            f"into {names} as JSON `{{\"username\": ..., \"accessToken\": ...}}` "
            "(`aws secretsmanager put-secret-value`); rotate them the same way. Quay, "
            "registry.k8s.io and ECR Public are cached without credentials.")
