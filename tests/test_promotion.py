"""Promotion between the environments' registries: builds go to the build environment's
registry, each later environment's registry trusts only that environment's promotion job, the
build environment's reader trusts exactly those jobs, and the promotion job copies the digest
into the promoted environment's registry and writes that address into the release.

Covers every example plus the shop with GitLab CI (GCP with GitLab: no example has it), whose
Terraform registry layers and pipelines go through the same validators as the examples'.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeplan import app
from kubeplan.blocks import _delivery
from kubeplan.blocks.policy import gitops as policy_gitops
from kubeplan.blocks.registry import delivery as registry_delivery
from kubeplan.check import delivery as check_delivery
from kubeplan.check import terraform as check_terraform
from kubeplan.model import Plan
from kubeplan.render import render, render_plan_json
from kubeplan.render.delivery import (
    EXAMPLE_DIR,
    SERVICE,
    build_environment,
    copies_releases,
    promotion_order,
    signature_identity,
)
from kubeplan.spec import load_text

from .conftest import SHARED_UPSTREAM
from .terraform_support import Rendered, write
from .terraform_support import render as render_terraform

SHOP_GITLAB = "shop-gitlab"


def _plans() -> dict[str, Plan]:
    plans = {e: app.plan(app.load_spec(None, e).loaded) for e in app.example_names()}
    text = app.example_text("shop").replace("ci: github-actions", "ci: gitlab-ci")
    plans[SHOP_GITLAB] = app.plan(load_text(text, SHOP_GITLAB))
    assert plans[SHOP_GITLAB].choice("ci") == "gitlab-ci"
    return plans


@pytest.fixture(scope="module")
def plans() -> dict[str, Plan]:
    return _plans()


@pytest.fixture(scope="module")
def terraform(plans: dict[str, Plan]) -> dict[str, Rendered]:
    return {name: render_terraform(name, plan) for name, plan in plans.items()}


@pytest.fixture(scope="module")
def delivery(plans: dict[str, Plan], tmp_path_factory: pytest.TempPathFactory
             ) -> dict[str, Path]:
    out = {}
    for name, plan in plans.items():
        tree = render(plan, (render_plan_json, _delivery.render_delivery))
        out[name] = write(Rendered(name, plan, dict(tree)), tmp_path_factory.mktemp(name))
    return out


def _copying(plans: dict[str, Plan]) -> list[str]:
    return [n for n, p in plans.items() if copies_releases(p) and len(promotion_order(p)) > 1]


def _ci_tf(r: Rendered, environment: str) -> str:
    return r.files[f"terraform/{environment}/registry/ci.tf"].decode()


def _github(plan: Plan) -> bool:
    return plan.choice("ci") == "github-actions"


# --- Terraform: who may write and read which registry -----------------------------------------


def test_the_variant_and_the_examples_cover_every_provider_and_ci(plans: dict[str, Plan]) -> None:
    covered = {(plans[n].metadata.provider, plans[n].choice("ci")) for n in _copying(plans)}
    assert {("gcp", "github-actions"), ("gcp", "gitlab-ci"), ("aws", "github-actions"),
            ("aws", "gitlab-ci"), ("azure", "github-actions")} <= covered


def test_later_environments_trust_only_their_promotion_job(
        plans: dict[str, Plan], terraform: dict[str, Rendered]) -> None:
    for name in _copying(plans):
        plan, r = plans[name], terraform[name]
        for environment in promotion_order(plan)[1:]:
            text = _ci_tf(r, environment)
            # No wildcard subject and no context but the environment's.
            assert "StringLike" not in text and ":*" not in text, (name, environment)
            assert "pull_request" not in text and "refs/heads" not in text, (name, environment)
            assert "ci_reader" not in text, (name, environment)
            if _github(plan):
                subjects = set(re.findall(r"repo:\$\{r\}:environment:([\w-]+)", text))
                assert subjects == {environment}, (name, environment, subjects)
            elif plan.metadata.provider == "gcp":
                assert f'assertion.environment == \\"{environment}\\"' in text
            else:
                # IAM and Entra ID can only pin GitLab's subject: the default branch.
                assert "project_path:${r}:ref_type:branch:ref:main" in text
            if plan.metadata.provider == "aws":
                assert "StringEquals = {" in text and "StringLike" not in text


def test_build_environment_reader_trusts_exactly_the_later_promotions(
        plans: dict[str, Plan], terraform: dict[str, Rendered]) -> None:
    for name in _copying(plans):
        plan, r = plans[name], terraform[name]
        build = build_environment(plan)
        text = _ci_tf(r, build)
        locals_ = check_terraform.parse(r.files[f"terraform/{build}/registry/locals.tf"]
                                        .decode())
        later = [[e.strip('"') for e in v] for entry in locals_["locals"]
                 for k, v in entry.items() if k == "ci_promotion_environments"]
        assert later == [list(promotion_order(plan)[1:])], (name, later)
        reader = text[text.index('"ci_reader'):]
        provider = plan.metadata.provider
        if provider == "gcp":
            assert '"roles/artifactregistry.reader"' in reader
            assert "artifactregistry.writer" not in reader
            if _github(plan):
                assert ('"${pair[0]}:${pair[1]}" => "repo:${pair[0]}:environment:${pair[1]}"'
                        in reader)
                assert "/subject/${each.value}" in reader
            else:
                assert "assertion.environment in ${jsonencode(local.ci_promotion_environments)}" \
                    in text
                assert "/attribute.promotion/${each.value}" in reader
        elif provider == "aws":
            role = reader[:reader.index('resource "aws_iam_role_policy"')]
            if _github(plan):
                assert ("setproduct(var.ci_repositories, local.ci_promotion_environments) : "
                        '"repo:${pair[0]}:environment:${pair[1]}"') in role
            assert "StringLike" not in role and ":*" not in role
            policy = reader[reader.index('resource "aws_iam_role_policy"'):]
            assert "ecr:BatchGetImage" in policy and "ecr:PutImage" not in policy
            assert "UploadLayerPart" not in policy
        else:
            assert 'role_definition_name = "AcrPull"' in reader
            assert "AcrPush" not in reader
            assert ('"repo:${pair[0]}:environment:${pair[1]}"' in reader) == _github(plan)


def test_single_environment_and_harbor_have_no_reader(
        plans: dict[str, Plan], terraform: dict[str, Rendered]) -> None:
    single = plans["internal-tool"]
    assert len(promotion_order(single)) == 1
    assert "ci_reader" not in _ci_tf(terraform["internal-tool"], "prod")
    for name in ("regulated-payments", "factory-onprem"):
        assert not copies_releases(plans[name])
        assert not [p for p in terraform[name].files if p.endswith("registry/ci.tf")]


def test_registry_layers_with_the_trust_pass_the_validators(
        terraform: dict[str, Rendered], tmp_path_factory: pytest.TempPathFactory) -> None:
    """The GitLab-on-GCP variant has no example: its Terraform goes through the module
    interfaces, reference resolution and checkov here (the examples' in test_terraform)."""
    root = write(terraform[SHOP_GITLAB], tmp_path_factory.mktemp("shop-gitlab-terraform"))
    findings = [*check_terraform.check_roots(root, SHARED_UPSTREAM),
                *check_terraform.checkov(root / "terraform", root)]
    assert not findings, "\n".join(f.render() for f in findings)


# --- pipelines: build once, copy on promotion --------------------------------------------------


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def test_variant_pipelines_pass_schema_and_actionlint(delivery: dict[str, Path]) -> None:
    findings = check_delivery.validate_without_checkov(delivery[SHOP_GITLAB])
    assert not findings, "\n".join(f.render() for f in findings)


def test_github_promotion_copies_to_and_writes_the_target_registry(
        plans: dict[str, Plan], delivery: dict[str, Path]) -> None:
    for name in [n for n in _copying(plans) if _github(plans[n])]:
        plan, root = plans[name], delivery[name]
        workflows = root / EXAMPLE_DIR / ".github/workflows"
        ci = _yaml(workflows / "ci.yml")["jobs"]
        build = build_environment(plan)
        assert ci[f"promote-{build}"]["uses"].endswith("/kubeplan-promote.yml")
        assert "id-token" not in ci[f"promote-{build}"]["permissions"]
        for environment in promotion_order(plan)[1:]:
            call = ci[f"promote-{environment}"]
            assert call["uses"].endswith("/kubeplan-promote-copy.yml")
            assert call["with"]["environment"] == environment
            assert call["permissions"]["id-token"] == "write"
            replica = environment in registry_delivery.replica_environments(plan)
            assert call["with"].get("replica", False) is replica
        job = _yaml(workflows / "kubeplan-promote-copy.yml")["jobs"]["copy-and-promote"]
        assert job["environment"] == "${{ inputs.environment }}"
        assert job["concurrency"]["cancel-in-progress"] is False
        steps = {s["name"]: s for s in job["steps"]}
        copy = next(s for s in job["steps"] if s.get("id") == "copy")
        assert copy["env"]["SOURCE_IMAGE"] == "${{ inputs.image }}"
        assert copy["env"]["REGISTRY_URL"] == "${{ vars.REGISTRY_URL }}"
        assert 'cosign save --dir "${saved}" "${SOURCE_IMAGE}@${DIGEST}"' in copy["run"]
        assert 'cosign load --dir "${saved}" "${target}:${REVISION}"' in copy["run"]
        assert 'cosign verify --certificate-identity-regexp' in copy["run"]
        assert 'echo "image=${REGISTRY_URL}/${SERVICE}"' in copy["run"]
        # The release gets the copy's address with the same digest.
        release = steps["Open the promotion pull request"]["env"]
        assert release["IMAGE"] == "${{ steps.copy.outputs.image }}"
        assert release["DIGEST"] == "${{ inputs.digest }}"
        # The verification uses the identity the clusters' policy admits.
        issuer, identity = signature_identity(plan)
        assert (copy["env"]["CERTIFICATE_ISSUER"], copy["env"]["CERTIFICATE_IDENTITY"]) == (
            issuer, identity)
        # The source is read as the build environment's reader, the target written as the
        # environment's promotion identity.
        text = (workflows / "kubeplan-promote-copy.yml").read_text()
        reader = {"gcp": "GCP_CI_READER_SERVICE_ACCOUNT", "aws": "AWS_CI_READER_ROLE_ARN",
                  "azure": "AZURE_CI_READER_CLIENT_ID"}[plan.metadata.provider]
        writer = {"gcp": "GCP_PROMOTE_SERVICE_ACCOUNT", "aws": "AWS_PROMOTE_ROLE_ARN",
                  "azure": "AZURE_PROMOTE_CLIENT_ID"}[plan.metadata.provider]
        assert text.index(f"vars.{reader}") < text.index("cosign save")
        assert text.index(f"vars.{writer}") < text.index("cosign load")


def test_gitlab_promotion_copies_to_and_writes_the_target_registry(
        plans: dict[str, Plan], delivery: dict[str, Path]) -> None:
    for name in [n for n in _copying(plans) if not _github(plans[n])]:
        plan, root = plans[name], delivery[name]
        pipeline = _yaml(root / EXAMPLE_DIR / "ci/promote.gitlab-ci.yml")
        build = build_environment(plan)
        assert pipeline[f"promote-{build}"]["extends"] == ".promote"
        assert "id_tokens" not in pipeline[f"promote-{build}"]
        for environment in promotion_order(plan)[1:]:
            job = pipeline[f"promote-{environment}"]
            assert job["environment"]["name"] == environment
            script = "\n".join(job["script"])
            assert "cosign save" in script and '"$SOURCE_IMAGE@$RELEASE_DIGEST"' in script
            assert '"$repository:$CI_COMMIT_SHA"' in script and "cosign verify" in script
            assert '"$REGISTRY_URL" "$SERVICE"' in script  # the dotenv handed over
            replica = environment in registry_delivery.replica_environments(plan)
            assert ('"$REGISTRY_REPLICA_URL/$SERVICE"' in script) is replica
            issuer, identity = signature_identity(plan)
            assert job["variables"]["CERTIFICATE_IDENTITY"] == identity
            assert job["variables"]["CERTIFICATE_ISSUER"] == issuer
            request = pipeline[f"merge-request-{environment}"]
            assert request["needs"] == [{"job": f"promote-{environment}", "artifacts": True}]
            assert request["variables"]["TARGET_ENVIRONMENT"] == environment
        production = pipeline[f"promote-{plan.topology.production}"]
        assert production["rules"][0]["when"] == "manual"


def test_harbor_promotions_keep_one_registry(plans: dict[str, Plan],
                                             delivery: dict[str, Path]) -> None:
    root = delivery["regulated-payments"]
    workflows = root / EXAMPLE_DIR / ".github/workflows"
    assert not (workflows / "kubeplan-promote-copy.yml").exists()
    jobs = _yaml(workflows / "ci.yml")["jobs"]
    for environment in promotion_order(plans["regulated-payments"]):
        assert jobs[f"promote-{environment}"]["uses"].endswith("/kubeplan-promote.yml")
        assert "id-token" not in jobs[f"promote-{environment}"]["permissions"]


def _uses_token(job: dict[str, Any], workflows: Path) -> bool:
    """A job uses its OIDC token when it logs in to a cloud, lets Terraform's azurerm exchange
    it (ARM_USE_OIDC) or signs keylessly, or calls a workflow one of whose jobs holds one."""
    if "uses" in job:
        called = _yaml(workflows / Path(job["uses"]).name)
        return any(j.get("permissions", {}).get("id-token") == "write"
                   for j in called["jobs"].values())
    text = yaml.safe_dump(job.get("steps", []))
    return bool(re.search(r"google-github-actions/auth|configure-aws-credentials|azure/login|"
                          r"ARM_USE_OIDC|cosign sign", text))


def test_no_job_holds_an_id_token_it_does_not_use(plans: dict[str, Plan],
                                                  delivery: dict[str, Path]) -> None:
    for name, plan in plans.items():
        if not _github(plan):
            continue
        root = delivery[name]
        for path in check_delivery.workflow_files(root):
            workflow = _yaml(path)
            assert workflow.get("permissions") == {}, path
            for key, job in workflow["jobs"].items():
                if job.get("permissions", {}).get("id-token") == "write":
                    assert _uses_token(job, path.parent), (path, key)


def test_gitlab_id_tokens_only_where_exchanged(plans: dict[str, Plan],
                                               delivery: dict[str, Path]) -> None:
    for name, plan in plans.items():
        if _github(plan):
            continue
        for path in check_delivery.gitlab_files(delivery[name]):
            for key, job in (_yaml(path) or {}).items():
                if not isinstance(job, dict) or "id_tokens" not in job:
                    continue
                script = "\n".join(job.get("script", []))
                for token in job["id_tokens"]:
                    if token != "SIGSTORE_ID_TOKEN":
                        assert f"${token}" in script, (path, key, token)


def test_signature_identity_is_the_cluster_policy(plans: dict[str, Plan]) -> None:
    for name, plan in plans.items():
        if not plan.decision("policy").parameters.get("verifyImages"):
            continue
        cluster = plan.topology.clusters[0]
        issuer, identity = signature_identity(plan)
        found = False
        for addon in policy_gitops.addons(plan, cluster):
            text = yaml.safe_dump([dict(o) for o in addon.objects])
            if "subjectRegExp" in text:
                found = True
                assert f"issuer: {issuer}" in text, name
                assert identity in text, name
        assert found, name


def test_readme_follows_a_commit_through_the_registries(plans: dict[str, Plan],
                                                       delivery: dict[str, Path]) -> None:
    plan, root = plans["shop"], delivery["shop"]
    readme = (root / "delivery/README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| `REGISTRY_URL`")]
    assert len(rows) == len(promotion_order(plan))
    assert "| repository |" in rows[0] and "terraform/dev/registry" in rows[0]
    for environment, row in zip(promotion_order(plan)[1:], rows[1:], strict=True):
        assert f"| environment {environment} |" in row
        assert f"terraform/{environment}/registry" in row
    replica = next(line for line in readme.splitlines()
                   if line.startswith("| `REGISTRY_REPLICA_URL`"))
    assert "| environment prod |" in replica and 'registry_urls["us-central1"]' in replica
    assert "cosign save" in readme and "approval on the `prod` environment" in readme
    assert f"delivery/releases/prod/{SERVICE}.yaml" in readme
