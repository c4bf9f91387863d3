"""Elasticsearch run by ECK, shared by the logging block (log store) and the tracing block
(Jaeger's span store when logging does not run Elasticsearch already).

Clients authenticate as file-realm users, one per client with one custom role, whose passwords
live in the secret store; retention is an index lifecycle policy installed by a Job, because
ECK manages the cluster, not its indices.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kubeplan.catalogue import image
from kubeplan.model import Cluster, Plan
from kubeplan.render import mirrors
from kubeplan.render.gitops import telemetry
from kubeplan.render.gitops.addon import Addon
from kubeplan.render.serialise import to_json

ECK_NAMESPACE = "elastic-system"
ES_NODES = 3  # one per zone: a zone can go while the masters keep a quorum
ILM_POLICY = "retention"
# Index patterns per client that writes: Fluent Bit's daily logs-*, Jaeger's daily jaeger-*.
INDEX_PATTERNS = {"fluent-bit": "logs-*", "jaeger": "jaeger-*"}


# Elastic publishes the operator, Elasticsearch and Kibana on Docker Hub too (elastic/*): where
# the clusters pull through the platform registry's caches, which cannot front docker.elastic.co
# everywhere (ECR caches a fixed list of registries), they come from there, through the Docker
# Hub cache.
DOCKER_HUB_OPERATOR = "docker.io/elastic/eck-operator"
DOCKER_HUB_STACK = {"containerRegistry": "docker.io", "containerRepository": "elastic"}


def eck_operator_addon(plan: Plan) -> Addon:
    values: dict[str, Any] = {"installCRDs": True,
                              "config": {"setDefaultSecurityContext": "true"},
                              "telemetry": {"disabled": True}}
    if mirrors.enabled(plan) and not mirrors.harbor(plan):
        values["image"] = {"repository": DOCKER_HUB_OPERATOR}
        values["config"] |= DOCKER_HUB_STACK
    return Addon(name="eck-operator", namespace=ECK_NAMESPACE, phase="core",
                 chart="eck-operator", values=values)


def _storage_class(plan: Plan) -> str:
    return str(plan.decision("storage").param("defaultClass"))


def elasticsearch(plan: Plan, cluster: Cluster, namespace: str,
                  clients: tuple[str, ...]) -> dict[str, Any]:
    """The cluster: nodes spread over zones, restricted pods, one file-realm user per client."""
    production = telemetry.is_production(plan, cluster)
    name = telemetry.ELASTICSEARCH_NAME
    es = image("elasticsearch")
    container = {"name": "elasticsearch",
                 "securityContext": telemetry.restricted_container(read_only_root=False),
                 "resources": {"requests": {"memory": "4Gi", "cpu": "1"},
                               "limits": {"memory": "4Gi"}}}
    return {
        "apiVersion": "elasticsearch.k8s.elastic.co/v1",
        "kind": "Elasticsearch",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "version": str(es["version"]),
            "auth": {"fileRealm": [{"secretName": telemetry.es_user_secret(c)} for c in clients],
                     "roles": [{"secretName": telemetry.es_user_secret(clients[0])}]},
            "nodeSets": [{
                "name": "default",
                "count": ES_NODES if production else 1,
                # No mmap: no privileged init container raising vm.max_map_count.
                "config": {"node.store.allow_mmap": False},
                "podTemplate": {"spec": {
                    "securityContext": telemetry.restricted_pod(uid=1000, fs_group=1000),
                    "containers": [container],
                    "topologySpreadConstraints": [{
                        "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                        "whenUnsatisfiable": "ScheduleAnyway",
                        "labelSelector": {"matchLabels": {
                            "elasticsearch.k8s.elastic.co/cluster-name": name}}}],
                }},
                "volumeClaimTemplates": [{
                    "metadata": {"name": "elasticsearch-data"},
                    "spec": {"accessModes": ["ReadWriteOnce"],
                             "storageClassName": _storage_class(plan),
                             "resources": {"requests": {"storage": "100Gi"}}}}],
            }],
        },
    }


def user_objects(plan: Plan, cluster: Cluster, namespace: str,
                 clients: tuple[str, ...]) -> list[dict[str, Any]]:
    """One basic-auth Secret per client (file realm); the first also carries roles.yml."""
    roles = {role: telemetry.ES_ROLES[role]
             for role in sorted({telemetry.ES_CLIENTS[c] for c in clients})}
    out = []
    for index, client in enumerate(clients):
        template = {"username": client, "password": "{{ .password }}",
                    "roles": telemetry.ES_CLIENTS[client]}
        if index == 0:
            template["roles.yml"] = json.dumps(roles, indent=2, sort_keys=True) + "\n"
        out.append(telemetry.external_secret(
            telemetry.es_user_secret(client), namespace,
            {"password": telemetry.remote_key(plan, cluster,
                                              telemetry.es_password_item(client))},
            template=template, secret_type="kubernetes.io/basic-auth"))
    return out


def ilm_objects(plan: Plan, cluster: Cluster, namespace: str,
                writers: tuple[str, ...]) -> list[dict[str, Any]]:
    """A Job that installs the retention policy and an index template per written pattern.

    The writers create daily indices, so the policy only deletes (no rollover); the Job name
    carries a hash of the bodies, so a change runs it again.
    """
    retention = str(plan.inputs["observability"]["retention"])
    replicas = 1 if telemetry.is_production(plan, cluster) else 0
    bodies = {"policy.json": to_json({"policy": {"phases": {
        "delete": {"min_age": retention, "actions": {"delete": {}}}}}})}
    requests = [("policy", f"_ilm/policy/{ILM_POLICY}", "policy.json")]
    for writer in writers:
        pattern = INDEX_PATTERNS[writer]
        stem = pattern.rstrip("-*")
        bodies[f"{stem}.json"] = to_json({
            "index_patterns": [pattern], "priority": 200,
            "template": {"settings": {"index.lifecycle.name": ILM_POLICY,
                                      "index.number_of_replicas": replicas}}})
        requests.append((f"template-{stem}", f"_index_template/{stem}-retention",
                         f"{stem}.json"))
    digest = hashlib.sha256("".join(v for _, v in sorted(bodies.items())).encode()
                            ).hexdigest()[:8]
    name = f"elasticsearch-retention-{digest}"
    base = f"https://{telemetry.ELASTICSEARCH_NAME}-es-http:9200"
    curl = image("curl")
    return [
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": name, "namespace": namespace}, "data": bodies},
        {"apiVersion": "batch/v1", "kind": "Job",
         "metadata": {"name": name, "namespace": namespace},
         "spec": {
             "backoffLimit": 20,  # retries until Elasticsearch answers
             "ttlSecondsAfterFinished": 86_400,
             "template": {"spec": {
                 "restartPolicy": "OnFailure",
                 "automountServiceAccountToken": False,
                 "securityContext": telemetry.restricted_pod(uid=100),
                 "containers": [{
                     "name": step,
                     "image": f"{curl['image']}:{curl['version']}",
                     "args": ["--fail-with-body", "--silent", "--show-error",
                              "--cacert", "/es/ca/ca.crt", "--user", "elastic:$(ES_PASSWORD)",
                              "--request", "PUT", "--header", "Content-Type: application/json",
                              "--data-binary", f"@/bodies/{body}", f"{base}/{path}"],
                     "env": [{"name": "ES_PASSWORD", "valueFrom": {"secretKeyRef": {
                         "name": f"{telemetry.ELASTICSEARCH_NAME}-es-elastic-user",
                         "key": "elastic"}}}],
                     "securityContext": telemetry.restricted_container(),
                     "resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                                   "limits": {"memory": "64Mi"}},
                     "volumeMounts": [{"name": "bodies", "mountPath": "/bodies"},
                                      {"name": "ca", "mountPath": "/es/ca"}],
                 } for step, path, body in requests],
                 "volumes": [
                     {"name": "bodies", "configMap": {"name": name}},
                     {"name": "ca", "secret": {"secretName": telemetry.ES_CA_SECRET}}],
             }},
         }},
    ]


def kibana(namespace: str) -> dict[str, Any]:
    version = image("kibana")["version"]
    return {
        "apiVersion": "kibana.k8s.elastic.co/v1",
        "kind": "Kibana",
        "metadata": {"name": telemetry.KIBANA_NAME, "namespace": namespace},
        "spec": {
            "version": str(version),
            "count": 1,
            "elasticsearchRef": {"name": telemetry.ELASTICSEARCH_NAME},
            "podTemplate": {"spec": {
                "securityContext": telemetry.restricted_pod(uid=1000, fs_group=1000),
                "containers": [{"name": "kibana",
                                "securityContext": telemetry.restricted_container(
                                    read_only_root=False)}]}},
        },
    }
