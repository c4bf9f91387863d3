"""registry -> delivery: how pipelines push to the platform registry, promote between the
environments' registries, and what they assume of them.

Cloud registries are reached with the CI's OIDC token exchanged for a short-lived credential;
Harbor with a robot account whose secret sits in the CI's secret store. Each cloud environment
has a registry of its own (blocks/registry/terraform*.py): builds go to the build environment's
(`REGISTRY_URL` of the repository), and each later environment's promotion job copies the
release into its own (`REGISTRY_URL` of that CI environment), reading the source as the build
environment's reader and writing as the environment's promotion identity (the trust is
blocks/ci/terraform.py). Harbor is one registry for every environment, kept in step by its own
replication: promotions there change the release file only.
"""

from __future__ import annotations

from kubeplan.model import Plan
from kubeplan.render import naming
from kubeplan.render.delivery import (
    CI_IDENTITY_SOURCE,
    REGISTRY_VARIABLE,
    RegistryAccess,
    Setting,
    build_environment,
    promotion_order,
    terraform_dir,
)
from kubeplan.render.delivery import github as gh
from kubeplan.render.delivery import gitlab as gl
from kubeplan.render.terraform.model import TerraformEnv

REPLICA_VARIABLE = "REGISTRY_REPLICA_URL"
# The Terraform output holding each environment's registry address, per provider.
ADDRESS_OUTPUT = {"gcp": "registry_urls", "aws": "registry_url", "azure": "registry_login_server"}


def _output(plan: Plan, environment: str, output: str) -> str:
    return f"Terraform output `{output}` of `{terraform_dir(environment, 'registry')}`"


def _address_settings(plan: Plan, example: str) -> list[Setting]:
    """REGISTRY_URL: the build environment's at repository level (builds, previews), each later
    environment's in that CI environment (promotions); REGISTRY_REPLICA_URL where an environment
    keeps a second repository the pipeline writes (Artifact Registry does not replicate)."""
    provider = plan.metadata.provider
    order = promotion_order(plan)
    build = build_environment(plan)

    def output(environment: str, region: str) -> str:
        if provider == "gcp":
            return _output(plan, environment, f'{ADDRESS_OUTPUT["gcp"]}["{region}"]')
        return _output(plan, environment, ADDRESS_OUTPUT[provider])

    settings = [Setting(REGISTRY_VARIABLE, "variable", "repository",
                        f"registry of {build}, the build environment: builds and previews are "
                        f"pushed there, e.g. {example}", output(build, _region(plan, build)))]
    for environment in order[1:]:
        settings.append(Setting(
            REGISTRY_VARIABLE, "variable", f"environment {environment}",
            f"registry of {environment}: its promotion job copies releases there",
            output(environment, _region(plan, environment))))
    for environment in replica_environments(plan):
        regions = TerraformEnv(plan, environment).registry_regions
        scope = "repository" if environment == build else f"environment {environment}"
        settings.append(Setting(
            REPLICA_VARIABLE, "variable", scope,
            f"the second Docker repository of {environment}, in {regions[1]}",
            output(environment, regions[1])))
    return settings


def _region(plan: Plan, environment: str) -> str:
    return TerraformEnv(plan, environment).primary_region


def replica_environments(plan: Plan) -> tuple[str, ...]:
    """Environments whose images the pipeline writes to a second repository itself (Artifact
    Registry; ECR and ACR replicate the registry)."""
    if plan.metadata.provider != "gcp" or plan.choice("registry") != "provider":
        return ()
    return tuple(e for e in promotion_order(plan)
                 if len(TerraformEnv(plan, e).registry_regions) > 1)


def _identity(name: str, scope: str, description: str) -> Setting:
    return Setting(name, "variable", scope, description, CI_IDENTITY_SOURCE)


def _promotion_identities(plan: Plan, names: tuple[tuple[str, str], ...],
                          targets: tuple[tuple[str, str], ...]) -> list[Setting]:
    """The build environment's reader (repository level) and each later environment's writer
    (in its CI environment), for promotions; none with a single environment."""
    later = promotion_order(plan)[1:]
    if not later:
        return []
    out = [_identity(name, "repository", what) for name, what in names]
    out += [_identity(name, f"environment {environment}", f"{what} of {environment}")
            for environment in later for name, what in targets]
    return out


def _host_step(replica: bool) -> dict[str, object]:
    # Login actions want the host alone; derive it from the one address setting.
    run = 'echo "host=${REGISTRY_URL%%/*}" >> "$GITHUB_OUTPUT"'
    env = {REGISTRY_VARIABLE: "${{ vars.REGISTRY_URL }}"}
    if replica:
        run += '\necho "replica_host=${REGISTRY_REPLICA_URL%%/*}" >> "$GITHUB_OUTPUT"'
        env[REPLICA_VARIABLE] = "${{ vars.REGISTRY_REPLICA_URL }}"
    return gh.step("Registry hosts", id_="registry", env=env, run=run)


def access(plan: Plan) -> RegistryAccess:
    provider = plan.metadata.provider
    decision = plan.decision("registry")
    region = plan.topology.regions[0]
    second = str(decision.param("replicateTo"))
    if decision.choice == "harbor":
        return _harbor(plan, second)
    if provider == "gcp":
        return _artifact_registry(plan, region, second)
    if provider == "aws":
        return _ecr(plan, region, second)
    return _acr(plan, region, second)


def _docker_login(name: str, host: str, token: str, if_: str | None = None) -> dict[str, object]:
    return gh.step(name, uses_="docker-login", if_=if_, with_={
        "registry": f"${{{{ steps.registry.outputs.{host} }}}}",
        "username": "oauth2accesstoken",
        "password": f"${{{{ steps.{token}.outputs.access_token }}}}"})


def _artifact_registry(plan: Plan, region: str, second: str) -> RegistryAccess:
    replicas = replica_environments(plan)
    build_replica = build_environment(plan) in replicas
    settings = [
        Setting("GCP_WORKLOAD_IDENTITY_PROVIDER", "variable", "repository",
                "Workload Identity Federation provider of the build environment (full "
                "resource name)", CI_IDENTITY_SOURCE),
        Setting("GCP_CI_SERVICE_ACCOUNT", "variable", "repository",
                "service account allowed to write the build environment's Docker repository",
                CI_IDENTITY_SOURCE),
        *_address_settings(plan, f"{region}-docker.pkg.dev/<project>/<repository>"),
        *_promotion_identities(plan, (
            ("GCP_READER_WORKLOAD_IDENTITY_PROVIDER",
             "provider admitting the later environments' promotion jobs in the build "
             "environment's pool"),
            ("GCP_CI_READER_SERVICE_ACCOUNT",
             "service account reading the build environment's Docker repositories"),
        ), (
            ("GCP_PROMOTE_WORKLOAD_IDENTITY_PROVIDER", "Workload Identity Federation provider"),
            ("GCP_PROMOTE_SERVICE_ACCOUNT", "service account writing the Docker repositories"),
        )),
    ]
    login = [_host_step(build_replica),
             *gh.cloud_login("gcp", region, "${{ vars.GCP_CI_SERVICE_ACCOUNT }}"),
             _docker_login("Log in to Artifact Registry", "host", "gcp")]
    contract = ["the Docker repository has immutable tags on and Artifact Analysis scanning; a "
                "cleanup policy deletes untagged images after 14 days, so every copy is tagged "
                "(releases with their commit SHA)"]
    if build_replica:
        login.append(_docker_login("Log in to the replica repository", "replica_host", "gcp"))
    if replicas:
        contract.append(f"Artifact Registry does not replicate a repository: the pipeline "
                        f"writes and verifies the same digest in the {second} repository of "
                        f"{', '.join(replicas)} too")
    source = gh.cloud_login(
        "gcp", region, "${{ vars.GCP_CI_READER_SERVICE_ACCOUNT }}", id_="gcp-source",
        pool_provider="${{ vars.GCP_READER_WORKLOAD_IDENTITY_PROVIDER }}",
        purpose="build environment, read")
    target = gh.cloud_login(
        "gcp", region, "${{ vars.GCP_PROMOTE_SERVICE_ACCOUNT }}", id_="gcp-target",
        pool_provider="${{ vars.GCP_PROMOTE_WORKLOAD_IDENTITY_PROVIDER }}",
        purpose="this environment, write")
    tokens, lines = gl.cloud_credentials("gcp", region, "GCP_CI_SERVICE_ACCOUNT")
    promote_tokens = {
        **gl.gcp_id_token("GCP_SOURCE_ID_TOKEN", "GCP_READER_WORKLOAD_IDENTITY_PROVIDER"),
        **gl.gcp_id_token("GCP_TARGET_ID_TOKEN", "GCP_PROMOTE_WORKLOAD_IDENTITY_PROVIDER")}
    promote_auth = (
        'CI_CREDENTIALS="$(mktemp -d)"',
        *gl.gcp_external_account("source", "GCP_SOURCE_ID_TOKEN",
                                 "GCP_READER_WORKLOAD_IDENTITY_PROVIDER",
                                 "GCP_CI_READER_SERVICE_ACCOUNT"),
        *gl.gcp_external_account("target", "GCP_TARGET_ID_TOKEN",
                                 "GCP_PROMOTE_WORKLOAD_IDENTITY_PROVIDER",
                                 "GCP_PROMOTE_SERVICE_ACCOUNT"),
    )
    return RegistryAccess(
        "artifact-registry", "Artifact Registry", tuple(settings), tuple(login), (), tokens,
        tuple(lines), None, True, second if build_replica else "", tuple(contract),
        copies=True,
        github_source_login=(*source, _docker_login(
            "Log in to the build environment's repository", "source_host", "gcp-source")),
        github_target_login=(*target, _docker_login(
            "Log in to this environment's repository", "target_host", "gcp-target"),
            _docker_login("Log in to this environment's replica repository", "replica_host",
                          "gcp-target", if_="${{ inputs.replica }}")),
        gitlab_promote_id_tokens=promote_tokens, gitlab_promote_auth=promote_auth,
        gitlab_source_env='GOOGLE_APPLICATION_CREDENTIALS="$CI_CREDENTIALS/source.json"',
        gitlab_target_env='GOOGLE_APPLICATION_CREDENTIALS="$CI_CREDENTIALS/target.json"',
        replica_environments=replicas)


def _ecr(plan: Plan, region: str, second: str) -> RegistryAccess:
    settings = (
        Setting("AWS_CI_ROLE_ARN", "variable", "repository",
                "IAM role trusted for this repository's build jobs, allowed to push to the "
                "build environment's ECR repositories", CI_IDENTITY_SOURCE),
        *_address_settings(plan, f"<account>.dkr.ecr.{region}.amazonaws.com/<namespace>"),
        *_promotion_identities(plan, (
            ("AWS_CI_READER_ROLE_ARN",
             "IAM role reading the build environment's ECR repositories, trusted for the later "
             "environments' promotion jobs"),
        ), (("AWS_PROMOTE_ROLE_ARN", "IAM role pushing to the ECR repositories"),)),
    )
    login = (*gh.cloud_login("aws", region, "${{ vars.AWS_CI_ROLE_ARN }}"),
             gh.step("Log in to Amazon ECR", id_="ecr", uses_="ecr-login"))
    contract = ["repositories use IMMUTABLE_WITH_EXCLUSION tag mutability (cosign's "
                "`sha256-*` tags excluded), enhanced scanning on push and a lifecycle policy "
                "expiring untagged images after 14 days, so every copy is tagged (releases with "
                "their commit SHA)"]
    if second:
        contract.append(f"registry replication to {second} copies images with their "
                        "signatures and attestations")
    tokens, lines = gl.cloud_credentials("aws", region, "AWS_CI_ROLE_ARN")
    # The ECR credential helper in cosign's keychain takes its region from the registry host
    # (<account>.dkr.ecr.<region>.amazonaws.com); STS is called in that region too.
    promote_tokens = {"AWS_ID_TOKEN": {"aud": tokens["AWS_ID_TOKEN"]["aud"]}}
    promote_auth = (
        'CI_CREDENTIALS="$(mktemp -d)"',
        'printf \'%s\' "$AWS_ID_TOKEN" > "$CI_CREDENTIALS/oidc-token"',
        'export AWS_WEB_IDENTITY_TOKEN_FILE="$CI_CREDENTIALS/oidc-token"',
        'export AWS_ROLE_SESSION_NAME="gitlab-$CI_JOB_ID"',
    )
    return RegistryAccess(
        "ecr", "Amazon ECR", settings, login, (), tokens, tuple(lines), None, True, "",
        tuple(contract), copies=True,
        github_source_login=(
            *gh.cloud_login("aws", "${{ steps.registry.outputs.source_region }}",
                            "${{ vars.AWS_CI_READER_ROLE_ARN }}",
                            purpose="build environment, read"),
            gh.step("Log in to the build environment's ECR", uses_="ecr-login")),
        github_target_login=(
            *gh.cloud_login("aws", "${{ steps.registry.outputs.target_region }}",
                            "${{ vars.AWS_PROMOTE_ROLE_ARN }}", purpose="this environment, write"),
            gh.step("Log in to this environment's ECR", uses_="ecr-login")),
        gitlab_promote_id_tokens=promote_tokens, gitlab_promote_auth=promote_auth,
        gitlab_source_env=('AWS_ROLE_ARN="$AWS_CI_READER_ROLE_ARN" '
                           'AWS_REGION="$(echo "$SOURCE_IMAGE" | cut -d. -f4)"'),
        gitlab_target_env=('AWS_ROLE_ARN="$AWS_PROMOTE_ROLE_ARN" '
                           'AWS_REGION="$(echo "$REGISTRY_URL" | cut -d. -f4)"'))


def _acr_login(name: str, host: str) -> dict[str, object]:
    return gh.step(name, env={"REGISTRY_HOST": f"${{{{ steps.registry.outputs.{host} }}}}"},
                   run='az acr login --name "${REGISTRY_HOST%%.*}"')


def _acr(plan: Plan, region: str, second: str) -> RegistryAccess:
    later = promotion_order(plan)[1:]
    settings = (
        Setting("AZURE_TENANT_ID", "variable", "repository", "Entra ID tenant", CI_IDENTITY_SOURCE),
        Setting("AZURE_SUBSCRIPTION_ID", "variable", "repository", "subscription", CI_IDENTITY_SOURCE),
        Setting("AZURE_CI_CLIENT_ID", "variable", "repository",
                "application with a federated credential for this repository's build jobs "
                "(AcrPush on the build environment's registry)", CI_IDENTITY_SOURCE),
        *_address_settings(plan, "<registry>.azurecr.io/<namespace>"),
        *_promotion_identities(plan, (
            ("AZURE_CI_READER_CLIENT_ID",
             "application with AcrPull on the build environment's registry, federated for the "
             "later environments' promotion jobs"),
        ), (("AZURE_PROMOTE_CLIENT_ID", "application with AcrPush on the registry"),)),
        # GitLab only: cosign's ACR helper takes client secrets, not federated tokens.
        Setting("ACR_TOKEN_NAME", "variable", "repository",
                "ACR repository-scoped token with push on the build environment's app "
                "repositories", "az acr token create (scope map with content/write)",
                "gitlab-ci"),
        Setting("ACR_TOKEN_PASSWORD", "secret", "repository",
                "that token's password (masked, protected)",
                "az acr token credential generate", "gitlab-ci"),
        *[s for environment in later for s in (
            Setting("ACR_TOKEN_NAME", "variable", f"environment {environment}",
                    f"ACR token with push on the app repositories of {environment}'s registry",
                    "az acr token create (scope map with content/write)", "gitlab-ci"),
            Setting("ACR_TOKEN_PASSWORD", "secret", f"environment {environment}",
                    "that token's password (masked, protected)",
                    "az acr token credential generate", "gitlab-ci"))],
        *([Setting("ACR_READER_TOKEN_NAME", "variable", "repository",
                   "ACR token with pull (content/read) on the build environment's app "
                   "repositories, for promotions", "az acr token create (scope map with "
                   "content/read)", "gitlab-ci"),
           Setting("ACR_READER_TOKEN_PASSWORD", "secret", "repository",
                   "that token's password (masked, protected)",
                   "az acr token credential generate", "gitlab-ci")] if later else []),
    )
    login = (_host_step(False),
             *gh.cloud_login("azure", region, "${{ vars.AZURE_CI_CLIENT_ID }}"),
             _acr_login("Log in to Azure Container Registry", "host"))
    contract = ["ACR has no registry-wide tag immutability: the pipeline never reuses a tag; "
                "a retention policy removes untagged manifests after 7 days, so every copy is "
                "tagged (releases with their commit SHA)"]
    if second:
        contract.append(f"geo-replication to {second} serves the same digests and signatures")
    # GitLab: the Docker config holds the reader token for the build registry and the
    # environment's push token for its own (the same variable names, scoped to it).
    return RegistryAccess(
        "acr", "Azure Container Registry", settings, login, (), {}, (),
        ("ACR_TOKEN_NAME", "ACR_TOKEN_PASSWORD"), False, "", tuple(contract), copies=True,
        github_source_login=(
            *gh.cloud_login("azure", region, "${{ vars.AZURE_CI_READER_CLIENT_ID }}",
                            purpose="build environment, read"),
            _acr_login("Log in to the build environment's registry", "source_host")),
        github_target_login=(
            *gh.cloud_login("azure", region, "${{ vars.AZURE_PROMOTE_CLIENT_ID }}",
                            purpose="this environment, write"),
            _acr_login("Log in to this environment's registry", "target_host")),
        gitlab_promote_auth=(gl.docker_config([
            ('${SOURCE_IMAGE%%/*}', "$ACR_READER_TOKEN_NAME", "$ACR_READER_TOKEN_PASSWORD"),
            ('${REGISTRY_URL%%/*}', "$ACR_TOKEN_NAME", "$ACR_TOKEN_PASSWORD")]),))


def _harbor(plan: Plan, second: str) -> RegistryAccess:
    settings = (
        Setting(REGISTRY_VARIABLE, "variable", "repository",
                f"Harbor project: `{naming.harbor_push_address(plan)}`",
                "the primary Harbor's hostname and the application teams' project"),
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
    # One Harbor (with its own replication) serves every environment: promotions keep the
    # digest's address and change the release file only (copies=False).
    return RegistryAccess("harbor", "Harbor", settings, login,
                          ("HARBOR_ROBOT_NAME", "HARBOR_ROBOT_SECRET"), {}, (),
                          ("HARBOR_ROBOT_NAME", "HARBOR_ROBOT_SECRET"), False, "",
                          tuple(contract))
