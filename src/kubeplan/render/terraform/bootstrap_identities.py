"""`terraform/bootstrap/identities.tf`: the cloud identities of the platform pipeline.

The platform pipeline (`.github/workflows/platform.yml` / `.gitlab-ci.yml`) plans every layer on
pull requests and applies each environment's layers on merge, in the CI environment of that
name. It gets short-lived credentials by presenting the CI's OIDC token:

- a plan identity, trusted for any ref of the platform repository: read-only on every
  environment's resources and read on the state store. Plans run with `-lock=false` (they never
  wait for, or block, an apply), so the plan identity needs no write access at all, not even for
  lock files;
- one apply identity per environment, trusted only for the deployment job of that CI environment
  (GitHub: the subject `repo:<owner>/<repo>:environment:<env>`; GitLab: the `environment` claim
  on the protected default branch where the cloud can test it, the default-branch subject where
  it cannot), allowed to change that environment and to write its own state objects.

The outputs are exactly the values of the CI settings (`delivery.PLATFORM_IDENTITY_OUTPUTS`);
the runbook tells the operator to copy them after the bootstrap apply.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubeplan.model import Plan
from kubeplan.render.delivery import (
    AWS_AUDIENCE,
    AZURE_AUDIENCE,
    DEFAULT_BRANCH,
    PLATFORM_IDENTITY_OUTPUTS,
    ci_issuer,
    promotion_order,
    repositories,
)
from kubeplan.render.terraform import roots
from kubeplan.render.terraform.hcl import Block, Expr, Value, block, call, ref, template, var
from kubeplan.render.terraform.model import Output, Validation, Variable, slug

# Built-in Azure role definitions the apply identity may never assign (Owner, User Access
# Administrator, Role Based Access Control Administrator): it can grant the platform's
# workload roles, not hand out control of the subscription.
AZURE_PRIVILEGED_ROLES = ("8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
                          "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
                          "f58310d9-a9f6-439a-9e8d-f62e7b41a168")
GCP_APIS = ("iam.googleapis.com", "iamcredentials.googleapis.com", "sts.googleapis.com")


@dataclass(frozen=True)
class Identities:
    blocks: tuple[Block, ...]
    variables: tuple[Variable, ...]
    outputs: tuple[Output, ...]


def identities(plan: Plan) -> Identities:
    builder = {"gcp": _gcp, "aws": _aws, "azure": _azure}.get(plan.metadata.provider)
    return builder(plan) if builder else Identities((), (), ())


def _github(plan: Plan) -> bool:
    return plan.choice("ci") == "github-actions"


def _platform(plan: Plan) -> str:
    return repositories(plan).platform_path


def apply_subject(plan: Plan, environment: str) -> str:
    """The `sub` of the platform pipeline's deployment job for `environment`: GitHub names the
    environment; GitLab names the branch (the default branch, where apply jobs run)."""
    if _github(plan):
        return f"repo:{_platform(plan)}:environment:{environment}"
    return f"project_path:{_platform(plan)}:ref_type:branch:ref:{DEFAULT_BRANCH}"


def plan_subject(plan: Plan) -> str:
    """The `sub` of the platform pipeline's plan jobs (pull requests; GitLab: the default
    branch, the only branch an exact-match trust can name)."""
    if _github(plan):
        return f"repo:{_platform(plan)}:pull_request"
    return f"project_path:{_platform(plan)}:ref_type:branch:ref:{DEFAULT_BRANCH}"


def _environments_map(name: str, what: str, pattern: str, kind: str,
                      environments: tuple[str, ...]) -> Variable:
    listed = "[" + ", ".join(f'"{e}"' for e in environments) + "]"
    return Variable(
        name, "map(string)", what,
        validations=(
            Validation(f"alltrue([for e in {listed} : contains(keys(var.{name}), e)])",
                       f"{name} must have a key for every environment: "
                       f"{', '.join(environments)}."),
            Validation(f'alltrue([for v in values(var.{name}) : can(regex("{pattern}", v))])',
                       f"every value of {name} must be {kind}."),
        ))


def _output(setting: str, value: Value, description: str) -> Output:
    return Output(PLATFORM_IDENTITY_OUTPUTS[setting], value, f"CI setting {setting}: "
                  f"{description}")


# --- GCP ----------------------------------------------------------------------------------------


def _gcp(plan: Plan) -> Identities:
    github = _github(plan)
    name = plan.metadata.name
    environments = promotion_order(plan)
    platform = _platform(plan)
    claim = "repository" if github else "project_path"
    pool = "google_iam_workload_identity_pool.platform"
    provider = "google_iam_workload_identity_pool_provider.platform"
    state = ref("google_storage_bucket.tfstate.name")
    mapping: dict[str, Value] = {"google.subject": "assertion.sub",
                                 f"attribute.{claim}": f"assertion.{claim}"}
    if not github:
        # GitLab's subject names the branch: the deployment attribute carries the environment
        # of jobs on the protected default branch only, so a merge request's plan job (which
        # names its environment too, to read its variables) never matches an apply account.
        mapping["attribute.deployment"] = (
            f'has(assertion.environment) && assertion.ref_type == "branch" && '
            f'assertion.ref == "{DEFAULT_BRANCH}" && assertion.ref_protected == "true" '
            '? assertion.environment : "-"')
    blocks: list[Block] = [
        block("resource", "google_project_service", "platform_ci",
              for_each=call("toset", list(GCP_APIS)), project=var("project_id"),
              service=Expr("each.value"), disable_on_destroy=False),
        block("resource", "google_iam_workload_identity_pool", "platform",
              project=var("project_id"),
              workload_identity_pool_id=f"{name[:23].rstrip('-')}-platform",
              display_name="Platform pipeline",
              description=f"The platform pipeline of {platform}"[:256],
              depends_on=[ref("google_project_service.platform_ci")]),
        block("resource", "google_iam_workload_identity_pool_provider", "platform",
              comments=[f"Only tokens of the platform repository {platform} are accepted.",
                        *(["checkov:skip=CKV_GCP_125:the condition pins the `repository` claim "
                           "(set by GitHub, not by the workflow) to the platform repository; "
                           "the check only recognises an `assertion.sub ==` comparison"]
                          if github else [])],
              project=var("project_id"),
              workload_identity_pool_id=ref(pool, "workload_identity_pool_id"),
              workload_identity_pool_provider_id="github" if github else "gitlab",
              display_name="GitHub Actions" if github else "GitLab CI",
              attribute_mapping=mapping,
              attribute_condition=f'assertion.{claim} == "{platform}"',
              oidc=block("oidc", issuer_uri=ci_issuer(plan))),
        block("resource", "google_service_account", "platform_plan", project=var("project_id"),
              account_id=f"{name[:18].rstrip('-')}-tf-plan",
              display_name="Platform pipeline: plan",
              description="Plans every layer: views every environment's project, reads state"),
        block("resource", "google_service_account_iam_member", "platform_plan_workload_identity",
              comments=["Any job of the platform repository (plans run on pull requests)."],
              service_account_id=ref("google_service_account.platform_plan", "name"),
              role="roles/iam.workloadIdentityUser",
              member=template("principalSet://iam.googleapis.com/", ref(pool, "name"),
                              f"/attribute.{claim}/{platform}")),
        block("resource", "google_project_iam_member", "platform_plan_viewer",
              comments=["checkov:skip=CKV_GCP_117:the basic Viewer role is what a plan needs: "
                        "it refreshes every resource type the layers manage, and grants no "
                        "write and no access to data or secrets"],
              for_each=call("toset", Expr("values(var.environment_project_ids)")),
              project=Expr("each.value"), role="roles/viewer",
              member=template("serviceAccount:",
                              ref("google_service_account.platform_plan", "email"))),
        block("resource", "google_storage_bucket_iam_member", "platform_plan_state",
              comments=["Plans run with -lock=false: reading the state is all they need."],
              bucket=state, role="roles/storage.objectViewer",
              member=template("serviceAccount:",
                              ref("google_service_account.platform_plan", "email"))),
    ]
    outputs = [
        _output("GCP_WORKLOAD_IDENTITY_PROVIDER", ref(provider, "name"),
                "the platform pipeline's Workload Identity Federation provider."),
        _output("GCP_PLAN_SERVICE_ACCOUNT",
                ref("google_service_account.platform_plan", "email"),
                "the plan service account (repository level)."),
    ]
    accounts: dict[str, Value] = {}
    for environment in environments:
        key = slug(environment)
        account = f"google_service_account.platform_apply_{key}"
        member = template("serviceAccount:", ref(account, "email"))
        if github:
            trust = template("principal://iam.googleapis.com/", ref(pool, "name"),
                             f"/subject/{apply_subject(plan, environment)}")
        else:
            trust = template("principalSet://iam.googleapis.com/", ref(pool, "name"),
                             f"/attribute.deployment/{environment}")
        blocks += [
            block("resource", "google_service_account", f"platform_apply_{key}",
                  project=var("project_id"),
                  account_id=f"{name[:12].rstrip('-')}-{environment[:8].rstrip('-')}-tf-apply",
                  display_name=f"Platform pipeline: apply {environment}"[:100],
                  description=f"Applies the layers of {environment}"),
            block("resource", "google_service_account_iam_member",
                  f"platform_apply_{key}_workload_identity",
                  comments=[f"Only the deployment job of CI environment {environment}."],
                  service_account_id=ref(account, "name"),
                  role="roles/iam.workloadIdentityUser", member=trust),
            block("resource", "google_project_iam_member", f"platform_apply_{key}",
                  comments=[
                      "checkov:skip=CKV_GCP_117:the layers create service accounts and grant "
                      "them roles, enable APIs and manage keys in this environment's project; "
                      "only Owner covers granting roles, and it is held on this one project only",
                      "checkov:skip=CKV_GCP_49:the layers create and bind the add-ons' service "
                      "accounts (workload identity) in this project, which takes managing "
                      "service accounts; the account is trusted by one deployment job only",
                  ],
                  project=Expr(f'var.environment_project_ids["{environment}"]'),
                  role="roles/owner", member=member),
            block("resource", "google_storage_bucket_iam_member",
                  f"platform_apply_{key}_state_read",
                  comments=["Every state may be read: layers read earlier layers' outputs, "
                            "production's edge reads the other environments' zones."],
                  bucket=state, role="roles/storage.objectViewer", member=member),
            block("resource", "google_storage_bucket_iam_member",
                  f"platform_apply_{key}_state_write",
                  comments=[f"Writes (state and lock files) under {environment}/ only."],
                  bucket=state, role="roles/storage.objectUser", member=member,
                  condition=block("condition", title=f"{environment} state only",
                                  description=f"State objects of {environment}",
                                  expression=template(
                                      'resource.name.startsWith("projects/_/buckets/', state,
                                      f'/objects/{environment}/")'))),
        ]
        accounts[environment] = ref(account, "email")
    outputs.append(_output("GCP_APPLY_SERVICE_ACCOUNT", accounts,
                           "the apply service account of each CI environment (set each "
                           "environment's value on that environment)."))
    variables = (_environments_map(
        "environment_project_ids",
        "Project of each environment (the `project_id` its layers take): its apply service "
        "account owns it, the plan service account views it. Keep the state's project "
        "(`project_id`) apart from the environments' projects.",
        "^[a-z][a-z0-9-]{4,28}[a-z0-9]$", "a Google Cloud project ID", environments),)
    return Identities(tuple(blocks), variables, tuple(outputs))


# --- AWS ----------------------------------------------------------------------------------------


def _aws_trust(plan: Plan, operator: str, subjects: list[str]) -> Expr:
    host = ci_issuer(plan).removeprefix("https://")
    condition: dict[str, Value] = {"StringEquals": {f"{host}:aud": AWS_AUDIENCE}}
    if operator == "StringEquals":
        condition = {"StringEquals": {f"{host}:aud": AWS_AUDIENCE, f"{host}:sub": subjects}}
    else:
        condition[operator] = {f"{host}:sub": subjects}
    return call("jsonencode", {"Version": "2012-10-17", "Statement": [{
        "Sid": "PlatformPipeline", "Effect": "Allow",
        "Principal": {"Federated": ref("aws_iam_openid_connect_provider.ci", "arn")},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": condition}]})


def _aws(plan: Plan) -> Identities:
    github = _github(plan)
    name = plan.metadata.name
    environments = promotion_order(plan)
    platform = _platform(plan)
    bucket = ref("module.state.s3_bucket_arn")
    key = ref("aws_kms_key.state.arn")
    sub = "repo" if github else "project_path"
    roles = f"{name}-platform"
    identity_arns: list[Value] = [
        template("arn:aws:iam::", var("aws_account_id"), f":role/{roles}-*"),
        ref("aws_iam_openid_connect_provider.ci", "arn")]
    blocks: list[Block] = [
        block("resource", "aws_iam_openid_connect_provider", "ci",
              comments=["One per account and issuer: the registry layers' image pipeline roles "
                        "trust this provider too (they read it by URL)."],
              url=ci_issuer(plan), client_id_list=[AWS_AUDIENCE]),
        block("resource", "aws_iam_role", "platform_plan", name=f"{roles}-plan",
              description=f"Platform pipeline plans ({platform}): read-only",
              assume_role_policy=_aws_trust(plan, "StringLike", [f"{sub}:{platform}:*"]),
              max_session_duration=3600, force_detach_policies=True),
        block("resource", "aws_iam_role_policy_attachment", "platform_plan_read_only",
              role=ref("aws_iam_role.platform_plan", "name"),
              policy_arn="arn:aws:iam::aws:policy/ReadOnlyAccess"),
        block("resource", "aws_iam_role_policy", "platform_plan_state",
              comments=["Plans run with -lock=false: reading the state (and decrypting it) is "
                        "all they need, no lock file is written."],
              name="state-read", role=ref("aws_iam_role.platform_plan", "id"),
              policy=call("jsonencode", {"Version": "2012-10-17", "Statement": [
                  {"Sid": "List", "Effect": "Allow", "Action": ["s3:ListBucket"],
                   "Resource": [bucket]},
                  {"Sid": "Read", "Effect": "Allow", "Action": ["s3:GetObject"],
                   "Resource": [template(bucket, "/*")]},
                  {"Sid": "Decrypt", "Effect": "Allow", "Action": ["kms:Decrypt"],
                   "Resource": [key]}]})),
    ]
    outputs = [_output("AWS_PLAN_ROLE_ARN", ref("aws_iam_role.platform_plan", "arn"),
                       "the plan role (repository level).")]
    arns: dict[str, Value] = {}
    for environment in environments:
        resource = f"platform_apply_{slug(environment)}"
        others = [template(bucket, f"/{e}/*") for e in environments if e != environment]
        guard: list[Value] = [
            {"Sid": "PipelineIdentities", "Effect": "Deny",
             "Action": ["iam:AddClientIDToOpenIDConnectProvider", "iam:Attach*", "iam:Delete*",
                        "iam:Detach*", "iam:PassRole", "iam:Put*",
                        "iam:RemoveClientIDFromOpenIDConnectProvider", "iam:Tag*", "iam:Untag*",
                        "iam:Update*"],
             "Resource": identity_arns},
            {"Sid": "StateStore", "Effect": "Deny",
             "Action": ["s3:DeleteBucket*", "s3:PutBucket*", "s3:PutEncryptionConfiguration",
                        "s3:PutLifecycleConfiguration", "s3:PutReplicationConfiguration"],
             "Resource": [bucket]},
            {"Sid": "StateKey", "Effect": "Deny",
             "Action": ["kms:DisableKey", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"],
             "Resource": [key]},
        ]
        if others:
            guard.append({"Sid": "OtherEnvironmentsState", "Effect": "Deny",
                          "Action": ["s3:DeleteObject*", "s3:PutObject*"],
                          "Resource": others})
        blocks += [
            block("resource", "aws_iam_role", resource, name=f"{roles}-apply-{environment}",
                  description=f"Platform pipeline applies {environment} ({platform})",
                  assume_role_policy=_aws_trust(plan, "StringEquals",
                                                [apply_subject(plan, environment)]),
                  max_session_duration=3600, force_detach_policies=True),
            block("resource", "aws_iam_role_policy_attachment", f"{resource}_administrator",
                  comments=[
                      "checkov:skip=CKV_AWS_274:the layers create VPCs, EKS, KMS keys, IAM "
                      "roles for the add-ons and DNS: administrator in the environment's "
                      "account, fenced off the pipeline's identities and the state store by "
                      "the guard policy below",
                  ],
                  role=ref(f"aws_iam_role.{resource}", "name"),
                  policy_arn="arn:aws:iam::aws:policy/AdministratorAccess"),
            block("resource", "aws_iam_role_policy", f"{resource}_guard",
                  comments=["The apply role cannot change the pipeline's identities, the state "
                            "store or its key, nor write another environment's state."],
                  name="guard", role=ref(f"aws_iam_role.{resource}", "id"),
                  policy=call("jsonencode", {"Version": "2012-10-17", "Statement": guard})),
        ]
        arns[environment] = ref(f"aws_iam_role.{resource}", "arn")
    outputs.append(_output("AWS_APPLY_ROLE_ARN", arns,
                           "the apply role of each CI environment (set each environment's "
                           "value on that environment)."))
    return Identities(tuple(blocks), (), tuple(outputs))


# --- Azure --------------------------------------------------------------------------------------


def _azure_identity(plan: Plan, resource: str, name: str, credential: str,
                    subject: str) -> list[Block]:
    identity = f"azurerm_user_assigned_identity.{resource}"
    return [
        block("resource", "azurerm_user_assigned_identity", resource, name=name,
              location=roots.state_region(plan),
              resource_group_name=ref("azurerm_resource_group.state.name")),
        block("resource", "azurerm_federated_identity_credential", resource,
              name=credential, user_assigned_identity_id=ref(identity, "id"),
              audience=[AZURE_AUDIENCE], issuer=ci_issuer(plan), subject=subject),
    ]


def _azure_role(name: str, scope: Value, role: str, identity: str, *,
                comments: list[str] | None = None, for_each: Expr | None = None,
                **extra: Value) -> Block:
    meta: dict[str, Value] = {"for_each": for_each} if for_each is not None else {}
    return block("resource", "azurerm_role_assignment", name, comments=comments or [],
                 **meta, scope=scope, role_definition_name=role,
                 principal_id=ref(f"azurerm_user_assigned_identity.{identity}", "principal_id"),
                 principal_type="ServicePrincipal", **extra)


def _rbac_condition() -> str:
    """ABAC condition: role assignments written or deleted never concern a privileged role."""
    roles = ", ".join(AZURE_PRIVILEGED_ROLES)
    return (
        "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR "
        "(@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] "
        f"ForAnyOfAllValues:GuidNotEquals {{{roles}}})) AND "
        "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})) OR "
        "(@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] "
        f"ForAnyOfAllValues:GuidNotEquals {{{roles}}}))")


def _azure(plan: Plan) -> Identities:
    name = plan.metadata.name
    environments = promotion_order(plan)
    container = template(ref("azurerm_storage_account.state.id"),
                         f"/blobServices/default/containers/{roots.STATE_CONTAINER}")
    credential_of = ("pull-requests" if _github(plan) else "default-branch")
    blocks: list[Block] = [
        *_azure_identity(plan, "platform_plan", f"{name}-platform-plan", credential_of,
                         plan_subject(plan)),
        _azure_role("platform_plan_reader",
                    Expr("each.value"), "Reader", "platform_plan",
                    comments=["Every environment's subscription, once each."],
                    for_each=Expr('toset([for s in values(var.environment_subscription_ids) : '
                                  '"/subscriptions/${s}"])')),
        _azure_role("platform_plan_state", container, "Storage Blob Data Reader",
                    "platform_plan",
                    comments=["Plans run with -lock=false: reading the state is all they need "
                              "(no blob lease)."]),
    ]
    outputs = [
        _output("AZURE_TENANT_ID", ref("data.azurerm_client_config.current.tenant_id"),
                "the Entra ID tenant."),
        _output("AZURE_SUBSCRIPTION_ID", var("subscription_id"),
                "the subscription of the state account."),
        _output("AZURE_PLAN_CLIENT_ID",
                ref("azurerm_user_assigned_identity.platform_plan", "client_id"),
                "the plan identity (repository level)."),
    ]
    clients: dict[str, Value] = {}
    for environment in environments:
        resource = f"platform_apply_{slug(environment)}"
        subscription = template("/subscriptions/", Expr(
            f'var.environment_subscription_ids["{environment}"]'))
        blocks += [
            *_azure_identity(plan, resource, f"{name}-platform-apply-{environment}",
                             f"environment-{slug(environment)}"
                             if _github(plan) else "default-branch",
                             apply_subject(plan, environment)),
            _azure_role(f"{resource}_contributor", subscription, "Contributor", resource,
                        comments=["The layers create the environment's resource groups, so "
                                  "the subscription is the narrowest scope that holds them."]),
            _azure_role(f"{resource}_rbac", subscription,
                        "Role Based Access Control Administrator", resource,
                        comments=["The layers grant the add-ons' identities their roles; the "
                                  "condition keeps Owner, User Access Administrator and RBAC "
                                  "Administrator out of its reach."],
                        condition=_rbac_condition(), condition_version="2.0"),
            _azure_role(f"{resource}_state", container, "Storage Blob Data Contributor",
                        resource,
                        comments=["State and lock leases; layers read the other environments' "
                                  "outputs from the same container."]),
        ]
        clients[environment] = ref(f"azurerm_user_assigned_identity.{resource}", "client_id")
    outputs.append(_output("AZURE_APPLY_CLIENT_ID", clients,
                           "the apply identity of each CI environment (set each environment's "
                           "value on that environment)."))
    variables = (_environments_map(
        "environment_subscription_ids",
        "Subscription of each environment (the `subscription_id` its layers take): its apply "
        "identity is Contributor there, the plan identity Reader.",
        "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
        "an Azure subscription ID (a lower-case GUID)", environments),)
    return Identities(tuple(blocks), variables, tuple(outputs))


__all__ = ["Identities", "apply_subject", "identities", "plan_subject"]
