"""Metrics, alerting, logging, tracing and backup add-ons: real tools and plan-driven changes.

Every example's rendered rules and Alertmanager configuration go through promtool and amtool
(module-scoped: one tree per example per session); the rest asserts that decisions change the
tree the way they say.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeplan import app, catalogue
from kubeplan.blocks.metrics import alertmanager, alerts
from kubeplan.check import VALIDATORS
from kubeplan.check import prometheus as prom_check
from kubeplan.model import Plan
from kubeplan.render import naming, to_yaml

from .conftest import SHARED_UPSTREAM
from .observability_support import (
    by_name,
    data_sources,
    edited,
    example_names,
    example_plan,
    objects,
    unknown_keys,
    write_tree,
)

EXAMPLES = example_names()
needs_tools = pytest.mark.skipif(
    not (shutil.which("promtool") and shutil.which("amtool")),
    reason="promtool/amtool missing (scripts/test.sh installs them from Debian)")


@pytest.fixture(scope="module")
def plans() -> dict[str, Plan]:
    return {name: example_plan(name) for name in EXAMPLES}


@pytest.fixture(scope="module")
def trees(plans: dict[str, Plan], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One folder per example under a common root, so one validator run covers them all and
    identical rules (most of them, cluster after cluster) go through the tools once."""
    base = tmp_path_factory.mktemp("observability")
    out = {}
    for name, plan in plans.items():
        write_tree(plan, base / name)
        out[name] = base / name
    return out


@pytest.fixture(scope="module")
def findings(trees: dict[str, Path]) -> list[str]:
    root = next(iter(trees.values())).parent
    return [f.render() for f in prom_check.validate(root, SHARED_UPSTREAM)]


# --- the real tools over every example --------------------------------------------------------

@needs_tools
@pytest.mark.parametrize("example", EXAMPLES)
def test_rules_and_alertmanager_pass_promtool_and_amtool(trees: dict[str, Path],
                                                         findings: list[str],
                                                         example: str) -> None:
    rules = list(trees[example].rglob("prometheusrule-*.yaml"))
    assert len(rules) >= 3 * len(example_plan(example).topology.clusters)
    assert list(trees[example].rglob("kube-prometheus-stack/values.yaml"))
    assert [f for f in findings if f.startswith(f"{example}/")] == []


@needs_tools
def test_burn_rate_unit_tests_catch_a_wrong_threshold(trees: dict[str, Path],
                                                      tmp_path: Path) -> None:
    source = next(trees["shop"].rglob("prometheusrule-slo-availability.yaml"))
    doc = yaml.safe_load(source.read_text())
    assert alerts.TESTS_ANNOTATION in doc["metadata"]["annotations"]
    for group in doc["spec"]["groups"]:
        for rule in group["rules"]:
            if rule.get("labels", {}).get("long_window") == "1h":
                # Double the page threshold: a 16x burn no longer pages.
                rule["expr"] = rule["expr"].replace("> 0.0072", "> 0.0144")
    broken = tmp_path / "prometheusrule-slo-availability.yaml"
    broken.write_text(yaml.safe_dump(doc))
    findings = prom_check.validate(tmp_path, SHARED_UPSTREAM)
    assert len(findings) == 1
    assert "promtool test rules failed" in findings[0].message


@needs_tools
def test_a_shadowed_receiver_is_reported(trees: dict[str, Path], tmp_path: Path) -> None:
    source = next(trees["shop"].rglob("kube-prometheus-stack/values.yaml"))
    values = yaml.safe_load(source.read_text())
    routes = values["alertmanager"]["config"]["route"]["routes"]
    # A catch-all without `continue` before the receivers swallows every alert.
    routes.insert(0, {"receiver": "null", "matchers": ['severity=~".+"']})
    target = tmp_path / "values.yaml"
    target.write_text(yaml.safe_dump(values))
    messages = [f.message for f in prom_check.validate(tmp_path, SHARED_UPSTREAM)]
    assert any("'pagerduty' is not reached" in m for m in messages)
    assert any("'slack-platform-alerts' is not reached" in m for m in messages)


@needs_tools
def test_routes_follow_severity(trees: dict[str, Path], tmp_path: Path) -> None:
    source = next(trees["shop"].rglob("kube-prometheus-stack/values.yaml"))
    config = yaml.safe_load(source.read_text())["alertmanager"]["config"]
    path = tmp_path / "am.yaml"
    path.write_text(yaml.safe_dump(config))

    def receivers(*labels: str) -> set[str]:
        result = subprocess.run(["amtool", "config", "routes", "test",
                                 f"--config.file={path}", *labels],
                                capture_output=True, text=True, check=True)
        return set(result.stdout.strip().splitlines()[0].split(","))

    assert receivers("severity=critical") == {"pagerduty", "slack-platform-alerts",
                                              "email-oncall-example-com"}
    assert receivers("severity=warning") == {"slack-platform-alerts",
                                             "email-oncall-example-com"}
    assert receivers("severity=info") == {"null"}
    assert receivers("alertname=Watchdog", "severity=none") == {"null"}


def test_missing_tools_are_a_finding(trees: dict[str, Path],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prom_check.shutil, "which", lambda _: None)
    findings = prom_check.validate(trees["internal-tool"], SHARED_UPSTREAM)
    assert {f.message.split(" ")[0] for f in findings} == {"promtool", "amtool"}
    assert all("apt-get install" in f.message for f in findings)


def test_kubeplan_check_runs_the_validator() -> None:
    assert "prometheus" in [name for name, _ in VALIDATORS]


@needs_tools
def test_full_build_carries_the_observability_tree(plans: dict[str, Plan],
                                                   tmp_path: Path) -> None:
    tree = app.build_tree(plans["shop"])
    for path, data in tree:
        if path.startswith("gitops/"):
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / path).write_bytes(data)
    prod = "gitops/clusters/prod-europe-west1"
    for expected in ("kube-prometheus-stack/values.yaml", "thanos/values.yaml",
                     "loki/values.yaml", "alloy/values.yaml", "tempo/values.yaml",
                     "velero/values.yaml", "opentelemetry-collector/values.yaml",
                     "kube-prometheus-stack/manifests/monitoring/"
                     "prometheusrule-slo-availability.yaml",
                     "velero/manifests/velero/schedule-cluster.yaml"):
        assert f"{prod}/{expected}" in tree, expected
    assert [f.render() for f in prom_check.validate(tmp_path, SHARED_UPSTREAM)] == []


# --- what the rules say ------------------------------------------------------------------------

@pytest.mark.parametrize("example", EXAMPLES)
def test_every_rule_has_severity_summary_description_and_runbook(plans: dict[str, Plan],
                                                                 example: str) -> None:
    rules = [rule for _, _, obj in objects(plans[example]) if obj["kind"] == "PrometheusRule"
             for group in obj["spec"]["groups"] for rule in group["rules"] if "alert" in rule]
    assert rules
    for rule in rules:
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], rule["alert"]
        assert annotations["runbook_url"].startswith("https://"), rule["alert"]


@pytest.mark.parametrize(("target", "page"), [(99.95, "0.0072"), (99.9, "0.0144"),
                                              (99.99, "0.00144")])
def test_burn_rate_thresholds_follow_the_target(target: float, page: str) -> None:
    rules = alerts.burn_rules(target)
    fast = next(r for r in rules if r["labels"]["long_window"] == "1h")
    assert fast["expr"].count(f"> {page}") == 2  # long and short window
    assert [(r["labels"]["long_window"], r["labels"]["short_window"], r["labels"]["severity"])
            for r in rules] == [("1h", "5m", "critical"), ("6h", "30m", "critical"),
                                ("1d", "2h", "warning"), ("3d", "6h", "warning")]


def test_backup_alert_staleness_follows_the_schedule(plans: dict[str, Plan]) -> None:
    plan = plans["regulated-payments"]  # every 15 minutes
    rule = next(r for _, _, obj in objects(plan) if obj["kind"] == "PrometheusRule"
                for g in obj["spec"]["groups"] for r in g["rules"]
                if r.get("alert") == "VeleroBackupTooOld")
    assert rule["expr"].endswith("> 2400")  # two periods of 900 s plus ten minutes
    assert alerts.cron_period_seconds("0 */6 * * *") == 6 * 3600
    assert alerts.cron_period_seconds("0 2 * * *") == 86_400


# --- secrets ------------------------------------------------------------------------------------

CREDENTIAL_KEYS = {"api_url", "routing_key", "service_key", "api_key", "auth_password",
                   "auth_secret", "webhook_url", "url", "password", "token"}


def _keys(data: Any) -> set[str]:
    if isinstance(data, dict):
        return set(data) | {k for v in data.values() for k in _keys(v)}
    if isinstance(data, list):
        return {k for item in data for k in _keys(item)}
    return set()


@pytest.mark.parametrize("example", EXAMPLES)
def test_no_secret_values_anywhere(plans: dict[str, Plan], example: str) -> None:
    plan = plans[example]
    config = alertmanager.config(plan)
    assert not _keys(config) & CREDENTIAL_KEYS, "credentials are *_file references"
    for receiver in config["receivers"]:
        for integration in receiver.values():
            if isinstance(integration, list):
                for item in integration:
                    assert any(k.endswith("_file") for k in item), receiver["name"]
    for _, _, obj in objects(plan):
        assert obj["kind"] != "Secret", obj["metadata"]["name"]
    operator = alertmanager.operator_config(plan)
    if operator:
        for receiver in operator["spec"]["receivers"][1:]:
            refs = [c.get("urlSecret") or c.get("webhookURL")
                    for configs in receiver.values() if isinstance(configs, list)
                    for c in configs]
            assert refs and all(set(ref) == {"name", "key"} for ref in refs)


def test_receiver_credentials_come_from_the_secret_store(plans: dict[str, Plan]) -> None:
    plan = plans["azure-startup"]  # Slack plus a Teams workflow
    cluster = plan.topology.clusters[0]
    secret = alertmanager.receiver_secret(plan, cluster)
    assert secret is not None and secret["kind"] == "ExternalSecret"
    assert {d["secretKey"] for d in secret["spec"]["data"]} == {
        "slack-lumen-alerts-url", "msteams-founders-url"}
    assert all(d["remoteRef"]["key"].startswith("lumen-dev-alertmanager-")
               for d in secret["spec"]["data"])
    stack = by_name(plan, cluster)["kube-prometheus-stack"].values
    assert stack["alertmanager"]["alertmanagerSpec"]["secrets"] == [alertmanager.SECRET]
    assert stack["grafana"]["admin"]["existingSecret"] == "grafana-admin"


# --- decisions change the tree -----------------------------------------------------------------

def test_tracing_disabled_removes_the_backend_and_its_data_source() -> None:
    enabled = edited("shop", observability={"tracing": "enabled"})
    disabled = edited("shop", observability={"tracing": "disabled"})
    on, off = enabled.topology.clusters[0], disabled.topology.clusters[0]
    assert {"tempo", "opentelemetry-operator"} <= set(by_name(enabled, on))
    assert {s["type"] for s in data_sources(enabled, on)} >= {"tempo", "loki"}
    names = set(by_name(disabled, off))
    assert not names & {"tempo", "jaeger", "opentelemetry-operator"}
    assert "tempo" not in {s["type"] for s in data_sources(disabled, off)}
    collector = by_name(disabled, off)["opentelemetry-collector"].values
    assert collector["config"]["service"]["pipelines"]["traces"] is None
    on_collector = by_name(enabled, on)["opentelemetry-collector"].values
    assert on_collector["config"]["exporters"]["otlp/traces"]["endpoint"].startswith("tempo.")


def test_adding_a_region_switches_to_the_thanos_global_view() -> None:
    one = edited("internal-tool")
    two = edited("internal-tool", regions=["europe-west3", "europe-west4"],
                 availability={"target": 99.95, "rto": "1h"})
    assert one.choice("metrics") == "prometheus"
    assert two.choice("metrics") == "prometheus-thanos"
    (single,) = one.topology.clusters
    assert "thanos" not in by_name(one, single)
    spec = by_name(one, single)["kube-prometheus-stack"].values["prometheus"]["prometheusSpec"]
    assert "thanos" not in spec
    first, second = two.topology.clusters
    bucket = naming.bucket(two, first.environment, "thanos")
    for cluster in (first, second):
        prometheus = by_name(two, cluster)["kube-prometheus-stack"].values["prometheus"]
        objstore = prometheus["prometheusSpec"]["thanos"]["objectStorageConfig"]["secret"]
        assert objstore == {"type": "GCS", "config": {"bucket": bucket}}
        assert prometheus["prometheusSpec"]["externalLabels"]["cluster"] == cluster.name
    assert "thanos" in by_name(two, first)  # Query, Store Gateway, the one Compactor
    assert "thanos" not in by_name(two, second)
    assert "thanos" in {s["uid"] for s in data_sources(two, first)}


def test_elasticsearch_logging_brings_eck_fluent_bit_and_a_grafana_source(
        plans: dict[str, Plan]) -> None:
    plan = plans["media-site"]
    cluster = plan.topology.clusters[0]
    names = by_name(plan, cluster)
    assert {"eck-operator", "elasticsearch", "fluent-bit"} <= set(names)
    assert not {"loki", "alloy", "promtail"} & set(names)
    assert names["fluent-bit"].pod_security == "privileged"
    assert names["fluent-bit"].pod_security_reason
    kinds = {o["kind"] for o in names["elasticsearch"].objects}
    assert {"Elasticsearch", "Kibana", "ExternalSecret", "Job"} <= kinds
    policy = next(o for o in names["elasticsearch"].objects if o["kind"] == "ConfigMap")
    assert json.loads(policy["data"]["policy.json"])["policy"]["phases"]["delete"][
        "min_age"] == "30d"
    assert "elasticsearch" in {s["type"] for s in data_sources(plan, cluster)}
    # Jaeger shares the logging cluster and its namespace.
    assert names["jaeger"].namespace == names["elasticsearch"].namespace


def test_loki_uses_the_cluster_prefix_in_the_environment_bucket(plans: dict[str, Plan]) -> None:
    plan = plans["shop"]
    prod = plan.topology.clusters_in("prod")
    values = [by_name(plan, c)["loki"].values["loki"] for c in prod]
    buckets = {v["storage"]["bucketNames"]["chunks"] for v in values}
    assert buckets == {naming.bucket(plan, "prod", "loki")}
    prefixes = {v["schemaConfig"]["configs"][0]["index"]["prefix"] for v in values}
    assert len(prefixes) == len(prod)
    assert values[0]["limits_config"]["retention_period"] == "360h"
    alloy = by_name(plan, prod[0])["alloy"].values["alloy"]["configMap"]["content"]
    assert 'loki.source.kubernetes "pods"' in alloy
    assert f'cluster = "{prod[0].name}"' in alloy


LOKI_SCALABLE = ("read", "write", "backend")
LOKI_DISTRIBUTED = ("ingester", "distributor", "querier", "queryFrontend", "queryScheduler",
                    "indexGateway", "compactor")


@pytest.mark.parametrize(("example", "mode"), [("internal-tool", "Monolithic"),
                                               ("shop", "Distributed")])
def test_loki_mode_follows_log_volume_and_never_uses_simple_scalable(
        plans: dict[str, Plan], example: str, mode: str) -> None:
    plan = plans[example]
    assert plan.decision("logging").param("deploymentMode") == mode
    for cluster in plan.topology.clusters:
        values = by_name(plan, cluster)["loki"].values
        copies = values["loki"]["commonConfig"]["replication_factor"]
        assert values["deploymentMode"] == mode
        # The chart refuses replicas in two modes at once; read/write/backend default to 3.
        assert all(values[t]["replicas"] == 0 for t in LOKI_SCALABLE)
        if mode == "Monolithic":
            assert values["singleBinary"]["replicas"] == copies
            assert all(values[t]["replicas"] == 0 for t in LOKI_DISTRIBUTED)
        else:
            assert values["singleBinary"]["replicas"] == 0
            assert all(values[t]["replicas"] >= 1 for t in LOKI_DISTRIBUTED)
            assert values["ingester"]["replicas"] == copies
            assert values["ingester"]["zoneAwareReplication"] == {"enabled": False}
            assert values["compactor"]["replicas"] == 1
    prod = plan.topology.clusters_in(plan.topology.production)[0]
    assert by_name(plan, prod)["loki"].values["loki"]["commonConfig"]["replication_factor"] == 3


def test_sampling_ratio_reaches_the_instrumentation(plans: dict[str, Plan]) -> None:
    plan = plans["factory-onprem"]
    cluster = plan.topology.clusters[0]
    operator = by_name(plan, cluster)["opentelemetry-operator"]
    (instrumentation,) = operator.objects
    assert instrumentation["spec"]["sampler"] == {
        "type": "parentbased_traceidratio",
        "argument": f"{plan.decision('tracing').param('samplingRatio'):g}"}


def test_backups_follow_the_decision(plans: dict[str, Plan]) -> None:
    plan = plans["shop"]
    cluster = plan.topology.clusters_in("prod")[1]
    velero = by_name(plan, cluster)["velero"]
    kinds = {o["kind"]: o for o in velero.objects}
    decision = plan.decision("backup")
    assert kinds["Schedule"]["spec"]["schedule"] == decision.param("schedule")
    assert kinds["Schedule"]["spec"]["template"]["ttl"] == decision.param("ttl")
    location = kinds["BackupStorageLocation"]["spec"]
    assert location["objectStorage"] == {"bucket": naming.bucket(plan, "prod", "velero"),
                                         "prefix": cluster.name}
    assert kinds["VolumeSnapshotLocation"]["spec"] == {
        "provider": "gcp", "config": {"snapshotLocation": cluster.region}}
    annotations = velero.values["serviceAccount"]["server"]["annotations"]
    assert annotations["iam.gke.io/gcp-service-account"].startswith(
        naming.identity(plan, "prod", "velero") + "@${GCP_PROJECT_ID}")
    assert "etcd-snapshot" not in by_name(plan, cluster)


def test_self_managed_clusters_snapshot_etcd_with_a_recorded_exception(
        plans: dict[str, Plan]) -> None:
    plan = plans["factory-onprem"]
    cluster = plan.topology.clusters[0]
    etcd = by_name(plan, cluster)["etcd-snapshot"]
    assert etcd.pod_security == "privileged" and "hostPath" in etcd.pod_security_reason
    cron = next(o for o in etcd.objects if o["kind"] == "CronJob")
    assert cron["spec"]["schedule"] == plan.decision("backup").param("etcdSnapshotSchedule")
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    # Root only to read root-owned files: no capabilities, no escalation (tests/test_self_managed).
    for container in [*pod["initContainers"], *pod["containers"]]:
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
    claim = next(o for o in etcd.objects if o["kind"] == "ObjectBucketClaim")
    assert claim["spec"]["bucketName"] == naming.bucket(plan, cluster.environment, "etcd")


def test_no_deprecated_components(plans: dict[str, Plan]) -> None:
    for plan in plans.values():
        for cluster in plan.topology.clusters:
            charts = {a.chart for a in by_name(plan, cluster).values()}
            assert "promtail" not in charts and "ingress-nginx" not in charts


# --- upstream interfaces of the values ------------------------------------------------------

_DEFAULTS: dict[str, tuple[Any, dict[str, Any]]] = {}
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load(path: str) -> Any:
    return yaml.load((SHARED_UPSTREAM / path).read_text(), Loader=_LOADER)


@pytest.mark.parametrize("example", EXAMPLES)
def test_values_keys_exist_in_the_charts_defaults(plans: dict[str, Plan], example: str) -> None:
    plan = plans[example]
    cache = _DEFAULTS
    problems = set()
    for cluster in plan.topology.clusters:
        for addon in by_name(plan, cluster).values():
            if not addon.chart:
                continue
            if addon.chart not in cache:
                upstream = catalogue.chart(addon.chart)["upstream"]
                defaults = _load(upstream["values"])
                subcharts = {key: _load(path) if path else None
                             for key, path in (upstream.get("subcharts") or {}).items()}
                cache[addon.chart] = (defaults, subcharts)
            defaults, subcharts = cache[addon.chart]
            for key, value in addon.values.items():
                if key in subcharts:
                    if subcharts[key] is None:
                        continue
                    merged = {key: {**subcharts[key], **(defaults.get(key) or {})}}
                    problems |= {f"{addon.chart}: {p}" for p in
                                 unknown_keys(merged, {key: value}, addon.chart)}
                else:
                    problems |= {f"{addon.chart}: {p}" for p in
                                 unknown_keys(defaults, {key: value}, addon.chart)}
    assert sorted(problems) == []


def test_output_is_deterministic(plans: dict[str, Plan]) -> None:
    def rendered(plan: Plan) -> list[str]:
        return [to_yaml([a.name, dict(a.values), list(a.objects)])
                for c in plan.topology.clusters for a in by_name(plan, c).values()]

    assert rendered(plans["aws-saas"]) == rendered(example_plan("aws-saas"))
