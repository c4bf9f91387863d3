"""registry -> delivery: how pipelines push to the platform registry, and what they assume of it.

Cloud registries are reached with the CI's OIDC token exchanged for a short-lived credential;
Harbor with a robot account whose secret sits in the CI's secret store. The registry address is
a CI variable (`REGISTRY_URL`) filled from the registry's Terraform output or Harbor's hostname.
"""

from __future__ import annotations

from kubeplan.model import Plan
from kubeplan.render.delivery import (
    CI_IDENTITY_SOURCE,
    REGISTRY_VARIABLE,
    RegistryAccess,
    Setting,
)
from kubeplan.render.delivery import github as gh
from kubeplan.render.delivery import gitlab as gl

_TF = "Terraform output of the registry layer"


def _address(description: str, source: str) -> Setting:
    return Setting(REGISTRY_VARIABLE, "variable", "repository", description, source)


def _host_step(replica: bool) -> dict[str, object]:
    # Login actions want the host alone; derive it from the one address setting.
    run = 'echo "host=${REGISTRY_URL%%/*}" >> "$GITHUB_OUTPUT"'
    env = {REGISTRY_VARIABLE: "${{ vars.REGISTRY_URL }}"}
    if replica:
        run += '\necho "replica_host=${REGISTRY_REPLICA_URL%%/*}" >> "$GITHUB_OUTPUT"'
        env["REGISTRY_REPLICA_URL"] = "${{ vars.REGISTRY_REPLICA_URL }}"
    return gh.step("Registry hosts", id_="registry", env=env, run=run)


def access(plan: Plan) -> RegistryAccess:
    provider = plan.metadata.provider
    decision = plan.decision("registry")
    region = plan.topology.regions[0]
    second = str(decision.param("replicateTo"))
    if decision.choice == "harbor":
        return _harbor(second)
    if provider == "gcp":
        return _artifact_registry(region, second)
    if provider == "aws":
        return _ecr(region, second)
    return _acr(region, second)


def _artifact_registry(region: str, second: str) -> RegistryAccess:
    settings = [
        Setting("GCP_WORKLOAD_IDENTITY_PROVIDER", "variable", "repository",
                "Workload Identity Federation provider (full resource name)", CI_IDENTITY_SOURCE),
        Setting("GCP_CI_SERVICE_ACCOUNT", "variable", "repository",
                "service account allowed to write the Docker repository", CI_IDENTITY_SOURCE),
        _address(f"Docker repository, e.g. {region}-docker.pkg.dev/<project>/<repository>", _TF),
    ]
    login = [_host_step(bool(second)),
             *gh.cloud_login("gcp", region, "${{ vars.GCP_CI_SERVICE_ACCOUNT }}"),
             gh.step("Log in to Artifact Registry", uses_="docker-login", with_={
                 "registry": "${{ steps.registry.outputs.host }}",
                 "username": "oauth2accesstoken",
                 "password": "${{ steps.gcp.outputs.access_token }}"})]
    contract = ["the Docker repository has immutable tags on and Artifact Analysis scanning; a "
                "cleanup policy deletes `pr-*` tags after 14 days"]
    if second:
        settings.append(Setting("REGISTRY_REPLICA_URL", "variable", "repository",
                                f"the second Docker repository, in {second}", _TF))
        login.append(gh.step("Log in to the replica repository", uses_="docker-login", with_={
            "registry": "${{ steps.registry.outputs.replica_host }}",
            "username": "oauth2accesstoken",
            "password": "${{ steps.gcp.outputs.access_token }}"}))
        contract.append(f"Artifact Registry does not replicate a repository: the pipeline "
                        f"pushes and signs the same digest in the {second} repository too")
    tokens, lines = gl.cloud_credentials("gcp", region, "GCP_CI_SERVICE_ACCOUNT")
    return RegistryAccess("artifact-registry", "Artifact Registry", tuple(settings),
                          tuple(login), (), tokens, tuple(lines), None, True, second,
                          tuple(contract))


def _ecr(region: str, second: str) -> RegistryAccess:
    settings = (
        Setting("AWS_CI_ROLE_ARN", "variable", "repository",
                "IAM role trusted for this repository's workflows, allowed to push to ECR",
                CI_IDENTITY_SOURCE),
        _address(f"ECR prefix, e.g. <account>.dkr.ecr.{region}.amazonaws.com/<namespace>", _TF),
    )
    login = (*gh.cloud_login("aws", region, "${{ vars.AWS_CI_ROLE_ARN }}"),
             gh.step("Log in to Amazon ECR", id_="ecr", uses_="ecr-login"))
    contract = ["repositories use IMMUTABLE_WITH_EXCLUSION tag mutability (cosign's "
                "`sha256-*` tags excluded), enhanced scanning on push and a lifecycle policy "
                "expiring `pr-*` tags after 14 days"]
    if second:
        contract.append(f"registry replication to {second} copies images with their "
                        "signatures and attestations")
    tokens, lines = gl.cloud_credentials("aws", region, "AWS_CI_ROLE_ARN")
    return RegistryAccess("ecr", "Amazon ECR", settings, login, (), tokens, tuple(lines), None,
                          True, "", tuple(contract))


def _acr(region: str, second: str) -> RegistryAccess:
    settings = (
        Setting("AZURE_TENANT_ID", "variable", "repository", "Entra ID tenant", CI_IDENTITY_SOURCE),
        Setting("AZURE_SUBSCRIPTION_ID", "variable", "repository", "subscription", CI_IDENTITY_SOURCE),
        Setting("AZURE_CI_CLIENT_ID", "variable", "repository",
                "application with a federated credential for this repository (AcrPush)",
                CI_IDENTITY_SOURCE),
        _address("<registry>.azurecr.io/<namespace>", _TF),
        # GitLab only: cosign's ACR helper takes client secrets, not federated tokens.
        Setting("ACR_TOKEN_NAME", "variable", "repository",
                "ACR repository-scoped token with push on the app repositories",
                "az acr token create (scope map with content/write)", "gitlab-ci"),
        Setting("ACR_TOKEN_PASSWORD", "secret", "repository",
                "that token's password (masked, protected)",
                "az acr token credential generate", "gitlab-ci"),
    )
    login = (_host_step(False),
             *gh.cloud_login("azure", region, "${{ vars.AZURE_CI_CLIENT_ID }}"),
             gh.step("Log in to Azure Container Registry",
                     env={"REGISTRY_HOST": "${{ steps.registry.outputs.host }}"},
                     run='az acr login --name "${REGISTRY_HOST%%.*}"'))
    contract = ["ACR has no registry-wide tag immutability: the pipeline never reuses a tag; "
                "a retention policy removes untagged manifests after 14 days"]
    if second:
        contract.append(f"geo-replication to {second} serves the same digests and signatures")
    return RegistryAccess("acr", "Azure Container Registry", settings, login, (), {}, (),
                          ("ACR_TOKEN_NAME", "ACR_TOKEN_PASSWORD"), False, "", tuple(contract))


def _harbor(second: str) -> RegistryAccess:
    settings = (
        _address("Harbor project, e.g. harbor.<domain>/<project>",
                 "the Harbor hostname and the team's project"),
        Setting("HARBOR_ROBOT_NAME", "secret", "repository",
                "robot account with push and pull on the project only", "Harbor project robot"),
        Setting("HARBOR_ROBOT_SECRET", "secret", "repository", "that robot account's secret",
                "Harbor project robot"),
    )
    login = (_host_step(False),
             gh.step("Log in to Harbor (robot account)", uses_="docker-login", with_={
                 "registry": "${{ steps.registry.outputs.host }}",
                 "username": "${{ secrets.HARBOR_ROBOT_NAME }}",
                 "password": "${{ secrets.HARBOR_ROBOT_SECRET }}"}))
    contract = ["the project has a tag immutability rule for every tag except `sha256-*`, scan "
                "on push, `prevent vulnerable images from running` at the pipeline's severity, "
                "cosign signature enforcement and a retention rule for `pr-*` tags"]
    if second:
        contract.append(f"a replication rule copies the project to the Harbor in {second}, "
                        "signatures included")
    return RegistryAccess("harbor", "Harbor", settings, login,
                          ("HARBOR_ROBOT_NAME", "HARBOR_ROBOT_SECRET"), {}, (),
                          ("HARBOR_ROBOT_NAME", "HARBOR_ROBOT_SECRET"), False, "",
                          tuple(contract))
