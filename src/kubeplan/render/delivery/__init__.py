"""Delivery target: the pipelines that take one commit from build to a preview URL to production.

Output (see `blocks/_delivery.py`, which composes the blocks' contributions):

- `delivery/app-template/`: the application pipeline, ready to copy into a service repository;
- `delivery/example-service/`: one service (Go, Dockerfile, Kubernetes manifests) wired to it;
- `delivery/releases/<environment>/`: what each environment runs; promotions edit these files;
- the platform pipeline of the generated repository itself (`.github/workflows/platform.yml` or
  `.gitlab-ci.yml`).

Contribution interface (the blocks never import each other; the composer passes data along):

- `blocks/registry/delivery.py`: `access(plan) -> RegistryAccess`, how a pipeline logs in to the
  platform registry and which CI settings that needs;
- `blocks/preview/delivery.py`: `preview(plan) -> PreviewDelivery | None`, how pull requests
  are tagged, where their previews answer and (Flux) the preview request the pipeline commits;
- `blocks/ci/delivery.py`: `files(plan, inputs: DeliveryInputs) -> dict[path, text]`, the
  pipelines for the plan's CI built from those two.

Facts shared with other targets live here as data: the stages and their order
(`pipeline_stages`, for the runbook), the repositories (`repositories`), the CI settings the
pipelines read (`RegistryAccess.settings`, `platform_settings`) and what the pipeline assumes of
the registry (`registry_contract`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeplan import __version__
from kubeplan.model import Cluster, Plan
from kubeplan.render import naming
from kubeplan.render.gitops import flux
from kubeplan.render.gitops.objects import addon_dir
from kubeplan.render.naming import AFTER_GITOPS_LAYERS, TERRAFORM_LAYERS

# The example service every pipeline is demonstrated with, and its listening port.
SERVICE = "example-service"
SERVICE_PORT = 8080
DEFAULT_BRANCH = naming.GITOPS_BRANCH
# Application teams deploy into the namespace the GitOps baseline prepares for them.
APP_NAMESPACE = naming.APP_NAMESPACE

# Where the delivery files sit in the generated repository.
ROOT = "delivery"
TEMPLATE_DIR = f"{ROOT}/app-template"
EXAMPLE_DIR = f"{ROOT}/example-service"
RELEASES_DIR = f"{ROOT}/releases"

# The Trivy gate: fail on these severities when a fix exists. Both are pipeline inputs (GitHub)
# or variables (GitLab), so a team can tighten or relax them per service.
SCAN_SEVERITY = "HIGH,CRITICAL"
SCAN_IGNORE_UNFIXED = True

# Image tags: immutable and unique per build, so registries can enforce tag immutability and
# lifecycle rules can expire previews by prefix.
RELEASE_TAG = "<commit sha>"
PREVIEW_TAG_PREFIX = "pr-"

# The GitOps controllers' namespaces (where application routes attach comes from
# render.gitops.network.app_parent_ref, shared with the ingress block).
ARGOCD_NAMESPACE = "argocd"
FLUX_NAMESPACE = "flux-system"
# The Flux source of this repository, as the GitOps target's `flux/sync.yaml` names it.
FLUX_PLATFORM_SOURCE = flux.ROOT
IN_CLUSTER = "https://kubernetes.default.svc"

# The registry address is an output of the registry's Terraform layer (or Harbor's hostname):
# CI reads it as a variable, and the GitOps tree has it substituted under this name.
REGISTRY_VARIABLE = "REGISTRY_URL"

# Flux previews: the pipeline commits one request per open pull request to this branch of the
# platform repository, never to the default branch, so its credential cannot change what the
# clusters run outside the previews and the default branch keeps its review rules. The request
# is the template below with these variables substituted (yq envsubst).
PREVIEW_BRANCH = "previews"
PREVIEW_TEMPLATE = f"{ROOT}/previews/request.yaml"
PREVIEW_VARIABLES = ("SERVICE", "PR_NUMBER", "HEAD_SHA", "IMAGE_TAG", REGISTRY_VARIABLE)
# The add-on of the preview cluster that reconciles the requests (its folder holds them).
PREVIEWS_ADDON = "previews"

# What `kubeplan check` calls besides Python: Debian packages (promtool, amtool,
# named-checkzone) and checkov, in a virtualenv of its own (it pins old dependencies), at the
# version kubeplan's own tests run.
CHECK_APT_PACKAGES = ("prometheus", "prometheus-alertmanager", "bind9-utils")
CHECKOV_VERSION = "3.3.30"
# Where the check job installs kubeplan from (a CI variable).
PACKAGE_SETTING = "KUBEPLAN_PACKAGE"


def check_script(venv: str, sudo: bool) -> list[str]:
    """Shell lines that install kubeplan with its checkers, fetch the upstream data and check
    the repository (the platform pipeline's first job)."""
    apt = "sudo apt-get" if sudo else "apt-get"
    return [
        f"{apt} update -qq",
        f"{apt} install -y -qq --no-install-recommends {' '.join(CHECK_APT_PACKAGES)}",
        f'python -m venv "{venv}"',
        f'"{venv}/bin/pip" install --quiet "checkov=={CHECKOV_VERSION}"',
        f'export KUBEPLAN_CHECKOV="{venv}/bin/checkov"',
        # kubeplan is not on PyPI: a bare name would install whatever claims it there first.
        f': "${{{PACKAGE_SETTING}:?set {PACKAGE_SETTING} to the pip requirement of kubeplan '
        f'{__version__} (your package index, a wheel URL, or git+https://...@<commit>)}}"',
        f'pip install --quiet "${PACKAGE_SETTING}"',
        "kubeplan schemas pull",
        "kubeplan check .",
    ]


# Where the CI's cloud identities come from: the OIDC trust (workload identity pool and
# provider, IAM OIDC provider and roles, Entra ID federated credentials) is set up once, before
# any pipeline can run, and its identifiers are stored as CI variables.
CI_IDENTITY_SOURCE = ("the CI's OIDC trust in the cloud, set up once per repository (not "
                      "rendered by kubeplan)")

# The platform pipeline's own identities (plan: repository level; apply: one per CI
# environment) are created by `terraform/bootstrap/`, the one step applied by hand: its outputs,
# by CI setting. The apply outputs are maps keyed by environment.
BOOTSTRAP_DIR = "terraform/bootstrap"
PLATFORM_IDENTITY_OUTPUTS = {
    "GCP_WORKLOAD_IDENTITY_PROVIDER": "gcp_workload_identity_provider",
    "GCP_PLAN_SERVICE_ACCOUNT": "gcp_plan_service_account",
    "GCP_APPLY_SERVICE_ACCOUNT": "gcp_apply_service_accounts",
    "AWS_PLAN_ROLE_ARN": "aws_plan_role_arn",
    "AWS_APPLY_ROLE_ARN": "aws_apply_role_arns",
    "AZURE_TENANT_ID": "azure_tenant_id",
    "AZURE_SUBSCRIPTION_ID": "azure_subscription_id",
    "AZURE_PLAN_CLIENT_ID": "azure_plan_client_id",
    "AZURE_APPLY_CLIENT_ID": "azure_apply_client_ids",
}

def cosign_save(reference: str, directory: str, flags: str = "") -> str:
    """Shell command saving an image with its signatures and attestations to `directory`
    (cosign save/load replace `cosign copy`, deprecated in cosign 3). `reference` and
    `directory` are shell words, quoted here."""
    return f'cosign save{flags} --dir "{directory}" "{reference}"'


def cosign_load(directory: str, reference: str, flags: str = "") -> str:
    """Shell command pushing what `cosign_save` wrote to `reference` (a tag: the digest of the
    saved image is kept)."""
    return f'cosign load{flags} --dir "{directory}" "{reference}"'


# Cloud audiences of the CI's OIDC tokens.
AWS_AUDIENCE = "sts.amazonaws.com"
AZURE_AUDIENCE = "api://AzureADTokenExchange"
SIGSTORE_AUDIENCE = "sigstore"


@dataclass(frozen=True)
class Repositories:
    """Where the code lives. The platform repository is the GitOps repository the GitOps target
    reconciles from (`naming.gitops_repository`); each service has a repository of its own name
    next to it, under the same organisation (GitHub) or group (GitLab)."""

    host: str
    owner: str
    platform_url: str

    @property
    def platform_path(self) -> str:
        """`owner/name` of the platform repository (GitHub repository, GitLab project path)."""
        return self.platform_url.split("://", 1)[-1].split("/", 1)[1].removesuffix(".git")

    @property
    def platform_name(self) -> str:
        return self.platform_path.rsplit("/", 1)[-1]

    def service_url(self, service: str) -> str:
        return f"https://{self.host}/{self.owner}/{service}.git"

    def service_path(self, service: str) -> str:
        return f"{self.owner}/{service}"


def repositories(plan: Plan) -> Repositories:
    url = naming.gitops_repository(plan)
    host, owner = url.split("://", 1)[-1].split("/")[:2]
    return Repositories(host, owner, url)


@dataclass(frozen=True)
class Setting:
    """A value the pipeline reads from the CI: a plain variable or a secret in the CI's store.

    `scope` is `repository` or `environment` (GitHub environment / GitLab environment-scoped
    variable); `source` says where the value comes from (a Terraform output, a console step).
    """

    name: str
    kind: str  # variable | secret
    scope: str
    description: str
    source: str
    only: str = ""  # a CI choice when the setting concerns one CI only


@dataclass(frozen=True)
class RegistryAccess:
    """How pipelines reach the platform registry (from the registry block).

    `github_login` are workflow steps that leave push credentials for the Docker CLI and
    BuildKit; `gitlab_auth` are shell lines that prepare the cosign container's credentials,
    with `gitlab_id_tokens` it needs and `gitlab_keychain` telling cosign to use the cloud
    keychains (Google ADC, ECR helper) instead of the Docker config alone.
    """

    kind: str  # artifact-registry | ecr | acr | harbor
    title: str
    settings: tuple[Setting, ...]
    github_login: tuple[Mapping[str, Any], ...]
    github_secrets: tuple[str, ...]
    gitlab_id_tokens: Mapping[str, Any]
    gitlab_auth: tuple[str, ...]
    # (user, password) variables written to the Docker config, where the registry takes them.
    gitlab_basic_auth: tuple[str, str] | None
    gitlab_keychain: bool
    replica: str  # region of a second copy the pipeline pushes ("" when the registry replicates)
    contract: tuple[str, ...]
    # Promotions copy a release from the build environment's registry into each later
    # environment's (`copies`; False where one registry serves every environment: Harbor).
    # GitHub: steps that log in as the build environment's reader (`source`) and as the
    # promoted environment's writer (`target`), after a step `registry` that outputs the hosts.
    # GitLab: ID tokens and shell lines preparing both credentials, and the variable
    # assignments that select them for the cosign commands reading and writing.
    copies: bool = False
    github_source_login: tuple[Mapping[str, Any], ...] = ()
    github_target_login: tuple[Mapping[str, Any], ...] = ()
    gitlab_promote_id_tokens: Mapping[str, Any] = field(default_factory=dict)
    gitlab_promote_auth: tuple[str, ...] = ()
    gitlab_source_env: str = ""
    gitlab_target_env: str = ""
    # Environments with a second repository the pipeline writes too (REGISTRY_REPLICA_URL).
    replica_environments: tuple[str, ...] = ()


@dataclass(frozen=True)
class PreviewDelivery:
    """How a pull request becomes a preview (from the preview block)."""

    host_pattern: str  # with `{number}`
    namespace_pattern: str
    environment: str  # the environment whose cluster hosts the previews
    engine: str  # argocd | flux
    # Flux only: the objects of one request, with `${PREVIEW_VARIABLES}` to substitute, and the
    # folder of PREVIEW_BRANCH the preview cluster reconciles (one `pr-<number>/` per request).
    request: tuple[Mapping[str, Any], ...] = ()
    requests_dir: str = ""


@dataclass(frozen=True)
class DeliveryInputs:
    registry: RegistryAccess
    preview: PreviewDelivery | None


@dataclass(frozen=True)
class Stage:
    """One step of the way from a commit to production, in order."""

    key: str
    title: str
    what: str
    where: str
    gate: str = ""


def promotion_order(plan: Plan) -> tuple[str, ...]:
    """Environments in promotion order: the spec's order, production last."""
    prod = plan.topology.production
    others = tuple(e for e in plan.metadata.environments if e != prod)
    return (*others, prod)


def build_environment(plan: Plan) -> str:
    """Where builds and preview images are pushed: the first environment of the promotion."""
    return promotion_order(plan)[0]


# The keyless signature the clusters admit (blocks/policy): the CI's issuer and its workflow
# identities under the platform's organisation. Promotions verify each copy against it.
SIGNATURE_ISSUER = {"github-actions": "https://token.actions.githubusercontent.com",
                    "gitlab-ci": "https://gitlab.com"}
_SIGNATURE_HOST = {"github-actions": "https://github.com", "gitlab-ci": "https://gitlab.com"}


def signature_identity(plan: Plan) -> tuple[str, str]:
    """(issuer, certificate identity regexp) of the platform's CI signatures."""
    ci = plan.choice("ci")
    return SIGNATURE_ISSUER[ci], f"^{_SIGNATURE_HOST[ci]}/{plan.metadata.name}/.+$"


def preview_environment(plan: Plan) -> str:
    """Previews run in the first non-production environment (the only one if there is one)."""
    return promotion_order(plan)[0]


def preview_cluster(plan: Plan) -> Cluster:
    return plan.topology.clusters_in(preview_environment(plan))[0]


def preview_requests_dir(plan: Plan) -> str:
    """Where, on PREVIEW_BRANCH, the preview cluster's Flux finds the open requests."""
    return f"{addon_dir(preview_cluster(plan), PREVIEWS_ADDON)}/requests"


def pipeline_stages(plan: Plan) -> tuple[Stage, ...]:
    """The stages one commit goes through, for the runbook: build, checks, publish, preview,
    promotions. Reads only the plan, so the docs and the pipelines cannot drift apart."""
    github = plan.choice("ci") == "github-actions"
    template = (f"{TEMPLATE_DIR}/.github/workflows/kubeplan-container.yml" if github
                else f"{TEMPLATE_DIR}/ci/container.gitlab-ci.yml")
    promote = (f"{TEMPLATE_DIR}/.github/workflows/kubeplan-promote.yml" if github
               else f"{TEMPLATE_DIR}/ci/promote.gitlab-ci.yml")
    promote_copy = (f"{TEMPLATE_DIR}/.github/workflows/kubeplan-promote-copy.yml" if github
                    else promote)
    registry = plan.choice("registry")
    stages = [
        Stage("test", "Tests", "the Dockerfile's `test` target runs the unit tests with "
              "BuildKit, sharing the build cache", template),
        Stage("build", "Build", "BuildKit builds the image once, with a cache, tagged with the "
              "commit SHA (previews: pr-<number>-<sha>)", template),
        Stage("scan", "Scan", f"Trivy fails the pipeline on fixable {SCAN_SEVERITY} "
              "vulnerabilities (threshold configurable); Syft writes an SPDX SBOM", template),
        Stage("publish", "Publish", (
            f"the scanned image is pushed to the registry of {build_environment(plan)}, the "
            "build environment (REGISTRY_URL of the repository), with short-lived credentials"
            if copies_releases(plan) else
            f"the scanned image is pushed to the platform registry "
            f"({'Harbor' if registry == 'harbor' else 'the provider registry'}) with "
            "short-lived credentials"), template),
        Stage("sign", "Sign", "cosign signs the image keylessly and attaches the SBOM as an "
              "attestation; the cluster admits only signed images from the platform registry",
              template),
    ]
    if plan.choice("preview") == "pull-request-namespaces":
        host = str(plan.decision("preview").param("hostPattern"))
        where = f"the `{PREVIEWS_ADDON}` add-on of cluster {preview_cluster(plan).name}"
        if plan.choice("gitops") == "argocd":
            what = ("an Argo CD ApplicationSet (pull-request generator) deploys the pull "
                    f"request into namespace pr-<number> of {preview_environment(plan)}, "
                    f"reachable at https://{host}; closing the pull request deletes it")
        else:
            preview = (f"{TEMPLATE_DIR}/.github/workflows/kubeplan-preview.yml" if github
                       else f"{TEMPLATE_DIR}/ci/preview.gitlab-ci.yml")
            what = ("the pipeline commits the request pr-<number>/ (from "
                    f"{PREVIEW_TEMPLATE}) to branch `{PREVIEW_BRANCH}` of the platform "
                    f"repository; Flux deploys it into namespace pr-<number> of "
                    f"{preview_environment(plan)}, reachable at https://{host}; closing the "
                    "pull request removes the request and Flux prunes the namespace")
            where = f"{preview}, then {where}"
        stages.append(Stage("preview", "Preview", what, where))
    order = promotion_order(plan)
    for environment in order:
        production = environment == plan.topology.production
        gate = (f"approval on the `{environment}` environment, then review of the pull request"
                if production else "review of the pull request")
        copy = ""
        if copies_releases(plan) and environment != order[0]:
            copy = (f"the job, in CI environment `{environment}`, reads the signed digest from "
                    f"the {order[0]} registry (read-only identity), copies it with its "
                    f"signatures and SBOM attestation into the {environment} registry "
                    f"(`cosign save`/`cosign load`, the environment's REGISTRY_URL) and verifies "
                    "the copy's signature; then ")
        stages.append(Stage(
            f"promote-{environment}", f"Promote to {environment}",
            f"{copy}a pull request on the platform repository sets the {environment} "
            f"registry's image, the same digest and the commit in "
            f"{RELEASES_DIR}/{environment}/{SERVICE}.yaml; the GitOps controller deploys it "
            "once merged", promote_copy if copy else promote, gate))
    return tuple(stages)


def copies_releases(plan: Plan) -> bool:
    """Whether each environment has a registry of its own, so promotions copy releases (the
    provider's registries); Harbor is one registry that replicates itself."""
    return plan.metadata.provider != "onprem" and plan.choice("registry") == "provider"


def terraform_layers(plan: Plan) -> tuple[str, ...]:
    """The Terraform root modules per environment, in apply order (none on-prem; no registry
    layer when the registry is Harbor, which runs in the cluster)."""
    if plan.metadata.provider == "onprem":
        return ()
    # Layers applied after the GitOps sync (Harbor's API) are applied by hand (the runbook).
    return tuple(layer for layer in TERRAFORM_LAYERS
                 if layer not in AFTER_GITOPS_LAYERS
                 and (layer != "registry" or plan.choice("registry") == "provider"))


def terraform_dir(environment: str, layer: str) -> str:
    return f"terraform/{environment}/{layer}"


def platform_settings(plan: Plan) -> tuple[Setting, ...]:
    """CI settings the platform pipeline reads (plan identities at repository level, apply
    identities per environment, so only an approved production job can change production)."""
    package = Setting(PACKAGE_SETTING, "variable", "repository",
                      f"pip requirement the check job installs kubeplan {__version__} from "
                      "(a package index, a wheel URL or a pinned git URL)",
                      "where your organisation keeps kubeplan")
    return (package, *_identity_settings(plan))


def bootstrap_source(setting: str, per_environment: bool = False) -> str:
    """Where a platform identity setting comes from: a bootstrap output (for an apply
    identity, the environment's key of the output map)."""
    key = '["<environment>"]' if per_environment else ""
    return f"Terraform output `{PLATFORM_IDENTITY_OUTPUTS[setting]}{key}` of `{BOOTSTRAP_DIR}`"


def ci_issuer(plan: Plan) -> str:
    """The issuer of the CI's OIDC tokens: GitHub's, or the GitLab instance of the platform
    repository."""
    if plan.choice("ci") == "github-actions":
        return SIGNATURE_ISSUER["github-actions"]
    return f"https://{repositories(plan).host}"


def _identity_settings(plan: Plan) -> tuple[Setting, ...]:
    provider = plan.metadata.provider
    names: tuple[tuple[str, str, str], ...] = ()
    if provider == "gcp":
        names = (
            ("GCP_WORKLOAD_IDENTITY_PROVIDER", "repository",
             "Workload Identity Federation provider of the platform pipeline (full resource "
             "name)"),
            ("GCP_PLAN_SERVICE_ACCOUNT", "repository",
             "service account with read access to every environment's state and resources, "
             "for plans"),
            ("GCP_APPLY_SERVICE_ACCOUNT", "environment",
             "service account that may change this environment"),
        )
    elif provider == "aws":
        names = (
            ("AWS_PLAN_ROLE_ARN", "repository",
             "IAM role (read-only, state read) trusted for pull requests"),
            ("AWS_APPLY_ROLE_ARN", "environment",
             "IAM role trusted only for this environment's deployments"),
        )
    elif provider == "azure":
        names = (
            ("AZURE_TENANT_ID", "repository", "Entra ID tenant"),
            ("AZURE_SUBSCRIPTION_ID", "repository", "subscription of the state account"),
            ("AZURE_PLAN_CLIENT_ID", "repository",
             "managed identity with a federated credential for plans (Reader)"),
            ("AZURE_APPLY_CLIENT_ID", "environment",
             "managed identity with a federated credential for this environment's deployment"),
        )
    return tuple(Setting(name, "variable", scope, what,
                         bootstrap_source(name, scope == "environment"))
                 for name, scope, what in names)


def registry_contract(access: RegistryAccess) -> tuple[str, ...]:
    """What the pipeline assumes of the registry, for the registry's owners (Terraform, Harbor)."""
    shared = ("one registry that every environment's clusters pull from: the pipeline pushes an "
              "image once and promotes that digest, it does not copy images between registries")
    own = ("one registry per environment: the pipeline pushes to the build environment's, and "
           "each promotion copies the digest with its signatures and attestations into the "
           "promoted environment's (read-only identity on the source, push only for that "
           "environment's promotion job on the target); the digest never changes")
    return (
        own if access.copies else shared,
        f"tags are immutable: releases are tagged with the commit SHA, previews with "
        f"{PREVIEW_TAG_PREFIX}<number>-<sha>; nothing is ever pushed as `latest`",
        f"lifecycle: tags starting with `{PREVIEW_TAG_PREFIX}` and untagged manifests may expire "
        "after 14 days; release tags are kept",
        "cosign stores signatures and attestations as OCI referrers or `sha256-<digest>.sig` / "
        "`.att` tags: those must be writable once per digest even where tags are immutable",
        "scan on push stays enabled: it re-scans releases as new vulnerabilities are published",
        *access.contract,
    )


__all__ = [
    "ARGOCD_NAMESPACE",
    "BOOTSTRAP_DIR",
    "DEFAULT_BRANCH",
    "EXAMPLE_DIR",
    "FLUX_NAMESPACE",
    "PACKAGE_SETTING",
    "PLATFORM_IDENTITY_OUTPUTS",
    "PREVIEWS_ADDON",
    "PREVIEW_BRANCH",
    "PREVIEW_TEMPLATE",
    "PREVIEW_VARIABLES",
    "RELEASES_DIR",
    "SERVICE",
    "SIGNATURE_ISSUER",
    "TEMPLATE_DIR",
    "DeliveryInputs",
    "PreviewDelivery",
    "RegistryAccess",
    "Repositories",
    "Setting",
    "Stage",
    "bootstrap_source",
    "build_environment",
    "ci_issuer",
    "copies_releases",
    "cosign_load",
    "cosign_save",
    "pipeline_stages",
    "platform_settings",
    "preview_cluster",
    "preview_environment",
    "preview_requests_dir",
    "promotion_order",
    "registry_contract",
    "repositories",
    "signature_identity",
    "terraform_dir",
    "terraform_layers",
]
