"""etcd snapshots of self-managed control planes, as a systemd timer on each control-plane node.

A timer rather than a CronJob: the snapshot must still run when the cluster it protects is
broken (scheduler down, API server failing), which is exactly when it is needed. Each run takes
a snapshot with etcdctl, encrypts it to the operators' age recipients (public keys only: a node
can write backups but never read them), uploads it to the on-prem object store bucket
`naming.bucket(..., "etcd")` under `<cluster>/<node>/`, deletes local copies and prunes objects
older than the backup TTL.
"""

from __future__ import annotations

from kubeplan.render import naming
from kubeplan.render.terraform import onprem
from kubeplan.render.terraform.model import ONPREM, Contribution, TerraformEnv

WORKDIR = "/var/lib/etcd-backup"
ETCD_PKI = "/etc/kubernetes/pki"


def ttl_days(ttl: str) -> int:
    """Velero's `720h0m0s` in whole days (rounded up)."""
    hours = int(ttl.split("h", 1)[0])
    return -(-hours // 24)


def service(bucket: str, cluster: str, keep_days: int) -> str:
    snapshot = f"{WORKDIR}/snapshot.db"
    target = f"objectstore:{bucket}/{cluster}/%H"
    return onprem.systemd_unit([
        ("Unit", [("Description", f"etcd snapshot of {cluster}, encrypted and shipped to the "
                                  "object store"),
                  ("Wants", "network-online.target"), ("After", "network-online.target")]),
        ("Service", [
            ("Type", "oneshot"),
            ("EnvironmentFile", f"{onprem.OPERATOR_FILES}/etcd-backup.env"),
            ("StateDirectory", "etcd-backup"),
            ("StateDirectoryMode", "0700"),
            ("UMask", "0077"),
            ("ExecStart", "/usr/bin/etcdctl --endpoints=https://127.0.0.1:2379 "
                          f"--cacert={ETCD_PKI}/etcd/ca.crt "
                          f"--cert={ETCD_PKI}/apiserver-etcd-client.crt "
                          f"--key={ETCD_PKI}/apiserver-etcd-client.key snapshot save {snapshot}"),
            ("ExecStart", "/usr/bin/age --encrypt --recipients-file "
                          f"{onprem.OPERATOR_FILES}/etcd-backup.recipients "
                          f"--output {snapshot}.age {snapshot}"),
            ("ExecStart", "/bin/sh -c 'exec /usr/bin/rclone copyto "
                          f"{snapshot}.age {target}/$$(date -u +%%Y%%m%%dT%%H%%M%%SZ).db.age'"),
            ("ExecStart", f"/usr/bin/rclone delete --min-age {keep_days}d {target}"),
            ("ExecStopPost", f"/bin/rm -f {snapshot} {snapshot}.age"),
            ("ProtectSystem", "strict"),
            ("ProtectHome", "yes"),
            ("PrivateTmp", "yes"),
            ("NoNewPrivileges", "yes"),
            ("Nice", "10"),
            ("IOSchedulingClass", "idle"),
        ]),
    ])


def timer(cluster: str, calendar: str) -> str:
    return onprem.systemd_unit([
        ("Unit", [("Description", f"Schedule of the etcd snapshots of {cluster}")]),
        ("Timer", [("OnCalendar", calendar), ("Persistent", "true"),
                   ("RandomizedDelaySec", "60")]),
        ("Install", [("WantedBy", "timers.target")]),
    ])


def contribute(env: TerraformEnv) -> list[Contribution]:
    if env.choice("backup") != "velero-etcd" or env.provider != "onprem":
        return []
    bucket = naming.bucket(env.plan, env.environment, "etcd")
    calendar = onprem.cron_to_calendar(str(env.param("backup", "etcdSnapshotSchedule")))
    keep = ttl_days(str(env.param("backup", "ttl")))
    files: dict[str, str] = {}
    for cluster in env.clusters:
        folder = f"{env.environment}/{cluster.name}"
        files[f"{folder}/etcd-snapshot.service"] = service(bucket, cluster.name, keep)
        files[f"{folder}/etcd-snapshot.timer"] = timer(cluster.name, calendar)
    return [Contribution(ONPREM, "backup", files=files)]
