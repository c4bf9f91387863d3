"""Platform alert rules as PrometheusRule objects, with promtool unit tests for the SLO alerts.

SLO burn-rate alerts follow the multi-window, multi-burn-rate recipe of the Google SRE workbook
("Alerting on SLOs"): a page when 2% of the monthly error budget burns in an hour (14.4x over
1h, confirmed over 5m) or 5% in six hours (6x over 6h/30m), a ticket when 10% burns in a day
(3x over 1d/2h) or in three days (1x over 3d/6h). The short window makes an alert stop soon
after the burn stops.

The SLI is the share of HTTP requests answered with a 5xx status, per service (`job`), from the
OpenTelemetry HTTP server metric every instrumented service exports through the Collector
(`http.server.request.duration`, Prometheus name `http_server_request_duration_seconds`).

Every rule has a `severity` label and `summary`, `description` and `runbook_url` annotations.
The unit tests are built from the plan (the target, the windows), not from the rule text, and
travel with the PrometheusRule in the `kubeplan.dev/promtool-tests` annotation: a hand edit that
breaks the intended behaviour fails `kubeplan check`, and nothing outside the object has to be
kept in step. (A separate tests file would sit in a folder Argo CD and Flux apply.)
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kubeplan.model import Cluster, Plan
from kubeplan.render import to_yaml
from kubeplan.render.gitops import telemetry

TESTS_ANNOTATION = "kubeplan.dev/promtool-tests"
SLI_METRIC = "http_server_request_duration_seconds_count"
STATUS_LABEL = "http_response_status_code"
RATIO = "job:slo_http_request_errors:ratio_rate{window}"
WORKBOOK = "https://sre.google/workbook/alerting-on-slos/"
KUBE_RUNBOOKS = "https://runbooks.prometheus-operator.dev/runbooks"
VELERO_RUNBOOK = "https://velero.io/docs/v1.18/troubleshooting/"
ESO_RUNBOOK = "https://external-secrets.io/latest/guides/troubleshooting/"
CERT_MANAGER_RUNBOOK = "https://cert-manager.io/docs/troubleshooting/"
# Namespaces of platform add-ons: their targets and volumes are watched by the health alerts.
PLATFORM_NAMESPACES = ("cert-manager", "external-dns", "external-secrets", "kube-system",
                       telemetry.MONITORING, telemetry.LOGGING, telemetry.TRACING,
                       telemetry.BACKUP)


@dataclass(frozen=True)
class Burn:
    """One multi-window burn-rate condition."""

    factor: Decimal
    long: str
    short: str
    severity: str  # critical pages, warning opens a ticket
    budget_share: str  # how much of the monthly budget the long window burns at this rate


BURNS = (
    Burn(Decimal("14.4"), "1h", "5m", "critical", "2%"),
    Burn(Decimal("6"), "6h", "30m", "critical", "5%"),
    Burn(Decimal("3"), "1d", "2h", "warning", "10%"),
    Burn(Decimal("1"), "3d", "6h", "warning", "10%"),
)
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


def error_budget(target: float) -> Decimal:
    """The allowed error ratio: 99.95 -> 0.0005 (exact, no float noise in the expressions)."""
    return (Decimal(100) - Decimal(str(target))) / Decimal(100)


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _ratio(window: str) -> str:
    return RATIO.format(window=window)


def burn_alert_name() -> str:
    return "ErrorBudgetBurn"


def sli_rules() -> list[dict[str, Any]]:
    errors = f'{SLI_METRIC}{{{STATUS_LABEL}=~"5.."}}'
    return [{
        "record": _ratio(w),
        "expr": (f"sum by (job) (rate({errors}[{w}]))\n/\n"
                 f"sum by (job) (rate({SLI_METRIC}[{w}]))"),
    } for w in WINDOWS]


def burn_rules(target: float) -> list[dict[str, Any]]:
    budget = error_budget(target)
    rules = []
    for burn in BURNS:
        threshold = _num(burn.factor * budget)
        page = burn.severity == "critical"
        rules.append({
            "alert": burn_alert_name(),
            "expr": (f"{_ratio(burn.long)} > {threshold}\nand\n"
                     f"{_ratio(burn.short)} > {threshold}"),
            "labels": {"severity": burn.severity, "slo": "availability",
                       "long_window": burn.long, "short_window": burn.short,
                       "burn_rate": _num(burn.factor)},
            "annotations": {
                "summary": f"{{{{ $labels.job }}}} burns its error budget {_num(burn.factor)}x "
                           f"too fast ({'page' if page else 'ticket'})",
                "description": (
                    f"Over the last {burn.long} (and still over the last {burn.short}), "
                    f"{{{{ $labels.job }}}} answered more than {threshold} of its requests "
                    f"with a 5xx status: at this rate {burn.budget_share} of the monthly error "
                    f"budget of the {target}% availability target is gone within "
                    f"{burn.long}."),
                "runbook_url": WORKBOOK,
            },
        })
    return rules


# --- unit tests ------------------------------------------------------------------------------

REQUESTS_PER_MINUTE = 1000
TEST_EVALUATION_INTERVAL = "5m"


def _series(job: str, error_ratio: Decimal, minutes: int,
            then: Decimal | None = None, then_minutes: int = 0) -> list[dict[str, str]]:
    """Counter series for one service: `error_ratio` of the requests fail, then `then`."""
    def values(share: Decimal | None, fail: bool) -> str:
        per_minute = (share or Decimal(0)) * REQUESTS_PER_MINUTE
        if not fail:
            per_minute = REQUESTS_PER_MINUTE - per_minute
        return _num(per_minute)

    def counter(fail: bool) -> str:
        text = f"0+{values(error_ratio, fail)}x{minutes}"
        if then is not None:
            start = Decimal(values(error_ratio, fail)) * minutes
            text += f" {_num(start)}+{values(then, fail)}x{then_minutes}"
        return text

    return [
        {"series": f'{SLI_METRIC}{{job="{job}",{STATUS_LABEL}="500"}}', "values": counter(True)},
        {"series": f'{SLI_METRIC}{{job="{job}",{STATUS_LABEL}="200"}}', "values": counter(False)},
    ]


def _expected(job: str, target: float, burns: tuple[Burn, ...]) -> list[dict[str, Any]]:
    rules = {r["labels"]["long_window"]: r for r in burn_rules(target)}
    out = []
    for burn in burns:
        rule = rules[burn.long]
        out.append({
            "exp_labels": {**rule["labels"], "job": job},
            "exp_annotations": {k: v.replace("{{ $labels.job }}", job)
                                for k, v in rule["annotations"].items()},
        })
    return out


def burn_tests(target: float) -> list[dict[str, Any]]:
    """promtool tests: which alerts fire for a given error ratio, as multiples of the budget."""
    budget = error_budget(target)
    job = "checkout"
    name = burn_alert_name()
    at = "70m"

    def case(title: str, series: list[dict[str, str]], burns: tuple[Burn, ...]) -> dict[str, Any]:
        return {"name": title, "interval": "1m", "input_series": series,
                "alert_rule_test": [{"eval_time": at, "alertname": name,
                                     "exp_alerts": _expected(job, target, burns)}]}

    steady = 80
    return [
        case("a burn at 16x the budget pages through both page windows and opens both tickets",
             _series(job, budget * 16, steady), BURNS),
        case("a burn at 13x the budget stays below the 1h page but pages through 6h",
             _series(job, budget * 13, steady), BURNS[1:]),
        case("a burn at 2x the budget opens only the slow ticket",
             _series(job, budget * 2, steady), BURNS[3:]),
        case("no errors, no alert", _series(job, Decimal(0), steady), ()),
        case("a 20x burst that stopped ten minutes ago no longer pages through 1h/5m",
             _series(job, budget * 20, 60, then=Decimal(0), then_minutes=20), BURNS[1:]),
    ]


# --- cluster health and backups --------------------------------------------------------------

def _health_rules(plan: Plan) -> list[dict[str, Any]]:
    namespaces = "|".join(sorted(PLATFORM_NAMESPACES))
    return [
        {"alert": "PlatformTargetDown",
         "expr": f'max by (namespace, job) (up{{namespace=~"{namespaces}"}} == 0)',
         "for": "10m",
         "labels": {"severity": "critical"},
         "annotations": {
             "summary": "Platform component {{ $labels.job }} in {{ $labels.namespace }} is down",
             "description": "Prometheus has not scraped {{ $labels.job }} in namespace "
                            "{{ $labels.namespace }} for 10 minutes; the platform service it "
                            "provides is probably unavailable.",
             "runbook_url": f"{KUBE_RUNBOOKS}/general/targetdown/"}},
        {"alert": "PlatformVolumeFillingUp",
         "expr": (f'kubelet_volume_stats_available_bytes{{namespace=~"{namespaces}"}}\n/\n'
                  f'kubelet_volume_stats_capacity_bytes{{namespace=~"{namespaces}"}} < 0.10'),
         "for": "15m",
         "labels": {"severity": "warning"},
         "annotations": {
             "summary": "Volume {{ $labels.persistentvolumeclaim }} has less than 10% free",
             "description": "The volume claimed by {{ $labels.persistentvolumeclaim }} in "
                            "{{ $labels.namespace }} is more than 90% full; metrics, logs or "
                            "traces stop being written when it fills.",
             "runbook_url": f"{KUBE_RUNBOOKS}/kubernetes/kubepersistentvolumefillingup/"}},
        {"alert": "ExternalSecretNotSynced",
         "expr": 'max by (namespace, name) '
                 '(externalsecret_status_condition{condition="Ready",status="False"}) == 1',
         "for": "15m",
         "labels": {"severity": "warning"},
         "annotations": {
             "summary": "ExternalSecret {{ $labels.namespace }}/{{ $labels.name }} is not synced",
             "description": "The External Secrets Operator cannot read "
                            "{{ $labels.namespace }}/{{ $labels.name }} from the secret store; "
                            "the workload keeps the last synced value until it restarts.",
             "runbook_url": ESO_RUNBOOK}},
        {"alert": "CertificateExpiresSoon",
         "expr": "min by (namespace, name) "
                 "(certmanager_certificate_expiration_timestamp_seconds - time()) < 14 * 86400",
         "for": "1h",
         "labels": {"severity": "warning"},
         "annotations": {
             "summary": "Certificate {{ $labels.namespace }}/{{ $labels.name }} expires within "
                        "14 days",
             "description": "cert-manager has not renewed {{ $labels.namespace }}/"
                            "{{ $labels.name }}, which renews 30 days before expiry by default; "
                            "check its issuer and the DNS-01 solver.",
             "runbook_url": CERT_MANAGER_RUNBOOK}},
    ]


def cron_period_seconds(schedule: str) -> int:
    """The period of the cron forms the backup rule emits: */N minutes, hourly, */N hours, daily."""
    minute, hour, *rest = schedule.split()
    if rest != ["*", "*", "*"]:
        raise ValueError(f"unsupported backup schedule {schedule!r}")
    if minute.startswith("*/") and hour == "*":
        return int(minute[2:]) * 60
    if hour == "*":
        return 3600
    if hour.startswith("*/"):
        return int(hour[2:]) * 3600
    return 86_400


def _backup_rules(plan: Plan) -> list[dict[str, Any]]:
    decision = plan.decision("backup")
    period = cron_period_seconds(str(decision.param("schedule")))
    # Two missed runs in a row: one can fail on a transient error and the next catch up.
    stale = 2 * period + 600
    rules: list[dict[str, Any]] = [
        {"alert": "VeleroBackupFailed",
         "expr": 'increase(velero_backup_failure_total{schedule!=""}[1h]) > 0',
         "labels": {"severity": "critical"},
         "annotations": {
             "summary": "Velero backup of schedule {{ $labels.schedule }} failed",
             "description": "A scheduled Velero backup failed within the last hour; the recovery "
                            "point objective holds only while backups succeed. Run `velero "
                            "backup describe --details` on the latest backup.",
             "runbook_url": VELERO_RUNBOOK}},
        {"alert": "VeleroBackupPartiallyFailed",
         "expr": 'increase(velero_backup_partial_failure_total{schedule!=""}[1h]) > 0',
         "labels": {"severity": "warning"},
         "annotations": {
             "summary": "Velero backup of schedule {{ $labels.schedule }} partially failed",
             "description": "Some items of the latest scheduled backup were not saved; restores "
                            "from it would miss them.",
             "runbook_url": VELERO_RUNBOOK}},
        {"alert": "VeleroBackupTooOld",
         "expr": (f'time() - velero_backup_last_successful_timestamp{{schedule!=""}} > {stale}'),
         "labels": {"severity": "critical"},
         "annotations": {
             "summary": "No successful Velero backup of {{ $labels.schedule }} for two periods",
             "description": f"The last successful backup of schedule {{{{ $labels.schedule }}}} is "
                            f"older than two backup periods ({stale} seconds): the recovery "
                            "point objective is no longer met.",
             "runbook_url": VELERO_RUNBOOK}},
    ]
    if decision.choice == "velero-etcd":
        etcd_stale = 2 * cron_period_seconds(str(decision.param("etcdSnapshotSchedule"))) + 600
        ns = f'namespace="{telemetry.ETCD_BACKUP}"'
        rules.append(
            {"alert": "EtcdSnapshotTooOld",
             # The last success is too old, or the CronJob has existed that long without one
             # (kube-state-metrics has no last-success series before the first success).
             "expr": (f"time() - kube_cronjob_status_last_successful_time{{{ns}}} > {etcd_stale}"
                      f" or (time() - kube_cronjob_created{{{ns}}} > {etcd_stale} unless on "
                      f"(namespace, cronjob) kube_cronjob_status_last_successful_time{{{ns}}})"),
             "labels": {"severity": "critical"},
             "annotations": {
                 "summary": "No successful etcd snapshot for two periods",
                 "description": "The etcd snapshot CronJob {{ $labels.namespace }}/"
                                "{{ $labels.cronjob }} (etcdctl snapshot save on a control-plane "
                                "node, rclone crypt upload to the etcd bucket) has not succeeded "
                                f"for two periods ({etcd_stale} seconds), or never has; a lost "
                                "control plane could not be restored to a recent point. `kubectl "
                                f"-n {telemetry.ETCD_BACKUP} get jobs` and the logs of the "
                                "`snapshot` and `upload` containers of the latest job say why "
                                "(docs/RUNBOOK.md, backups).",
                 "runbook_url": f"{KUBE_RUNBOOKS}/kubernetes/kubejobfailed/"}})
    return rules


def _rule(name: str, groups: list[dict[str, Any]],
          tests: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": telemetry.MONITORING,
                                "labels": {"app.kubernetes.io/part-of": "kubeplan"}}
    if tests:
        # Rules evaluated every 5m in the tests: enough for windows of 5m and more, and a
        # fifth of the work of evaluating every minute.
        metadata["annotations"] = {TESTS_ANNOTATION: to_yaml(
            {"evaluation_interval": TEST_EVALUATION_INTERVAL, "tests": tests})}
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": metadata, "spec": {"groups": groups}}


def prometheus_rules(plan: Plan, cluster: Cluster) -> list[dict[str, Any]]:
    target = float(plan.inputs["availability"]["target"])
    return [
        _rule("slo-availability",
              [{"name": "slo-availability-sli", "rules": sli_rules()},
               {"name": "slo-availability-burn-rate", "rules": burn_rules(target)}],
              burn_tests(target)),
        _rule("platform-health", [{"name": "platform-health", "rules": _health_rules(plan)}]),
        _rule("backups", [{"name": "backups", "rules": _backup_rules(plan)}]),
    ]
