"""Delivery: every example's pipelines pass the CI platforms' validators and kubeplan's rules,
builds are byte-identical, and `kubeplan check` catches an unpinned action or a job without
permissions. The GitOps objects of previews and releases validate against the upstream CRDs, and
so does a Flux preview request once the pipeline's substitution is applied to its template.

Trees are rendered with the delivery target only (plus plan.json), once per module: the other
targets have tests of their own, and this keeps the suite quick.
"""

from __future__ import annotations

import io
import os
import re
import shutil
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeplan import app, catalogue
from kubeplan.blocks import _delivery
from kubeplan.blocks.ci import gitops as ci_gitops
from kubeplan.blocks.preview import gitops as preview_gitops
from kubeplan.check import crds, kubernetes
from kubeplan.check import delivery as check_delivery
from kubeplan.cli import main
from kubeplan.model import Plan
from kubeplan.render import OutputTree, render, render_plan_json, to_yaml_stream
from kubeplan.render.delivery import (
    EXAMPLE_DIR,
    PREVIEW_BRANCH,
    PREVIEW_TEMPLATE,
    PREVIEW_VARIABLES,
    RELEASES_DIR,
    SERVICE,
    copies_releases,
    pipeline_stages,
    preview_requests_dir,
    promotion_order,
    terraform_layers,
)
from kubeplan.render.delivery.service import release_edit
from kubeplan.spec import load_text

from .conftest import SHARED_UPSTREAM

EXAMPLES = app.example_names()
UPSTREAM = Path(os.environ.get("KUBEPLAN_UPSTREAM") or SHARED_UPSTREAM)
# Flux previews with code on GitLab: no example has them, so the Flux example with GitLab CI.
GITLAB_FLUX = "azure-startup-gitlab"


def _plan(example: str) -> Plan:
    return app.plan(app.load_spec(None, example).loaded)


def _render(plan: Plan) -> OutputTree:
    return render(plan, (render_plan_json, _delivery.render_delivery))


def _write(tree: OutputTree, root: Path) -> Path:
    for path, content in tree:
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Plan, Path]]:
    out = {}
    for example in EXAMPLES:
        plan = _plan(example)
        out[example] = (plan, _write(_render(plan), tmp_path_factory.mktemp(example)))
    text = app.example_text("azure-startup").replace("ci: github-actions", "ci: gitlab-ci")
    plan = app.plan(load_text(text, GITLAB_FLUX))
    assert plan.choice("ci") == "gitlab-ci" and plan.choice("gitops") == "flux"
    out[GITLAB_FLUX] = (plan, _write(_render(plan), tmp_path_factory.mktemp(GITLAB_FLUX)))
    return out


def _flux_previews(plan: Plan) -> bool:
    return plan.choice("preview") != "none" and plan.choice("gitops") == "flux"


@pytest.mark.parametrize("example", [*EXAMPLES, GITLAB_FLUX])
def test_pipelines_pass_schema_actionlint_and_kubeplan_rules(
        built: dict[str, tuple[Plan, Path]], example: str) -> None:
    plan, root = built[example]
    findings = check_delivery.validate_without_checkov(root)
    assert not findings, "\n".join(f.render() for f in findings)
    github = check_delivery.workflow_files(root)
    gitlab = check_delivery.gitlab_files(root)
    # Flux previews add the preview pipeline to the template and the example service.
    expected = 8 if _flux_previews(plan) else 6
    if plan.choice("ci") == "github-actions" and copies_releases(plan) \
            and len(promotion_order(plan)) > 1:
        expected += 2  # the promotion that copies into a later environment's registry
    if plan.choice("ci") == "github-actions":
        assert len(github) == expected and not gitlab
    else:
        assert len(gitlab) == expected and not github


def test_checkov_passes_every_example(built: dict[str, tuple[Plan, Path]]) -> None:
    assert check_delivery.checkov_command(), "checkov is required (bash scripts/test.sh)"
    findings = check_delivery.checkov([root for _, root in built.values()])
    assert not findings, "\n".join(f.render() for f in findings)


@pytest.mark.parametrize("example", [*EXAMPLES, GITLAB_FLUX])
def test_delivery_manifests_pass_kubernetes_and_crd_schemas(
        built: dict[str, tuple[Plan, Path]], example: str) -> None:
    """Release files and the example service's manifests, through the GitOps validators."""
    _, root = built[example]
    findings = [*kubernetes.validate(root, UPSTREAM), *crds.validate(root, UPSTREAM)]
    assert not findings, "\n".join(f.render() for f in findings)


@pytest.mark.parametrize("example", ["shop", "aws-saas"])
def test_build_is_byte_identical(built: dict[str, tuple[Plan, Path]], example: str) -> None:
    _, root = built[example]
    again = _render(_plan(example))
    assert len(again) == len([p for p in root.rglob("*") if p.is_file()])
    for path, content in again:
        assert (root / path).read_bytes() == content, path


def test_every_action_is_pinned_to_a_catalogue_sha_with_its_tag(
        built: dict[str, tuple[Plan, Path]]) -> None:
    pins = {item["sha"]: (item["repository"], item["version"])
            for item in catalogue.load()["actions"].values()}
    uses = re.compile(r"uses: ([\w.-]+/[\w.-]+)@([0-9a-f]{40})  # (\S+)$")
    seen = set()
    for _, root in built.values():
        for path in check_delivery.workflow_files(root):
            for line in path.read_text().splitlines():
                if "uses:" not in line or "uses: ./" in line:
                    continue
                match = uses.search(line)
                assert match, f"{path}: {line.strip()}"
                assert pins[match.group(2)] == (match.group(1), match.group(3))
                seen.add(match.group(2))
    assert seen == set(pins), "catalogue actions no pipeline uses"


def _gitops_objects(plan: Plan) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for cluster in plan.topology.clusters:
        for addon in (*preview_gitops.addons(plan, cluster), *ci_gitops.addons(plan, cluster)):
            objects.extend(dict(o) for o in addon.objects)
    return objects


@pytest.mark.parametrize("example", EXAMPLES)
def test_preview_and_release_objects_validate(
        tmp_path: Path, built: dict[str, tuple[Plan, Path]], example: str) -> None:
    plan, root = built[example]
    objects = _gitops_objects(plan)
    folder = tmp_path / "objects"
    folder.mkdir()
    shutil.copy(root / "plan.json", tmp_path / "plan.json")
    (folder / "objects.yaml").write_text(to_yaml_stream(objects))
    findings = [*kubernetes.validate(tmp_path, UPSTREAM), *crds.validate(tmp_path, UPSTREAM)]
    assert not findings, "\n".join(f.render() for f in findings)


@pytest.mark.parametrize("example", ["shop", "media-site", "aws-saas"])
def test_applicationset_matches_argo_cd_3_4_4_and_the_preview_decision(
        built: dict[str, tuple[Plan, Path]], example: str) -> None:
    """The CRD check above validates ApplicationSets against the first CRD the index lists for
    the kind, which must be Argo CD v3.4.4's (what chart argo-cd 10.1.1 installs)."""
    plan, _ = built[example]
    first = crds.index(UPSTREAM)[("argoproj.io", "ApplicationSet")][0]
    assert first == UPSTREAM / "crds/argo-cd/v3.4.4/applicationset-crd.yaml"
    appsets = [o for o in _gitops_objects(plan) if o["kind"] == "ApplicationSet"]
    assert len(appsets) == 1, "one ApplicationSet, in the preview cluster only"
    appset = appsets[0]
    generator = appset["spec"]["generators"][0]["pullRequest"]
    assert ("github" in generator) == (plan.choice("ci") == "github-actions")
    template = appset["spec"]["template"]["spec"]
    host = str(plan.decision("preview").param("hostPattern")).format(number="{{.number}}")
    assert template["destination"]["namespace"] == "pr-{{.number}}"
    assert template["source"]["kustomize"]["namespace"] == "pr-{{.number}}"
    assert host in template["source"]["kustomize"]["patches"][0]["patch"]
    assert template["source"]["kustomize"]["images"][0].endswith(
        ":pr-{{.number}}-{{.head_sha}}")
    assert template["syncPolicy"]["automated"]["prune"] is True  # closed PR -> deleted


def test_flux_previews_reconcile_the_requests_branch_with_bounded_rights(
        built: dict[str, tuple[Plan, Path]]) -> None:
    plan, _ = built["azure-startup"]
    objects = _gitops_objects(plan)
    kinds = [o["kind"] for o in objects]
    assert "ApplicationSet" not in kinds
    by_name = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    source = by_name[("GitRepository", "previews")]["spec"]
    assert source["ref"] == {"branch": PREVIEW_BRANCH}
    kustomization = by_name[("Kustomization", "previews")]["spec"]
    assert kustomization["path"] == f"./{preview_requests_dir(plan)}"
    assert kustomization["prune"] is True  # a removed request deletes its namespace
    account = kustomization["serviceAccountName"]
    binding = by_name[("ClusterRoleBinding", "preview-requests")]
    assert binding["subjects"][0]["name"] == account
    role = by_name[("ClusterRole", binding["roleRef"]["name"])]
    assert not any("*" in r["verbs"] or "*" in r["resources"] for r in role["rules"])
    policy = by_name[("ValidatingAdmissionPolicy", "preview-requests")]["spec"]
    assert account in policy["matchConditions"][0]["expression"]
    assert by_name[("ValidatingAdmissionPolicyBinding", "preview-requests")]["spec"][
        "validationActions"] == ["Deny"]


def _substitute(text: str, values: dict[str, str]) -> str:
    """What the pipeline's `yq ... |= envsubst` does to the template's strings."""
    return re.sub(r"\$\{([A-Z_]+)\}", lambda m: values[m.group(1)], text)


@pytest.mark.parametrize("example", ["azure-startup", GITLAB_FLUX])
def test_flux_preview_request_validates_once_substituted(
        tmp_path: Path, built: dict[str, tuple[Plan, Path]], example: str) -> None:
    plan, root = built[example]
    template = (root / PREVIEW_TEMPLATE).read_text()
    assert set(re.findall(r"\$\{([A-Z_]+)\}", template)) == set(PREVIEW_VARIABLES)
    values = {"SERVICE": SERVICE, "PR_NUMBER": "42", "HEAD_SHA": "a" * 40,
              "IMAGE_TAG": f"pr-42-{'a' * 40}", "REGISTRY_URL": "registry.example.com/team"}
    folder = tmp_path / "request"
    folder.mkdir()
    shutil.copy(root / "plan.json", tmp_path / "plan.json")
    request = _substitute(template, values)
    (folder / "request.yaml").write_text(request)
    findings = [*kubernetes.validate(tmp_path, UPSTREAM), *crds.validate(tmp_path, UPSTREAM)]
    assert not findings, "\n".join(f.render() for f in findings)
    docs = {d["kind"]: d for d in yaml.safe_load_all(request) if d}
    assert docs["Namespace"]["metadata"]["name"] == "pr-42"
    assert docs["Namespace"]["metadata"]["labels"][
        "pod-security.kubernetes.io/enforce"] == "restricted"
    spec = docs["Kustomization"]["spec"]
    assert docs["Kustomization"]["metadata"]["namespace"] == spec["targetNamespace"] == "pr-42"
    assert spec["serviceAccountName"] == docs["RoleBinding"]["subjects"][0]["name"]
    assert spec["images"] == [{"name": SERVICE, "newName": f"registry.example.com/team/{SERVICE}",
                               "newTag": values["IMAGE_TAG"]}]
    host = str(plan.decision("preview").param("hostPattern")).format(number="42")
    assert host in spec["patches"][0]["patch"]
    assert docs["GitRepository"]["spec"]["ref"] == {"commit": values["HEAD_SHA"]}
    # The folder Flux watches exists on the default branch (and so on a new previews branch).
    assert (root / preview_requests_dir(plan) / "README.md").is_file()


def test_github_pipeline_writes_and_removes_flux_preview_requests(
        built: dict[str, tuple[Plan, Path]]) -> None:
    plan, root = built["azure-startup"]
    ci = yaml.safe_load((root / EXAMPLE_DIR / ".github/workflows/ci.yml").read_text())
    assert "closed" in ci["on"]["pull_request"]["types"]
    jobs = ci["jobs"]
    for key in ("tag", "container"):
        assert jobs[key]["if"] == "${{ github.event.action != 'closed' }}"
    assert jobs["preview"]["with"]["open"] is True and "container" in jobs["preview"]["needs"]
    assert jobs["preview-remove"]["with"]["open"] is False
    assert "action == 'closed'" in jobs["preview-remove"]["if"]
    preview = yaml.safe_load(
        (root / EXAMPLE_DIR / ".github/workflows/kubeplan-preview.yml").read_text())
    job = preview["jobs"]["request"]
    assert job["permissions"] == {} and job["concurrency"]["cancel-in-progress"] is False
    app_token = job["steps"][0]["with"]
    assert app_token["permission-contents"] == "write" and "permission-pull-requests" not in app_token
    env = job["steps"][1]["env"]
    assert env["PREVIEW_BRANCH"] == PREVIEW_BRANCH and env["TEMPLATE"] == PREVIEW_TEMPLATE
    assert env["REQUESTS_DIR"] == preview_requests_dir(plan)
    # The only write to the platform repository is on the previews branch.
    assert "-X PUT" in job["steps"][1]["run"] and env["DEFAULT_BRANCH"] != PREVIEW_BRANCH


def test_gitlab_pipeline_writes_flux_preview_requests_and_stops_them(
        built: dict[str, tuple[Plan, Path]]) -> None:
    plan, root = built[GITLAB_FLUX]
    container = yaml.safe_load((root / EXAMPLE_DIR / "ci/container.gitlab-ci.yml").read_text())
    assert container["stages"].index("preview") == container["stages"].index("publish") + 1
    included = yaml.safe_load((root / EXAMPLE_DIR / ".gitlab-ci.yml").read_text())["include"]
    assert {"local": "ci/preview.gitlab-ci.yml"} in included
    pipeline = yaml.safe_load((root / EXAMPLE_DIR / "ci/preview.gitlab-ci.yml").read_text())
    start, stop = pipeline["preview"], pipeline["preview-stop"]
    assert start["environment"]["on_stop"] == "preview-stop"
    assert stop["environment"] == {"name": start["environment"]["name"], "action": "stop"}
    assert stop["rules"][0]["when"] == "manual"
    assert pipeline[".preview"]["variables"]["PREVIEW_BRANCH"] == PREVIEW_BRANCH
    assert pipeline[".preview"]["variables"]["REQUESTS_DIR"] == preview_requests_dir(plan)


def test_argo_cd_previews_need_no_pipeline_requests(built: dict[str, tuple[Plan, Path]]) -> None:
    for example in ("shop", "aws-saas"):
        _, root = built[example]
        assert not (root / PREVIEW_TEMPLATE).exists()
        assert not list(root.rglob("*preview*.y*ml")), example


@pytest.mark.parametrize("example", ["factory-onprem", "regulated-payments", "internal-tool"])
def test_no_preview_objects_without_previews(built: dict[str, tuple[Plan, Path]],
                                             example: str) -> None:
    plan, _ = built[example]
    assert plan.choice("preview") == "none"
    assert not any(o["kind"] == "ApplicationSet" or o["metadata"]["name"] == "previews"
                   for o in _gitops_objects(plan))
    assert not any(s.key == "preview" for s in pipeline_stages(plan))


def test_platform_pipeline_follows_the_layers_and_gates_production(
        built: dict[str, tuple[Plan, Path]]) -> None:
    plan, root = built["shop"]
    workflow = yaml.safe_load((root / ".github/workflows/platform.yml").read_text())
    jobs = workflow["jobs"]
    assert jobs["plan"]["strategy"]["matrix"] == {
        "environment": ["dev", "staging", "prod"], "layer": list(terraform_layers(plan))}
    applies = [k for k in jobs if k.startswith("apply-")]
    assert applies == ["apply-dev", "apply-staging", "apply-prod"]
    assert jobs["apply-prod"]["environment"] == "prod"
    assert "apply-staging" in jobs["apply-prod"]["needs"]
    steps = [s["name"] for s in jobs["apply-prod"]["steps"] if s["name"].startswith("apply ")]
    assert steps == [f"apply {layer}" for layer in terraform_layers(plan)]


def test_on_prem_platform_pipeline_has_no_terraform(built: dict[str, tuple[Plan, Path]]) -> None:
    _, root = built["factory-onprem"]
    pipeline = yaml.safe_load((root / ".gitlab-ci.yml").read_text())
    assert set(pipeline) == {"workflow", "stages", "kubeplan-check"}


def test_gitlab_production_promotion_and_apply_are_manual(
        built: dict[str, tuple[Plan, Path]]) -> None:
    plan, root = built["aws-saas"]
    promote = yaml.safe_load((root / EXAMPLE_DIR / "ci/promote.gitlab-ci.yml").read_text())
    platform = yaml.safe_load((root / ".gitlab-ci.yml").read_text())
    assert [k for k in promote if k.startswith("promote-")] == [
        f"promote-{e}" for e in promotion_order(plan)]
    assert promote["promote-prod"]["rules"][0]["when"] == "manual"
    assert platform["apply-prod"]["rules"][0]["when"] == "manual"
    assert "when" not in platform["apply-dev"]["rules"][0]


def test_release_edit_sets_image_digest_and_revision(built: dict[str, tuple[Plan, Path]]) -> None:
    """The yq expression a promotion runs, applied here by hand to the rendered release."""
    for example in ("shop", "azure-startup"):
        plan, root = built[example]
        path = root / RELEASES_DIR / "prod" / f"{SERVICE}.yaml"
        docs = list(yaml.safe_load_all(path.read_text()))
        edit = release_edit(plan)
        assert "strenv(DIGEST)" in edit and "strenv(REVISION)" in edit
        if plan.choice("gitops") == "argocd":
            assert "automated" not in docs[0]["spec"]["syncPolicy"]  # nothing until promoted
        else:
            kustomization = next(d for d in docs if d["kind"] == "Kustomization")
            assert kustomization["spec"]["suspend"] is True


@pytest.fixture(scope="module")
def mutated(built: dict[str, tuple[Plan, Path]], tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[int, str]:
    """One GitHub example with an action pinned by tag and a job without permissions, checked
    by `kubeplan check` (checkov left out: it has a test of its own)."""
    _, source = built["shop"]
    root = tmp_path_factory.mktemp("mutated") / "tree"
    shutil.copytree(source, root)
    ci = root / EXAMPLE_DIR / ".github/workflows/ci.yml"
    text = ci.read_text()
    checkout = catalogue.action("checkout")
    container = root / EXAMPLE_DIR / ".github/workflows/kubeplan-container.yml"
    container.write_text(container.read_text().replace(
        f"actions/checkout@{checkout['sha']}  # {checkout['version']}",
        f"actions/checkout@{checkout['version']}"))
    text = text.replace("    permissions: {}\n    outputs:", "    outputs:", 1)
    assert text != ci.read_text()
    ci.write_text(text)
    saved = os.environ.get(check_delivery.CHECKOV_ENV)
    os.environ[check_delivery.CHECKOV_ENV] = ""
    buffer = io.StringIO()
    try:
        with redirect_stdout(buffer):
            code = main(["check", str(root), "--upstream", str(UPSTREAM)])
    finally:
        if saved is None:
            del os.environ[check_delivery.CHECKOV_ENV]
        else:
            os.environ[check_delivery.CHECKOV_ENV] = saved
    return code, buffer.getvalue()


def test_check_catches_an_action_referenced_by_tag(mutated: tuple[int, str]) -> None:
    code, output = mutated
    assert code == 1
    assert re.search(r"kubeplan-container\.yml: \[delivery\] job build step Check out "
                     r"references actions/checkout@v\S+ by tag", output), output


def test_check_catches_a_job_without_permissions(mutated: tuple[int, str]) -> None:
    code, output = mutated
    assert code == 1
    assert "ci.yml: [delivery] job tag has no explicit permissions" in output, output
