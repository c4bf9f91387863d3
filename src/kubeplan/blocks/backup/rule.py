"""backup: Velero for workloads and volumes; etcd snapshots too when the control plane is ours.

The trade-off: Velero backs up Kubernetes objects and volume snapshots on a schedule to object
storage and restores them into the same or a new cluster, which covers workloads on any
cluster. On managed clusters the provider backs up etcd and there is no access to it; on
self-managed clusters (on-prem) etcd is ours, and only an etcd snapshot restores the control
plane itself (certificates, leases, every object at one instant), so it is taken as well, by one
CronJob per cluster on a control-plane node.

The schedule is derived from spec.availability.rpo (the period between two backups is at most
the RPO) and the kept history from spec.observability.retention (never below a week, so a
problem found after a long weekend can still be rolled back).
"""

from __future__ import annotations

from collections.abc import Mapping

from kubeplan.decide import Choice, Conflict, Context, Outcome, Rule
from kubeplan.model import Scalar
from kubeplan.spec import format_duration, parse_duration

MINUTE = 60
HOUR = 3600
DAY = 86_400
# Backup periods (seconds) that divide an hour or a day evenly, so cron can express them;
# the rule takes the longest one not above the RPO. Below five minutes a full Velero backup
# (API listing and volume snapshots) does not finish reliably before the next one starts.
PERIODS = (5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 3 * HOUR,
           4 * HOUR, 6 * HOUR, 8 * HOUR, 12 * HOUR, DAY)
# Daily backups run at this hour (UTC): usually the quietest hour for the workloads.
DAILY_HOUR = 2
# Backups are kept at least this long, whatever the retention says.
MIN_TTL_SECONDS = 7 * DAY
# etcd snapshots are small and take seconds, so they run at least this often even when the RPO
# would allow daily ones.
ETCD_MAX_PERIOD = 6 * HOUR

PLUGIN = {
    "gcp": "Velero with velero-plugin-for-gcp",
    "aws": "Velero with velero-plugin-for-aws",
    "azure": "Velero with velero-plugin-for-microsoft-azure",
    "onprem": "Velero with velero-plugin-for-aws against the Ceph RGW S3 endpoint",
}
BUCKET = {
    "gcp": "Google Cloud Storage bucket (backup storage location)",
    "aws": "Amazon S3 bucket (backup storage location)",
    "azure": "Azure Blob Storage container (backup storage location)",
    "onprem": "Ceph RGW bucket (Rook CephObjectStore) as the backup storage location",
}
SNAPSHOTS = {
    "gcp": "Compute Engine persistent disk snapshots through CSI (Velero EnableCSI)",
    "aws": "Amazon EBS snapshots through CSI (Velero EnableCSI)",
    "azure": "Azure Disk snapshots through CSI (Velero EnableCSI)",
    "onprem": "Ceph RBD snapshots through CSI (Velero EnableCSI)",
}


def backup_period(rpo_seconds: int) -> int:
    """The longest cron-friendly period not above the RPO (five minutes at the shortest)."""
    fitting = [p for p in PERIODS if p <= rpo_seconds]
    return fitting[-1] if fitting else PERIODS[0]


def cron(period: int) -> str:
    """A cron expression that runs every `period` seconds (one of PERIODS)."""
    if period >= DAY:
        return f"0 {DAILY_HOUR} * * *"
    if period == HOUR:
        return "0 * * * *"
    if period > HOUR:
        return f"0 */{period // HOUR} * * *"
    return f"*/{period // MINUTE} * * * *"


def velero_ttl(seconds: int) -> str:
    """Velero's Go duration form: 720h0m0s."""
    return f"{seconds // HOUR}h{seconds % HOUR // MINUTE}m{seconds % MINUTE}s"


class Backup(Rule):
    block = "backup"
    title = "Backup and restore"
    needs = ("cluster",)
    choices = (
        Choice("velero",
               "Velero backs up Kubernetes objects and volume snapshots to object storage on a "
               "schedule.",
               "One tool for backup, restore and migration between clusters; restores "
               "workloads, not the control plane, which on managed clusters the provider "
               "backs up."),
        Choice("velero-etcd",
               "Velero plus scheduled etcd snapshots shipped to the same object storage.",
               "Also restores a lost control plane to one consistent instant; etcd snapshots "
               "must be encrypted, shipped off the nodes and their restore rehearsed."),
    )

    def decide(self, ctx: Context) -> Outcome:
        cluster = ctx.choice("cluster")
        rpo: str = ctx.get("availability.rpo")
        retention: str = ctx.get("observability.retention")
        choice = "velero-etcd" if cluster == "self-managed" else "velero"
        params = self.parameters(choice, ctx)
        keep = (f"kept {format_duration(max(parse_duration(retention), MIN_TTL_SECONDS))} "
                f"(spec.observability.retention {retention}, at least "
                f"{MIN_TTL_SECONDS // DAY} days)")
        if choice == "velero-etcd":
            return Outcome(
                "velero-etcd",
                f"{self._why_cluster(ctx)}, so etcd is ours to back up: etcd snapshots run at "
                f"cron {params['etcdSnapshotSchedule']!r} next to Velero backups at cron "
                f"{params['schedule']!r} for spec.availability.rpo {rpo}, {keep}.", params)
        return Outcome(
            "velero",
            f"{self._why_cluster(ctx)}, so the provider backs up etcd and Velero covers the "
            f"workloads: backups run at cron {params['schedule']!r} for spec.availability.rpo "
            f"{rpo}, {keep}.", params)

    def _why_cluster(self, ctx: Context) -> str:
        decision = ctx.decision("cluster")
        if decision.overridden:
            return f"the clusters are {decision.choice} (spec.overrides.cluster)"
        return (f"the clusters are {decision.choice} (spec.provider {ctx.provider}, "
                f"spec.operations.kubernetes {ctx.peek('operations.kubernetes')})")

    def parameters(self, choice: str, ctx: Context) -> Mapping[str, Scalar]:
        rpo = parse_duration(ctx.get("availability.rpo"))
        retention = parse_duration(ctx.get("observability.retention"))
        period = backup_period(rpo)
        params: dict[str, Scalar] = {
            "schedule": cron(period),
            "ttl": velero_ttl(max(retention, MIN_TTL_SECONDS)),
            "snapshotVolumes": bool(ctx.get("workloads.stateful")),
        }
        if choice == "velero-etcd":
            params["etcdSnapshotSchedule"] = cron(backup_period(min(rpo, ETCD_MAX_PERIOD)))
        return params

    def warnings(self, choice: str, ctx: Context) -> tuple[str, ...]:
        rpo = parse_duration(ctx.get("availability.rpo"))
        out: list[str] = []
        if rpo < PERIODS[0]:
            out.append(
                f"spec.availability.rpo {format_duration(rpo)} is shorter than scheduled "
                f"backups can run (every {format_duration(PERIODS[0])}); data that must lose "
                "less needs replication in the database itself")
        if choice == "velero" and ctx.choice("cluster") == "self-managed":
            out.append(
                "backup: velero on self-managed clusters takes no etcd snapshots; a lost "
                "control plane is then rebuilt and refilled from Velero backups, which is "
                "slower than an etcd restore")
        return tuple(out)

    def components(self, choice: str, ctx: Context) -> tuple[str, ...]:
        provider = ctx.provider
        out = [PLUGIN[provider], BUCKET[provider]]
        if ctx.get("workloads.stateful"):
            out.append(SNAPSHOTS[provider])
        if choice == "velero-etcd":
            out.append("etcd snapshot CronJob on a control-plane node (etcdctl snapshot save, "
                       "rclone crypt client-side encryption, uploaded to the etcd bucket)")
        return tuple(out)

    def conflict(self, choice: str, ctx: Context) -> Conflict | None:
        if choice == "velero-etcd" and ctx.choice("cluster") == "managed":
            # Clusters are managed exactly when the provider is a cloud.
            return Conflict("managed clusters give no access to etcd, so there is nothing to "
                            "snapshot (the provider backs it up)", ("spec", "provider"),
                            "use backup: velero on managed clusters; etcd snapshots come with "
                            "the self-managed clusters of provider onprem")
        return None


RULE = Backup()
