"""The storage layer's shared pattern: a private bucket for an in-cluster component and the
cloud identity that component uses to reach it (backups, logs, traces, metric blocks).

Bucket names come from `naming.bucket()` and identity names from `naming.identity()`, the
functions the GitOps tree uses too; the `gitops` values carry what only exists after apply
(service-account e-mails, role ARNs, client IDs).
"""

from __future__ import annotations

from dataclasses import dataclass

from kubeplan.render import naming
from kubeplan.render.gitops import outputs as outputs_module
from kubeplan.render.terraform import aws, azure, gcp
from kubeplan.render.terraform.hcl import Block, Expr, Value
from kubeplan.render.terraform.model import Contribution, Output, TerraformEnv, slug

STORAGE = "storage"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Buckets that the component prunes itself expire this many days after its retention, so a
# lifecycle rule never races the component (compactors rewrite blocks near the boundary).
EXPIRY_MARGIN_DAYS = 7


def retention_days(text: str) -> int:
    """Whole days (rounded up) in a retention such as `15d`, `2w`, `36h`."""
    seconds = int(text[:-1]) * _UNITS[text[-1]]
    return -(-seconds // 86400)


def expiry(retention: str) -> int:
    return retention_days(retention) + EXPIRY_MARGIN_DAYS


@dataclass(frozen=True)
class Store:
    """A bucket for `purpose` used by `component`.

    `expire_days` deletes objects older than that (None: the component deletes them itself),
    `versioned` keeps overwritten and deleted objects for a week (backups), `replicate` copies the
    bucket to the environment's second region (backups that must survive a regional outage).
    """

    purpose: str
    component: str
    expire_days: int | None
    versioned: bool
    replicate: bool = False
    why_unversioned: str = ""


def stores(env: TerraformEnv) -> dict[str, Store]:
    """The environment's buckets, by purpose, from the decisions (one definition: the Azure
    storage account's lifecycle policy covers them all at once)."""
    out = {"velero": Store("velero", "velero", expire_days=None, versioned=True,
                           replicate=True)}
    if env.choice("logging") == "loki":
        out["loki"] = Store(
            "loki", "loki", expire_days=expiry(str(env.param("logging", "retention"))),
            versioned=False,
            why_unversioned="Loki writes chunks once and its compactor expires them; object "
                            "versions would only keep deleted logs past their retention")
    if env.choice("tracing") == "tempo":
        out["tempo"] = Store(
            "tempo", "tempo", expire_days=expiry(str(env.param("tracing", "retention"))),
            versioned=False,
            why_unversioned="Tempo writes trace blocks once and its compactor expires them; "
                            "object versions would only keep deleted traces past their retention")
    if env.choice("metrics") == "prometheus-thanos":
        out["thanos"] = Store(
            "thanos", "thanos", expire_days=expiry(str(env.param("metrics", "retention"))),
            versioned=False,
            why_unversioned="Thanos writes immutable blocks and its compactor deletes them; "
                            "object versions would only keep deleted blocks past the retention")
    return out


def replica_region(env: TerraformEnv) -> str | None:
    return env.regions[1] if len(env.regions) > 1 else None


def contribution(env: TerraformEnv, store: Store, file: str) -> Contribution:
    name = naming.bucket(env.plan, env.environment, store.purpose)
    replica = replica_region(env) if store.replicate else None
    replica_name = (naming.bucket(env.plan, env.environment, store.purpose, replica)
                    if replica else None)
    blocks: list[Block]
    bucket_out: Expr | str
    identity_out: Expr
    extra: dict[str, Expr | str] = {}
    if env.provider == "gcp":
        resource = slug(store.purpose)
        blocks = gcp.bucket(env, resource, name, env.primary_region,
                            expire_days=store.expire_days, versioned=store.versioned,
                            why_unversioned=store.why_unversioned)
        if replica and replica_name:
            blocks += gcp.replica(env, resource, replica_name, replica)
        blocks += gcp.workload_identity(env, store.component)
        blocks.append(gcp.bucket_access(store.component, resource))
        bucket_out = gcp.bucket_name(resource)
        identity_out = gcp.identity_email(store.component)
    elif env.provider == "aws":
        blocks, bucket_out, identity_out = aws.component_bucket(
            env, store.purpose, store.component, name=name, replica=replica,
            replica_name=replica_name, expire_days=store.expire_days, versioned=store.versioned)
    else:
        rules = {s.purpose: (naming.bucket(env.plan, env.environment, s.purpose), s.expire_days,
                             s.versioned) for s in stores(env).values()}
        blocks, bucket_out, identity_out, extra = azure.component_container(
            env, store.purpose, store.component, name, rules)
    key = store.component
    outputs = [
        Output(f"{slug(store.purpose)}_bucket", bucket_out,
               f"Bucket of {naming.BUCKET_PURPOSES[store.purpose]}."),
        Output(f"{slug(store.component)}_identity", identity_out,
               f"Cloud identity of {store.component} (workload identity)."),
    ]
    gitops: dict[str, Expr | str] = {f"{key}.bucket": bucket_out, f"{key}.identity": identity_out,
                                     **{f"{key}.{k}": v for k, v in extra.items()}}
    if replica_name:
        outputs.append(Output(f"{slug(store.purpose)}_replica_bucket", replica_name,
                              f"Copy of the {store.purpose} bucket in {replica}, for restores "
                              "after a regional outage."))
        gitops[f"{key}.replica-bucket"] = replica_name
    platform: dict[str, Value] = {}
    if env.provider == "azure":
        platform[outputs_module.client_id_variable(store.component)] = identity_out
    return Contribution(STORAGE, file, tuple(blocks), outputs=tuple(outputs),
                        gitops=gitops, platform=platform,
                        gcp_apis=frozenset({"storage.googleapis.com", "cloudkms.googleapis.com"})
                        if env.provider == "gcp" else frozenset())
