"""backup in the GitOps tree: Velero, and etcd snapshots when the control plane is ours.

Velero runs with the provider's object-store plugin and no key: workload identity (GKE, EKS Pod
Identity, Azure workload identity) or, on-prem, the S3 keys Rook puts in the bucket claim's
Secret. kubeplan authors the BackupStorageLocation (the cluster's prefix in the environment's
regional Velero bucket) and the Schedule (cron and TTL from the backup decision) as objects,
so they are checked against Velero's CRDs. In the clouds, volumes are snapshotted by the
provider plugin through a VolumeSnapshotLocation; on-prem through CSI (EnableCSI), since Ceph
RBD has no Velero snapshotter. (A VolumeSnapshotClass for the clouds' CSI drivers would need the
external-snapshotter CRDs, which the upstream reference data does not include.)

velero-etcd adds a CronJob on the control-plane nodes: `etcdctl snapshot save` against the
local member, then rclone encrypts the snapshot client-side (crypt remote, key from the secret
store) and uploads it to the etcd bucket. It needs the host's etcd client certificate (root
only) and the node's loopback, so its namespace is `privileged`, with the reason recorded.
"""

from __future__ import annotations

from typing import Any

from kubeplan.catalogue import image
from kubeplan.model import Cluster, Plan
from kubeplan.render import naming
from kubeplan.render.gitops import telemetry
from kubeplan.render.gitops.addon import Addon

PLUGIN = {"gcp": "velero-plugin-for-gcp", "aws": "velero-plugin-for-aws",
          "azure": "velero-plugin-for-microsoft-azure", "onprem": "velero-plugin-for-aws"}
BSL_PROVIDER = {"gcp": "gcp", "aws": "aws", "azure": "azure", "onprem": "aws"}
LOCATION = "default"
ETCD_PKI = "/etc/kubernetes/pki/etcd"


def _plugin_init(plan: Plan) -> dict[str, Any]:
    name = PLUGIN[telemetry.provider(plan)]
    pinned = image(name)
    return {"name": name, "image": f"{pinned['image']}:{pinned['version']}",
            "imagePullPolicy": "IfNotPresent",
            "securityContext": telemetry.restricted_container(),
            "volumeMounts": [{"mountPath": "/target", "name": "plugins"}]}


def _bsl_config(plan: Plan, cluster: Cluster, b: telemetry.Bucket) -> dict[str, str]:
    if b.provider == "aws":
        return {"region": b.region}
    if b.provider == "azure":
        return {"storageAccount": telemetry.storage_account(plan, cluster.environment),
                "useAAD": "true"}
    if b.provider == "onprem":
        return {"region": b.region, "s3ForcePathStyle": "true",
                "s3Url": f"http://{b.s3_endpoint}"}
    return {}


def backup_storage_location(plan: Plan, cluster: Cluster) -> dict[str, Any]:
    b = telemetry.bucket(plan, cluster, "velero")
    spec: dict[str, Any] = {
        "provider": BSL_PROVIDER[b.provider],
        "default": True,
        "accessMode": "ReadWrite",
        # One bucket per environment and region; each cluster writes under its own name.
        "objectStorage": {"bucket": b.name, "prefix": cluster.name},
    }
    config = _bsl_config(plan, cluster, b)
    if config:
        spec["config"] = config
    return {"apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
            "metadata": {"name": LOCATION, "namespace": telemetry.BACKUP}, "spec": spec}


def schedule(plan: Plan) -> dict[str, Any]:
    decision = plan.decision("backup")
    return {
        "apiVersion": "velero.io/v1",
        "kind": "Schedule",
        "metadata": {"name": "cluster", "namespace": telemetry.BACKUP},
        "spec": {
            "schedule": str(decision.param("schedule")),
            "useOwnerReferencesInBackup": False,
            "template": {
                "ttl": str(decision.param("ttl")),
                "includedNamespaces": ["*"],
                "includeClusterResources": True,
                "snapshotVolumes": bool(decision.param("snapshotVolumes")),
                "storageLocation": LOCATION,
            },
        },
    }


def snapshot_location(plan: Plan, cluster: Cluster) -> dict[str, Any] | None:
    """Cloud disks: the provider plugin's own snapshotter (it handles CSI-provisioned disks of
    pd.csi.storage.gke.io, ebs.csi.aws.com and disk.csi.azure.com), in the cluster's region."""
    provider = telemetry.provider(plan)
    config = {"gcp": {"snapshotLocation": cluster.region},
              "aws": {"region": cluster.region},
              "azure": {"incremental": "true"}}.get(provider)
    if config is None:
        return None  # on-prem: Ceph RBD volumes go through CSI snapshots instead
    return {"apiVersion": "velero.io/v1", "kind": "VolumeSnapshotLocation",
            "metadata": {"name": LOCATION, "namespace": telemetry.BACKUP},
            "spec": {"provider": BSL_PROVIDER[provider], "config": config}}


def _velero_values(plan: Plan, cluster: Cluster) -> dict[str, Any]:
    decision = plan.decision("backup")
    b = telemetry.bucket(plan, cluster, "velero")
    sa = naming.WORKLOADS["velero"].service_account
    values: dict[str, Any] = {
        "fullnameOverride": "velero",
        "initContainers": [_plugin_init(plan)],
        # Locations and schedules are kubeplan's own objects (validated against the CRDs).
        "backupsEnabled": False,
        "snapshotsEnabled": False,
        "schedules": {},
        "credentials": {"useSecret": False},
        "configuration": {"defaultBackupStorageLocation": LOCATION,
                          "uploaderType": "kopia"},
        "serviceAccount": {"server": {
            "create": True, "name": sa,
            "annotations": telemetry.identity_annotations(plan, cluster, "velero")}},
        "podLabels": telemetry.identity_pod_labels(plan),
        "podSecurityContext": telemetry.restricted_pod(uid=65532, fs_group=65532),
        "containerSecurityContext": telemetry.restricted_container(),
        "kubectl": {"containerSecurityContext": telemetry.restricted_container()},
        "metrics": {"enabled": True, "serviceMonitor": {"enabled": True}},
    }
    if decision.param("snapshotVolumes"):
        if telemetry.provider(plan) == "onprem":
            # Ceph RBD has no Velero snapshotter: CSI snapshots through the VolumeSnapshotClass
            # the storage add-on labels `velero.io/csi-volumesnapshot-class: "true"`.
            values["configuration"]["features"] = "EnableCSI"
        else:
            values["configuration"]["defaultVolumeSnapshotLocations"] = (
                f"{BSL_PROVIDER[telemetry.provider(plan)]}:{LOCATION}")
    if b.claim:
        values["credentials"]["extraSecretRef"] = b.claim
    return values


def _etcd_remote(plan: Plan, cluster: Cluster, b: telemetry.Bucket) -> list[dict[str, Any]]:
    """rclone remotes from the environment: `store` (the bucket) and `sealed` (crypt over it)."""
    kind = {"gcp": "google cloud storage", "aws": "s3", "azure": "azureblob",
            "onprem": "s3"}[b.provider]
    env = [("RCLONE_CONFIG_STORE_TYPE", kind), ("RCLONE_CONFIG_STORE_ENV_AUTH", "true")]
    if b.provider in ("aws", "onprem"):
        env += [("RCLONE_CONFIG_STORE_PROVIDER", "AWS" if b.provider == "aws" else "Ceph"),
                ("RCLONE_CONFIG_STORE_REGION", b.region)]
    if b.provider == "onprem":
        env.append(("RCLONE_CONFIG_STORE_ENDPOINT", f"http://{b.s3_endpoint}"))
    if b.provider == "azure":
        env.append(("RCLONE_CONFIG_STORE_ACCOUNT",
                    telemetry.storage_account(plan, cluster.environment)))
    env += [("RCLONE_CONFIG_SEALED_TYPE", "crypt"),
            ("RCLONE_CONFIG_SEALED_REMOTE", f"store:{b.name}/{cluster.name}"),
            ("RCLONE_CONFIG", "/tmp/rclone.conf"), ("HOME", "/tmp")]
    out: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in env]
    out.append({"name": "RCLONE_CONFIG_SEALED_PASSWORD", "valueFrom": {"secretKeyRef": {
        "name": "etcd-snapshot-key", "key": "password"}}})
    return out


def etcd_objects(plan: Plan, cluster: Cluster) -> list[dict[str, Any]]:
    decision = plan.decision("backup")
    b = telemetry.bucket(plan, cluster, "etcd")
    etcd = image("etcd")
    rclone = image("rclone")
    upload: dict[str, Any] = {
        "name": "upload",
        "image": f"{rclone['image']}:{rclone['version']}",
        "command": ["sh", "-c",
                    'rclone copyto /snapshot/etcd.db '
                    '"sealed:etcd-$(date -u +%Y%m%dT%H%M%SZ).db"'],
        "env": _etcd_remote(plan, cluster, b),
        "securityContext": {**telemetry.restricted_container(), "runAsUser": 65534,
                            "runAsGroup": 65534},
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                      "limits": {"memory": "256Mi"}},
        "volumeMounts": [{"name": "snapshot", "mountPath": "/snapshot", "readOnly": True},
                         {"name": "tmp", "mountPath": "/tmp"}],
    }
    if b.claim:
        upload["envFrom"] = [{"secretRef": {"name": b.claim}}]
    snapshot = {
        "name": "snapshot",
        "image": f"{etcd['image']}:{etcd['version']}",
        "command": ["etcdctl", "--endpoints=https://127.0.0.1:2379",
                    f"--cacert={ETCD_PKI}/ca.crt",
                    f"--cert={ETCD_PKI}/healthcheck-client.crt",
                    f"--key={ETCD_PKI}/healthcheck-client.key",
                    "snapshot", "save", "/snapshot/etcd.db"],
        # The client key is readable by root only; nothing else is granted.
        "securityContext": {"runAsUser": 0, "runAsNonRoot": False,
                            "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                      "limits": {"memory": "512Mi"}},
        "volumeMounts": [{"name": "pki", "mountPath": ETCD_PKI, "readOnly": True},
                         {"name": "snapshot", "mountPath": "/snapshot"}],
    }
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "etcd-snapshot", "namespace": telemetry.ETCD_BACKUP},
        "spec": {
            "schedule": str(decision.param("etcdSnapshotSchedule")),
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"spec": {
                "backoffLimit": 2,
                "activeDeadlineSeconds": 1800,
                "template": {"spec": {
                    "restartPolicy": "Never",
                    "hostNetwork": True,  # the local etcd member listens on the loopback
                    "dnsPolicy": "ClusterFirstWithHostNet",
                    "automountServiceAccountToken": False,
                    "nodeSelector": {"node-role.kubernetes.io/control-plane": ""},
                    "tolerations": [{"key": "node-role.kubernetes.io/control-plane",
                                     "operator": "Exists", "effect": "NoSchedule"}],
                    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                    "initContainers": [snapshot],
                    "containers": [upload],
                    "volumes": [
                        {"name": "pki", "hostPath": {"path": ETCD_PKI, "type": "Directory"}},
                        {"name": "snapshot", "emptyDir": {"sizeLimit": "8Gi"}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                    ],
                }},
            }},
        },
    }
    objects: list[dict[str, Any]] = [
        telemetry.external_secret("etcd-snapshot-key", telemetry.ETCD_BACKUP, {
            "password": telemetry.remote_key(plan, cluster, "etcd-snapshot-crypt-password")}),
        cronjob,
    ]
    if b.claim:
        objects.insert(0, telemetry.bucket_claim(b, telemetry.ETCD_BACKUP))
    return objects


def addons(plan: Plan, cluster: Cluster) -> list[Addon]:
    decision = plan.decision("backup")
    b = telemetry.bucket(plan, cluster, "velero")
    objects: list[dict[str, Any]] = []
    if b.claim:
        objects.append(telemetry.bucket_claim(b, telemetry.BACKUP))
    objects += [backup_storage_location(plan, cluster), schedule(plan)]
    location = snapshot_location(plan, cluster)
    if decision.param("snapshotVolumes") and location:
        objects.append(location)
    out = [Addon(name="velero", namespace=telemetry.BACKUP, phase="platform", chart="velero",
                 values=_velero_values(plan, cluster), objects=tuple(objects))]
    if decision.choice == "velero-etcd":
        out.append(Addon(
            name="etcd-snapshot", namespace=telemetry.ETCD_BACKUP, phase="platform",
            objects=tuple(etcd_objects(plan, cluster)), objects_phase="config",
            pod_security="privileged",
            pod_security_reason="the etcd snapshot job reads the control plane's etcd client "
                                "certificate from a hostPath (root-only files) and reaches the "
                                "local etcd member on the node's loopback (hostNetwork)"))
    return out
