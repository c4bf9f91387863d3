"""Platform dashboards, built as Grafana dashboard JSON and shipped as ConfigMaps for the
kube-prometheus-stack Grafana sidecar (label `grafana_dashboard: "1"`, all namespaces).

Each dashboard queries a `datasource` variable, so the same dashboard shows the cluster's own
Prometheus or, where Thanos runs, the environment-wide view.
"""

from __future__ import annotations

import json
from typing import Any

from kubeplan.blocks.metrics.alerts import error_budget
from kubeplan.model import Plan
from kubeplan.render.gitops import telemetry

SCHEMA_VERSION = 39
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def _panel(index: int, title: str, exprs: list[tuple[str, str]], unit: str,
           kind: str = "timeseries") -> dict[str, Any]:
    width = 12
    return {
        "id": index + 1,
        "type": kind,
        "title": title,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": width, "x": (index % 2) * width, "y": (index // 2) * 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
        "targets": [{"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend,
                     "datasource": DATASOURCE} for i, (expr, legend) in enumerate(exprs)],
    }


def _dashboard(uid: str, title: str, panels: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "tags": ["kubeplan", "platform"],
        "timezone": "utc",
        "editable": False,
        "schemaVersion": SCHEMA_VERSION,
        "time": {"from": "now-24h", "to": "now"},
        "refresh": "1m",
        "templating": {"list": [{
            "name": "datasource", "label": "Data source", "type": "datasource",
            "query": "prometheus", "current": {}, "hide": 0,
        }]},
        "panels": panels,
    }


def slo_dashboard(plan: Plan) -> dict[str, Any]:
    target = float(plan.inputs["availability"]["target"])
    budget = format(error_budget(target).normalize(), "f")
    return _dashboard("kubeplan-slo", f"Availability SLO ({target}%)", [
        _panel(0, "Error ratio per service (5m)",
               [("job:slo_http_request_errors:ratio_rate5m", "{{job}}")], "percentunit"),
        _panel(1, "Burn rate over 1h (1 = spending the budget exactly)",
               [(f"job:slo_http_request_errors:ratio_rate1h / {budget}", "{{job}}")], "none"),
        _panel(2, "Error budget left over the last 3 days",
               [(f"1 - job:slo_http_request_errors:ratio_rate3d / {budget}", "{{job}}")],
               "percentunit"),
        _panel(3, "Requests per second",
               [("sum by (job) (rate(http_server_request_duration_seconds_count[5m]))",
                 "{{job}}")], "reqps"),
    ])


def backup_dashboard(plan: Plan) -> dict[str, Any]:
    panels = [
        _panel(0, "Backups per schedule (24h)",
               [('increase(velero_backup_success_total{schedule!=""}[24h])', "ok {{schedule}}"),
                ('increase(velero_backup_failure_total{schedule!=""}[24h])',
                 "failed {{schedule}}")], "none"),
        _panel(1, "Age of the last successful backup",
               [('time() - velero_backup_last_successful_timestamp{schedule!=""}',
                 "{{schedule}}")], "s"),
        _panel(2, "Backup duration (p95)",
               [("histogram_quantile(0.95, sum by (le, schedule) "
                 "(rate(velero_backup_duration_seconds_bucket[1h])))", "{{schedule}}")], "s"),
    ]
    if plan.choice("backup") == "velero-etcd":
        panels.append(_panel(3, "Age of the last etcd snapshot",
                             [("time() - kube_cronjob_status_last_successful_time"
                               f'{{namespace="{telemetry.ETCD_BACKUP}"}}', "{{cronjob}}")], "s"))
    return _dashboard("kubeplan-backups", "Backups", panels)


def pipeline_dashboard(plan: Plan) -> dict[str, Any]:
    return _dashboard("kubeplan-telemetry", "Telemetry pipeline", [
        _panel(0, "Collector: accepted data points and spans per second",
               [("sum(rate(otelcol_receiver_accepted_metric_points_total[5m]))", "metrics"),
                ("sum(rate(otelcol_receiver_accepted_spans_total[5m]))", "spans")], "ops"),
        _panel(1, "Collector: failed exports per second",
               [("sum by (exporter) (rate(otelcol_exporter_send_failed_spans_total[5m]))",
                 "spans {{exporter}}"),
                ("sum by (exporter) "
                 "(rate(otelcol_exporter_send_failed_metric_points_total[5m]))",
                 "metrics {{exporter}}")], "ops"),
        _panel(2, "Prometheus: active series",
               [("sum by (pod) (prometheus_tsdb_head_series)", "{{pod}}")], "short"),
        _panel(3, "Alertmanager: failed notifications per second",
               [("sum by (integration) "
                 "(rate(alertmanager_notifications_failed_total[5m]))", "{{integration}}")],
               "ops"),
    ])


def configmaps(plan: Plan) -> list[dict[str, Any]]:
    out = []
    for dashboard in (slo_dashboard(plan), backup_dashboard(plan), pipeline_dashboard(plan)):
        name = f"dashboard-{dashboard['uid']}"
        out.append({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": telemetry.MONITORING,
                         "labels": {telemetry.DASHBOARD_LABEL: "1"}},
            "data": {f"{dashboard['uid']}.json":
                     json.dumps(dashboard, indent=2, sort_keys=True) + "\n"},
        })
    return out
