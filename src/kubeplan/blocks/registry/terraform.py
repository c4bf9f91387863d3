"""registry -> Terraform `registry` layer, when the registry is the provider's.

Every environment has its own registry (environments share nothing); a release is promoted by
copying its signed digest into the next environment's registry. Tags are immutable, images are
scanned on push and encrypted with a customer-managed key, untagged images expire, and a
multi-region environment keeps a copy in its second region: a second Artifact Registry
repository (Artifact Registry does not replicate one repository across regions), ECR
cross-region replication, or ACR geo-replication. Harbor (registry: harbor) runs in the
clusters (the GitOps tree) and is configured through its API by the `harbor` layer
(terraform_harbor.py); its PostgreSQL is created in this layer (terraform_harbor_database.py).
"""

from __future__ import annotations

from kubeplan.blocks.registry import (
    terraform_aws,
    terraform_azure,
    terraform_harbor,
    terraform_harbor_database,
)
from kubeplan.render import mirrors
from kubeplan.render.terraform import gcp
from kubeplan.render.terraform.hcl import Block, Value, block, template, var
from kubeplan.render.terraform.model import Contribution, Output, TerraformEnv, slug

LAYER = "registry"
FILE = "registry"
# Untagged images (superseded builds) are deleted after this many days.
UNTAGGED_DAYS = 14
# Cached upstream images are deleted this long after they were cached; the next pull fetches
# them again (remote repositories count age from the download).
CACHE_DAYS = 90




def contribute(env: TerraformEnv) -> list[Contribution]:
    if env.choice("registry") == "harbor":
        if not env.production:
            return []  # one Harbor (production's) serves every environment
        # Its PostgreSQL here (before the GitOps sync), its configuration in the harbor layer.
        return [*terraform_harbor_database.contribute(env), *terraform_harbor.contribute(env)]
    if env.provider == "onprem" or env.choice("registry") != "provider":
        return []
    if env.provider == "gcp":
        return [_gcp(env)]
    if env.provider == "aws":
        return [terraform_aws.contribute(env, env.registry_regions)]
    return [terraform_azure.contribute(env, env.registry_regions)]


def _gcp(env: TerraformEnv) -> Contribution:
    blocks: list[Block] = []
    urls: dict[str, Value] = {}
    for region in env.registry_regions:
        blocks += gcp.crypto_key(env, LAYER, "images", region, agents=("artifactregistry",))
        name = f"images_{slug(region)}"
        blocks.append(block(
            "resource", "google_artifact_registry_repository", name,
            project=var("project_id"), location=region, repository_id=env.prefix,
            description=f"Container images of {env.name} {env.environment}",
            format="DOCKER", kms_key_name=gcp.key_ref("images", region), labels=env.labels,
            docker_config=block("docker_config", immutable_tags=True),
            cleanup_policies=[
                block("cleanup_policies", id="delete-untagged", action="DELETE",
                      condition=block("condition", tag_state="UNTAGGED",
                                      older_than=f"{UNTAGGED_DAYS * 86400}s")),
            ],
            depends_on=[gcp.grant_ref("images", region, "artifactregistry")]))
        urls[region] = template(f"{region}-docker.pkg.dev/", var("project_id"), f"/{env.prefix}")
    platform: dict[str, Value] = {"REGISTRY_URL": urls[env.registry_regions[0]]}
    if mirrors.enabled(env.plan):
        blocks += _gcp_caches(env)
        platform[mirrors.OUTPUT] = urls[env.registry_regions[0]]
    return Contribution(
        LAYER, FILE, tuple(blocks),
        outputs=(Output("registry_urls", urls, "Docker repository URL per region."),),
        gitops={f"registry.url.{region}": url for region, url in urls.items()},
        # The address the pipeline pushes to and preview environments pull from, and the stem of
        # the caches' repositories (`<stem>-<upstream>`).
        platform=platform,
        gcp_apis=frozenset({"artifactregistry.googleapis.com", "containerscanning.googleapis.com",
                            "cloudkms.googleapis.com"}))


def _gcp_caches(env: TerraformEnv) -> list[Block]:
    """A remote repository per public registry in the primary region (clusters elsewhere pull
    across regions on a miss): Docker Hub through Artifact Registry's preset, the others as
    custom upstreams; same key as the images, and cached images nobody pulled for a while go."""
    region = env.registry_regions[0]
    blocks: list[Block] = []
    for upstream in mirrors.UPSTREAMS:
        docker = (block("docker_repository", public_repository=upstream.gcp_preset)
                  if upstream.gcp_preset else
                  block("docker_repository",
                        custom_repository=block("custom_repository", uri=upstream.gcp_uri)))
        blocks.append(block(
            "resource", "google_artifact_registry_repository",
            f"cache_{slug(upstream.name)}",
            project=var("project_id"), location=region,
            repository_id=mirrors.gcp_repository(env.prefix, upstream),
            description=f"Pull-through cache of {upstream.host} for {env.name} "
                        f"{env.environment}",
            format="DOCKER", mode="REMOTE_REPOSITORY", kms_key_name=gcp.key_ref("images", region),
            labels=env.labels,
            remote_repository_config=block("remote_repository_config",
                                           description=upstream.host,
                                           docker_repository=docker),
            cleanup_policies=[
                block("cleanup_policies", id="delete-stale", action="DELETE",
                      condition=block("condition", tag_state="ANY",
                                      older_than=f"{CACHE_DAYS * 86400}s")),
            ],
            depends_on=[gcp.grant_ref("images", region, "artifactregistry")]))
    return blocks
