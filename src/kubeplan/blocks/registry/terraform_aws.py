"""registry on AWS: Amazon ECR (terraform-aws-modules/ecr).

Registry level: enhanced scanning (Amazon Inspector) on push for every repository, and for a
multi-region environment replication of the environment's repositories to the second region,
where a repository creation template gives the replicas the same immutability, key and
lifecycle. Repositories: one per name in `repositories` (the services' images), under
`<platform>/<environment>/`, immutable tags, KMS-encrypted, untagged images expire.
"""

from __future__ import annotations

from kubeplan.render.terraform import aws
from kubeplan.render.terraform.hcl import Block, Expr, Value, block, call, template, var
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
        gitops={f"registry.url.{primary}": url}, platform={"REGISTRY_URL": url})
