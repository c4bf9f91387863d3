"""Alertmanager routes and receivers from `spec.observability.alertReceivers`.

Routing is by severity: paging receivers (PagerDuty, Opsgenie) take alerts at or above their
configured severity, chat and mail receivers (Slack, email, webhook, Teams) take critical and
warning alerts; info goes nowhere. Every receiver route has `continue: true`, so an alert
reaches every receiver it matches.

No credential is written: each is a file Alertmanager reads from the Secret
`alertmanager-receivers` (mounted by the operator under /etc/alertmanager/secrets/), which an
ExternalSecret fills from the secret store. Webhook URLs and Microsoft Teams workflow URLs go
through an AlertmanagerConfig instead, whose typed secret references the operator resolves:
the plain configuration's `url_file` and `msteamsv2_configs` need Alertmanager 0.26+, and the
amtool that checks the plain configuration may be older (Debian 12 ships 0.25).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kubeplan.model import Cluster, Plan
from kubeplan.render.gitops import telemetry

SECRET = "alertmanager-receivers"
SECRET_DIR = f"/etc/alertmanager/secrets/{SECRET}"
AM_CONFIG_NAME = "platform-receivers"
SEVERITIES = ("critical", "warning", "info")
NOTIFY = ("critical", "warning")
# The operator's AlertmanagerConfig receivers are named namespace/config/receiver.
OPERATOR_SELECT_LABEL = "kubeplan.dev/alertmanager-config"

TITLE = ('[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}'
         '{{ end }}] {{ .CommonLabels.alertname }} ({{ .CommonLabels.cluster }})')
TEXT = ("{{ range .Alerts }}*{{ .Annotations.summary }}*\n{{ .Annotations.description }}\n"
        "Runbook: {{ .Annotations.runbook_url }}\n{{ end }}")


@dataclass(frozen=True)
class Receiver:
    name: str
    kind: str
    severities: tuple[str, ...]
    config: dict[str, Any]  # the integration, for the plain config or the AlertmanagerConfig
    secrets: dict[str, str]  # Secret key -> secret-store item
    operator: bool = False  # rendered through the AlertmanagerConfig


def _at_least(severity: str) -> tuple[str, ...]:
    return SEVERITIES[: SEVERITIES.index(severity) + 1]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def receivers(plan: Plan) -> list[Receiver]:
    out: list[Receiver] = []
    for spec in plan.inputs.get("observability", {}).get("alertReceivers", []):
        kind = spec["type"]
        if kind == "slack":
            slug = _slug(spec["channel"])
            key = f"slack-{slug}-url"
            out.append(Receiver(f"slack-{slug}", kind, NOTIFY, {"slack_configs": [{
                "api_url_file": f"{SECRET_DIR}/{key}", "channel": spec["channel"],
                "send_resolved": True, "title": TITLE, "text": TEXT}]},
                {key: f"alertmanager-slack-{slug}"}))
        elif kind == "pagerduty":
            key = "pagerduty-routing-key"
            out.append(Receiver("pagerduty", kind, _at_least(spec["severity"]),
                                {"pagerduty_configs": [{
                                    "routing_key_file": f"{SECRET_DIR}/{key}",
                                    "severity": '{{ .CommonLabels.severity }}',
                                    "description": '{{ .CommonAnnotations.summary }}',
                                    "send_resolved": True}]},
                                {key: "alertmanager-pagerduty"}))
        elif kind == "opsgenie":
            key = "opsgenie-api-key"
            out.append(Receiver("opsgenie", kind, _at_least(spec["severity"]),
                                {"opsgenie_configs": [{
                                    "api_key_file": f"{SECRET_DIR}/{key}",
                                    "message": '{{ .CommonAnnotations.summary }}',
                                    "priority": '{{ if eq .CommonLabels.severity "critical" }}'
                                                'P1{{ else }}P3{{ end }}',
                                    "send_resolved": True}]},
                                {key: "alertmanager-opsgenie"}))
        elif kind == "email":
            to = spec["to"]
            slug = _slug(to)
            key = "smtp-password"
            sender = f"alertmanager@{plan.metadata.domain}"
            out.append(Receiver(f"email-{slug}", kind, NOTIFY, {"email_configs": [{
                "to": to, "from": sender,
                # The recipient organisation's submission relay; the account is the sender.
                "smarthost": f"smtp.{to.split('@', 1)[1]}:587",
                "auth_username": sender, "auth_password_file": f"{SECRET_DIR}/{key}",
                "require_tls": True, "send_resolved": True}]},
                {key: "alertmanager-smtp-password"}))
        elif kind == "webhook":
            name = spec["name"]
            key = f"webhook-{name}-url"
            out.append(Receiver(f"webhook-{name}", kind, NOTIFY, {"webhookConfigs": [{
                "urlSecret": {"name": SECRET, "key": key}, "sendResolved": True}]},
                {key: f"alertmanager-webhook-{name}"}, operator=True))
        elif kind == "msteams":
            name = spec["name"]
            key = f"msteams-{name}-url"
            out.append(Receiver(f"msteams-{name}", kind, NOTIFY, {"msteamsv2Configs": [{
                "webhookURL": {"name": SECRET, "key": key}, "sendResolved": True,
                "title": TITLE, "text": TEXT}]},
                {key: f"alertmanager-msteams-{name}"}, operator=True))
    return sorted(out, key=lambda r: r.name)


def _severity_matcher(severities: tuple[str, ...]) -> str:
    if len(severities) == 1:
        return f'severity="{severities[0]}"'
    return f'severity=~"{"|".join(severities)}"'


def config(plan: Plan) -> dict[str, Any]:
    """alertmanager.yaml for the chart's `alertmanager.config` (plain receivers only)."""
    plain = [r for r in receivers(plan) if not r.operator]
    routes: list[dict[str, Any]] = [
        # Watchdog fires all the time to prove the pipeline works; it is not a notification.
        {"receiver": "null", "matchers": ['alertname="Watchdog"']},
        {"receiver": "null", "matchers": ['alertname="InfoInhibitor"']},
    ]
    routes += [{"receiver": r.name, "matchers": [_severity_matcher(r.severities)],
                "continue": True} for r in plain]
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": "null",
            "group_by": ["alertname", "cluster", "namespace", "job"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": routes,
        },
        "inhibit_rules": [
            # A page makes the ticket of the same burn (and any warning of the same alert) noise.
            {"source_matchers": ['severity="critical"'],
             "target_matchers": ['severity=~"warning|info"'],
             "equal": ["alertname", "cluster", "namespace", "job"]},
            {"source_matchers": ['severity="warning"'],
             "target_matchers": ['severity="info"'],
             "equal": ["alertname", "cluster", "namespace", "job"]},
        ],
        "receivers": [{"name": "null"}] + [{"name": r.name, **r.config} for r in plain],
        "templates": ["/etc/alertmanager/config/*.tmpl"],
    }


def operator_config(plan: Plan) -> dict[str, Any] | None:
    """The AlertmanagerConfig for webhook and Teams receivers, or None when there are none."""
    routed = [r for r in receivers(plan) if r.operator]
    if not routed:
        return None
    return {
        "apiVersion": "monitoring.coreos.com/v1alpha1",
        "kind": "AlertmanagerConfig",
        "metadata": {"name": AM_CONFIG_NAME, "namespace": telemetry.MONITORING,
                     "labels": {OPERATOR_SELECT_LABEL: "platform"}},
        "spec": {
            "route": {
                "receiver": "null",
                "groupBy": ["alertname", "cluster", "namespace", "job"],
                "routes": [{
                    "receiver": r.name,
                    "matchers": [{"name": "severity", "matchType": "=~",
                                  "value": "|".join(r.severities)}],
                    "continue": True,
                } for r in routed],
            },
            "receivers": [{"name": "null"}] + [{"name": r.name, **r.config} for r in routed],
        },
    }


def receiver_secret(plan: Plan, cluster: Cluster) -> dict[str, Any] | None:
    items: dict[str, str] = {}
    for r in receivers(plan):
        for key, item in r.secrets.items():
            items[key] = telemetry.remote_key(plan, cluster, item)
    if not items:
        return None
    return telemetry.external_secret(SECRET, telemetry.MONITORING, items)
