"""metrics in the GitOps tree: kube-prometheus-stack, the OpenTelemetry Collector, Thanos.

Per cluster:
- `prometheus-operator-crds`: the stack's CRDs alone, in the CRD phase, so that every add-on's
  ServiceMonitor and PrometheusRule applies before Prometheus itself is up;
- `kube-prometheus-stack`: Prometheus (retention, replicas and volume from the decision),
  Alertmanager (routes from spec.observability.alertReceivers, credentials from the secret
  store), Grafana (data sources for the chosen logs and traces backends, platform dashboards,
  admin credentials from the secret store), node-exporter in a namespace of its own;
- `opentelemetry-collector`: OTLP in; metrics out to Prometheus (scraped, so every Prometheus
  replica sees the same samples), spans out to Tempo or Jaeger when the plan traces;
- with prometheus-thanos: a Thanos sidecar next to every Prometheus shipping two-hour blocks to
  the environment's bucket, and in the environment's first cluster Thanos Query (over the local
  sidecar and the Store Gateway), Store Gateway and the one Compactor the bucket may have.
"""

from __future__ import annotations

from typing import Any

from kubeplan.blocks.metrics import alertmanager, alerts, dashboards
from kubeplan.model import Cluster, Plan
from kubeplan.render import to_yaml
from kubeplan.render.gitops import telemetry
from kubeplan.render.gitops.addon import Addon

NODE_EXPORTER_NAMESPACE = "node-exporter"
GRAFANA_ADMIN_SECRET = "grafana-admin"
OTEL_PROMETHEUS_PORT = 8889
# Control-plane components a managed provider runs out of reach: no targets to scrape, and their
# default alerts would fire forever.
MANAGED_UNSCRAPED = ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy")


def _thanos(plan: Plan) -> bool:
    return plan.choice("metrics") == "prometheus-thanos"


def runs_global_view(plan: Plan, cluster: Cluster) -> bool:
    """Thanos Query, Store Gateway and Compactor run here (on-prem: at every site, whose Ceph
    holds its own bucket)."""
    return _thanos(plan) and (telemetry.provider(plan) == "onprem"
                              or telemetry.is_observer(plan, cluster))


def _volume(plan: Plan, size_gi: int) -> dict[str, Any]:
    return {"volumeClaimTemplate": {"spec": {
        "storageClassName": str(plan.decision("storage").param("defaultClass")),
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": f"{size_gi}Gi"}},
    }}}


def _crds_values() -> dict[str, Any]:
    return {
        "crds": {"enabled": True},
        "defaultRules": {"create": False},
        "alertmanager": {"enabled": False},
        "grafana": {"enabled": False},
        "kubernetesServiceMonitors": {"enabled": False},
        "kubeStateMetrics": {"enabled": False},
        "nodeExporter": {"enabled": False},
        "prometheusOperator": {"enabled": False},
        "prometheus": {"enabled": False},
    }


def _data_sources(plan: Plan, cluster: Cluster) -> list[dict[str, Any]]:
    sources: list[dict[str, Any]] = []
    tracing = telemetry.tracing_choice(plan)
    traces_uid = {"tempo": "tempo", "jaeger": "jaeger"}.get(tracing)
    logging = plan.choice("logging")
    if logging == "loki":
        loki: dict[str, Any] = {"name": "Loki", "uid": "loki", "type": "loki",
                                "access": "proxy", "url": telemetry.LOKI_URL,
                                "jsonData": {"maxLines": 1000}}
        if traces_uid:
            loki["jsonData"]["derivedFields"] = [{
                "name": "TraceID", "datasourceUid": traces_uid, "url": "$${__value.raw}",
                "matcherRegex": '"?trace_?[iI][dD]"?[:=]"?(\\w+)'}]
        sources.append(loki)
    elif logging == "elasticsearch":
        sources.append({
            "name": "Elasticsearch logs", "uid": "elasticsearch", "type": "elasticsearch",
            "access": "proxy", "url": telemetry.elasticsearch_url(plan),
            "basicAuth": True, "basicAuthUser": "grafana",
            "jsonData": {"index": "logs-*", "timeField": "@timestamp",
                         "tlsAuthWithCACert": True},
            # Grafana expands these from its environment (Secrets mounted as env below).
            "secureJsonData": {"basicAuthPassword": "$ES_PASSWORD", "tlsCACert": "$ES_CA"},
        })
    if tracing == "tempo":
        tempo: dict[str, Any] = {"name": "Tempo", "uid": "tempo", "type": "tempo",
                                 "access": "proxy", "url": telemetry.TEMPO_URL,
                                 "jsonData": {"serviceMap": {"datasourceUid": "prometheus"}}}
        if logging == "loki":
            tempo["jsonData"]["tracesToLogsV2"] = {"datasourceUid": "loki",
                                                   "filterByTraceID": True}
        sources.append(tempo)
    elif tracing == "jaeger":
        sources.append({"name": "Jaeger", "uid": "jaeger", "type": "jaeger", "access": "proxy",
                        "url": telemetry.jaeger_query_url(plan)})
    if runs_global_view(plan, cluster):
        sources.append({"name": f"Thanos ({cluster.environment}, all clusters)",
                        "uid": "thanos", "type": "prometheus", "access": "proxy",
                        "url": telemetry.THANOS_QUERY_URL,
                        "jsonData": {"prometheusType": "Thanos", "httpMethod": "POST"}})
    return sources


def _grafana(plan: Plan, cluster: Cluster) -> dict[str, Any]:
    values: dict[str, Any] = {
        "defaultDashboardsTimezone": "utc",
        "defaultDashboardsEditable": False,
        "admin": {"existingSecret": GRAFANA_ADMIN_SECRET,
                  "userKey": "admin-user", "passwordKey": "admin-password"},
        "sidecar": {"dashboards": {"enabled": True, "label": telemetry.DASHBOARD_LABEL,
                                   "labelValue": "1", "searchNamespace": "ALL"}},
        "additionalDataSources": _data_sources(plan, cluster),
        # The grafana chart's own pod and container security contexts are already restricted.
    }
    if plan.choice("logging") == "elasticsearch":
        values["envValueFrom"] = {
            "ES_PASSWORD": {"secretKeyRef": {"name": ES_CLIENT_SECRET, "key": "password"}},
            "ES_CA": {"secretKeyRef": {"name": ES_CLIENT_SECRET, "key": "ca.crt"}},
        }
    return values


ES_CLIENT_SECRET = "elasticsearch-grafana"


def _prometheus(plan: Plan, cluster: Cluster) -> dict[str, Any]:
    decision = plan.decision("metrics")
    thanos = _thanos(plan)
    retention = str(decision.param("localRetention") if thanos else decision.param("retention"))
    spec: dict[str, Any] = {
        "replicas": int(decision.param("replicas")),
        "retention": retention,
        "scrapeInterval": str(decision.param("scrapeInterval")),
        "evaluationInterval": str(decision.param("scrapeInterval")),
        "externalLabels": {"cluster": cluster.name, "environment": cluster.environment,
                           "region": cluster.region},
        "storageSpec": _volume(plan, int(decision.param("prometheusStorageGi"))),
        # Select every ServiceMonitor, PodMonitor, Probe, ScrapeConfig and PrometheusRule in
        # every namespace: add-ons bring their own, and none carry this release's labels.
        "serviceMonitorSelectorNilUsesHelmValues": False,
        "podMonitorSelectorNilUsesHelmValues": False,
        "probeSelectorNilUsesHelmValues": False,
        "scrapeConfigSelectorNilUsesHelmValues": False,
        "ruleSelectorNilUsesHelmValues": False,
        "securityContext": telemetry.restricted_pod(uid=1000, fs_group=2000),
        "podAntiAffinity": "hard" if int(decision.param("replicas")) > 1 else "soft",
    }
    values: dict[str, Any] = {"prometheusSpec": spec}
    if thanos:
        store = telemetry.bucket(plan, cluster, "thanos")
        spec["thanos"] = {"objectStorageConfig": {
            "secret": telemetry.thanos_objstore(plan, cluster, store)}}
        values["thanosService"] = {"enabled": True}
        values["thanosServiceMonitor"] = {"enabled": True}
        labels = telemetry.identity_pod_labels(plan)
        if labels:
            spec["podMetadata"] = {"labels": labels}
        # The sidecar reaches the bucket as the Thanos workload (naming.WORKLOADS): Prometheus
        # runs under that ServiceAccount, which the Thanos chart then reuses.
        values["serviceAccount"] = {
            "create": True, "name": telemetry.service_account("thanos"),
            "annotations": telemetry.identity_annotations(plan, cluster, "thanos")}
        if store.claim:
            # The S3 keys of the claimed Ceph bucket, read by the sidecar's S3 client.
            spec["containers"] = [{"name": "thanos-sidecar",
                                   "envFrom": [{"secretRef": {"name": store.claim}}]}]
    return values


def _alertmanager(plan: Plan) -> dict[str, Any]:
    replicas = int(plan.decision("metrics").param("replicas"))
    spec: dict[str, Any] = {
        "replicas": 3 if replicas > 1 else 1,  # an odd gossip mesh settles duplicates fastest
        "storage": _volume(plan, 2),
        "alertmanagerConfigSelector": {"matchLabels": {
            alertmanager.OPERATOR_SELECT_LABEL: "platform"}},
        # Platform routes match alerts from every namespace, not only the config's own.
        "alertmanagerConfigMatcherStrategy": {"type": "None"},
        "securityContext": telemetry.restricted_pod(uid=1000, fs_group=2000),
    }
    if alertmanager.receivers(plan):
        spec["secrets"] = [alertmanager.SECRET]
    return {"config": alertmanager.config(plan), "alertmanagerSpec": spec}


def _stack_values(plan: Plan, cluster: Cluster) -> dict[str, Any]:
    values: dict[str, Any] = {
        "fullnameOverride": telemetry.KPS_NAME,
        "crds": {"enabled": False},
        "defaultRules": {"create": True},
        "alertmanager": _alertmanager(plan),
        "grafana": _grafana(plan, cluster),
        "prometheus": _prometheus(plan, cluster),
        "prometheus-node-exporter": {"namespaceOverride": NODE_EXPORTER_NAMESPACE},
    }
    if plan.choice("cluster") == "managed":
        for component in MANAGED_UNSCRAPED:
            values[component] = {"enabled": False}
    return values


def _collector_values(plan: Plan, cluster: Cluster) -> dict[str, Any]:
    production = telemetry.is_production(plan, cluster)
    pipelines: dict[str, Any] = {
        "metrics": {"receivers": ["otlp", "prometheus"],
                    "processors": ["memory_limiter", "k8sattributes", "batch"],
                    "exporters": ["prometheus"]},
        "logs": None,  # logs go through Alloy or Fluent Bit, not the Collector
        "traces": None,
    }
    exporters: dict[str, Any] = {
        "debug": None,
        "prometheus": {"endpoint": f"0.0.0.0:{OTEL_PROMETHEUS_PORT}",
                       "resource_to_telemetry_conversion": {"enabled": False}},
    }
    traces = telemetry.traces_otlp_endpoint(plan)
    if traces:
        # In-cluster gRPC to the trace store; a mesh, where the plan has one, adds mTLS.
        exporters["otlp/traces"] = {"endpoint": traces, "tls": {"insecure": True}}
        pipelines["traces"] = {"receivers": ["otlp"],
                               "processors": ["memory_limiter", "k8sattributes", "batch"],
                               "exporters": ["otlp/traces"]}
    return {
        "fullnameOverride": telemetry.OTEL_COLLECTOR_NAME,
        "mode": "deployment",
        "replicaCount": 2 if production else 1,
        "image": {"repository": "otel/opentelemetry-collector-k8s"},
        "command": {"name": "otelcol-k8s"},
        "presets": {"kubernetesAttributes": {"enabled": True}},
        "config": {
            "receivers": {"jaeger": None, "zipkin": None},
            "exporters": exporters,
            "service": {"pipelines": pipelines},
        },
        "ports": {
            "jaeger-compact": {"enabled": False},
            "jaeger-thrift": {"enabled": False},
            "jaeger-grpc": {"enabled": False},
            "zipkin": {"enabled": False},
            "metrics": {"enabled": True},
            "prometheus": {"enabled": True, "containerPort": OTEL_PROMETHEUS_PORT,
                           "servicePort": OTEL_PROMETHEUS_PORT, "protocol": "TCP"},
        },
        "serviceMonitor": {"enabled": True, "metricsEndpoints": [
            {"port": "metrics"},
            # Keep the job and instance the SDKs set (service name and instance id).
            {"port": "prometheus", "honorLabels": True},
        ]},
        "podSecurityContext": telemetry.restricted_pod(uid=10001),
        "securityContext": telemetry.restricted_container(),
    }


def _thanos_values(plan: Plan, cluster: Cluster) -> dict[str, Any]:
    store = telemetry.bucket(plan, cluster, "thanos")
    retention = str(plan.decision("metrics").param("retention"))
    storage_class = str(plan.decision("storage").param("defaultClass"))
    labels = telemetry.identity_pod_labels(plan)
    sidecar = (f"dnssrv+_grpc._tcp.{telemetry.KPS_NAME}-thanos-discovery."
               f"{telemetry.MONITORING}.{telemetry.DOMAIN}")
    values: dict[str, Any] = {
        "fullnameOverride": telemetry.THANOS_NAME,
        "global": {
            "objstore": {"createSecret": True,
                         "config": to_yaml(telemetry.thanos_objstore(plan, cluster, store))},
            "podSecurityContext": telemetry.restricted_pod(uid=1001, fs_group=1001),
            "containerSecurityContext": telemetry.restricted_container(),
            "storageClass": storage_class,
            "serviceMonitor": {"enabled": True},
        },
        "bucket": {"enabled": False},
        "query": {"enabled": True, "endpoints": {"static": [sidecar]}},
        "storegateway": {"enabled": True},
        # Raw, 5m and 1h resolutions are all kept for the spec's retention.
        "compactor": {"enabled": True, "retention": {
            "resolutionRaw": retention, "resolution5m": retention, "resolution1h": retention}},
        "queryFrontend": {"enabled": False},
        "receive": {"enabled": False},
        "ruler": {"enabled": False},
    }
    values["global"]["serviceAccount"] = {"create": False,
                                          "name": telemetry.service_account("thanos")}
    env_from = [{"secretRef": {"name": store.claim}}] if store.claim else []
    for component in ("query", "storegateway", "compactor"):
        if labels:
            values[component]["podLabels"] = labels
        if env_from and component != "query":
            values[component]["extraEnvFrom"] = env_from
    return values


def _stack_objects(plan: Plan, cluster: Cluster) -> tuple[dict[str, Any], ...]:
    objects: list[dict[str, Any]] = [telemetry.external_secret(
        GRAFANA_ADMIN_SECRET, telemetry.MONITORING,
        {"password": telemetry.remote_key(plan, cluster, "grafana-admin-password")},
        template={"admin-user": "admin", "admin-password": "{{ .password }}"})]
    secret = alertmanager.receiver_secret(plan, cluster)
    if secret:
        objects.append(secret)
    operator = alertmanager.operator_config(plan)
    if operator:
        objects.append(operator)
    if plan.choice("logging") == "elasticsearch":
        objects += telemetry.elasticsearch_client_objects(
            plan, cluster, "grafana", telemetry.MONITORING, ES_CLIENT_SECRET)
    if _thanos(plan):
        store = telemetry.bucket(plan, cluster, "thanos")
        if store.claim:
            objects.append(telemetry.bucket_claim(store, telemetry.MONITORING))
    objects += alerts.prometheus_rules(plan, cluster)
    objects += dashboards.configmaps(plan)
    return tuple(objects)


def addons(plan: Plan, cluster: Cluster) -> list[Addon]:
    out = [
        Addon(name="prometheus-operator-crds", namespace=telemetry.MONITORING, phase="crds",
              chart="kube-prometheus-stack", values=_crds_values()),
        Addon(name="node-exporter", namespace=NODE_EXPORTER_NAMESPACE, phase="namespaces",
              pod_security="privileged",
              pod_security_reason="node-exporter (deployed by kube-prometheus-stack) reads the "
                                  "host's /proc, /sys and root filesystem through hostPath "
                                  "volumes with hostNetwork and hostPID"),
        Addon(name="kube-prometheus-stack", namespace=telemetry.MONITORING, phase="platform",
              chart="kube-prometheus-stack", values=_stack_values(plan, cluster),
              objects=_stack_objects(plan, cluster),
              depends_on=("prometheus-operator-crds", "node-exporter")),
        Addon(name="opentelemetry-collector", namespace=telemetry.MONITORING, phase="platform",
              chart="opentelemetry-collector", values=_collector_values(plan, cluster),
              depends_on=("kube-prometheus-stack",)),
    ]
    if runs_global_view(plan, cluster):
        out.append(Addon(name="thanos", namespace=telemetry.MONITORING, phase="platform",
                         chart="thanos", values=_thanos_values(plan, cluster),
                         depends_on=("kube-prometheus-stack",)))
    return out
