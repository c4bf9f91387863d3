"""The platform pipeline's own cloud identities, rendered in `terraform/bootstrap/`: a plan
identity trusted for the platform repository that can write nothing but reads the state, and per
environment an apply identity trusted only for that CI environment's deployment job. The
bootstrap's outputs are exactly the settings the rendered platform pipeline reads, and the
delivery README and the runbook name them. On AWS the registry layers read the bootstrap's IAM
OIDC provider instead of creating one per environment.

One GCP/GitHub, one AWS/GitLab and one Azure/GitHub example, each rendered once per module.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from kubeplan.blocks._delivery import render_delivery
from kubeplan.model import Plan
from kubeplan.render import OutputTree
from kubeplan.render.delivery import (
    PLATFORM_IDENTITY_OUTPUTS,
    SIGNATURE_ISSUER,
    platform_settings,
    promotion_order,
    repositories,
)

from .terraform_support import Rendered, plan_of, render

EXAMPLES = {"shop": ("gcp", "github-actions"), "aws-saas": ("aws", "gitlab-ci"),
            "azure-startup": ("azure", "github-actions")}
BOOTSTRAP = "terraform/bootstrap"


@pytest.fixture(scope="module")
def rendered() -> dict[str, Rendered]:
    return {example: render(example) for example in EXAMPLES}


@pytest.fixture(scope="module")
def delivery(rendered: dict[str, Rendered]) -> dict[str, dict[str, str]]:
    out = {}
    for example, r in rendered.items():
        tree = OutputTree()
        render_delivery(r.plan, tree)
        out[example] = {path: data.decode() for path, data in dict(tree).items()}
    return out


def _unquote(text: str) -> str:
    return text.strip('"')


def _resources(r: Rendered, path: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(type, name) -> attributes of every resource in one file."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in r.parsed()[path].get("resource", []):
        for kind, named in entry.items():
            for name, body in named.items():
                out[(_unquote(kind), _unquote(name))] = body
    return out


def _identities(r: Rendered) -> dict[tuple[str, str], dict[str, Any]]:
    return _resources(r, f"{BOOTSTRAP}/identities.tf")


def _outputs(r: Rendered) -> dict[str, Any]:
    return {_unquote(name): body for entry in r.parsed()[f"{BOOTSTRAP}/outputs.tf"]["output"]
            for name, body in entry.items()}


def _platform(plan: Plan) -> str:
    return repositories(plan).platform_path


def _of(resources: dict[tuple[str, str], dict[str, Any]], kind: str
        ) -> dict[str, dict[str, Any]]:
    return {name: body for (k, name), body in resources.items() if k == kind}


def _members(resources: dict[tuple[str, str], dict[str, Any]], kind: str, account: str
             ) -> dict[str, str]:
    """name -> role of every grant of `kind` to service account resource `account`."""
    return {name: _unquote(body["role"]) for name, body in _of(resources, kind).items()
            if f"google_service_account.{account}." in str(body.get("member", ""))}


def test_every_example_has_its_provider_and_ci(rendered: dict[str, Rendered]) -> None:
    for example, (provider, ci) in EXAMPLES.items():
        assert rendered[example].provider == provider
        assert rendered[example].plan.choice("ci") == ci
        assert f"{BOOTSTRAP}/identities.tf" in rendered[example].files


# --- GCP, GitHub --------------------------------------------------------------------------------


def test_gcp_pool_trusts_only_the_platform_repository(rendered: dict[str, Rendered]) -> None:
    r = rendered["shop"]
    resources = _identities(r)
    platform = _platform(r.plan)
    (provider,) = _of(resources, "google_iam_workload_identity_pool_provider").values()
    assert provider["oidc"][0]["issuer_uri"] == f'"{SIGNATURE_ISSUER["github-actions"]}"'
    assert provider["attribute_condition"] == f'"assertion.repository == \\"{platform}\\""'
    # The plan account: any job of the platform repository.
    plan_trust = resources[("google_service_account_iam_member",
                            "platform_plan_workload_identity")]
    assert plan_trust["member"].endswith(f'/attribute.repository/{platform}"')
    assert plan_trust["role"] == '"roles/iam.workloadIdentityUser"'


def test_gcp_apply_account_of_each_environment_trusts_only_its_deployment_job(
        rendered: dict[str, Rendered]) -> None:
    r = rendered["shop"]
    resources = _identities(r)
    platform = _platform(r.plan)
    environments = promotion_order(r.plan)
    trusts = {name: body["member"] for name, body in
              _of(resources, "google_service_account_iam_member").items()
              if name.startswith("platform_apply_")}
    assert len(trusts) == len(environments)
    for environment in environments:
        member = trusts[f"platform_apply_{environment}_workload_identity"]
        # One principal (subject), never a principal set.
        assert member.startswith('"principal://iam.googleapis.com/')
        assert member.endswith(f'/subject/repo:{platform}:environment:{environment}"')
        others = [m for name, m in trusts.items() if environment not in name]
        assert not any(f":environment:{environment}\"" in m for m in others)
        # Owner of its own project only; state writes only under its own prefix.
        grants = _members(resources, "google_project_iam_member", f"platform_apply_{environment}")
        assert list(grants.values()) == ["roles/owner"]
        body = resources[("google_project_iam_member", f"platform_apply_{environment}")]
        assert body["project"] == f'${{var.environment_project_ids["{environment}"]}}'
        write = resources[("google_storage_bucket_iam_member",
                           f"platform_apply_{environment}_state_write")]
        assert write["role"] == '"roles/storage.objectUser"'
        assert f"/objects/{environment}/" in write["condition"][0]["expression"]


def test_plan_identities_need_no_lock_because_plans_do_not_lock(
        rendered: dict[str, Rendered], delivery: dict[str, dict[str, str]]) -> None:
    resources = _identities(rendered["shop"])
    roles = {*_members(resources, "google_project_iam_member", "platform_plan").values(),
             *_members(resources, "google_storage_bucket_iam_member", "platform_plan").values()}
    assert roles == {"roles/viewer", "roles/storage.objectViewer"}
    # The read-only state grants hold because every plan job runs without a state lock.
    for files in delivery.values():
        pipeline = files.get(".github/workflows/platform.yml") or files[".gitlab-ci.yml"]
        plans = [line for line in pipeline.splitlines() if "terraform plan" in line]
        assert plans and all("-lock=false" in line for line in plans), plans


# --- AWS, GitLab --------------------------------------------------------------------------------


def _policy(body: dict[str, Any], attribute: str) -> str:
    return str(body[attribute])


def test_aws_bootstrap_creates_the_one_oidc_provider_and_registry_layers_read_it(
        rendered: dict[str, Rendered]) -> None:
    r = rendered["aws-saas"]
    issuer = f"https://{repositories(r.plan).host}"
    (provider,) = _of(_identities(r), "aws_iam_openid_connect_provider").values()
    assert provider["url"] == f'"{issuer}"'
    for environment in promotion_order(r.plan):
        text = r.tf()[f"terraform/{environment}/registry/ci.tf"]
        assert 'resource "aws_iam_openid_connect_provider"' not in text
        data = {_unquote(name): body
                for entry in r.parsed()[f"terraform/{environment}/registry/ci.tf"]["data"]
                for kind, named in entry.items()
                if _unquote(kind) == "aws_iam_openid_connect_provider"
                for name, body in named.items()}
        assert data["ci"]["url"] == f'"{issuer}"'
        assert "data.aws_iam_openid_connect_provider.ci.arn" in text
    assert not any('resource "aws_iam_openid_connect_provider"' in text
                   for path, text in r.tf().items() if not path.startswith(BOOTSTRAP))


def test_aws_apply_roles_trust_only_deployments_and_plan_role_reads(
        rendered: dict[str, Rendered]) -> None:
    r = rendered["aws-saas"]
    resources = _identities(r)
    platform = _platform(r.plan)
    roles = _of(resources, "aws_iam_role")
    plan_trust = _policy(roles["platform_plan"], "assume_role_policy")
    assert f'"gitlab.com:sub" = ["project_path:{platform}:*"]' in plan_trust
    assert '"gitlab.com:aud" = "sts.amazonaws.com"' in plan_trust
    # GitLab's subject names the branch: IAM can pin the protected default branch, no more.
    for environment in promotion_order(r.plan):
        trust = _policy(roles[f"platform_apply_{environment}"], "assume_role_policy")
        assert (f'"gitlab.com:sub" = ["project_path:{platform}:ref_type:branch:ref:main"]'
                in trust), trust
        assert "StringLike" not in trust and "*" not in trust
        guard = _policy(resources[("aws_iam_role_policy", f"platform_apply_{environment}_guard")],
                        "policy")
        assert 'Effect = "Deny"' in guard and 'Effect = "Allow"' not in guard
        others = [e for e in promotion_order(r.plan) if e != environment]
        for other in others:
            assert f"s3_bucket_arn}}/{other}/*" in guard
        assert f"s3_bucket_arn}}/{environment}/*" not in guard
    # The plan role: AWS-managed read-only plus state read, nothing that writes.
    attachments = {name: _unquote(body["policy_arn"]) for name, body in
                   _of(resources, "aws_iam_role_policy_attachment").items()
                   if "aws_iam_role.platform_plan." in str(body["role"])}
    assert list(attachments.values()) == ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
    state = _policy(resources[("aws_iam_role_policy", "platform_plan_state")], "policy")
    actions = set(re.findall(r'"([a-z0-9]+:[A-Za-z*]+)"', state))
    assert actions == {"s3:ListBucket", "s3:GetObject", "kms:Decrypt"}


# --- Azure, GitHub ------------------------------------------------------------------------------


def test_azure_identities_trust_exact_subjects_with_scoped_roles(
        rendered: dict[str, Rendered]) -> None:
    r = rendered["azure-startup"]
    resources = _identities(r)
    platform = _platform(r.plan)
    credentials = {name: _unquote(body["subject"]) for name, body in
                   _of(resources, "azurerm_federated_identity_credential").items()}
    assert credentials["platform_plan"] == f"repo:{platform}:pull_request"
    for environment in promotion_order(r.plan):
        assert credentials[f"platform_apply_{environment}"] == \
            f"repo:{platform}:environment:{environment}"
    assert len(credentials) == 1 + len(promotion_order(r.plan))
    assignments = _of(resources, "azurerm_role_assignment")

    def roles_of(identity: str) -> set[str]:
        return {_unquote(body["role_definition_name"]) for body in assignments.values()
                if f"azurerm_user_assigned_identity.{identity}.principal_id" in
                str(body["principal_id"])}

    assert roles_of("platform_plan") == {"Reader", "Storage Blob Data Reader"}
    for environment in promotion_order(r.plan):
        identity = f"platform_apply_{environment}"
        assert roles_of(identity) == {"Contributor", "Role Based Access Control Administrator",
                                      "Storage Blob Data Contributor"}
        rbac = assignments[f"{identity}_rbac"]
        # Owner, User Access Administrator and RBAC Administrator can never be assigned.
        assert rbac["condition_version"] == '"2.0"'
        assert "8e3af657-a8ff-443c-a75c-2fe8c4bcb635" in rbac["condition"]
        assert environment in assignments[f"{identity}_contributor"]["scope"]


# --- settings, outputs, documentation -----------------------------------------------------------


def _identity_settings_read(plan: Plan, files: dict[str, str]) -> set[str]:
    """The cloud identity settings the platform pipeline reads from the CI."""
    if plan.choice("ci") == "github-actions":
        text = files[".github/workflows/platform.yml"]
        yaml.safe_load(text)
        return set(re.findall(r"vars\.((?:GCP|AWS|AZURE)_[A-Z_]+)", text))
    pipeline = yaml.safe_load(files[".gitlab-ci.yml"])
    defined: set[str] = set()
    read: set[str] = set()
    for job in pipeline.values():
        if not isinstance(job, dict):
            continue
        defined |= set(job.get("id_tokens", {})) | set(job.get("variables", {}))
        for line in job.get("script", []):
            defined |= set(re.findall(r"export ([A-Z_]+)=", line))
            read |= set(re.findall(r"\$\{?((?:GCP|AWS|AZURE)_[A-Z_]+)", line))
    return read - defined


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_outputs_are_the_settings_the_pipeline_reads(
        example: str, rendered: dict[str, Rendered],
        delivery: dict[str, dict[str, str]]) -> None:
    r = rendered[example]
    files = delivery[example]
    read = _identity_settings_read(r.plan, files)
    settings = {s.name for s in platform_settings(r.plan)} - {"KUBEPLAN_PACKAGE"}
    assert read, example
    # Every setting the pipeline reads is a platform setting with a bootstrap output; Azure's
    # tenant and subscription are read through ARM_* variables too.
    assert read <= settings, (read, settings)
    outputs = _outputs(r)
    for name in settings:
        output = PLATFORM_IDENTITY_OUTPUTS[name]
        assert output in outputs, (example, name)
        assert _unquote(outputs[output]["description"]).startswith(f"CI setting {name}:")
    # Apply identities: one value per environment, keyed by the CI environment's name.
    for name in settings:
        scope = next(s.scope for s in platform_settings(r.plan) if s.name == name)
        value = outputs[PLATFORM_IDENTITY_OUTPUTS[name]]["value"]
        if scope == "environment":
            assert isinstance(value, dict) and set(value) == set(promotion_order(r.plan))
        else:
            assert isinstance(value, str)
    # The README's platform table and the runbook point at those outputs.
    readme = files["delivery/README.md"]
    platform = readme.split(f"### Platform repository (`{_platform(r.plan)}`)")[1]
    platform = platform.split("\n## ")[0]
    runbook = r.files["terraform/README.md"].decode()
    for name in settings:
        row = next(line for line in platform.splitlines() if line.startswith(f"| `{name}`"))
        assert f"Terraform output `{PLATFORM_IDENTITY_OUTPUTS[name]}" in row, row
        assert "of `terraform/bootstrap`" in row and "not rendered" not in row
        assert f"`{name}`" in runbook and f"`{PLATFORM_IDENTITY_OUTPUTS[name]}" in runbook


def test_bootstrap_inputs_cover_every_environment(rendered: dict[str, Rendered]) -> None:
    for example, variable in (("shop", "environment_project_ids"),
                              ("azure-startup", "environment_subscription_ids")):
        r = rendered[example]
        text = r.tf()[f"{BOOTSTRAP}/variables.tf"]
        assert f'variable "{variable}"' in text
        listed = ", ".join(f'"{e}"' for e in promotion_order(r.plan))
        assert f"for e in [{listed}] : contains(keys(var.{variable}), e)" in text
        assert f"-var '{variable}={{" in r.files["terraform/README.md"].decode()


def test_onprem_has_no_cloud_identities() -> None:
    plan = plan_of("factory-onprem")
    tree = OutputTree()
    render_delivery(plan, tree)
    readme = dict(tree)["delivery/README.md"].decode()
    assert "no cloud identities to set up" in readme
    assert not any(s.name.startswith(("GCP_", "AWS_", "AZURE_")) for s in platform_settings(plan))


def test_gitlab_publish_saves_and_loads_instead_of_copying(
        delivery: dict[str, dict[str, str]]) -> None:
    files = delivery["aws-saas"]
    container = yaml.safe_load(files["delivery/app-template/ci/container.gitlab-ci.yml"])
    script = "\n".join(container["publish"]["script"])
    assert "cosign copy" not in script
    save = script.index("cosign save")
    load = script.index("cosign load")
    sign = script.index("cosign sign")
    assert save < load < sign
    assert '"$STAGING_IMAGE@$IMAGE_DIGEST"' in script.splitlines()[
        next(i for i, line in enumerate(script.splitlines()) if "cosign save" in line)]
    for text in (t for files in delivery.values() for t in files.values()):
        assert "cosign copy" not in text
