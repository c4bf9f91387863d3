"""Wiring shared by the observability and backup add-ons (metrics, logging, tracing, backup).

Blocks never import each other, yet Grafana must know where Loki and Tempo answer, the
OpenTelemetry Collector where to send spans, and every bucket consumer how its provider is
reached. Those facts live here, once: namespaces, in-cluster endpoints, object-storage access,
workload identity and the External Secrets references that feed credentials in.

In-cluster service names are pinned with each chart's `fullnameOverride`, so they do not depend
on how the GitOps tool names the Helm release.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubeplan.model import Cluster, Plan
from kubeplan.render import naming
from kubeplan.render.gitops import outputs
from kubeplan.render.gitops.addon import Addon

MONITORING = naming.WORKLOADS["thanos"].namespace
LOGGING = naming.WORKLOADS["loki"].namespace
TRACING = naming.WORKLOADS["tempo"].namespace
BACKUP = naming.WORKLOADS["velero"].namespace
# etcd snapshots mount the control-plane certificates from the host: a namespace of their own,
# so the privileged Pod Security level stays confined to that one job.
ETCD_BACKUP = "etcd-backup"
# The secret store item (see `remote_key`) holding the passphrase the etcd snapshots are
# encrypted with; the runbook names it too.
ETCD_SNAPSHOT_KEY_ITEM = "etcd-snapshot-passphrase"

# fullnameOverride per chart, hence the Service names below.
KPS_NAME = "kps"
THANOS_NAME = "thanos"
OTEL_COLLECTOR_NAME = "otel-collector"
LOKI_NAME = "loki"
ALLOY_NAME = "alloy"
TEMPO_NAME = "tempo"
JAEGER_NAME = "jaeger"
FLUENT_BIT_NAME = "fluent-bit"
# ECK derives Service and Secret names from the Elasticsearch resource name.
ELASTICSEARCH_NAME = "logs"
KIBANA_NAME = "logs"

DOMAIN = "svc.cluster.local"
PROMETHEUS_URL = f"http://{KPS_NAME}-prometheus.{MONITORING}.{DOMAIN}:9090"
THANOS_QUERY_URL = f"http://{THANOS_NAME}-query.{MONITORING}.{DOMAIN}:9090"
OTLP_HTTP_ENDPOINT = f"http://{OTEL_COLLECTOR_NAME}.{MONITORING}.{DOMAIN}:4318"
LOKI_URL = f"http://{LOKI_NAME}-gateway.{LOGGING}.{DOMAIN}"
LOKI_PUSH_URL = f"{LOKI_URL}/loki/api/v1/push"
TEMPO_URL = f"http://{TEMPO_NAME}.{TRACING}.{DOMAIN}:3200"
TEMPO_OTLP_GRPC_ENDPOINT = f"{TEMPO_NAME}.{TRACING}.{DOMAIN}:4317"

# The ClusterSecretStore the secrets block creates for the provider's secret manager (or Vault).
SECRET_STORE = "platform-secrets"
EXTERNAL_SECRET_REFRESH = "1h"

# Rook's object store on-prem (the rook-ceph-cluster chart defaults): buckets are claimed with an
# ObjectBucketClaim on this StorageClass, and the claim's Secret carries the S3 keys as
# AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, which every S3 client here reads from the
# environment.
ROOK_BUCKET_CLASS = "ceph-bucket"
ROOK_RGW_ENDPOINT = "rook-ceph-rgw-ceph-objectstore.rook-ceph.svc:80"
# RGW signs with the zonegroup as region; Rook's default object store answers to this one.
ROOK_RGW_REGION = "us-east-1"

# Azure workload identity: the webhook injects the federated token into pods with this label.
AZURE_WI_LABEL = "azure.workload.identity/use"
AZURE_WI_CLIENT_ID = "azure.workload.identity/client-id"

# Labels the kube-prometheus-stack Grafana sidecar watches for dashboards and data sources.
DASHBOARD_LABEL = "grafana_dashboard"


def hours(duration: str) -> str:
    """A spec duration in whole hours, the unit Loki and Tempo retention settings take."""
    units = {"s": 1 / 3600, "m": 1 / 60, "h": 1, "d": 24, "w": 168}
    return f"{round(int(duration[:-1]) * units[duration[-1]])}h"


def provider(plan: Plan) -> str:
    return plan.metadata.provider


def is_observer(plan: Plan, cluster: Cluster) -> bool:
    """The cluster that hosts its environment's global views (Thanos Query, Store, Compactor).

    The first cluster of an environment in topology order: its primary region. One per
    environment, because exactly one Compactor may own a bucket.
    """
    return plan.topology.clusters_in(cluster.environment)[0].name == cluster.name


def is_production(plan: Plan, cluster: Cluster) -> bool:
    return cluster.environment == plan.topology.production


# --- object storage ------------------------------------------------------------------------

@dataclass(frozen=True)
class Bucket:
    provider: str
    name: str
    region: str
    # On-prem only: the ObjectBucketClaim (and the Secret/ConfigMap Rook creates with its name).
    claim: str = ""

    @property
    def s3_endpoint(self) -> str:
        if self.provider == "onprem":
            return ROOK_RGW_ENDPOINT
        return f"s3.{self.region}.amazonaws.com"


def storage_account(plan: Plan, environment: str) -> str:
    """The Azure storage account holding an environment's containers (3-24 lower-case
    alphanumerics, globally unique): the platform name, environment and the domain hash."""
    digest = hashlib.sha256(plan.metadata.domain.encode()).hexdigest()[:6]
    stem = "".join(ch for ch in f"{plan.metadata.name}{environment}" if ch.isalnum())
    return f"st{stem[:16]}{digest}"


def bucket(plan: Plan, cluster: Cluster, purpose: str) -> Bucket:
    """The environment's bucket for `purpose`, as the Terraform storage layer creates it (one
    per environment, in its primary region). Clusters sharing it write under their own prefix,
    except Thanos, whose blocks carry the cluster as an external label. On-prem, each site's
    Ceph holds its own bucket of that name, claimed in the cluster."""
    name = naming.bucket(plan, cluster.environment, purpose)
    region = plan.topology.clusters_in(cluster.environment)[0].region
    if provider(plan) == "onprem":
        return Bucket("onprem", name, ROOK_RGW_REGION, f"{purpose}-bucket")
    return Bucket(provider(plan), name, region)


def bucket_claim(b: Bucket, namespace: str) -> dict[str, Any]:
    """On-prem: the ObjectBucketClaim that makes Rook create the bucket and its S3 user."""
    return {
        "apiVersion": "objectbucket.io/v1alpha1",
        "kind": "ObjectBucketClaim",
        "metadata": {"name": b.claim, "namespace": namespace},
        "spec": {"bucketName": b.name, "storageClassName": ROOK_BUCKET_CLASS},
    }


def thanos_objstore(plan: Plan, cluster: Cluster, b: Bucket) -> dict[str, Any]:
    """Thanos objstore configuration: no credentials, workload identity or env keys supply them."""
    if b.provider == "gcp":
        return {"type": "GCS", "config": {"bucket": b.name}}
    if b.provider == "azure":
        return {"type": "AZURE", "config": {
            "storage_account": storage_account(plan, cluster.environment),
            "container": b.name}}
    config: dict[str, Any] = {"bucket": b.name, "endpoint": b.s3_endpoint, "region": b.region}
    if b.provider == "onprem":
        config["insecure"] = True  # in-cluster RGW Service; traffic stays on the pod network
    return {"type": "S3", "config": config}


# --- workload identity ---------------------------------------------------------------------

def identity_annotations(plan: Plan, cluster: Cluster, component: str) -> dict[str, str]:
    """ServiceAccount annotations binding `component` (naming.WORKLOADS: its namespace and
    ServiceAccount name) to the cloud identity the Terraform layer creates for it.

    GCP: the Google service account `naming.identity()` in the environment's project, which the
    Kubernetes service account impersonates (the project id is a platform output). Azure: the
    managed identity's client id (a platform output). AWS: none; the role is attached by an EKS
    Pod Identity association on the same namespace and ServiceAccount, outside the cluster.
    """
    if provider(plan) == "gcp":
        gsa = naming.identity(plan, cluster.environment, component)
        project = outputs.var("GCP_PROJECT_ID")
        return {"iam.gke.io/gcp-service-account": f"{gsa}@{project}.iam.gserviceaccount.com"}
    if provider(plan) == "azure":
        return {AZURE_WI_CLIENT_ID: outputs.var(outputs.client_id_variable(component))}
    return {}


def service_account(component: str) -> str:
    return naming.WORKLOADS[component].service_account


def identity_pod_labels(plan: Plan) -> dict[str, str]:
    return {AZURE_WI_LABEL: "true"} if provider(plan) == "azure" else {}


# --- secrets through External Secrets --------------------------------------------------------

def remote_key(plan: Plan, cluster: Cluster, item: str) -> str:
    """Where a credential lives in the secret store: one entry per platform, environment and
    item."""
    return f"{naming.secret_prefix(plan, cluster.environment)}{item}"


def external_secret(name: str, namespace: str, data: Mapping[str, str], *,
                    template: Mapping[str, str] | None = None,
                    secret_type: str | None = None,
                    sources: Mapping[str, Mapping[str, Any]] | None = None,
                    properties: Mapping[str, str] | None = None) -> dict[str, Any]:
    """An ExternalSecret that materialises `data` (Secret key -> store entry) as Secret `name`.
    `properties` names the key to read inside an entry that holds several (Secret key ->
    property).

    The values never pass through Git: the operator reads them from the store at run time.
    With `template`, the Secret holds exactly the templated keys (built from the fetched values,
    `{{ .key }}`). `sources` names another store for some keys: {key: {"name": ..., "kind":
    ..., "property": ...}}.
    """
    target: dict[str, Any] = {"name": name, "creationPolicy": "Owner", "deletionPolicy": "Retain"}
    if template is not None or secret_type is not None:
        tmpl: dict[str, Any] = {"engineVersion": "v2",
                                "mergePolicy": "Replace" if template else "Merge"}
        if secret_type:
            tmpl["type"] = secret_type
        if template:
            tmpl["data"] = dict(sorted(template.items()))
        target["template"] = tmpl
    entries = []
    for key, remote in sorted(data.items()):
        entry: dict[str, Any] = {"secretKey": key, "remoteRef": {"key": remote}}
        if properties and key in properties:
            entry["remoteRef"]["property"] = properties[key]
        source = (sources or {}).get(key)
        if source:
            if source.get("property"):
                entry["remoteRef"]["property"] = source["property"]
            entry["sourceRef"] = {"storeRef": {"kind": source["kind"], "name": source["name"]}}
        entries.append(entry)
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "refreshInterval": EXTERNAL_SECRET_REFRESH,
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": SECRET_STORE},
            "target": target,
            "data": entries,
        },
    }


def secret_reader_store(name: str, namespace: str, source_namespace: str,
                        secret: str) -> list[dict[str, Any]]:
    """A SecretStore in `namespace` that may read one Secret of `source_namespace`.

    Used to hand a public CA certificate across namespaces (ECK writes it next to
    Elasticsearch) without widening any RBAC: a ServiceAccount here, a Role there that can `get`
    that one Secret, and the External Secrets Operator's Kubernetes provider in between.
    """
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": name, "namespace": namespace},
         "automountServiceAccountToken": False},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": f"{name}-{namespace}", "namespace": source_namespace},
         "rules": [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": [secret],
                    "verbs": ["get"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": f"{name}-{namespace}", "namespace": source_namespace},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                     "name": f"{name}-{namespace}"},
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]},
        {"apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
         "metadata": {"name": name, "namespace": namespace},
         "spec": {"provider": {"kubernetes": {
             "remoteNamespace": source_namespace,
             "server": {"caProvider": {"type": "ConfigMap", "name": "kube-root-ca.crt",
                                       "key": "ca.crt"}},
             "auth": {"serviceAccount": {"name": name}}}}}},
    ]


# --- Elasticsearch clients ---------------------------------------------------------------------

# File-realm users ECK creates in Elasticsearch, one per client, each with one custom role.
ES_ROLES: dict[str, dict[str, Any]] = {
    "logs_reader": {"cluster": ["monitor"],
                    "indices": [{"names": ["logs-*"],
                                 "privileges": ["read", "view_index_metadata"]}]},
    "logs_writer": {"cluster": ["monitor"],
                    "indices": [{"names": ["logs-*"],
                                 "privileges": ["create_index", "create_doc", "auto_configure",
                                                "view_index_metadata"]}]},
    "traces_writer": {"cluster": ["monitor", "manage_index_templates"],
                      "indices": [{"names": ["jaeger-*"], "privileges": ["all"]}]},
}
ES_CLIENTS: dict[str, str] = {"grafana": "logs_reader", "fluent-bit": "logs_writer",
                              "jaeger": "traces_writer"}
ES_CA_SECRET = f"{ELASTICSEARCH_NAME}-es-http-certs-public"


def es_user_secret(client: str) -> str:
    return f"es-user-{client}"


def es_password_item(client: str) -> str:
    return f"elasticsearch-{client}-password"


def elasticsearch_client_objects(plan: Plan, cluster: Cluster, client: str, namespace: str,
                                 secret: str) -> list[dict[str, Any]]:
    """Secret `secret` in `namespace` (not Elasticsearch's own) with the client's `password`
    and the cluster's `ca.crt`.

    The password comes from the secret store (the entry ECK's file realm reads as well); the CA
    certificate is public and is copied from the Elasticsearch namespace. A client in the
    Elasticsearch namespace reads `es_user_secret(client)` and ES_CA_SECRET directly.
    """
    es_namespace = elasticsearch_namespace(plan)
    store = f"{es_namespace}-es-ca"
    objects = secret_reader_store(store, namespace, es_namespace, ES_CA_SECRET)
    objects.append(external_secret(
        secret, namespace,
        {"password": remote_key(plan, cluster, es_password_item(client)),
         "ca.crt": ES_CA_SECRET},
        sources={"ca.crt": {"kind": "SecretStore", "name": store, "property": "ca.crt"}}))
    return objects


# --- security contexts -----------------------------------------------------------------------

def restricted_pod(uid: int = 65534, fs_group: int | None = None) -> dict[str, Any]:
    """A pod securityContext that satisfies the `restricted` Pod Security Standard."""
    ctx: dict[str, Any] = {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid,
                           "seccompProfile": {"type": "RuntimeDefault"}}
    if fs_group is not None:
        ctx["fsGroup"] = fs_group
    return ctx


def restricted_container(read_only_root: bool = True) -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": read_only_root,
            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"}}


# --- which traces backend, where -------------------------------------------------------------

def tracing_choice(plan: Plan) -> str:
    return plan.choice("tracing")


def jaeger_namespace(plan: Plan) -> str:
    """Jaeger runs next to the Elasticsearch it writes to: the logging cluster's namespace when
    logging is Elasticsearch (its CA and a file-realm user are Secrets there), else its own."""
    return LOGGING if plan.choice("logging") == "elasticsearch" else TRACING


def jaeger_query_url(plan: Plan) -> str:
    return f"http://{JAEGER_NAME}.{jaeger_namespace(plan)}.{DOMAIN}:16686"


def jaeger_otlp_grpc_endpoint(plan: Plan) -> str:
    return f"{JAEGER_NAME}.{jaeger_namespace(plan)}.{DOMAIN}:4317"


def elasticsearch_namespace(plan: Plan) -> str:
    return LOGGING if plan.choice("logging") == "elasticsearch" else TRACING


def elasticsearch_url(plan: Plan) -> str:
    return f"https://{ELASTICSEARCH_NAME}-es-http.{elasticsearch_namespace(plan)}.{DOMAIN}:9200"


def traces_otlp_endpoint(plan: Plan) -> str | None:
    """Where the Collector exports spans, or None when the plan has no tracing."""
    choice = tracing_choice(plan)
    if choice == "tempo":
        return TEMPO_OTLP_GRPC_ENDPOINT
    if choice == "jaeger":
        return jaeger_otlp_grpc_endpoint(plan)
    return None


# Vault's KV entries are maps, where the cloud stores hold one string: kubeplan's entries keep
# their value under this key (`vault kv put platform/<entry> value=...`), and every reference
# names it (without a property, External Secrets hands over the whole map as JSON).
VAULT_PROPERTY = "value"


def for_secret_store(plan: Plan, addon: Addon) -> Addon:
    """The add-on with its ExternalSecrets' references fitted to the platform's store."""
    if plan.decision("secrets").parameters.get("secretStoreProvider") != "vault":
        return addon
    objects = tuple(_vault_references(dict(document)) for document in addon.objects)
    return dataclasses.replace(addon, objects=objects)


def _vault_references(document: dict[str, Any]) -> dict[str, Any]:
    if document.get("kind") != "ExternalSecret":
        return document
    spec = document.get("spec") or {}
    if (spec.get("secretStoreRef") or {}).get("name") != SECRET_STORE:
        return document
    out = copy.deepcopy(document)
    for entry in out["spec"].get("data") or []:
        if not entry.get("sourceRef") and "property" not in entry["remoteRef"]:
            entry["remoteRef"]["property"] = VAULT_PROPERTY
    return out
