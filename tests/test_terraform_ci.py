"""The cloud side of the CI's OIDC federation (blocks/ci/terraform.py): rendered in each
environment's registry layer when the registry is the provider's, trusting only the CI the plan
chose and only the listed repositories, with least-privilege push; the delivery README points
the pipeline settings at its outputs."""

from __future__ import annotations

import re

import pytest

from kubeplan.blocks._delivery import render_delivery
from kubeplan.blocks.ci.terraform import GITHUB_ISSUER, OUTPUTS
from kubeplan.render import OutputTree
from kubeplan.render.delivery import SERVICE, promotion_order, repositories

from .conftest import example_files
from .terraform_support import Rendered, plan_of, render

EXAMPLES = [p.stem for p in example_files()]
# Settings the trust fills, per provider.
SETTINGS = {"gcp": ("GCP_WORKLOAD_IDENTITY_PROVIDER", "GCP_CI_SERVICE_ACCOUNT"),
            "aws": ("AWS_CI_ROLE_ARN",),
            "azure": ("AZURE_CI_CLIENT_ID", "AZURE_TENANT_ID")}


@pytest.fixture(scope="module")
def rendered() -> dict[str, Rendered]:
    return {example: render(example) for example in EXAMPLES}


def _provider_registry(rendered: dict[str, Rendered]) -> list[Rendered]:
    return [r for r in rendered.values()
            if r.provider != "onprem" and r.plan.choice("registry") == "provider"]


def _ci_file(r: Rendered, environment: str) -> str:
    return r.files[f"terraform/{environment}/registry/ci.tf"].decode()


def _default_repository(r: Rendered) -> str:
    return repositories(r.plan).service_path(SERVICE)


def test_every_provider_registry_environment_has_the_trust(
        rendered: dict[str, Rendered]) -> None:
    chosen = _provider_registry(rendered)
    assert {r.provider for r in chosen} == {"gcp", "aws", "azure"}
    assert {r.plan.choice("ci") for r in chosen} == {"github-actions", "gitlab-ci"}
    for r in chosen:
        github = r.plan.choice("ci") == "github-actions"
        issuer = GITHUB_ISSUER if github else f"https://{repositories(r.plan).host}"
        for environment in r.plan.metadata.environments:
            text = _ci_file(r, environment)
            variables = r.files[f"terraform/{environment}/registry/variables.tf"].decode()
            outputs = r.files[f"terraform/{environment}/registry/outputs.tf"].decode()
            # Only the chosen CI's issuer, and only the listed repositories (by default the
            # service repository of the delivery convention).
            assert f'"{issuer}"' in text, (r.example, environment)
            other = "gitlab.com" if github else "token.actions.githubusercontent.com"
            assert other not in text, (r.example, environment)
            assert 'variable "ci_repositories"' in variables
            assert f'default     = ["{_default_repository(r)}"]' in variables, variables
            for setting in SETTINGS[r.provider]:
                assert f'output "{OUTPUTS[setting]}"' in outputs, (r.example, setting)
            build = environment == promotion_order(r.plan)[0]
            later = list(promotion_order(r.plan)[1:]) if build else []
            if r.provider == "gcp":
                claim = "repository" if github else "project_path"
                if build:
                    assert (f'attribute_condition = "assertion.{claim} in '
                            '${jsonencode(var.ci_repositories)}"') in text
                    assert f"/attribute.{claim}/${{each.value}}" in text
                elif github:
                    assert ('attribute_condition = "assertion.sub in ${jsonencode([for r in '
                            'var.ci_repositories : "repo:${r}:environment:'
                            f'{environment}"])}}"') in text, text
                else:
                    assert f'&& assertion.environment == \\"{environment}\\""' in text, text
                # Writer on the environment's Docker repositories only, no project-wide role;
                # the build environment's reader likewise.
                repos = text.count('"roles/artifactregistry.writer"')
                assert re.findall(r'role\s+= "([^"]+)"', text) == [
                    "roles/iam.workloadIdentityUser", *["roles/artifactregistry.writer"] * repos,
                    *(["roles/iam.workloadIdentityUser",
                       *["roles/artifactregistry.reader"] * repos] if later else [])]
                assert "google_project_iam" not in text
            elif r.provider == "aws":
                host = issuer.removeprefix("https://")
                claim = "repo" if github else "project_path"
                assert f'"{host}:aud" = "sts.amazonaws.com"' in text
                if build:
                    assert (f'"{host}:sub" = [for r in var.ci_repositories : '
                            f'"{claim}:${{r}}:*"]') in text
                elif github:
                    assert (f'"{host}:sub" = [for r in var.ci_repositories : '
                            f'"repo:${{r}}:environment:{environment}"]') in text
                else:
                    assert (f'"{host}:sub" = [for r in var.ci_repositories : '
                            '"project_path:${r}:ref_type:branch:ref:main"]') in text
                assert (f":repository/{r.plan.metadata.name}/{environment}/*\"]") in text
                # Only the token calls are unscoped (no resource-level permissions).
                assert text.count('Resource = "*"') == (2 if later else 1)
                assert '"ecr:GetAuthorizationToken"' in text
                assert ('"ecr:PutImage"' in text.split("ci_reader")[0])
                if later:
                    assert '"ecr:PutImage"' not in text.split('resource "aws_iam_role_policy" '
                                                              '"ci_reader"')[1]
            else:
                assert '"api://AzureADTokenExchange"' in text
                assert 'role_definition_name = "AcrPush"' in text
                assert "scope                = module.registry.resource_id" in text
                assert ("setproduct(var.ci_repositories, keys(local.ci_contexts))" in text) \
                    == build
                assert ('role_definition_name = "AcrPull"' in text) == bool(later)


def test_no_trust_without_a_provider_registry(rendered: dict[str, Rendered]) -> None:
    others = [r for r in rendered.values() if r not in _provider_registry(rendered)]
    assert others, "an example with Harbor is expected"
    for r in others:
        assert not [p for p in r.files if p.endswith("/ci.tf")], r.example
        # The bootstrap holds the platform pipeline's own trust (tests/test_platform_identities).
        assert not any("google_iam_workload_identity_pool" in t or "aws_iam_openid_connect" in t
                       for p, t in r.tf().items()
                       if not p.startswith("terraform/bootstrap/")), r.example


@pytest.mark.parametrize("example", EXAMPLES)
def test_delivery_readme_names_the_outputs(example: str, rendered: dict[str, Rendered]) -> None:
    plan = plan_of(example)
    tree = OutputTree()
    render_delivery(plan, tree)
    readme = dict(tree)["delivery/README.md"].decode()
    if rendered[example] in _provider_registry(rendered):
        for setting in SETTINGS[plan.metadata.provider]:
            row = next(line for line in readme.splitlines() if line.startswith(f"| `{setting}`"))
            where = "<environment>" if setting == "AZURE_TENANT_ID" else promotion_order(plan)[0]
            assert f"Terraform output `{OUTPUTS[setting]}` of `terraform/{where}/registry`" \
                in row, row
    else:
        assert "Terraform output `ci_" not in readme
