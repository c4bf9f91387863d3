"""secrets in the cluster: the External Secrets Operator and one ClusterSecretStore for the
provider's secret manager (or Vault on-prem), reached through workload identity or Vault's
Kubernetes auth. Every add-on's ExternalSecret names this store (`telemetry.SECRET_STORE`).
"""

from __future__ import annotations

from typing import Any

from kubeplan.model import Cluster, Plan
from kubeplan.render import naming
from kubeplan.render.gitops import outputs, telemetry
from kubeplan.render.gitops.addon import Addon
from kubeplan.render.gitops.baseline import PRIORITY_CRITICAL
from kubeplan.render.gitops.objects import MANAGED_BY, obj

COMPONENT = "external-secrets"
# Vault: the KV version 2 engine mounted for the platform, and one Kubernetes auth mount per
# cluster (each cluster has its own service-account issuer).
VAULT_KV_MOUNT = "platform"
VAULT_ROLE = "external-secrets"


def _provider(plan: Plan, cluster: Cluster) -> dict[str, Any]:
    workload = naming.WORKLOADS[COMPONENT]
    choice = plan.decision("secrets").parameters["secretStoreProvider"]
    if choice == "gcpsm":
        # No auth block: the controller's own credentials (Workload Identity Federation); the
        # project is the cluster's, read from the metadata server.
        return {"gcpsm": {}}
    if choice == "aws":
        return {"aws": {"service": "SecretsManager", "region": cluster.region}}
    if choice == "azurekv":
        return {"azurekv": {"authType": "WorkloadIdentity",
                            "vaultUrl": outputs.var("AZURE_KEY_VAULT_URL"),
                            "tenantId": outputs.var("AZURE_TENANT_ID"),
                            "serviceAccountRef": {"name": workload.service_account,
                                                  "namespace": workload.namespace}}}
    return {"vault": {
        "server": naming.vault_address(plan), "path": VAULT_KV_MOUNT, "version": "v2",
        "auth": {"kubernetes": {
            "mountPath": f"kubernetes-{cluster.name}", "role": VAULT_ROLE,
            "serviceAccountRef": {"name": workload.service_account,
                                  "namespace": workload.namespace}}}}}


def addons(plan: Plan, cluster: Cluster) -> list[Addon]:
    workload = naming.WORKLOADS[COMPONENT]
    production = cluster.environment == plan.topology.production
    service_account: dict[str, Any] = {"create": True, "name": workload.service_account}
    annotations = telemetry.identity_annotations(plan, cluster, COMPONENT)
    if annotations:
        service_account["annotations"] = annotations
    replicas = 2 if production else 1
    values: dict[str, Any] = {
        "installCRDs": True,
        "replicaCount": replicas,
        "leaderElect": replicas > 1,
        "priorityClassName": PRIORITY_CRITICAL,
        "serviceAccount": service_account,
        "webhook": {"replicaCount": replicas, "priorityClassName": PRIORITY_CRITICAL},
        "certController": {"priorityClassName": PRIORITY_CRITICAL},
    }
    labels = telemetry.identity_pod_labels(plan)
    if labels:
        values["podLabels"] = labels
    store = obj("external-secrets.io/v1", "ClusterSecretStore", telemetry.SECRET_STORE,
                labels=MANAGED_BY, spec={"provider": _provider(plan, cluster)})
    return [Addon(name=COMPONENT, namespace=workload.namespace, phase="core", chart=COMPONENT,
                  values=values, objects=(store,))]
