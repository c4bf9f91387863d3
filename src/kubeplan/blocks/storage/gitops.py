"""storage in the cluster: StorageClasses that encrypt at rest and bind when the pod is scheduled
(WaitForFirstConsumer), one of them the default; on-prem, Rook runs Ceph (block pool, CephFS
when shared files are needed, an RGW object store) and the classes point at it.
"""

from __future__ import annotations

from typing import Any

from kubeplan.model import Cluster, Plan
from kubeplan.render import naming
from kubeplan.render.gitops import outputs, telemetry
from kubeplan.render.gitops.addon import Addon
from kubeplan.render.gitops.baseline import PRIORITY_CRITICAL
from kubeplan.render.gitops.objects import MANAGED_BY, obj

ROOK = "rook-ceph"
CLUSTER = "rook-ceph"
BLOCK_POOL = "replicapool"
FILESYSTEM = "ceph-filesystem"
OBJECT_STORE = "ceph-objectstore"  # telemetry.ROOK_RGW_ENDPOINT names its Service
FILE_CLASS = "ceph-filesystem"
DEFAULT_ANNOTATION = {"storageclass.kubernetes.io/is-default-class": "true"}
REPLICAS = 3
# The Ceph release Rook v1.20.6's cluster chart defaults to.
CEPH_IMAGE = "quay.io/ceph/ceph:v20.2.4"
PROVISIONER = {"gcp": "pd.csi.storage.gke.io", "aws": "ebs.csi.aws.com",
               "azure": "disk.csi.azure.com"}


def _class(name: str, provisioner: str, parameters: dict[str, str], default: bool,
           expand: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {"provisioner": provisioner, "parameters": parameters,
                            "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer"}
    if expand:
        body["allowVolumeExpansion"] = True
    return obj("storage.k8s.io/v1", "StorageClass", name, labels=MANAGED_BY,
               annotations=DEFAULT_ANNOTATION if default else None, **body)


def _provider_classes(plan: Plan, cluster: Cluster) -> list[dict[str, Any]]:
    provider = plan.metadata.provider
    name = str(plan.decision("storage").parameters["defaultClass"])
    key = naming.disk_encryption_key(plan, cluster.environment)
    if provider == "gcp":
        params = {"type": "pd-balanced",
                  # The customer-managed key the cluster layer creates in the cluster's region.
                  "disk-encryption-kms-key":
                      f"projects/{outputs.var('GCP_PROJECT_ID')}/locations/{cluster.region}/"
                      f"keyRings/{key}/cryptoKeys/{key}"}
    elif provider == "aws":
        params = {"type": "gp3", "encrypted": "true", "kmsKeyId": f"alias/{key}"}
    else:
        params = {"skuName": "Premium_ZRS",
                  "diskEncryptionSetID":
                      f"/subscriptions/{outputs.var('AZURE_SUBSCRIPTION_ID')}/resourceGroups/"
                      f"{naming.resource_group(plan, cluster.environment)}/providers/"
                      f"Microsoft.Compute/diskEncryptionSets/{key}"}
    return [_class(name, PROVISIONER[provider], params, True)]


def _csi_secrets(kind: str) -> dict[str, str]:
    prefix = "csi.storage.k8s.io"
    return {f"{prefix}/provisioner-secret-name": f"rook-csi-{kind}-provisioner",
            f"{prefix}/provisioner-secret-namespace": ROOK,
            f"{prefix}/controller-expand-secret-name": f"rook-csi-{kind}-provisioner",
            f"{prefix}/controller-expand-secret-namespace": ROOK,
            f"{prefix}/node-stage-secret-name": f"rook-csi-{kind}-node",
            f"{prefix}/node-stage-secret-namespace": ROOK}


def _replicated() -> dict[str, Any]:
    return {"failureDomain": "host", "replicated": {"size": REPLICAS}}


def _rook(plan: Plan, cluster: Cluster) -> Addon:
    shared = bool((plan.inputs.get("workloads") or {}).get("sharedFilesystem"))
    default = str(plan.decision("storage").parameters["defaultClass"])
    api = "ceph.rook.io/v1"
    objects: list[dict[str, Any]] = [
        obj(api, "CephCluster", CLUSTER, ROOK, labels=MANAGED_BY, spec={
            "cephVersion": {"image": CEPH_IMAGE},
            "dataDirHostPath": "/var/lib/rook",
            "mon": {"count": 3, "allowMultiplePerNode": False},
            "mgr": {"count": 2, "allowMultiplePerNode": False,
                    "modules": [{"name": "rook", "enabled": True}]},
            "dashboard": {"enabled": False},
            # msgr2 encryption between daemons and clients.
            "network": {"connections": {"encryption": {"enabled": True}}},
            "crashCollector": {"disable": False},
            # OSDs on every node's raw disks, dm-crypt encrypted.
            "storage": {"useAllNodes": True, "useAllDevices": True,
                        "config": {"encryptedDevice": "true"}},
            "priorityClassNames": {"mon": "system-node-critical",
                                   "osd": "system-node-critical",
                                   "mgr": "system-cluster-critical"},
            "disruptionManagement": {"managePodBudgets": True},
        }),
        obj(api, "CephBlockPool", BLOCK_POOL, ROOK, labels=MANAGED_BY, spec=_replicated()),
        _class(default, f"{ROOK}.rbd.csi.ceph.com",
               {"clusterID": ROOK, "pool": BLOCK_POOL, "imageFormat": "2",
                "imageFeatures": "layering", "csi.storage.k8s.io/fstype": "ext4",
                **_csi_secrets("rbd")}, True),
        obj(api, "CephObjectStore", OBJECT_STORE, ROOK, labels=MANAGED_BY, spec={
            "metadataPool": _replicated(), "dataPool": _replicated(),
            "preservePoolsOnDelete": True,
            "gateway": {"port": 80, "instances": 2,
                        "priorityClassName": PRIORITY_CRITICAL}}),
        # Object bucket claims (Velero, Loki, Tempo, Thanos, Harbor) are served from RGW.
        _class(telemetry.ROOK_BUCKET_CLASS, f"{ROOK}.ceph.rook.io/bucket",
               {"objectStoreName": OBJECT_STORE, "objectStoreNamespace": ROOK}, False,
               expand=False),
    ]
    if shared:
        objects += [
            obj(api, "CephFilesystem", FILESYSTEM, ROOK, labels=MANAGED_BY, spec={
                "metadataPool": {"replicated": {"size": REPLICAS}},
                "dataPools": [{"name": "data0", **_replicated()}],
                "preserveFilesystemOnDelete": True,
                "metadataServer": {"activeCount": 1, "activeStandby": True,
                                   "priorityClassName": PRIORITY_CRITICAL}}),
            _class(FILE_CLASS, f"{ROOK}.cephfs.csi.ceph.com",
                   {"clusterID": ROOK, "fsName": FILESYSTEM, "pool": f"{FILESYSTEM}-data0",
                    **_csi_secrets("cephfs")}, False),
        ]
    values = {"crds": {"enabled": True}, "priorityClassName": PRIORITY_CRITICAL,
              "enableDiscoveryDaemon": False}
    return Addon(name=ROOK, namespace=ROOK, phase="core", chart=ROOK, values=values,
                 objects=tuple(objects), pod_security="privileged",
                 pod_security_reason="Ceph OSDs use the nodes' raw disks and the CSI node "
                                     "plugins mount volumes on the host")


def addons(plan: Plan, cluster: Cluster) -> list[Addon]:
    if plan.choice("storage") == "rook-ceph":
        return [_rook(plan, cluster)]
    # Provider CSI drivers are managed add-ons of the cluster (Terraform); only the classes here.
    return [Addon(name="storage-classes", namespace="kube-system",
                  phase="core", objects=tuple(_provider_classes(plan, cluster)),
                  objects_phase="core")]
