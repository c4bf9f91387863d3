"""Pull-through caches of public registries in the platform registry, shared by the registry's
Terraform (which creates them) and the admission policy (which sends pulls to them).

Where the registry decision asks for it (`pullThrough`: hardened and regulated postures), the
clusters do not pull add-on and base images from the internet: each public registry below has a
cache in the platform registry (Artifact Registry remote repositories, ECR pull-through cache
rules, ACR cache rules, Harbor proxy-cache projects), and Kyverno rewrites a pod's image
references to the cache when the pod is created. The rewrite keeps the repository path, the tag
and the digest, so a digest-pinned image stays exactly that image.

A cloud registry is outside the clusters, so every namespace but the distribution's is rewritten.
Harbor runs on the platform it would serve (its gateway, certificates, secrets, storage and
Kyverno itself are what it needs to start), so with Harbor only the application namespaces,
which pull with Harbor credentials, go through its proxy caches.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from kubeplan.model import Cluster, Plan
from kubeplan.render import naming

# The platform output holding the environment's cache prefix (cloud registries).
OUTPUT = "IMAGE_MIRROR"
# ECR limits a pull-through cache rule's repository prefix to 30 characters.
ECR_PREFIX_MAX = 30


@dataclass(frozen=True)
class Upstream:
    """A public registry with a cache.

    host: the registry as Kyverno's `image_normalize` spells it (the rewrite key);
    name: the cache's name (a repository suffix, an ECR prefix part, a Harbor project);
    gcp: Artifact Registry's preset (`public_repository`) or a custom URI;
    ecr: the upstream URL an ECR pull-through cache rule takes, and whether ECR needs
    credentials for it (Docker Hub and GitHub do: a Secrets Manager secret);
    harbor: the goharbor provider's `provider_name` and endpoint of a proxy-cache registry.
    """

    host: str
    name: str
    gcp_preset: str
    gcp_uri: str
    ecr_url: str
    ecr_credentials: bool
    harbor_provider: str
    harbor_endpoint: str
    aliases: tuple[str, ...] = ()  # other names of the same registry, rewritten to this cache


UPSTREAMS: tuple[Upstream, ...] = (
    Upstream("docker.io", "dockerhub", "DOCKER_HUB", "", "registry-1.docker.io", True,
             "docker-hub", "https://hub.docker.com"),
    Upstream("ghcr.io", "ghcr", "", "https://ghcr.io", "ghcr.io", True,
             "github", "https://ghcr.io"),
    Upstream("quay.io", "quay", "", "https://quay.io", "quay.io", False,
             "quay", "https://quay.io"),
    Upstream("registry.k8s.io", "k8s", "", "https://registry.k8s.io", "registry.k8s.io", False,
             "docker-registry", "https://registry.k8s.io"),
    # Argo CD's chart pulls Redis through ECR Public's second name.
    Upstream("public.ecr.aws", "ecr-public", "", "https://public.ecr.aws", "public.ecr.aws",
             False, "docker-registry", "https://public.ecr.aws", ("ecr-public.aws.com",)),
)

# How decisions and policies name the cached registries (blocks/registry/rule.py says the same;
# a test keeps the two in step).
SUMMARY = "Docker Hub, GitHub, Quay, registry.k8s.io and ECR Public"


def enabled(plan: Plan) -> bool:
    return bool(plan.decision("registry").parameters.get("pullThrough"))


def harbor(plan: Plan) -> bool:
    return plan.choice("registry") == "harbor"


def separator(provider: str) -> str:
    """Between `${IMAGE_MIRROR}` and a cache's name: Artifact Registry caches are repositories
    of their own (`<environment prefix>-<name>`), ECR and ACR ones are path prefixes."""
    return "-" if provider == "gcp" else "/"


def gcp_repository(environment_prefix: str, upstream: Upstream) -> str:
    return f"{environment_prefix}-{upstream.name}"


def ecr_prefix(environment_prefix: str) -> str:
    """The environment's ECR pull-through prefix (`<prefix>/<name>` per upstream), shortened
    with a stable hash where the 30 characters would not hold the longest name."""
    longest = max(len(u.name) for u in UPSTREAMS)
    base = f"{environment_prefix}-mirror"
    if len(base) + 1 + longest <= ECR_PREFIX_MAX:
        return base
    digest = hashlib.sha256(environment_prefix.encode()).hexdigest()[:6]
    keep = ECR_PREFIX_MAX - 1 - longest - len("-mirror-") - len(digest)
    return f"{environment_prefix[:keep].rstrip('-')}-mirror-{digest}"


ACR_PREFIX = "mirror"


def targets(plan: Plan, cluster: Cluster) -> dict[str, str]:
    """Upstream registry host -> where this cluster pulls it from."""
    if harbor(plan):
        sites = naming.harbor_regions(plan)
        site = cluster.region if cluster.region in sites else sites[0]
        caches = {u.name: f"{naming.harbor_host(plan, site)}/{u.name}" for u in UPSTREAMS}
    else:
        sep = separator(plan.metadata.provider)
        caches = {u.name: "${" + OUTPUT + "}" + sep + u.name for u in UPSTREAMS}
    return {host: caches[u.name] for u in UPSTREAMS for host in (u.host, *u.aliases)}


__all__ = ["ACR_PREFIX", "OUTPUT", "SUMMARY", "UPSTREAMS", "Upstream", "ecr_prefix", "enabled",
           "gcp_repository", "harbor", "separator", "targets"]
