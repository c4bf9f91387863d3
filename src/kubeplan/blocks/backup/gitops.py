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
local member, then rclone encrypts the snapshot client-side (crypt remote, passphrase from the
secret store), uploads it to the environment's etcd bucket on the site's Ceph RGW (claimed in the
cluster, keys from Rook) under the cluster's name, and prunes snapshots older than the backup
TTL. It needs three root-only host files (kubeadm's etcd health-check client certificate and the
etcd CA certificate, never a CA key) and the node's loopback, so its namespace is `privileged`,
with the reason recorded.

It is the one etcd snapshot mechanism (kubeplan renders no systemd timer on the nodes): it is
reconciled by GitOps like everything else instead of copied by hand onto every control-plane
node, its bucket credentials come from Rook and its key from the secret store instead of files
an operator places on each node, kube-state-metrics sees every run so the EtcdSnapshotTooOld rule
pages when snapshots stop (or never succeed), and it takes one snapshot per cluster and period
instead of one per control-plane node. What a node timer would add, snapshots while the API
server or scheduler is down, adds little: etcd changes only through the API server, so the last
snapshot before an outage is still current, and the alert fires when the outage outlasts two
periods.
"""

from __future__ import annotations

from typing import Any

from kubeplan.catalogue import image
from kubeplan.errors import RenderError
from kubeplan.model import Cluster, Plan
from kubeplan.render import naming
from kubeplan.render.gitops import telemetry
from kubeplan.render.gitops.addon import Addon

PLUGIN = {"gcp": "velero-plugin-for-gcp", "aws": "velero-plugin-for-aws",
          "azure": "velero-plugin-for-microsoft-azure", "onprem": "velero-plugin-for-aws"}
BSL_PROVIDER = {"gcp": "gcp", "aws": "aws", "azure": "azure", "onprem": "aws"}
LOCATION = "default"
ETCD_PKI = "/etc/kubernetes/pki/etcd"
ETCD_CRONJOB = "etcd-snapshot"
ETCD_KEY_SECRET = "etcd-snapshot-key"
SNAPSHOT_DIR = "/snapshot"
CLIENT_DIR = "/etc/etcd-client"
# kubeadm's etcd health-check client certificate is enough to take a snapshot; these three files
# are the only host files the job sees (never the etcd CA key or the members' own keys).
# (volume, file in the container, file on the host)
ETCD_CLIENT_FILES = (("etcd-ca", "ca.crt", "ca.crt"),
                     ("etcd-client-cert", "client.crt", "healthcheck-client.crt"),
                     ("etcd-client-key", "client.key", "healthcheck-client.key"))


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


def snapshot_keep_days(ttl: str) -> int:
    """Velero's `720h0m0s` in whole days (rounded up): etcd snapshots are kept as long."""
    hours = int(ttl.split("h", 1)[0])
    return -(-hours // 24)


def _upload_script(b: telemetry.Bucket, cluster: Cluster, keep_days: int) -> str:
    """Encrypt and upload the snapshot, then prune the cluster's snapshots past the backup TTL.

    rclone's crypt remote wants its password obscured (`rclone obscure`), so the secret store
    holds a plain passphrase and the job obscures it on the fly (stdin, never an argument).
    """
    return "\n".join([
        "set -eu",
        'RCLONE_CONFIG_SEALED_PASSWORD="$(printf \'%s\\n\' "$SNAPSHOT_PASSPHRASE" '
        '| rclone obscure -)"',
        "export RCLONE_CONFIG_SEALED_PASSWORD",
        f'rclone copyto {SNAPSHOT_DIR}/etcd.db "sealed:etcd-$(date -u +%Y%m%dT%H%M%SZ).db"',
        f"rclone delete --min-age {keep_days}d store:{b.name}/{cluster.name}",
    ])


def _etcd_remote(b: telemetry.Bucket, cluster: Cluster) -> list[dict[str, Any]]:
    """rclone remotes from the environment: `store` (the Ceph RGW bucket, S3 keys from the
    bucket claim's Secret) and `sealed` (client-side encryption over the cluster's prefix)."""
    env = [("RCLONE_CONFIG_STORE_TYPE", "s3"), ("RCLONE_CONFIG_STORE_PROVIDER", "Ceph"),
           ("RCLONE_CONFIG_STORE_ENV_AUTH", "true"),
           ("RCLONE_CONFIG_STORE_REGION", b.region),
           ("RCLONE_CONFIG_STORE_ENDPOINT", f"http://{b.s3_endpoint}"),
           # Rook created the bucket; its S3 user may not create buckets.
           ("RCLONE_CONFIG_STORE_NO_CHECK_BUCKET", "true"),
           ("RCLONE_CONFIG_SEALED_TYPE", "crypt"),
           ("RCLONE_CONFIG_SEALED_REMOTE", f"store:{b.name}/{cluster.name}"),
           ("RCLONE_CONFIG", "/tmp/rclone.conf"), ("HOME", "/tmp")]
    out: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in env]
    out.append({"name": "SNAPSHOT_PASSPHRASE", "valueFrom": {"secretKeyRef": {
        "name": ETCD_KEY_SECRET, "key": "passphrase"}}})
    return out


def _root_without_privileges() -> dict[str, Any]:
    """uid 0 (for root-owned 0600 files), no capabilities, no escalation, read-only root."""
    return {"runAsUser": 0, "runAsGroup": 0, "runAsNonRoot": False,
            "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}


def etcd_objects(plan: Plan, cluster: Cluster) -> list[dict[str, Any]]:
    decision = plan.decision("backup")
    b = telemetry.bucket(plan, cluster, "etcd")
    if not b.claim:
        # velero-etcd needs self-managed clusters, which the cluster rule plans on-prem only.
        raise RenderError("etcd snapshots are rendered for on-prem clusters (a Rook bucket "
                          f"claim) only, not for provider {b.provider}")
    etcd = image("etcd")
    rclone = image("rclone")
    keep = snapshot_keep_days(str(decision.param("ttl")))
    upload: dict[str, Any] = {
        "name": "upload",
        "image": f"{rclone['image']}:{rclone['version']}",
        "command": ["sh", "-c", _upload_script(b, cluster, keep)],
        "env": _etcd_remote(b, cluster),
        "envFrom": [{"secretRef": {"name": b.claim}}],
        # etcdctl writes the snapshot 0600 as root: reading it needs the same uid, nothing more.
        "securityContext": _root_without_privileges(),
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                      "limits": {"memory": "256Mi"}},
        "volumeMounts": [{"name": "snapshot", "mountPath": SNAPSHOT_DIR, "readOnly": True},
                         {"name": "tmp", "mountPath": "/tmp"}],
    }
    snapshot = {
        "name": "snapshot",
        "image": f"{etcd['image']}:{etcd['version']}",
        "command": ["etcdctl", "--endpoints=https://127.0.0.1:2379",
                    f"--cacert={CLIENT_DIR}/ca.crt", f"--cert={CLIENT_DIR}/client.crt",
                    f"--key={CLIENT_DIR}/client.key",
                    "snapshot", "save", f"{SNAPSHOT_DIR}/etcd.db"],
        # The client key is readable by root only; nothing else is granted.
        "securityContext": _root_without_privileges(),
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                      "limits": {"memory": "512Mi"}},
        "volumeMounts": [*({"name": volume, "mountPath": f"{CLIENT_DIR}/{file}",
                            "readOnly": True} for volume, file, _ in ETCD_CLIENT_FILES),
                         {"name": "snapshot", "mountPath": SNAPSHOT_DIR}],
    }
    host_files = [{"name": volume, "hostPath": {"path": f"{ETCD_PKI}/{host}", "type": "File"}}
                  for volume, _, host in ETCD_CLIENT_FILES]
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": ETCD_CRONJOB, "namespace": telemetry.ETCD_BACKUP},
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
                        *host_files,
                        {"name": "snapshot", "emptyDir": {"sizeLimit": "8Gi"}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                    ],
                }},
            }},
        },
    }
    return [
        telemetry.bucket_claim(b, telemetry.ETCD_BACKUP),
        telemetry.external_secret(ETCD_KEY_SECRET, telemetry.ETCD_BACKUP, {
            "passphrase": telemetry.remote_key(plan, cluster, telemetry.ETCD_SNAPSHOT_KEY_ITEM)}),
        cronjob,
    ]


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
            pod_security_reason="the etcd snapshot job reads kubeadm's etcd health-check "
                                "client certificate and the etcd CA certificate from hostPath "
                                "(three root-only files, no CA key) and reaches the local etcd "
                                "member on the node's loopback (hostNetwork)"))
    return out
