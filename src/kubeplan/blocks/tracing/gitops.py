"""tracing in the GitOps tree.

- tempo: Grafana Tempo (chart `tempo`, one StatefulSet) storing trace blocks in the cluster's
  bucket for the spec's retention. The `tempo-distributed` chart is not used: its 3.x line
  (Tempo 3) ingests through Kafka, which this platform does not run.
- jaeger: Jaeger v2 (chart `jaeger`) with Elasticsearch as span store: the logging cluster when
  logging runs Elasticsearch, otherwise a dedicated ECK cluster next to Jaeger.
- either way: the OpenTelemetry Operator and an Instrumentation resource carrying the plan's
  head sampling (`parentbased_traceidratio` with the decision's `samplingRatio`), exporting to
  the Collector, which forwards spans to the store. Workloads opt in with the operator's
  `instrumentation.opentelemetry.io/inject-<language>:
  "opentelemetry-operator/platform"` annotation;
  services with their own SDK set OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG to the same
  values. The ratio is applied once, at the head: a second, probabilistic sampler in the
  Collector would cut whole traces again.
- none: nothing (the Collector drops its traces pipeline and Grafana its traces data source).
"""

from __future__ import annotations

from typing import Any

from kubeplan.model import Cluster, Plan
from kubeplan.render import to_yaml
from kubeplan.render.gitops import elastic, telemetry
from kubeplan.render.gitops.addon import Addon

OPERATOR_NAMESPACE = "opentelemetry-operator"
INSTRUMENTATION = "platform"
ES_CA_MOUNT = "/es/ca"


def instrumentation(plan: Plan) -> dict[str, Any]:
    decision = plan.decision("tracing")
    ratio = float(decision.param("samplingRatio"))
    return {
        "apiVersion": "opentelemetry.io/v1alpha1",
        "kind": "Instrumentation",
        "metadata": {"name": INSTRUMENTATION, "namespace": OPERATOR_NAMESPACE},
        "spec": {
            "exporter": {"endpoint": telemetry.OTLP_HTTP_ENDPOINT},
            "propagators": ["tracecontext", "baggage"],
            "sampler": {"type": str(decision.param("sampler")), "argument": f"{ratio:g}"},
        },
    }


def _operator_addon(plan: Plan) -> Addon:
    return Addon(name="opentelemetry-operator", namespace=OPERATOR_NAMESPACE, phase="platform",
                 chart="opentelemetry-operator",
                 values={"crds": {"create": True},
                         "manager": {"serviceMonitor": {"enabled": True}}},
                 objects=(instrumentation(plan),))


def _tempo_storage(plan: Plan, cluster: Cluster) -> dict[str, Any]:
    b = telemetry.bucket(plan, cluster, "tempo")
    wal = {"path": "/var/tempo/wal"}
    prefix = cluster.name  # the environment's clusters share its bucket
    if b.provider == "gcp":
        return {"trace": {"backend": "gcs", "wal": wal,
                          "gcs": {"bucket_name": b.name, "prefix": prefix}}}
    if b.provider == "azure":
        return {"trace": {"backend": "azure", "wal": wal, "azure": {
            "container_name": b.name, "prefix": prefix,
            "storage_account_name": telemetry.storage_account(plan, cluster.environment),
            "use_federated_token": True}}}
    s3: dict[str, Any] = {"bucket": b.name, "prefix": prefix, "endpoint": b.s3_endpoint,
                          "region": b.region}
    if b.provider == "onprem":
        s3.update(forcepathstyle=True, insecure=True)
    return {"trace": {"backend": "s3", "s3": s3, "wal": wal}}


def _tempo_values(plan: Plan, cluster: Cluster) -> dict[str, Any]:
    b = telemetry.bucket(plan, cluster, "tempo")
    tempo: dict[str, Any] = {
        "retention": telemetry.hours(str(plan.decision("tracing").param("retention"))),
        "reportingEnabled": False,
        "storage": _tempo_storage(plan, cluster),
        # OTLP only: the Collector is the one entry point for spans.
        "receivers": {"jaeger": None,
                      "otlp": {"protocols": {"grpc": {"endpoint": "0.0.0.0:4317"},
                                             "http": {"endpoint": "0.0.0.0:4318"}}}},
        "securityContext": telemetry.restricted_container(),
    }
    if b.claim:
        tempo["extraEnvFrom"] = [{"secretRef": {"name": b.claim}}]
    return {
        "fullnameOverride": telemetry.TEMPO_NAME,
        "tempo": tempo,
        "securityContext": telemetry.restricted_pod(uid=10001, fs_group=10001),
        "serviceAccount": {"name": telemetry.service_account("tempo"),
                           "annotations": telemetry.identity_annotations(plan, cluster,
                                                                         "tempo")},
        "podLabels": telemetry.identity_pod_labels(plan),
        "persistence": {"enabled": True, "size": "10Gi"},
        "serviceMonitor": {"enabled": True},
    }


def _tempo_addon(plan: Plan, cluster: Cluster) -> Addon:
    b = telemetry.bucket(plan, cluster, "tempo")
    objects = (telemetry.bucket_claim(b, telemetry.TRACING),) if b.claim else ()
    return Addon(name="tempo", namespace=telemetry.TRACING, phase="platform", chart="tempo",
                 values=_tempo_values(plan, cluster), objects=objects)


def jaeger_config(plan: Plan) -> dict[str, Any]:
    """Jaeger v2 configuration (an OpenTelemetry Collector distribution): OTLP in, spans to
    Elasticsearch as the `jaeger` file-realm user, TLS verified against the ECK CA."""
    return {
        "service": {
            "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
            "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["batch"],
                                     "exporters": ["jaeger_storage_exporter"]}},
        },
        "extensions": {
            "healthcheckv2": {"use_v2": True, "http": {"endpoint": "0.0.0.0:13133"}},
            "jaeger_query": {"storage": {"traces": "elasticsearch"}},
            "jaeger_storage": {"backends": {"elasticsearch": {"elasticsearch": {
                "server_urls": [telemetry.elasticsearch_url(plan)],
                "auth": {"basic": {"username": "jaeger",
                                   "password": "${env:ES_PASSWORD}"}},
                "tls": {"ca_file": f"{ES_CA_MOUNT}/ca.crt"},
            }}}},
        },
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": "0.0.0.0:4317"},
                                             "http": {"endpoint": "0.0.0.0:4318"}}}},
        "processors": {"batch": {}},
        "exporters": {"jaeger_storage_exporter": {"trace_storage": "elasticsearch"}},
    }


def _jaeger_values(plan: Plan, cluster: Cluster) -> dict[str, Any]:
    production = telemetry.is_production(plan, cluster)
    return {
        "fullnameOverride": telemetry.JAEGER_NAME,
        "userconfig": to_yaml(jaeger_config(plan)),
        "jaeger": {
            "replicas": 2 if production else 1,
            "extraEnv": [{"name": "ES_PASSWORD", "valueFrom": {"secretKeyRef": {
                "name": telemetry.es_user_secret("jaeger"), "key": "password"}}}],
            "extraVolumes": [{"name": "es-ca",
                              "secret": {"secretName": telemetry.ES_CA_SECRET}}],
            "extraVolumeMounts": [{"name": "es-ca", "mountPath": ES_CA_MOUNT,
                                   "readOnly": True}],
            "podSecurityContext": telemetry.restricted_pod(uid=10001, fs_group=10001),
            "securityContext": telemetry.restricted_container(),
        },
        # Elasticsearch is run by ECK, not by the chart's bundled dependency.
        "storage": {"type": "elasticsearch",
                    "elasticsearch": {"url": telemetry.elasticsearch_url(plan)}},
    }


def _jaeger_addons(plan: Plan, cluster: Cluster) -> list[Addon]:
    namespace = telemetry.jaeger_namespace(plan)
    out: list[Addon] = []
    depends: tuple[str, ...] = ("elasticsearch",)
    if plan.choice("logging") != "elasticsearch":
        # Jaeger without Elasticsearch logs: a span store of its own, next to Jaeger.
        clients = ("jaeger",)
        objects = [elastic.elasticsearch(plan, cluster, namespace, clients),
                   *elastic.user_objects(plan, cluster, namespace, clients),
                   *elastic.ilm_objects(plan, cluster, namespace, ("jaeger",))]
        out += [elastic.eck_operator_addon(plan),
                Addon(name="jaeger-elasticsearch", namespace=namespace, phase="platform",
                      objects=tuple(objects), depends_on=("eck-operator",))]
        depends = ("jaeger-elasticsearch",)
    out.append(Addon(name="jaeger", namespace=namespace, phase="platform", chart="jaeger",
                     values=_jaeger_values(plan, cluster), depends_on=depends))
    return out


def addons(plan: Plan, cluster: Cluster) -> list[Addon]:
    choice = telemetry.tracing_choice(plan)
    if choice == "none":
        return []
    backend = [_tempo_addon(plan, cluster)] if choice == "tempo" else _jaeger_addons(plan,
                                                                                   cluster)
    return [*backend, _operator_addon(plan)]
