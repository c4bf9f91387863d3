"""logging in the GitOps tree.

- loki: Grafana Loki (community chart) on the cluster's bucket in the plan's deployment mode
  (Monolithic or Distributed; never the deprecated SimpleScalable), with retention from the
  spec enforced by the compactor, fed by Grafana Alloy. Alloy tails pod logs
  through the Kubernetes API (`loki.source.kubernetes`), not from the node's disk, so it needs
  no hostPath and the logging namespace stays `restricted`; node (journal) logs are therefore
  not collected.
- elasticsearch: the ECK operator, an Elasticsearch cluster across zones and Kibana as custom
  resources, an index lifecycle policy deleting indices after the retention, and Fluent Bit
  (which must read /var/log on the nodes, hence a namespace of its own with a PSA exception).
- provider: nothing in the cluster. GKE sends container logs to Cloud Logging by itself, EKS
  gets the CloudWatch Observability add-on and AKS Container insights: those are cluster
  settings in the Terraform layer, and the retention is a property of the log bucket or group
  there.
"""

from __future__ import annotations

from typing import Any

from kubeplan.blocks.logging.config_syntax import Block, Expr, alloy, fluent_bit
from kubeplan.model import Cluster, Plan
from kubeplan.render import mirrors
from kubeplan.render.gitops import elastic, telemetry
from kubeplan.render.gitops.addon import Addon

LOKI_SCHEMA_FROM = "2024-04-01"
SHIPPER_NAMESPACE = "log-shipper"


def _storage_class(plan: Plan) -> str:
    return str(plan.decision("storage").param("defaultClass"))


# --- Loki and Alloy ---------------------------------------------------------------------------

def _loki_storage(plan: Plan, cluster: Cluster) -> tuple[str, dict[str, Any]]:
    b = telemetry.bucket(plan, cluster, "loki")
    names = {"chunks": b.name, "ruler": b.name, "admin": b.name}
    if b.provider == "gcp":
        return "gcs", {"type": "gcs", "bucketNames": names}
    if b.provider == "azure":
        return "azure", {"type": "azure", "bucketNames": names,
                         "azure": {"accountName": telemetry.storage_account(
                             plan, cluster.environment), "useFederatedToken": True}}
    s3: dict[str, Any] = {"region": b.region}
    if b.provider == "onprem":
        s3.update(endpoint=b.s3_endpoint, s3ForcePathStyle=True, insecure=True)
    return "s3", {"type": "s3", "bucketNames": names, "s3": s3}


# Targets of each mode; the chart refuses replicas in two modes at once, so the other mode's
# targets are zeroed explicitly (the simple scalable ones default to three replicas).
SCALABLE_TARGETS = ("read", "write", "backend")
DISTRIBUTED_TARGETS = ("ingester", "distributor", "querier", "queryFrontend", "queryScheduler",
                       "indexGateway", "compactor")
LOKI_VOLUME_SIZE = "10Gi"
MONOLITHIC = "Monolithic"  # the logging decision's deploymentMode for small platforms


def _loki_targets(mode: str, writers: int, replicas: int,
                  storage_class: str) -> dict[str, Any]:
    """Replicas per target: `writers` copies of every stream, `replicas` of stateless ones."""
    targets: dict[str, Any] = {t: {"replicas": 0} for t in SCALABLE_TARGETS}
    if mode == MONOLITHIC:
        # Replicated monolithic Loki needs object storage (it has it) and as many replicas as
        # the replication factor, so each replica is also an ingester holding one copy.
        targets["singleBinary"] = {"replicas": writers,
                                   "persistence": {"enabled": True,
                                                   "storageClass": storage_class}}
        targets.update({t: {"replicas": 0} for t in DISTRIBUTED_TARGETS})
        return targets
    targets["singleBinary"] = {"replicas": 0}
    targets.update({t: {"replicas": replicas} for t in DISTRIBUTED_TARGETS})
    targets["ingester"] = {
        "replicas": writers,
        # The WAL on a volume: a restarted ingester replays what it had not yet flushed.
        "persistence": {"enabled": True, "claims": [{
            "name": "data", "accessModes": ["ReadWriteOnce"], "size": LOKI_VOLUME_SIZE,
            "storageClass": storage_class}]},
        # Zone-aware ingesters need the rollout-operator and its webhooks, which kubeplan does
        # not deploy; the chart's hard anti-affinity still keeps each copy on its own node.
        "zoneAwareReplication": {"enabled": False},
    }
    # One compactor per cluster applies retention and deletes; it must not run twice.
    targets["compactor"] = {"replicas": 1}
    return targets


def _loki_values(plan: Plan, cluster: Cluster) -> dict[str, Any]:
    production = telemetry.is_production(plan, cluster)
    retention = telemetry.hours(str(plan.decision("logging").param("retention")))
    store, storage = _loki_storage(plan, cluster)
    prefix = cluster.name.replace("-", "_")
    mode = str(plan.decision("logging").param("deploymentMode"))
    # Three copies of every stream on three ingesters in production; elsewhere one copy.
    writers = 3 if production else 1
    replicas = 2 if production else 1
    values: dict[str, Any] = {
        "fullnameOverride": telemetry.LOKI_NAME,
        "deploymentMode": mode,
        "loki": {
            "auth_enabled": False,  # one tenant per cluster; Alloy and Grafana send no org id
            "commonConfig": {"replication_factor": writers},
            "storage": storage,
            # The environment's clusters share its bucket: each has its own index tables and
            # delete-request store, so its compactor only ever touches its own objects.
            "schemaConfig": {"configs": [{
                "from": LOKI_SCHEMA_FROM, "store": "tsdb", "object_store": store,
                "schema": "v13",
                "index": {"prefix": f"{prefix}_index_", "period": "24h"}}]},
            "limits_config": {"retention_period": retention},
            "compactor": {"retention_enabled": True, "delete_request_store": store,
                          "delete_request_store_key_prefix": f"{prefix}/index/"},
            "podLabels": telemetry.identity_pod_labels(plan),
        },
        "serviceAccount": {"name": telemetry.service_account("loki"),
                           "annotations": telemetry.identity_annotations(plan, cluster, "loki")},
        **_loki_targets(mode, writers, replicas, _storage_class(plan)),
        "gateway": {"replicas": replicas},
        # Memcached sized for the cluster rather than the chart's 8 GiB default.
        "chunksCache": {"allocatedMemory": 2048 if production else 512},
        "resultsCache": {"allocatedMemory": 512 if production else 256},
        "lokiCanary": {"enabled": False},
        "test": {"enabled": False},
        "monitoring": {"serviceMonitor": {"enabled": True}},
    }
    b = telemetry.bucket(plan, cluster, "loki")
    if b.claim:
        values["global"] = {"extraEnvFrom": [{"secretRef": {"name": b.claim}}]}
    return values


def alloy_config(plan: Plan, cluster: Cluster) -> str:
    relabel = [
        ("__meta_kubernetes_namespace", "namespace"),
        ("__meta_kubernetes_pod_name", "pod"),
        ("__meta_kubernetes_pod_container_name", "container"),
        ("__meta_kubernetes_pod_label_app_kubernetes_io_name", "app"),
    ]
    return alloy([
        Block("discovery.kubernetes", "pods", (
            ("role", "pod"),
            # Each DaemonSet pod follows only the pods of its own node.
            Block("selectors", None, (
                ("role", "pod"),
                ("field", Expr('"spec.nodeName=" + sys.env("NODE_NAME")')))),
        )),
        Block("discovery.relabel", "pods", (
            ("targets", Expr("discovery.kubernetes.pods.targets")),
            *(Block("rule", None, (("source_labels", [src]), ("target_label", dst)))
              for src, dst in relabel),
        )),
        Block("loki.source.kubernetes", "pods", (
            ("targets", Expr("discovery.relabel.pods.output")),
            ("forward_to", [Expr("loki.write.default.receiver")]),
        )),
        Block("loki.write", "default", (
            Block("endpoint", None, (("url", telemetry.LOKI_PUSH_URL),)),
            ("external_labels", {"cluster": cluster.name,
                                 "environment": cluster.environment}),
        )),
    ])


def _alloy_values(plan: Plan, cluster: Cluster) -> dict[str, Any]:
    return {
        "fullnameOverride": telemetry.ALLOY_NAME,
        "crds": {"create": False},
        "alloy": {
            "configMap": {"create": True, "content": alloy_config(plan, cluster)},
            "extraEnv": [{"name": "NODE_NAME",
                          "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
            "mounts": {"varlog": False, "dockercontainers": False},
            "securityContext": telemetry.restricted_container(),
            "enableReporting": False,
        },
        "controller": {"type": "daemonset"},
        "global": {"podSecurityContext": telemetry.restricted_pod(uid=473, fs_group=473)},
        # Least privilege: the chart's default role also reads every Secret and ConfigMap.
        "rbac": {"create": True,
                 "rules": [{"apiGroups": [""], "resources": ["pods", "pods/log", "namespaces"],
                            "verbs": ["get", "list", "watch"]}],
                 "clusterRules": [{"apiGroups": [""], "resources": ["nodes"],
                                   "verbs": ["get", "list", "watch"]}]},
    }


def _loki_addons(plan: Plan, cluster: Cluster) -> list[Addon]:
    b = telemetry.bucket(plan, cluster, "loki")
    objects = (telemetry.bucket_claim(b, telemetry.LOGGING),) if b.claim else ()
    return [
        Addon(name="loki", namespace=telemetry.LOGGING, phase="platform", chart="loki",
              values=_loki_values(plan, cluster), objects=objects),
        Addon(name="alloy", namespace=telemetry.LOGGING, phase="platform", chart="alloy",
              values=_alloy_values(plan, cluster), depends_on=("loki",)),
    ]


# --- Elasticsearch, Kibana, Fluent Bit ------------------------------------------------------

FLUENT_BIT_SECRET = "elasticsearch-fluent-bit"
FLUENT_BIT_DOCKER_HUB = "docker.io/fluent/fluent-bit"


def _fluent_bit_values(plan: Plan, cluster: Cluster) -> dict[str, Any]:
    host = f"{telemetry.ELASTICSEARCH_NAME}-es-http.{telemetry.LOGGING}.{telemetry.DOMAIN}"
    values: dict[str, Any] = {
        "fullnameOverride": telemetry.FLUENT_BIT_NAME,
        "kind": "DaemonSet",
        "testFramework": {"enabled": False},
        "config": {
            "inputs": fluent_bit([("INPUT", [
                ("Name", "tail"), ("Path", "/var/log/containers/*.log"),
                ("multiline.parser", "docker, cri"), ("Tag", "kube.*"),
                ("Mem_Buf_Limit", "50MB"), ("Skip_Long_Lines", "On")])]),
            "filters": fluent_bit([
                ("FILTER", [("Name", "kubernetes"), ("Match", "kube.*"), ("Merge_Log", "On"),
                            ("Keep_Log", "Off"), ("K8S-Logging.Exclude", "On")]),
                ("FILTER", [("Name", "modify"), ("Match", "kube.*"),
                            ("Add", f"cluster {cluster.name}")]),
            ]),
            "outputs": fluent_bit([("OUTPUT", [
                ("Name", "es"), ("Match", "kube.*"), ("Host", host), ("Port", "9200"),
                ("HTTP_User", "fluent-bit"), ("HTTP_Passwd", "${ES_PASSWORD}"),
                ("tls", "On"), ("tls.verify", "On"), ("tls.ca_file", "/es/ca/ca.crt"),
                ("Logstash_Format", "On"), ("Logstash_Prefix", "logs"),
                ("Suppress_Type_Name", "On"), ("Replace_Dots", "On"),
                ("Retry_Limit", "False")])]),
        },
        "env": [{"name": "ES_PASSWORD", "valueFrom": {"secretKeyRef": {
            "name": FLUENT_BIT_SECRET, "key": "password"}}}],
        "extraVolumes": [{"name": "es-ca", "secret": {"secretName": FLUENT_BIT_SECRET,
                                                      "items": [{"key": "ca.crt",
                                                                 "path": "ca.crt"}]}}],
        "extraVolumeMounts": [{"name": "es-ca", "mountPath": "/es/ca", "readOnly": True}],
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
    }
    if mirrors.enabled(plan) and not mirrors.harbor(plan):
        # The same release on Docker Hub, which every cloud's cache fronts (not cr.fluentbit.io).
        values["image"] = {"repository": FLUENT_BIT_DOCKER_HUB}
    return values


def _elasticsearch_addons(plan: Plan, cluster: Cluster) -> list[Addon]:
    jaeger = telemetry.tracing_choice(plan) == "jaeger"
    clients = tuple(c for c in telemetry.ES_CLIENTS if c != "jaeger" or jaeger)
    writers = ("fluent-bit", "jaeger") if jaeger else ("fluent-bit",)
    objects = [elastic.elasticsearch(plan, cluster, telemetry.LOGGING, clients),
               elastic.kibana(telemetry.LOGGING),
               *elastic.user_objects(plan, cluster, telemetry.LOGGING, clients),
               *elastic.ilm_objects(plan, cluster, telemetry.LOGGING, writers)]
    return [
        elastic.eck_operator_addon(plan),
        Addon(name="elasticsearch", namespace=telemetry.LOGGING, phase="platform",
              objects=tuple(objects), depends_on=("eck-operator",)),
        Addon(name="fluent-bit", namespace=SHIPPER_NAMESPACE, phase="platform",
              chart="fluent-bit", values=_fluent_bit_values(plan, cluster),
              objects=tuple(telemetry.elasticsearch_client_objects(
                  plan, cluster, "fluent-bit", SHIPPER_NAMESPACE, FLUENT_BIT_SECRET)),
              depends_on=("elasticsearch",),
              pod_security="privileged",
              pod_security_reason="Fluent Bit tails container logs from the nodes' /var/log "
                                  "through hostPath volumes, as root (the files are root-only)"),
    ]


def addons(plan: Plan, cluster: Cluster) -> list[Addon]:
    choice = plan.choice("logging")
    if choice == "loki":
        return _loki_addons(plan, cluster)
    if choice == "elasticsearch":
        return _elasticsearch_addons(plan, cluster)
    return []  # provider: the cloud's agent is a cluster setting (Terraform layer)
