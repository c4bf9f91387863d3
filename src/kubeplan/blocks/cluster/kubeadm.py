"""Self-managed clusters (kubeadm, provider onprem): the on-prem equivalent of the cluster layer.

Per cluster: a kubeadm configuration (ClusterConfiguration with a stable control-plane endpoint,
the network decision's pod and service ranges, secrets encrypted at rest, audit logging, no
profiling, components bound to localhost; InitConfiguration; a hardened KubeletConfiguration),
the EncryptionConfiguration (a KMS v2 plugin holds the key: none is ever in the output) and the
audit policy (metadata only for secrets and tokens, request bodies for writes, full bodies for
RBAC changes, no noise from health checks and leader election).
"""

from __future__ import annotations

from typing import Any

from kubeplan import catalogue
from kubeplan.errors import RenderError
from kubeplan.render import naming
from kubeplan.render.serialise import to_yaml, to_yaml_stream
from kubeplan.render.terraform import onprem
from kubeplan.render.terraform.model import ONPREM, Contribution, TerraformEnv

ENCRYPTION_DIR = "/etc/kubernetes/encryption"
AUDIT_DIR = "/etc/kubernetes/audit"
AUDIT_LOG_DIR = "/var/log/kubernetes/audit"
KMS_SOCKET_DIR = "/var/run/kmsplugin"
AUDIT_LOG_DAYS = "30"
KUBEADM_API = "kubeadm.k8s.io/v1beta4"


def kubernetes_release(minor: str) -> str:
    try:
        return str(catalogue.entry("tools", f"kubernetes-{minor}")["version"])
    except KeyError:
        raise RenderError(f"no pinned Kubernetes patch release for {minor} in the catalogue "
                          "(tools.kubernetes-<minor>); kubeadm needs an exact version") from None


def _args(pairs: dict[str, str]) -> list[dict[str, str]]:
    """kubeadm v1beta4 extra arguments: a list of name/value pairs."""
    return [{"name": k, "value": v} for k, v in pairs.items()]


def cluster_configuration(env: TerraformEnv, cluster: str, region: str) -> dict[str, Any]:
    # The names the GitOps tree uses too (Cilium's API host, the clusters' names).
    host = naming.kubernetes_api_host(env.plan, cluster)
    return {
        "apiVersion": KUBEADM_API,
        "kind": "ClusterConfiguration",
        "clusterName": naming.cluster_resource_name(env.plan, cluster),
        "kubernetesVersion": kubernetes_release(str(env.param("cluster", "kubernetesVersion"))),
        "controlPlaneEndpoint": f"{host}:6443",
        "encryptionAlgorithm": "ECDSA-P256",
        "networking": {"podSubnet": env.network("pod", region),
                       "serviceSubnet": env.network("service", region),
                       "dnsDomain": "cluster.local"},
        "apiServer": {
            "certSANs": [host, onprem.api_address(env, region)],
            "extraArgs": _args({
                "encryption-provider-config": f"{ENCRYPTION_DIR}/config.yaml",
                "encryption-provider-config-automatic-reload": "true",
                "audit-policy-file": f"{AUDIT_DIR}/policy.yaml",
                "audit-log-path": f"{AUDIT_LOG_DIR}/audit.log",
                "audit-log-maxage": AUDIT_LOG_DAYS,
                "audit-log-maxbackup": "10",
                "audit-log-maxsize": "100",
                "profiling": "false",
                "tls-min-version": "VersionTLS12",
                "service-account-lookup": "true",
            }),
            "extraVolumes": [
                {"name": "encryption", "hostPath": ENCRYPTION_DIR, "mountPath": ENCRYPTION_DIR,
                 "readOnly": True, "pathType": "DirectoryOrCreate"},
                {"name": "kms-plugin", "hostPath": KMS_SOCKET_DIR, "mountPath": KMS_SOCKET_DIR,
                 "readOnly": False, "pathType": "DirectoryOrCreate"},
                {"name": "audit-policy", "hostPath": AUDIT_DIR, "mountPath": AUDIT_DIR,
                 "readOnly": True, "pathType": "DirectoryOrCreate"},
                {"name": "audit-log", "hostPath": AUDIT_LOG_DIR, "mountPath": AUDIT_LOG_DIR,
                 "readOnly": False, "pathType": "DirectoryOrCreate"},
            ],
        },
        "controllerManager": {"extraArgs": _args({"profiling": "false",
                                                  "bind-address": "127.0.0.1",
                                                  "terminated-pod-gc-threshold": "1000"})},
        "scheduler": {"extraArgs": _args({"profiling": "false", "bind-address": "127.0.0.1"})},
        "etcd": {"local": {"dataDir": "/var/lib/etcd",
                           "extraArgs": _args({"auto-compaction-retention": "8",
                                               "quota-backend-bytes": str(8 * 2**30)})}},
    }


def init_configuration(env: TerraformEnv) -> dict[str, Any]:
    config: dict[str, Any] = {
        "apiVersion": KUBEADM_API,
        "kind": "InitConfiguration",
        "nodeRegistration": {
            "criSocket": "unix:///run/containerd/containerd.sock",
            "taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
        },
    }
    if env.choice("network_policy") == "cilium":
        # Cilium replaces kube-proxy.
        config["skipPhases"] = ["addon/kube-proxy"]
    return config


def kubelet_configuration() -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True}},
        "authorization": {"mode": "Webhook"},
        "readOnlyPort": 0,
        "rotateCertificates": True,
        "tlsMinVersion": "VersionTLS12",
        "cgroupDriver": "systemd",
        "makeIPTablesUtilChains": True,
    }


def encryption_configuration(cluster: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": [{
            "resources": ["secrets"],
            "providers": [
                {"kms": {"apiVersion": "v2", "name": f"{cluster}-kms",
                         "endpoint": f"unix://{KMS_SOCKET_DIR}/socket.sock", "timeout": "3s"}},
                # Reads secrets written before encryption was on; new writes use the KMS.
                {"identity": {}},
            ],
        }],
    }


def audit_policy() -> dict[str, Any]:
    core = ""
    return {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [
            {"level": "None", "users": ["system:kube-proxy"], "verbs": ["watch"],
             "resources": [{"group": core, "resources": ["endpoints", "services",
                                                         "services/status"]}]},
            {"level": "None", "userGroups": ["system:nodes"], "verbs": ["get"],
             "resources": [{"group": core, "resources": ["nodes", "nodes/status"]}]},
            {"level": "None",
             "users": ["system:kube-controller-manager", "system:kube-scheduler"],
             "verbs": ["get", "update"], "namespaces": ["kube-system"],
             "resources": [{"group": "coordination.k8s.io", "resources": ["leases"]}]},
            {"level": "None",
             "nonResourceURLs": ["/healthz*", "/livez*", "/readyz*", "/version", "/metrics"]},
            {"level": "None", "resources": [{"group": core, "resources": ["events"]},
                                            {"group": "events.k8s.io", "resources": ["events"]}]},
            {"level": "Metadata",
             "resources": [{"group": core, "resources": ["secrets", "configmaps",
                                                         "serviceaccounts/token"]},
                           {"group": "authentication.k8s.io", "resources": ["tokenreviews"]}]},
            {"level": "RequestResponse", "verbs": ["create", "update", "patch", "delete"],
             "resources": [{"group": "rbac.authorization.k8s.io"}]},
            {"level": "Request",
             "verbs": ["create", "update", "patch", "delete", "deletecollection"]},
            {"level": "Metadata"},
        ],
    }


def contribute(env: TerraformEnv) -> list[Contribution]:
    # Only called on-prem: the cluster rule refuses self-managed clusters in a cloud.
    files: dict[str, str] = {}
    for cluster in env.clusters:
        folder = f"{env.environment}/{cluster.name}"
        files[f"{folder}/kubeadm.yaml"] = to_yaml_stream([
            init_configuration(env),
            cluster_configuration(env, cluster.name, cluster.region),
            kubelet_configuration(),
        ])
        files[f"{folder}/encryption-config.yaml"] = to_yaml(encryption_configuration(
            cluster.name))
        files[f"{folder}/audit-policy.yaml"] = to_yaml(audit_policy())
    return [Contribution(ONPREM, "cluster", files=files)]
