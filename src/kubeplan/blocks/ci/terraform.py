"""ci -> Terraform `registry` layer: the cloud side of the pipeline's OIDC federation.

The application pipeline (delivery/app-template) pushes and signs images with a short-lived
credential it gets by presenting the CI's OIDC token (GitHub Actions) or ID token (GitLab CI).
This renders the trust that token is exchanged against, in the layer that creates the registry
it grants on: a Workload Identity pool and provider plus service accounts with Artifact Registry
roles on the environment's repositories (GCP), IAM roles on the environment's ECR repositories
trusting the account's OIDC provider, which `terraform/bootstrap` creates and this layer reads by
URL (AWS), or user-assigned identities with federated credentials and AcrPush/AcrPull on the
registry (Azure).

Each environment trusts only what it needs (`render.delivery.promotion_order`):

- the build environment (the first one) lets the build jobs push and sign, as it always did,
  and gives a separate read-only identity to the promotion jobs of the later environments, so
  they can copy a release out of it;
- every later environment X lets only the promotion job that runs in CI environment X push:
  GitHub's subject `repo:<owner>/<repo>:environment:<X>`; with GitLab, the `environment` claim
  where the cloud can test it (a GCP attribute condition) and the default branch elsewhere.

Only the repositories in `ci_repositories` are trusted: by default the example service's
repository (`delivery.repositories`, the same convention the pipelines and the GitOps tree use);
each further service repository is added there. The subjects are built from the plan's
environment names and that variable only, so no environment reads another's state. Harbor
(registry: harbor) and on-prem need no cloud trust: the pipeline pushes with a Harbor robot
account.
"""

from __future__ import annotations

from kubeplan.render.delivery import (
    AWS_AUDIENCE,
    AZURE_AUDIENCE,
    DEFAULT_BRANCH,
    SERVICE,
    ci_issuer,
    promotion_order,
    repositories,
)
from kubeplan.render.terraform import azure
from kubeplan.render.terraform.hcl import Block, Expr, Value, block, call, local, ref, template, var
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
GCP_125_SKIP_SUB = ("checkov:skip=CKV_GCP_125:the condition pins `assertion.sub` to the listed "
                    "repositories' environment subjects with `in`; the check only recognises a "
                    "single `assertion.sub ==` comparison")
# The later environments' promotion jobs the build environment's reader trusts (a local).
PROMOTIONS = "ci_promotion_environments"

# The Terraform outputs holding what the pipeline settings need, per CI setting name; the
# delivery README points each setting at its output (the build environment's, or each later
# environment's for the PROMOTE settings).
OUTPUTS = {
    "GCP_WORKLOAD_IDENTITY_PROVIDER": "ci_workload_identity_provider",
    "GCP_CI_SERVICE_ACCOUNT": "ci_service_account",
    "GCP_READER_WORKLOAD_IDENTITY_PROVIDER": "ci_reader_workload_identity_provider",
    "GCP_CI_READER_SERVICE_ACCOUNT": "ci_reader_service_account",
    "GCP_PROMOTE_WORKLOAD_IDENTITY_PROVIDER": "ci_workload_identity_provider",
    "GCP_PROMOTE_SERVICE_ACCOUNT": "ci_service_account",
    "AWS_CI_ROLE_ARN": "ci_role_arn",
    "AWS_CI_READER_ROLE_ARN": "ci_reader_role_arn",
    "AWS_PROMOTE_ROLE_ARN": "ci_role_arn",
    "AZURE_CI_CLIENT_ID": "ci_client_id",
    "AZURE_CI_READER_CLIENT_ID": "ci_reader_client_id",
    "AZURE_PROMOTE_CLIENT_ID": "ci_client_id",
    "AZURE_TENANT_ID": "ci_tenant_id",
}


def issuer(env: TerraformEnv) -> str:
    """The CI's token issuer: GitHub's, or the GitLab instance hosting the repositories."""
    return ci_issuer(env.plan)


def build_environment(env: TerraformEnv) -> bool:
    """Whether `env` is where builds are pushed (the first environment of the promotion)."""
    return promotion_order(env.plan)[0] == env.environment


def later_environments(env: TerraformEnv) -> list[str]:
    """The environments whose promotion jobs copy releases out of the build environment."""
    return list(promotion_order(env.plan)[1:]) if build_environment(env) else []


def github_promotion_subject(repository: str, environment: str) -> str:
    """GitHub's `sub` for a job that references `environment` (docs: OIDC subject claims)."""
    return f"repo:{repository}:environment:{environment}"


def gitlab_default_branch_subject(project: str) -> str:
    """GitLab's default `sub` for a job on the default branch."""
    return f"project_path:{project}:ref_type:branch:ref:{DEFAULT_BRANCH}"


def _repositories_variable(env: TerraformEnv) -> Variable:
    default = repositories(env.plan).service_path(SERVICE)
    what = ("push and sign images in this environment's registry" if build_environment(env)
            else "promote releases into this environment's registry")
    return Variable(
        "ci_repositories", "list(string)",
        f"Repositories (owner/name; GitLab project paths may include subgroups) whose pipelines "
        f"may {what}: add each service repository.",
        default=[default],
        validations=(Validation(
            "length(var.ci_repositories) > 0 && alltrue([for r in var.ci_repositories : "
            'can(regex("^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$", r))])',
            "ci_repositories must be a non-empty list of owner/name paths."),))


def _locals(env: TerraformEnv) -> dict[str, Value]:
    later = later_environments(env)
    return {PROMOTIONS: later} if later else {}


def _promotion_pairs(value: str) -> Expr:
    """`{ "<repository>:<environment>" => value }` over the repositories and the later
    environments; `value` may use `pair[0]` (repository) and `pair[1]` (environment)."""
    return Expr(f"{{ for pair in setproduct(var.ci_repositories, local.{PROMOTIONS}) : "
                f'"${{pair[0]}}:${{pair[1]}}" => {value} }}')


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


def _gcp_condition(env: TerraformEnv) -> Expr:
    """Which tokens the environment's provider accepts."""
    repos = call("jsonencode", var("ci_repositories"))
    if build_environment(env):
        claim = "repository" if _github(env) else "project_path"
        return template(f"assertion.{claim} in ", repos)
    if _github(env):
        subjects = Expr(f'[for r in var.ci_repositories : '
                        f'"{github_promotion_subject("${r}", env.environment)}"]')
        return template("assertion.sub in ", call("jsonencode", subjects))
    # GitLab puts the job's environment in its own claim (the subject names the branch).
    return template("assertion.project_path in ", repos,
                    f' && assertion.environment == "{env.environment}"')


def _gcp(env: TerraformEnv) -> Contribution:
    github = _github(env)
    build = build_environment(env)
    # The token claim naming the repository: `repository` (GitHub), `project_path` (GitLab).
    claim = "repository" if github else "project_path"
    # Pool and service account ids: 4-32 and 6-30 lower-case characters.
    pool_id = f"{env.prefix[:28].rstrip('-')}-ci"
    account_id = f"{env.name[:14]}-{env.environment[:8]}-ci"
    pool = "google_iam_workload_identity_pool.ci"
    account = "google_service_account.ci"
    provider_comments = (
        ["Only tokens of the listed repositories are accepted.", GCP_125_SKIP] if build and github
        else ["Only tokens of the listed repositories are accepted."] if build
        else [f"Only the promotion jobs of the listed repositories that run in CI environment "
              f"{env.environment} are accepted.", *([GCP_125_SKIP_SUB] if github else [])])
    purpose = ("Pipelines pushing to" if build else "Promotions into")
    blocks: list[Block] = [
        block("resource", "google_iam_workload_identity_pool", "ci",
              project=var("project_id"), workload_identity_pool_id=pool_id,
              display_name=f"CI {env.environment}"[:32],
              description=f"{purpose} the {env.environment} registry"),
        block("resource", "google_iam_workload_identity_pool_provider", "ci",
              comments=provider_comments,
              project=var("project_id"),
              workload_identity_pool_id=ref(pool, "workload_identity_pool_id"),
              workload_identity_pool_provider_id="github" if github else "gitlab",
              display_name="GitHub Actions" if github else "GitLab CI",
              attribute_mapping={"google.subject": "assertion.sub",
                                 f"attribute.{claim}": f"assertion.{claim}"},
              attribute_condition=_gcp_condition(env),
              oidc=block("oidc", issuer_uri=issuer(env))),
        block("resource", "google_service_account", "ci", project=var("project_id"),
              account_id=account_id,
              display_name=f"CI image {'push' if build else 'promotion'} ({env.environment})",
              description=("Pushes and signs images in the environment's Docker repositories"
                           if build else "Copies promoted releases into the environment's "
                           "Docker repositories")),
    ]
    if build or not github:
        # Build jobs by repository; GitLab promotions likewise (the provider admits only the
        # environment's promotion jobs).
        blocks.append(block(
            "resource", "google_service_account_iam_member", "ci_workload_identity",
            comments=["Each listed repository's pipelines may impersonate the account."],
            for_each=call("toset", var("ci_repositories")),
            service_account_id=ref(account, "name"), role="roles/iam.workloadIdentityUser",
            member=template("principalSet://iam.googleapis.com/", ref(pool, "name"),
                            f"/attribute.{claim}/", Expr("each.value"))))
    else:
        blocks.append(block(
            "resource", "google_service_account_iam_member", "ci_workload_identity",
            comments=[f"Only each repository's promotion job in environment {env.environment}."],
            for_each=Expr("{ for r in var.ci_repositories : r => "
                          f'"{github_promotion_subject("${r}", env.environment)}" }}'),
            service_account_id=ref(account, "name"), role="roles/iam.workloadIdentityUser",
            member=template("principal://iam.googleapis.com/", ref(pool, "name"), "/subject/",
                            Expr("each.value"))))
    for region in env.registry_regions:
        repository = f"google_artifact_registry_repository.images_{slug(region)}"
        blocks.append(block(
            "resource", "google_artifact_registry_repository_iam_member", f"ci_{slug(region)}",
            project=var("project_id"), location=ref(repository, "location"),
            repository=ref(repository, "name"), role="roles/artifactregistry.writer",
            member=template("serviceAccount:", ref(account, "email"))))
    outputs = [
        Output("ci_workload_identity_provider",
               ref("google_iam_workload_identity_pool_provider.ci", "name"),
               "CI setting GCP_WORKLOAD_IDENTITY_PROVIDER (provider resource name)." if build
               else "CI setting GCP_PROMOTE_WORKLOAD_IDENTITY_PROVIDER of this environment."),
        Output("ci_service_account", ref(account, "email"),
               "CI setting GCP_CI_SERVICE_ACCOUNT (image push service account)." if build
               else "CI setting GCP_PROMOTE_SERVICE_ACCOUNT of this environment."),
    ]
    if later_environments(env):
        reader_blocks, reader_outputs = _gcp_reader(env, pool)
        blocks += reader_blocks
        outputs += reader_outputs
    return Contribution(
        LAYER, FILE, tuple(blocks), variables=(_repositories_variable(env),),
        locals=_locals(env), outputs=tuple(outputs),
        gcp_apis=frozenset({"iam.googleapis.com", "iamcredentials.googleapis.com",
                            "sts.googleapis.com"}))


def _gcp_reader(env: TerraformEnv, pool: str) -> tuple[list[Block], list[Output]]:
    """The build environment's read-only account for the later environments' promotions."""
    account = "google_service_account.ci_reader"
    blocks: list[Block] = []
    if _github(env):
        # GitHub's subject names the environment: the build provider already maps it.
        provider = "google_iam_workload_identity_pool_provider.ci"
        members = _promotion_pairs(f'"{github_promotion_subject("${pair[0]}", "${pair[1]}")}"')
        member = template("principal://iam.googleapis.com/", ref(pool, "name"), "/subject/",
                          Expr("each.value"))
    else:
        # GitLab's subject names the branch, its `environment` claim the environment: a second
        # provider admits only jobs of the later environments and maps the pair to an attribute
        # the build provider never sets (so build jobs never carry it).
        provider = "google_iam_workload_identity_pool_provider.ci_promotion"
        blocks.append(block(
            "resource", "google_iam_workload_identity_pool_provider", "ci_promotion",
            comments=["Only promotion jobs of the listed repositories in the later "
                      "environments are accepted."],
            project=var("project_id"),
            workload_identity_pool_id=ref(pool, "workload_identity_pool_id"),
            workload_identity_pool_provider_id="gitlab-promotion",
            display_name="GitLab CI promotions",
            attribute_mapping={
                "google.subject": "assertion.sub",
                "attribute.promotion":
                    'assertion.project_path + ":environment:" + assertion.environment'},
            attribute_condition=template(
                "assertion.project_path in ", call("jsonencode", var("ci_repositories")),
                " && assertion.environment in ", call("jsonencode", local(PROMOTIONS))),
            oidc=block("oidc", issuer_uri=issuer(env))))
        members = _promotion_pairs('"${pair[0]}:environment:${pair[1]}"')
        member = template("principalSet://iam.googleapis.com/", ref(pool, "name"),
                          "/attribute.promotion/", Expr("each.value"))
    blocks += [
        block("resource", "google_service_account", "ci_reader", project=var("project_id"),
              account_id=f"{env.name[:14]}-{env.environment[:8]}-pull",
              display_name=f"CI image pull ({env.environment})",
              description="Reads releases for the later environments' promotion jobs"),
        block("resource", "google_service_account_iam_member", "ci_reader_workload_identity",
              comments=["Each later environment's promotion job of each listed repository."],
              for_each=members, service_account_id=ref(account, "name"),
              role="roles/iam.workloadIdentityUser", member=member),
    ]
    for region in env.registry_regions:
        repository = f"google_artifact_registry_repository.images_{slug(region)}"
        blocks.append(block(
            "resource", "google_artifact_registry_repository_iam_member",
            f"ci_reader_{slug(region)}",
            project=var("project_id"), location=ref(repository, "location"),
            repository=ref(repository, "name"), role="roles/artifactregistry.reader",
            member=template("serviceAccount:", ref(account, "email"))))
    outputs = [
        Output("ci_reader_workload_identity_provider", ref(provider, "name"),
               "CI setting GCP_READER_WORKLOAD_IDENTITY_PROVIDER (promotions read builds)."),
        Output("ci_reader_service_account", ref(account, "email"),
               "CI setting GCP_CI_READER_SERVICE_ACCOUNT (image pull service account)."),
    ]
    return blocks, outputs


# --- AWS ----------------------------------------------------------------------------------------


def _aws_subjects(env: TerraformEnv, environment: str) -> tuple[str, Expr]:
    """The condition operator and `sub` values that admit `environment`'s promotion jobs."""
    if _github(env):
        return "StringEquals", Expr(
            f'[for r in var.ci_repositories : "{github_promotion_subject("${r}", environment)}"]')
    # IAM can test only `sub` and `aud` of a GitLab token, and GitLab's `sub` names the branch,
    # not the environment: the default branch is the narrowest subject IAM can pin. The
    # environment's protection (and the production job's manual start) gates the job itself.
    return "StringEquals", Expr(
        f'[for r in var.ci_repositories : "{gitlab_default_branch_subject("${r}")}"]')


# The bootstrap creates the account's IAM OIDC provider for the CI's issuer (one per account and
# URL); every environment's registry layer reads it by URL, so environments sharing an account
# never create it twice.
AWS_OIDC_PROVIDER = "data.aws_iam_openid_connect_provider.ci"


def _aws_trust(env: TerraformEnv, host: str, operator: str, subjects: Expr) -> Expr:
    provider = AWS_OIDC_PROVIDER
    return call("jsonencode", {"Version": "2012-10-17", "Statement": [{
        "Sid": "CiOidc", "Effect": "Allow",
        "Principal": {"Federated": ref(provider, "arn")},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {operator: {f"{host}:aud": AWS_AUDIENCE, f"{host}:sub": subjects}}
        if operator == "StringEquals" else {
            "StringEquals": {f"{host}:aud": AWS_AUDIENCE},
            operator: {f"{host}:sub": subjects}}}]})


def _aws(env: TerraformEnv) -> Contribution:
    host = issuer(env).removeprefix("https://")
    build = build_environment(env)
    # The environment's repositories, created by the registry block under <platform>/<env>/.
    region = env.primary_region
    repositories_arn = template(f"arn:aws:ecr:{region}:", var("aws_account_id"),
                                f":repository/{env.name}/{env.environment}/*")
    if build:
        # `sub` is repo:<owner/name>:<context> (GitHub) or project_path:<path>:ref_type:...
        # (GitLab): any build job of the listed repositories, as before.
        sub = "repo" if _github(env) else "project_path"
        trust = _aws_trust(env, host, "StringLike", Expr(
            f'[for r in var.ci_repositories : "{sub}:${{r}}:*"]'))
    else:
        trust = _aws_trust(env, host, *_aws_subjects(env, env.environment))
    policy = call("jsonencode", {"Version": "2012-10-17", "Statement": [
        {"Sid": "EcrLogin", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"],
         "Resource": "*"},
        {"Sid": "EcrPush", "Effect": "Allow",
         "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage",
                    "ecr:CompleteLayerUpload", "ecr:DescribeImages",
                    "ecr:GetDownloadUrlForLayer", "ecr:InitiateLayerUpload", "ecr:PutImage",
                    "ecr:UploadLayerPart"],
         "Resource": [repositories_arn]}]})
    what = "push" if build else "promotion"
    blocks: list[Block] = [
        block("data", "aws_iam_openid_connect_provider", "ci",
              comments=["Created once per account by terraform/bootstrap (the platform "
                        "pipeline trusts it too)."],
              url=issuer(env)),
        block("resource", "aws_iam_role", "ci", name=f"{env.prefix}-ci-{what}",
              description=f"CI image {what} to the {env.environment} ECR repositories",
              assume_role_policy=trust, max_session_duration=3600,
              force_detach_policies=True, tags=env.labels),
        block("resource", "aws_iam_role_policy", "ci",
              comments=["GetAuthorizationToken has no resource-level permissions; pushes are "
                        "limited to the environment's repositories."],
              name="ecr-push", role=ref("aws_iam_role.ci", "id"), policy=policy),
    ]
    outputs = [Output("ci_role_arn", ref("aws_iam_role.ci", "arn"),
                      "CI setting AWS_CI_ROLE_ARN (image push role)." if build
                      else "CI setting AWS_PROMOTE_ROLE_ARN of this environment.")]
    later = later_environments(env)
    if later:
        if _github(env):
            subjects = Expr(
                f"[for pair in setproduct(var.ci_repositories, local.{PROMOTIONS}) : "
                f'"{github_promotion_subject("${pair[0]}", "${pair[1]}")}"]')
        else:
            subjects = _aws_subjects(env, later[0])[1]
        reader_policy = call("jsonencode", {"Version": "2012-10-17", "Statement": [
            {"Sid": "EcrLogin", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"],
             "Resource": "*"},
            {"Sid": "EcrPull", "Effect": "Allow",
             "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage",
                        "ecr:DescribeImages", "ecr:GetDownloadUrlForLayer", "ecr:ListImages"],
             "Resource": [repositories_arn]}]})
        blocks += [
            block("resource", "aws_iam_role", "ci_reader", name=f"{env.prefix}-ci-pull",
                  comments=["Read-only, for the later environments' promotion jobs."],
                  description=f"CI promotions read releases from the {env.environment} ECR "
                              "repositories",
                  assume_role_policy=_aws_trust(env, host, "StringEquals", subjects),
                  max_session_duration=3600, force_detach_policies=True, tags=env.labels),
            block("resource", "aws_iam_role_policy", "ci_reader", name="ecr-pull",
                  role=ref("aws_iam_role.ci_reader", "id"), policy=reader_policy),
        ]
        outputs.append(Output("ci_reader_role_arn", ref("aws_iam_role.ci_reader", "arn"),
                              "CI setting AWS_CI_READER_ROLE_ARN (image pull role)."))
    return Contribution(
        LAYER, FILE, tuple(blocks), variables=(_repositories_variable(env),),
        locals=_locals(env), outputs=tuple(outputs), notes=(AWS_OIDC_NOTE,))


AWS_OIDC_NOTE = (
    "The registry layers read the IAM OIDC provider of the CI's issuer, which "
    "`terraform/bootstrap` creates in the state's account (IAM allows one per account and URL). "
    "An environment in another AWS account needs that provider there before its registry layer: "
    "create it once in that account (`aws iam create-open-id-connect-provider --url <issuer> "
    "--client-id-list sts.amazonaws.com`), or keep the environments in the state's account, "
    "which is also the only account the platform pipeline's plan and apply roles act in.")


# --- Azure --------------------------------------------------------------------------------------


def _azure_credential(name: str, identity: str, subjects: Expr, issuer_url: str) -> Block:
    return block("resource", "azurerm_federated_identity_credential", name,
                 comments=["Credential names allow letters, digits, - and _ (max 120)."],
                 for_each=subjects, name=Expr("substr(each.key, 0, 120)"),
                 user_assigned_identity_id=ref(identity, "id"), audience=[AZURE_AUDIENCE],
                 issuer=issuer_url, subject=Expr("each.value"))


def _credential_key(repository: str, context: str) -> str:
    return f'${{replace({repository}, "/[^A-Za-z0-9_-]/", "-")}}-{context}'


def _azure(env: TerraformEnv) -> Contribution:
    # Entra ID matches subjects exactly (no wildcards): one credential per repository and
    # context.
    github = _github(env)
    build = build_environment(env)
    claim = "repo" if github else "project_path"
    contexts: dict[str, str] = {}
    if build:
        # The default branch and (GitHub) pull requests, which push preview images.
        contexts = ({"main": f"ref:refs/heads/{DEFAULT_BRANCH}", "pull-requests": "pull_request"}
                    if github else {"main": f"ref_type:branch:ref:{DEFAULT_BRANCH}"})
        subjects = Expr(
            "{ for pair in setproduct(var.ci_repositories, keys(local.ci_contexts)) : "
            f'"{_credential_key("pair[0]", "${pair[1]}")}" => '
            f'"{claim}:${{pair[0]}}:${{local.ci_contexts[pair[1]]}}" }}')
    elif github:
        subjects = Expr(
            f'{{ for r in var.ci_repositories : "{_credential_key("r", env.environment)}" => '
            f'"{github_promotion_subject("${r}", env.environment)}" }}')
    else:
        # Entra ID compares GitLab's `sub` exactly and it names the branch, not the
        # environment: the default branch is the narrowest subject it can pin.
        subjects = Expr(
            f'{{ for r in var.ci_repositories : "{_credential_key("r", "main")}" => '
            f'"{gitlab_default_branch_subject("${r}")}" }}')
    identity = "azurerm_user_assigned_identity.ci"
    blocks: list[Block] = [
        block("resource", "azurerm_user_assigned_identity", "ci", name=f"{env.prefix}-ci",
              location=env.primary_region, resource_group_name=azure.resource_group(env),
              tags=env.labels),
        _azure_credential("ci", identity, subjects, issuer(env)),
        azure.role("ci_push", ref("module.registry.resource_id"), "AcrPush",
                   ref(identity, "principal_id")),
    ]
    outputs = [Output("ci_client_id", ref(identity, "client_id"),
                      "CI setting AZURE_CI_CLIENT_ID (identity with AcrPush)." if build
                      else "CI setting AZURE_PROMOTE_CLIENT_ID of this environment."),
               Output("ci_tenant_id", ref(identity, "tenant_id"),
                      "CI setting AZURE_TENANT_ID.")]
    later = later_environments(env)
    if later:
        reader = "azurerm_user_assigned_identity.ci_reader"
        if github:
            readers = Expr(
                f"{{ for pair in setproduct(var.ci_repositories, local.{PROMOTIONS}) : "
                f'"{_credential_key("pair[0]", "${pair[1]}")}" => '
                f'"{github_promotion_subject("${pair[0]}", "${pair[1]}")}" }}')
        else:
            # Same limit as above: GitLab's promotion jobs are known by the default branch.
            readers = Expr(
                f'{{ for r in var.ci_repositories : "{_credential_key("r", "main")}" => '
                f'"{gitlab_default_branch_subject("${r}")}" }}')
        blocks += [
            block("resource", "azurerm_user_assigned_identity", "ci_reader",
                  comments=["Read-only, for the later environments' promotion jobs."],
                  name=f"{env.prefix}-ci-pull", location=env.primary_region,
                  resource_group_name=azure.resource_group(env), tags=env.labels),
            _azure_credential("ci_reader", reader, readers, issuer(env)),
            azure.role("ci_pull", ref("module.registry.resource_id"), "AcrPull",
                       ref(reader, "principal_id")),
        ]
        outputs.append(Output("ci_reader_client_id", ref(reader, "client_id"),
                              "CI setting AZURE_CI_READER_CLIENT_ID (identity with AcrPull)."))
    return Contribution(
        LAYER, FILE, tuple(blocks), variables=(_repositories_variable(env),),
        locals={**({"ci_contexts": contexts} if contexts else {}), **_locals(env)},
        outputs=tuple(outputs))
