"""ci -> Terraform `registry` layer: the cloud side of the pipeline's OIDC federation.

The application pipeline (delivery/app-template) pushes and signs images with a short-lived
credential it gets by presenting the CI's OIDC token (GitHub Actions) or ID token (GitLab CI).
This renders the trust that token is exchanged against, in the layer that creates the registry
it grants on (the first thing the pipeline needs): a Workload Identity pool and provider plus a
service account with Artifact Registry writer on the environment's repositories (GCP), an IAM
OIDC provider plus a role allowed to push to the environment's ECR repositories (AWS), or a
user-assigned identity with federated credentials and AcrPush on the registry (Azure).

Only the repositories in `ci_repositories` are trusted: by default the example service's
repository (`delivery.repositories`, the same convention the pipelines and the GitOps tree use);
each further service repository is added there. Harbor (registry: harbor) and on-prem need no
cloud trust: the pipeline pushes with a Harbor robot account.
"""

from __future__ import annotations

from kubeplan.render.delivery import (
    AWS_AUDIENCE,
    AZURE_AUDIENCE,
    DEFAULT_BRANCH,
    SERVICE,
    repositories,
)
from kubeplan.render.terraform import azure
from kubeplan.render.terraform.hcl import Block, Expr, block, call, ref, template, var
from kubeplan.render.terraform.model import (
    Contribution,
    Output,
    TerraformEnv,
    Validation,
    Variable,
    slug,
)

LAYER = "registry"
FILE = "ci"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GCP_125_SKIP = ("checkov:skip=CKV_GCP_125:the condition pins the `repository` claim (set by "
                "GitHub, not by the workflow) to a list; the check only recognises a single "
                "`assertion.sub ==` comparison")

# The Terraform outputs holding what the pipeline settings need, per CI setting name; the
# delivery README points each setting at its output.
OUTPUTS = {
    "GCP_WORKLOAD_IDENTITY_PROVIDER": "ci_workload_identity_provider",
    "GCP_CI_SERVICE_ACCOUNT": "ci_service_account",
    "AWS_CI_ROLE_ARN": "ci_role_arn",
    "AZURE_CI_CLIENT_ID": "ci_client_id",
    "AZURE_TENANT_ID": "ci_tenant_id",
}


def issuer(env: TerraformEnv) -> str:
    """The CI's token issuer: GitHub's, or the GitLab instance hosting the repositories."""
    if env.choice("ci") == "github-actions":
        return GITHUB_ISSUER
    return f"https://{repositories(env.plan).host}"


def _repositories_variable(env: TerraformEnv) -> Variable:
    default = repositories(env.plan).service_path(SERVICE)
    return Variable(
        "ci_repositories", "list(string)",
        "Repositories (owner/name; GitLab project paths may include subgroups) whose pipelines "
        "may push and sign images in this environment's registry: add each service repository.",
        default=[default],
        validations=(Validation(
            "length(var.ci_repositories) > 0 && alltrue([for r in var.ci_repositories : "
            'can(regex("^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$", r))])',
            "ci_repositories must be a non-empty list of owner/name paths."),))


def contribute(env: TerraformEnv) -> list[Contribution]:
    if env.provider == "onprem" or env.choice("registry") != "provider":
        return []
    if env.provider == "gcp":
        return [_gcp(env)]
    if env.provider == "aws":
        return [_aws(env)]
    return [_azure(env)]


def _github(env: TerraformEnv) -> bool:
    return env.choice("ci") == "github-actions"


# --- GCP ----------------------------------------------------------------------------------------




def _gcp(env: TerraformEnv) -> Contribution:
    github = _github(env)
    # The token claim naming the repository: `repository` (GitHub), `project_path` (GitLab).
    claim = "repository" if github else "project_path"
    # Pool and service account ids: 4-32 and 6-30 lower-case characters.
    pool_id = f"{env.prefix[:28].rstrip('-')}-ci"
    account_id = f"{env.name[:14]}-{env.environment[:8]}-ci"
    pool = "google_iam_workload_identity_pool.ci"
    account = "google_service_account.ci"
    blocks: list[Block] = [
        block("resource", "google_iam_workload_identity_pool", "ci",
              project=var("project_id"), workload_identity_pool_id=pool_id,
              display_name=f"CI {env.environment}"[:32],
              description=f"Pipelines pushing to the {env.environment} registry"),
        block("resource", "google_iam_workload_identity_pool_provider", "ci",
              comments=["Only tokens of the listed repositories are accepted.",
                        *([GCP_125_SKIP] if github else [])],
              project=var("project_id"),
              workload_identity_pool_id=ref(pool, "workload_identity_pool_id"),
              workload_identity_pool_provider_id="github" if github else "gitlab",
              display_name="GitHub Actions" if github else "GitLab CI",
              attribute_mapping={"google.subject": "assertion.sub",
                                 f"attribute.{claim}": f"assertion.{claim}"},
              attribute_condition=template(f"assertion.{claim} in ",
                                           call("jsonencode", var("ci_repositories"))),
              oidc=block("oidc", issuer_uri=issuer(env))),
        block("resource", "google_service_account", "ci", project=var("project_id"),
              account_id=account_id, display_name=f"CI image push ({env.environment})",
              description="Pushes and signs images in the environment's Docker repositories"),
        block("resource", "google_service_account_iam_member", "ci_workload_identity",
              comments=["Each listed repository's pipelines may impersonate the account."],
              for_each=call("toset", var("ci_repositories")),
              service_account_id=ref(account, "name"), role="roles/iam.workloadIdentityUser",
              member=template("principalSet://iam.googleapis.com/", ref(pool, "name"),
                              f"/attribute.{claim}/", Expr("each.value"))),
    ]
    for region in env.registry_regions:
        repository = f"google_artifact_registry_repository.images_{slug(region)}"
        blocks.append(block(
            "resource", "google_artifact_registry_repository_iam_member", f"ci_{slug(region)}",
            project=var("project_id"), location=ref(repository, "location"),
            repository=ref(repository, "name"), role="roles/artifactregistry.writer",
            member=template("serviceAccount:", ref(account, "email"))))
    return Contribution(
        LAYER, FILE, tuple(blocks), variables=(_repositories_variable(env),),
        outputs=(
            Output("ci_workload_identity_provider",
                   ref("google_iam_workload_identity_pool_provider.ci", "name"),
                   "CI setting GCP_WORKLOAD_IDENTITY_PROVIDER (provider resource name)."),
            Output("ci_service_account", ref(account, "email"),
                   "CI setting GCP_CI_SERVICE_ACCOUNT (image push service account)."),
        ),
        gcp_apis=frozenset({"iam.googleapis.com", "iamcredentials.googleapis.com",
                            "sts.googleapis.com"}))


# --- AWS ----------------------------------------------------------------------------------------


def _aws(env: TerraformEnv) -> Contribution:
    host = issuer(env).removeprefix("https://")
    # `sub` is repo:<owner/name>:<context> (GitHub) or project_path:<path>:ref_type:... (GitLab).
    sub = "repo" if _github(env) else "project_path"
    provider = "aws_iam_openid_connect_provider.ci"
    # The environment's repositories, created by the registry block under <platform>/<env>/.
    region = env.primary_region
    repositories_arn = template(f"arn:aws:ecr:{region}:", var("aws_account_id"),
                                f":repository/{env.name}/{env.environment}/*")
    trust = call("jsonencode", {"Version": "2012-10-17", "Statement": [{
        "Sid": "CiOidc", "Effect": "Allow",
        "Principal": {"Federated": ref(provider, "arn")},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {
            "StringEquals": {f"{host}:aud": AWS_AUDIENCE},
            "StringLike": {f"{host}:sub": Expr(
                f'[for r in var.ci_repositories : "{sub}:${{r}}:*"]')}}}]})
    policy = call("jsonencode", {"Version": "2012-10-17", "Statement": [
        {"Sid": "EcrLogin", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"],
         "Resource": "*"},
        {"Sid": "EcrPush", "Effect": "Allow",
         "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage",
                    "ecr:CompleteLayerUpload", "ecr:DescribeImages",
                    "ecr:GetDownloadUrlForLayer", "ecr:InitiateLayerUpload", "ecr:PutImage",
                    "ecr:UploadLayerPart"],
         "Resource": [repositories_arn]}]})
    blocks: list[Block] = [
        block("resource", "aws_iam_openid_connect_provider", "ci",
              comments=["One per account and issuer: environments sharing an account must "
                        "import it instead of creating it twice."],
              url=issuer(env), client_id_list=[AWS_AUDIENCE], tags=env.labels),
        block("resource", "aws_iam_role", "ci", name=f"{env.prefix}-ci-push",
              description=f"CI image push to the {env.environment} ECR repositories",
              assume_role_policy=trust, max_session_duration=3600,
              force_detach_policies=True, tags=env.labels),
        block("resource", "aws_iam_role_policy", "ci",
              comments=["GetAuthorizationToken has no resource-level permissions; pushes are "
                        "limited to the environment's repositories."],
              name="ecr-push", role=ref("aws_iam_role.ci", "id"), policy=policy),
    ]
    return Contribution(
        LAYER, FILE, tuple(blocks), variables=(_repositories_variable(env),),
        outputs=(Output("ci_role_arn", ref("aws_iam_role.ci", "arn"),
                        "CI setting AWS_CI_ROLE_ARN (image push role)."),))


# --- Azure --------------------------------------------------------------------------------------


def _azure(env: TerraformEnv) -> Contribution:
    # Entra ID matches subjects exactly (no wildcards): one credential per repository and
    # context, the default branch and (GitHub) pull requests, which push preview images.
    if _github(env):
        contexts = {"main": f"ref:refs/heads/{DEFAULT_BRANCH}", "pull-requests": "pull_request"}
        claim = "repo"
    else:
        contexts = {"main": f"ref_type:branch:ref:{DEFAULT_BRANCH}"}
        claim = "project_path"
    subjects = Expr(
        "{ for pair in setproduct(var.ci_repositories, keys(local.ci_contexts)) : "
        '"${replace(pair[0], "/[^A-Za-z0-9_-]/", "-")}-${pair[1]}" => '
        f'"{claim}:${{pair[0]}}:${{local.ci_contexts[pair[1]]}}" }}')
    identity = "azurerm_user_assigned_identity.ci"
    blocks: list[Block] = [
        block("resource", "azurerm_user_assigned_identity", "ci", name=f"{env.prefix}-ci",
              location=env.primary_region, resource_group_name=azure.resource_group(env),
              tags=env.labels),
        block("resource", "azurerm_federated_identity_credential", "ci",
              comments=["Credential names allow letters, digits, - and _ (max 120)."],
              for_each=subjects, name=Expr("substr(each.key, 0, 120)"),
              user_assigned_identity_id=ref(identity, "id"), audience=[AZURE_AUDIENCE],
              issuer=issuer(env), subject=Expr("each.value")),
        azure.role("ci_push", ref("module.registry.resource_id"), "AcrPush",
                   ref(identity, "principal_id")),
    ]
    return Contribution(
        LAYER, FILE, tuple(blocks), variables=(_repositories_variable(env),),
        locals={"ci_contexts": contexts},
        outputs=(Output("ci_client_id", ref(identity, "client_id"),
                        "CI setting AZURE_CI_CLIENT_ID (identity with AcrPush)."),
                 Output("ci_tenant_id", ref(identity, "tenant_id"),
                        "CI setting AZURE_TENANT_ID.")))

