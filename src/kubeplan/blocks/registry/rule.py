"""registry: the cloud's container registry in a cloud; Harbor where there is none or when asked.

The trade-off: a provider registry (Artifact Registry, ECR, ACR) is run, scaled and patched by
the cloud, authenticates with the cloud's identities and scans on push, but ties images to one
cloud and bills scanning and transfer. Harbor runs anywhere, including on-prem and air-gapped
sites, and brings Trivy scanning, cosign signature enforcement, quotas, webhooks and
replication under one policy, at the price of a stateful service (database, Redis, object
storage) to run and upgrade.

spec.delivery.registry, when set, wins over the provider default; asking for a provider
registry on-prem is a contradiction between the two fields.
"""

from __future__ import annotations

from collections.abc import Mapping

from kubeplan.decide import Choice, Conflict, Context, Outcome, Rule
from kubeplan.errors import Cause, DecisionConflict
from kubeplan.model import Scalar

PROVIDER_REGISTRY = {
    "gcp": "Google Artifact Registry (Docker repository, Artifact Analysis scanning on push)",
    "aws": "Amazon ECR (private repositories, enhanced scanning on push with Amazon Inspector)",
    "azure": "Azure Container Registry Premium (private endpoint, Microsoft Defender for "
             "Containers scanning)",
}
PROVIDER_NAME = {"gcp": "Artifact Registry", "aws": "Amazon ECR",
                 "azure": "Azure Container Registry Premium"}
PULL_THROUGH = {"gcp": "Artifact Registry remote repositories",
                "aws": "ECR pull-through cache rules",
                "azure": "ACR cache rules"}
OBJECT_STORE = {
    "gcp": "Google Cloud Storage bucket",
    "aws": "Amazon S3 bucket",
    "azure": "Azure Blob Storage container",
    "onprem": "Ceph RGW S3 bucket on Rook",
}
HARBOR = (
    "Harbor (Trivy scanning on push, project quotas, webhooks, immutable tag rules)",
    "cosign signature enforcement (Harbor project policy: unsigned images cannot be pulled)",
)
# Postures under which the clusters pull public images only through the platform registry's
# pull-through caches (render/mirrors.py): the same postures that admit only signed images.
PULL_THROUGH_POSTURES = ("hardened", "regulated")
# The registries cached (render/mirrors.py UPSTREAMS; tests/test_image_mirrors.py keeps them in
# step: decisions do not import renderers).
CACHED_REGISTRIES = "Docker Hub, GitHub, Quay, registry.k8s.io and ECR Public"
NO_PROVIDER_REGISTRY = "on-prem has no provider container registry"
NO_PROVIDER_HINT = "use registry: harbor on-prem (spec.delivery.registry: harbor or auto)"


class Registry(Rule):
    block = "registry"
    title = "Container image registry"
    choices = (
        Choice("provider",
               "The cloud's registry (Artifact Registry, ECR, ACR Premium), with scanning on "
               "push and replication to the second region.",
               "Nothing to run and native cloud identities; images and policies are tied to "
               "that cloud, and scanning and cross-region transfer are billed."),
        Choice("harbor",
               "Self-hosted Harbor: Trivy scanning, cosign signature enforcement, quotas, "
               "webhooks and replication between sites.",
               "Runs anywhere, one policy across clouds and sites, scanning without per-image "
               "fees; a stateful service (PostgreSQL, Redis, object storage) to run, back up "
               "and upgrade, and it is on the deploy path."),
    )

    def decide(self, ctx: Context) -> Outcome:
        wanted: str = ctx.get("delivery.registry")
        provider = ctx.provider
        if wanted == "provider":
            if provider == "onprem":
                raise DecisionConflict(
                    NO_PROVIDER_REGISTRY,
                    [Cause(self.block, ("spec", "delivery", "registry")),
                     Cause(self.block, ("spec", "provider"))],
                    NO_PROVIDER_HINT)
            return Outcome("provider",
                           f"spec.delivery.registry asks for the provider registry on "
                           f"{provider}: {PROVIDER_NAME[provider]}, scanned on push and run by "
                           "the cloud.", self.parameters("provider", ctx))
        if wanted == "harbor":
            return Outcome("harbor",
                           f"spec.delivery.registry asks for Harbor on {provider}: one "
                           "registry policy (scanning, signatures, quotas) that does not depend "
                           "on a cloud.", self.parameters("harbor", ctx))
        if provider == "onprem":
            return Outcome("harbor",
                           "spec.delivery.registry is auto and spec.provider is onprem, where no "
                           "provider registry exists: Harbor stores images on Ceph RGW with Trivy "
                           "scanning and cosign signature enforcement.",
                           self.parameters("harbor", ctx))
        params = self.parameters("provider", ctx)
        copy = (f", with a copy in {params['replicateTo']} (spec.regions)"
                if params["replicateTo"] else "")
        return Outcome("provider",
                       f"spec.delivery.registry is auto and spec.provider is {provider}: "
                       f"{PROVIDER_NAME[provider]} is run by the cloud and scans on push{copy}, "
                       "so there is no registry to operate.", params)

    def parameters(self, choice: str, ctx: Context) -> Mapping[str, Scalar]:
        regions: list[str] = ctx.get("regions")
        return {"replicateTo": regions[1] if len(regions) > 1 else "",
                "immutableTags": True,
                "scanOnPush": True,
                "pullThrough": ctx.get("security.posture") in PULL_THROUGH_POSTURES}

    def components(self, choice: str, ctx: Context) -> tuple[str, ...]:
        provider = ctx.provider
        second = str(self.parameters(choice, ctx)["replicateTo"])
        if choice == "harbor":
            out = [*HARBOR, f"{OBJECT_STORE[provider]} as Harbor's image storage"]
            if self.parameters(choice, ctx)["pullThrough"]:
                out.append(f"Harbor proxy-cache projects for {CACHED_REGISTRIES}")
            if second:
                out.append(f"Harbor replication rule to a second Harbor in {second}")
            return tuple(out)
        out = [PROVIDER_REGISTRY[provider]]
        if self.parameters(choice, ctx)["pullThrough"]:
            out.append(f"{PULL_THROUGH[provider]} for {CACHED_REGISTRIES}")
        if second and provider == "gcp":
            # Artifact Registry has no cross-region replication of one repository.
            out.append(f"a second Artifact Registry repository in {second} (CI pushes to both)")
        elif second and provider == "aws":
            out.append(f"ECR cross-region replication to {second}")
        elif second:
            out.append(f"ACR geo-replication to {second}")
        return tuple(out)

    def conflict(self, choice: str, ctx: Context) -> Conflict | None:
        if choice == "provider" and ctx.provider == "onprem":
            return Conflict(NO_PROVIDER_REGISTRY, ("spec", "provider"), NO_PROVIDER_HINT)
        if choice == "harbor" and ctx.get("delivery.registry") == "provider":
            return Conflict("spec.delivery.registry asks for the provider registry",
                            ("spec", "delivery", "registry"),
                            "set spec.delivery.registry: harbor instead of an override")
        if choice == "provider" and ctx.get("delivery.registry") == "harbor":
            return Conflict("spec.delivery.registry asks for Harbor",
                            ("spec", "delivery", "registry"),
                            "set spec.delivery.registry: provider instead of an override")
        return None


RULE = Registry()
