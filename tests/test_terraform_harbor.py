"""The `harbor` layer: Harbor's projects, policies, robots and replication follow the plan, the
roots pass the Terraform validators (python-hcl2, references, checkov) and no secret value is
written anywhere.

Examples: factory-onprem (Vault, two sites, hardened, a webhook receiver) and
regulated-payments (GCP Secret Manager, three regions replicating to one, regulated, Slack);
variants: one site with a baseline posture and only e-mail alerts, and aws-saas on Harbor."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest

from kubeplan import catalogue
from kubeplan.blocks.metrics import alertmanager
from kubeplan.blocks.registry import terraform_harbor as harbor
from kubeplan.blocks.secrets import gitops as secrets_gitops
from kubeplan.check import terraform as check_terraform
from kubeplan.errors import Finding
from kubeplan.model import Plan
from kubeplan.render import delivery, mirrors, naming
from kubeplan.render.gitops import telemetry
from kubeplan.render.terraform import roots

from .conftest import SHARED_UPSTREAM
from .gitops_support import example_data, plan_from
from .terraform_support import Rendered, plain, render, write

LAYER = "harbor"


def _single_site_baseline() -> Plan:
    data = example_data("factory-onprem")
    spec = data["spec"]
    spec["regions"] = ["plant-north"]
    spec["security"]["posture"] = "baseline"
    spec["observability"]["alertReceivers"] = [{"type": "email", "to": "ops@factory.example.net"}]
    return plan_from(data)


def _aws_on_harbor() -> Plan:
    data = example_data("aws-saas")
    data["spec"]["delivery"]["registry"] = "harbor"
    return plan_from(data)


@pytest.fixture(scope="module")
def rendered() -> dict[str, Rendered]:
    return {
        "factory-onprem": render("factory-onprem"),
        "regulated-payments": render("regulated-payments"),
        "single-site-baseline": render("single-site-baseline", _single_site_baseline()),
        "aws-on-harbor": render("aws-on-harbor", _aws_on_harbor()),
    }


@pytest.fixture(scope="module")
def trees(rendered: dict[str, Rendered], tmp_path_factory: pytest.TempPathFactory
          ) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("harbor")
    return {name: write(r, base / name) for name, r in rendered.items()}


@pytest.fixture(scope="module")
def checkov_findings(trees: dict[str, Path]) -> list[Finding]:
    """One checkov run over the variants' and factory-onprem's Terraform (regulated-payments is
    in test_terraform's run over every example)."""
    base = next(iter(trees.values())).parent
    return check_terraform.checkov(base, base)


# --- reading the parsed roots ---------------------------------------------------------------




def root_of(r: Rendered) -> str:
    return f"terraform/{r.plan.topology.production}/{LAYER}"


def blocks(r: Rendered, kind: str, type_: str | None = None) -> dict[str, dict[str, Any]]:
    """`resource`/`ephemeral`/`variable`/`output` blocks of the harbor root: address -> body."""
    out: dict[str, dict[str, Any]] = {}
    prefix = root_of(r) + "/"
    for path, parsed in r.parsed().items():
        if not path.startswith(prefix):
            continue
        for entry in parsed.get(kind, []):
            for first, inner in plain(entry).items():
                if kind in ("variable", "output"):
                    out[first] = inner
                    continue
                if type_ is not None and first != type_:
                    continue
                for name, body in inner.items():
                    out[f"{first}.{name}"] = body
    return out


def text(r: Rendered, file: str) -> str:
    return r.files[f"{root_of(r)}/{file}"].decode()


def projects_by_region(r: Rendered) -> dict[tuple[str, str], dict[str, Any]]:
    """(region slug, project name) -> harbor_project body."""
    out = {}
    for address, body in blocks(r, "resource", "harbor_project").items():
        name = body["name"]
        region = address.split(".", 1)[1].removesuffix(f"_{name.replace('-', '_')}")
        out[(region, name)] = body
    return out


# --- validation -----------------------------------------------------------------------------


def test_only_the_registry_owner_environment_has_the_layer(rendered: dict[str, Rendered]
                                                           ) -> None:
    for name, r in rendered.items():
        layers = {p.split("/")[1] for p in r.files
                  if p.startswith("terraform/") and p.split("/")[2:3] == [LAYER]}
        assert layers == {r.plan.topology.production}, name
        for file in ("versions.tf", "backend.tf", "providers.tf", "variables.tf", "outputs.tf",
                     "system.tf", "projects.tf", "robots.tf"):
            assert f"{root_of(r)}/{file}" in r.files, (name, file)
    # The platform pipeline applies the layers before the sync; this one comes after it.
    assert LAYER not in delivery.terraform_layers(rendered["regulated-payments"].plan)


@pytest.mark.parametrize("name", ["factory-onprem", "regulated-payments", "single-site-baseline",
                                  "aws-on-harbor"])
def test_roots_parse_and_every_reference_resolves(name: str, trees: dict[str, Path],
                                                  rendered: dict[str, Rendered]) -> None:
    r = rendered[name]
    # Every .tf of the root parses with python-hcl2.
    assert all(isinstance(r.parsed()[p], dict) for p in r.tf() if p.startswith(root_of(r)))
    findings = check_terraform.check_roots(trees[name], SHARED_UPSTREAM)
    assert not findings, "\n".join(f.render() for f in findings)
    # check_roots does not follow `ephemeral.` references: every one names a declared block.
    declared = set(blocks(r, "ephemeral"))
    used = {ref for path, source in r.tf().items() if path.startswith(root_of(r))
            for ref in re.findall(r"ephemeral\.([a-z_]+\.[a-z0-9_]+)", source)}
    assert used == declared, name


def test_checkov_passes(checkov_findings: list[Finding]) -> None:
    assert check_terraform.checkov_command(), "checkov is needed: run `bash scripts/test.sh`"
    assert not checkov_findings, "\n".join(f.render() for f in checkov_findings)


def test_providers_are_pinned_and_configured_without_credentials(
        rendered: dict[str, Rendered]) -> None:
    pins = catalogue.load()["providers"]
    for name, r in rendered.items():
        versions = text(r, "versions.tf")
        assert f'source  = "{pins["harbor"]["source"]}"' in versions
        assert f'version = "{pins["harbor"]["version"]}"' in versions
        providers = text(r, "providers.tf")
        second = str(r.plan.decision("registry").param("replicateTo"))
        expected = [r.plan.topology.regions[0], *([second] if second else [])]
        for region in expected:
            assert f'"https://{naming.harbor_host(r.plan, region)}"' in providers, name
        assert providers.count('provider "harbor"') == len(expected), name
        assert providers.count("insecure = false") == len(expected), name
        # The admin credentials come from HARBOR_USERNAME / HARBOR_PASSWORD at apply time.
        for word in ("username", "password", "bearer_token", "token ="):
            assert word not in providers, (name, word)
        vault = r.plan.decision("secrets").parameters["secretStoreProvider"] == "vault"
        assert ('provider "vault"' in providers) == vault, name
        assert (f'version = "{pins["vault"]["version"]}"' in versions) == vault, name
        # No cloud provider, so no unused account variable.
        assert not set(blocks(r, "variable")) & {v.name for v in roots.PROVIDER_VARIABLE.values()}
    factory = rendered["factory-onprem"]
    backend = text(factory, "backend.tf")
    assert 'backend "pg"' in backend and 'schema_name = "factory_prod_harbor"' in backend
    assert "conn_str" not in backend  # PG_CONN_STR at apply time
    assert 'backend "gcs"' in text(rendered["regulated-payments"], "backend.tf")


# --- Harbor follows the plan ----------------------------------------------------------------


def test_projects_quotas_scanning_severity_and_signatures(rendered: dict[str, Rendered]) -> None:
    expectations = {
        # name: (severity, signatures enforced, proxy caches)
        "factory-onprem": ("high", True, True),
        "regulated-payments": ("high", True, True),
        "single-site-baseline": ("critical", False, False),
        "aws-on-harbor": ("high", True, True),
    }
    for name, r in rendered.items():
        severity, signed, proxies = expectations[name]
        plan = r.plan
        assert harbor.severity(plan) == severity
        projects = projects_by_region(r)
        names = {p for _, p in projects}
        upstream = {u.name for u in mirrors.UPSTREAMS}
        assert {"platform", naming.APP_NAMESPACE} <= names, name
        assert (upstream <= names) == proxies and (not proxies) == (not names & upstream), name
        services = plan.inputs["workloads"]["services"]
        team_quota = max(10, math.ceil(services * 0.3 * 30 / 10) * 10)
        for (_, project), body in projects.items():
            assert body["public"] is False and body["vulnerability_scanning"] is True
            assert body["deployment_security"] == severity, (name, project)
            assert body["force_destroy"] is False
            quota = {"platform": harbor.PLATFORM_QUOTA_GIB,
                     naming.APP_NAMESPACE: team_quota}.get(project, harbor.PROXY_QUOTA_GIB)
            assert body["storage_quota"] == quota, (name, project)
            if project in upstream:
                # Upstream images are not signed by the platform's CI.
                assert body["enable_content_trust_cosign"] is False
                assert body["registry_id"].startswith("${harbor_registry.")
            else:
                assert body["enable_content_trust_cosign"] is signed, (name, project)
                assert "registry_id" not in body
    factory = projects_by_region(rendered["factory-onprem"])
    assert factory[("plant_north", "apps")]["storage_quota"] == 170  # 18 services
    registries = blocks(rendered["factory-onprem"], "resource", "harbor_registry")
    endpoints = {b["endpoint_url"]: b["provider_name"] for b in registries.values()}
    assert endpoints["https://hub.docker.com"] == "docker-hub"
    assert endpoints["https://ghcr.io"] == "github"
    assert endpoints["https://quay.io"] == "quay"
    assert endpoints["https://registry.k8s.io"] == "docker-registry"


def test_immutable_tags_and_retention(rendered: dict[str, Rendered]) -> None:
    for name, r in rendered.items():
        projects = projects_by_region(r)
        kept = {k for k, b in projects.items() if "registry_id" not in b}
        immutable = blocks(r, "resource", "harbor_immutable_tag_rule")
        retention = blocks(r, "resource", "harbor_retention_policy")
        assert len(immutable) == len(retention) == len(kept), name
        for body in immutable.values():
            assert body["repo_matching"] == "**" and body["tag_excluding"] == "sha256-*"
        regulated = r.plan.inputs["security"]["posture"] == "regulated"
        for body in retention.values():
            rules = body["rule"]
            assert body["scope"].startswith("${harbor_project.") and body["scope"].endswith(".id}")
            # Untagged artifacts match no retain rule, so Harbor deletes them.
            assert all(rule["untagged_artifacts"] is False for rule in rules)
            releases = [rule for rule in rules if rule.get("most_recently_pushed")]
            assert releases == [{"most_recently_pushed": harbor.RELEASES_KEPT,
                                 "repo_matching": "**", "tag_excluding": "pr-*",
                                 "untagged_artifacts": False}]
            previews = [rule for rule in rules if rule.get("tag_matching") == "pr-*"]
            assert [p["n_days_since_last_push"] for p in previews] == [harbor.PREVIEW_DAYS]
            assert any(rule.get("n_days_since_last_pull") == harbor.PULLED_DAYS for rule in rules)
            audit = [rule for rule in rules if rule.get("n_days_since_last_push")
                     and rule.get("tag_excluding") == "pr-*"]
            assert len(audit) == (1 if regulated else 0), name
            if regulated:
                assert audit[0]["n_days_since_last_push"] == 90  # spec.observability 90d
            assert 1 <= len(rules) <= 15  # the provider's limit
    system = blocks(rendered["factory-onprem"], "resource", "harbor_purge_audit_log")
    assert {b["audit_retention_hour"] for b in system.values()} == {30 * 24}


def test_robots_are_least_privilege(rendered: dict[str, Rendered]) -> None:
    for name, r in rendered.items():
        primary = r.plan.topology.regions[0].replace("-", "_")
        projects = {p for _, p in projects_by_region(r)}
        upstream = {u.name for u in mirrors.UPSTREAMS}
        robots = blocks(r, "resource", "harbor_robot_account")
        ci = {a: b for a, b in robots.items() if b["level"] == "project"}
        pull = {a: b for a, b in robots.items() if b["name"].startswith("pull-")}
        replication = {a: b for a, b in robots.items() if b["name"].startswith("replication-")}
        assert len(robots) == len(ci) + len(pull) + len(replication), name
        # One CI robot per non-proxy project, on the primary Harbor only.
        assert len(ci) == len(projects - upstream), name
        for address, body in ci.items():
            assert address.split(".")[1].startswith(f"{primary}_ci_"), address
            (permission,) = body["permissions"]
            own = address.split("_ci_", 1)[1]
            assert permission["kind"] == "project"
            assert permission["namespace"] == f"${{harbor_project.{primary}_{own}.name}}"
            assert sorted((a["action"], a["resource"]) for a in permission["access"]) == [
                ("pull", "repository"), ("push", "repository")]
        # Per environment and Harbor, pull only, on the platform's projects (never `*`).
        regions = 2 if r.plan.decision("registry").param("replicateTo") else 1
        assert len(pull) == len(r.plan.metadata.environments) * regions, name
        for body in pull.values():
            assert body["level"] == "system"
            assert len(body["permissions"]) == len(projects)
            for permission in body["permissions"]:
                assert permission["kind"] == "project" and "*" not in permission["namespace"]
                assert [(a["action"], a["resource"]) for a in permission["access"]] == [
                    ("pull", "repository")]
        for body in replication.values():
            assert body["level"] == "system" and body["provider"].startswith("${harbor.")
            for permission in body["permissions"]:
                assert permission["kind"] == "project"
                assert not any(a["action"] == "delete" for a in permission["access"])
                assert not any(u in permission["namespace"] for u in upstream)
        for body in robots.values():
            assert body["duration"] == -1
            assert all(p["kind"] != "system" for p in body["permissions"])


def test_replication_only_towards_the_planned_second_region(rendered: dict[str, Rendered]
                                                            ) -> None:
    for name, r in rendered.items():
        second = str(r.plan.decision("registry").param("replicateTo"))
        rules = blocks(r, "resource", "harbor_replication")
        endpoints = blocks(r, "resource", "harbor_registry")
        replicas = {a: b for a, b in endpoints.items() if b["provider_name"] == "harbor"}
        if not second:
            assert not rules and not replicas, name
            assert f"{root_of(r)}/replication.tf" not in r.files
            continue
        (endpoint,) = replicas.values()
        assert endpoint["endpoint_url"] == f"https://{naming.harbor_host(r.plan, second)}"
        assert endpoint["insecure"] is False
        assert endpoint["access_secret"].startswith("${harbor_robot_account.")
        projects = {p for _, p in projects_by_region(r)} - {u.name for u in mirrors.UPSTREAMS}
        assert {b["filters"][0]["name"] for b in rules.values()} == {f"{p}/**" for p in projects}
        for body in rules.values():
            assert body["action"] == "push" and body["schedule"] == "event_based"
            assert body["deletion"] is False and body["override"] is False
            assert "provider" not in body  # from the primary
        # The replica carries the same projects and policies.
        by_region = {region for region, _ in projects_by_region(r)}
        assert by_region == {r.plan.topology.regions[0].replace("-", "_"),
                             second.replace("-", "_")}, name
    # regulated-payments has three regions; the decision replicates to the second only.
    payments = rendered["regulated-payments"]
    assert "europe_north1" not in text(payments, "providers.tf").replace("-", "_")


def test_no_secret_value_in_the_output(rendered: dict[str, Rendered]) -> None:
    for name, r in rendered.items():
        vault = r.plan.decision("secrets").parameters["secretStoreProvider"] == "vault"
        robots = blocks(r, "resource", "harbor_robot_account")
        outputs = blocks(r, "output")
        for address, body in robots.items():
            assert "secret" not in body, address  # never a literal secret
            if vault and not body["name"].startswith("replication-"):
                key = address.split(".")[1]
                assert body["secret_wo"] == f"${{ephemeral.random_password.{key}.result}}"
                assert body["secret_wo_version"] == "${var.robot_secret_version}"
        stored = blocks(r, "resource", "vault_kv_secret_v2")
        if vault:
            assert set(stored) == {a.replace("harbor_robot_account", "vault_kv_secret_v2")
                                   for a, b in robots.items()
                                   if not b["name"].startswith("replication-")}
            for body in stored.values():
                assert body["mount"] == harbor.VAULT_KV_MOUNT
                assert "data_json" not in body and "ephemeral.random_password" in \
                    body["data_json_wo"]
            assert "robot_secrets" not in outputs
        else:
            assert not stored
            assert outputs["robot_secrets"]["sensitive"] is True
        for output, body in outputs.items():
            if output != "robot_secrets":
                assert ".secret" not in str(body["value"]), (name, output)
        webhooks = blocks(r, "resource", "harbor_project_webhook")
        for body in webhooks.values():
            assert body["address"] == "${var.alert_webhook_url}"
            assert body["skip_cert_verify"] is False
        if webhooks:
            assert blocks(r, "variable")["alert_webhook_url"]["sensitive"] is True


def test_webhooks_reach_the_planned_alert_receiver(rendered: dict[str, Rendered]) -> None:
    expected = {"factory-onprem": "http", "regulated-payments": "slack",
                "aws-on-harbor": "slack", "single-site-baseline": None}
    for name, r in rendered.items():
        webhooks = blocks(r, "resource", "harbor_project_webhook")
        if expected[name] is None:
            assert not webhooks and "alert_webhook_url" not in blocks(r, "variable")
            continue
        assert len(webhooks) == len(projects_by_region(r)), name
        for body in webhooks.values():
            assert body["notify_type"] == expected[name]
            assert set(body["events_types"]) == set(harbor.WEBHOOK_EVENTS)
        # The variable names the secret-store entry Alertmanager reads for that receiver.
        receiver = harbor.alert_receiver(r.plan)
        assert receiver is not None
        items = {item for rcv in alertmanager.receivers(r.plan) for item in rcv.secrets.values()}
        assert receiver.item in items
        entry = telemetry.remote_key(r.plan, r.plan.topology.clusters_in(
            r.plan.topology.production)[0], receiver.item)
        assert entry in blocks(r, "variable")["alert_webhook_url"]["description"]


def test_secret_store_entries_are_where_the_clusters_read(rendered: dict[str, Rendered]) -> None:
    assert harbor.VAULT_KV_MOUNT == secrets_gitops.VAULT_KV_MOUNT
    r = rendered["factory-onprem"]
    names = {b["name"] for b in blocks(r, "resource", "vault_kv_secret_v2").values()}
    for environment in r.plan.metadata.environments:
        cluster = r.plan.topology.clusters_in(environment)[0]
        for region in ("plant-north", "plant-south"):
            assert telemetry.remote_key(r.plan, cluster, f"harbor-pull-{region}") in names
    assert {"factory-prod-harbor-ci-apps", "factory-prod-harbor-ci-platform"} <= names


def test_runbook_notes_say_when_and_how_to_apply(rendered: dict[str, Rendered]) -> None:
    readme = rendered["factory-onprem"].files["onprem/README.md"].decode()
    assert "applied after the first GitOps sync" in readme
    assert "`factory-prod-harbor-admin-password`" in readme and "HARBOR_PASSWORD" in readme
    assert "PG_CONN_STR" in readme and "VAULT_TOKEN" in readme
    assert "Harbor's PostgreSQL" in readme  # not rendered: the note stays
    single = rendered["single-site-baseline"].files["onprem/README.md"].decode()
    assert "Harbor sends no webhooks" in single
    cloud = rendered["regulated-payments"].files["terraform/README.md"].decode()
    assert "sensitive output `robot_secrets`" in cloud


def test_every_cluster_pulls_with_the_robots_terraform_writes() -> None:
    """The pull Secret of each cluster reads exactly the entries the harbor layer writes for its
    environment, one per Harbor (primary and replica site); Harbor itself runs only there."""
    import yaml

    from kubeplan.blocks._gitops import block_addons
    from kubeplan.blocks.registry import gitops as registry_gitops

    plan = plan_from(example_data("factory-onprem"))
    regions = naming.harbor_regions(plan)
    assert len(regions) == 2
    prod = plan.topology.production
    for cluster in plan.topology.clusters:
        addons = {a.name: a for a in block_addons(plan, cluster)}
        runs_harbor = "harbor" in addons
        assert runs_harbor == (cluster.environment == prod and cluster.region in regions)
        pull = addons[registry_gitops.PULL_SECRET]
        secret = next(o for o in pull.objects if o["kind"] == "ExternalSecret")
        keys = {e["remoteRef"]["key"] for e in secret["spec"]["data"]}
        expected = {r.entry for region in regions
                    for r in harbor.robots(_env(plan, prod), region)
                    if r.entry.startswith(naming.secret_prefix(plan, cluster.environment))
                    and "-harbor-pull-" in r.entry}
        assert keys == expected, cluster.name
        auths = yaml.safe_load(secret["spec"]["target"]["template"]["data"][".dockerconfigjson"])
        assert set(auths["auths"]) == {naming.harbor_host(plan, r) for r in regions}
        account = next(o for o in pull.objects if o["kind"] == "ServiceAccount")
        assert account["imagePullSecrets"] == [{"name": registry_gitops.PULL_SECRET}]


def _env(plan: Plan, environment: str) -> Any:
    from kubeplan.render.terraform import compose

    return next(e for e in compose.environments(plan) if e.environment == environment)
