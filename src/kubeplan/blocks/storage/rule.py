"""storage: the cloud's CSI drivers in the cloud; Rook-managed Ceph where there is no cloud.

The trade-off: a cloud's block-storage CSI driver gives replicated, snapshot-able disks with
nothing to run, but only in that cloud. On-prem there is no such service; Ceph turns local
disks into replicated block (RBD), file (CephFS) and S3 object (RGW) storage, and Rook runs
Ceph as a Kubernetes operator, at the price of a storage system the team must understand
(placement, recovery, disk failures). Rook also runs in a cloud, on top of provider disks, but
there it duplicates what the provider already replicates.

Every class binds a volume only once its pod is scheduled (WaitForFirstConsumer), so a zonal
disk lands in the zone of its pod, and every class encrypts at rest with a key the platform
controls.
"""

from __future__ import annotations

from collections.abc import Mapping

from kubeplan.decide import Choice, Conflict, Context, Outcome, Rule
from kubeplan.model import Scalar

# The default StorageClass kubeplan creates (its own, because the provider defaults do not use
# a customer-managed key).
DEFAULT_CLASS = {
    "gcp": "pd-balanced-cmek",
    "aws": "gp3-cmk",
    "azure": "premium-ssd-cmk",
}
CEPH_CLASS = "ceph-block"
BLOCK = {
    "gcp": "Compute Engine Persistent Disk CSI driver (pd-balanced, encrypted with a Cloud KMS "
           "customer-managed key)",
    "aws": "Amazon EBS CSI driver (gp3, encrypted with an AWS KMS customer-managed key)",
    "azure": "Azure Disk CSI driver (Premium SSD, encrypted with a Key Vault key through a "
             "Disk Encryption Set)",
}
FILE_PRODUCT = {"gcp": "Filestore", "aws": "Amazon EFS", "azure": "Azure Files"}
FILE = {
    "gcp": "Filestore CSI driver (ReadWriteMany)",
    "aws": "Amazon EFS CSI driver (ReadWriteMany)",
    "azure": "Azure Files CSI driver (ReadWriteMany, Premium)",
}


class Storage(Rule):
    block = "storage"
    title = "Persistent storage"
    choices = (
        Choice("provider-csi",
               "The cloud's CSI drivers for block disks (and shared files when needed), "
               "encrypted with a customer-managed key.",
               "Nothing to operate and replicated by the provider; tied to that cloud, and "
               "zonal disks cannot follow a pod to another zone."),
        Choice("rook-ceph",
               "Ceph run by the Rook operator: RBD block pool, CephFS for shared files and an "
               "RGW object store.",
               "Block, file and S3 storage anywhere, including on-prem; a distributed storage "
               "system to run: disk failures, rebalancing and upgrades are the team's, and it "
               "needs at least three nodes with raw disks."),
    )

    def decide(self, ctx: Context) -> Outcome:
        provider = ctx.provider
        shared: bool = ctx.get("workloads.sharedFilesystem")
        if provider == "onprem":
            return Outcome(
                "rook-ceph",
                "spec.provider is onprem, where no storage service exists: Rook runs Ceph on the "
                "nodes' disks for block volumes"
                + (", CephFS for spec.workloads.sharedFilesystem" if shared else "")
                + " and an RGW object store for backups, logs and metrics blocks.",
                self.parameters("rook-ceph", ctx))
        return Outcome(
            "provider-csi",
            f"spec.provider is {provider}, whose CSI driver gives replicated, encrypted disks "
            "with nothing to run"
            + (f"; spec.workloads.sharedFilesystem is true, so {FILE_PRODUCT[provider]} adds "
               "shared volumes" if shared else "")
            + ".",
            self.parameters("provider-csi", ctx))

    def parameters(self, choice: str, ctx: Context) -> Mapping[str, Scalar]:
        default = CEPH_CLASS
        if choice == "provider-csi":
            default = DEFAULT_CLASS.get(ctx.provider, CEPH_CLASS)
        return {"defaultClass": default,
                "volumeBindingMode": "WaitForFirstConsumer",
                "encrypted": True}

    def components(self, choice: str, ctx: Context) -> tuple[str, ...]:
        provider = ctx.provider
        shared: bool = ctx.get("workloads.sharedFilesystem")
        if choice == "provider-csi":
            return (BLOCK[provider], *((FILE[provider],) if shared else ()))
        where = ("on the nodes' raw disks" if provider == "onprem"
                 else "on provider block volumes (OSDs on PVCs)")
        return ("Rook operator",
                f"Ceph cluster {where}, OSDs encrypted with dm-crypt",
                "CephBlockPool (RBD, three replicas) behind the default StorageClass",
                *(("CephFilesystem (CephFS, ReadWriteMany)",) if shared else ()),
                "CephObjectStore (RGW, S3 API) for backups, logs and metrics blocks")

    def conflict(self, choice: str, ctx: Context) -> Conflict | None:
        if choice == "provider-csi" and ctx.provider == "onprem":
            return Conflict("on-prem has no provider storage or CSI driver", ("spec", "provider"),
                            "use storage: rook-ceph on-prem, or a cloud provider")
        return None


RULE = Storage()
