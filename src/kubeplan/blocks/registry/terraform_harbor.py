"""registry -> Terraform `harbor` layer: Harbor configured as the platform's production registry.

The GitOps tree runs Harbor; what its chart cannot express lives in Harbor's database and is set
here through its API (goharbor/harbor provider), once the first sync has Harbor answering:

- projects: `platform` (upstream images the platform mirrors, vets and signs), one per
  application team, and, when the posture admits only images from the platform registry,
  proxy-cache projects for the public registries of render/mirrors.py, which the
  application namespaces' images are rewritten to;
- per project: a storage quota, scan on push, `prevent vulnerable images from running` at the
  posture's severity, cosign signature enforcement where the posture asks for signed images,
  tag immutability (cosign's `sha256-*` tags excepted), a retention policy (the last releases,
  what is still pulled, recent previews; untagged artifacts go) and a webhook to the alert
  channel;
- robot accounts: per project a CI robot with push and pull on that project only, per
  environment a cluster robot with pull only; with Vault as the secret store their secrets are
  generated for one apply (write-only: never in state or outputs) and written to Vault, where
  the pipelines' and clusters' credentials are read from;
- system settings: admin-only project creation, a default quota, Trivy as the scanner with a
  daily rescan, garbage collection and audit-log purging;
- replication: with a second region in the environment (the registry decision's
  `replicateTo`), the replica Harbor gets the same projects and policies, and the primary pushes
  every platform and team project to it on each push (signatures included).

The registry is shared by every environment (the pipeline pushes once and promotes digests), so
only the environment that owns it, production, has this layer; Harbor's hostname per region is
`naming.harbor_host`, the name the GitOps tree's route and the DNS records use.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from kubeplan.model import Plan
from kubeplan.render import mirrors, naming
from kubeplan.render.delivery import PREVIEW_TAG_PREFIX, SCAN_SEVERITY
from kubeplan.render.gitops import telemetry
from kubeplan.render.terraform import roots
from kubeplan.render.terraform.hcl import Block, Value, block, body, call, ref, var
from kubeplan.render.terraform.model import (
    Contribution,
    Output,
    TerraformEnv,
    Validation,
    Variable,
    slug,
)
from kubeplan.render.terraform.objectstore import retention_days

LAYER = "harbor"
PLATFORM_PROJECT = "platform"
# The KV v2 mount the secrets block's Vault ClusterSecretStore reads (blocks/secrets/gitops.py).
VAULT_KV_MOUNT = "platform"
# Image storage the cost estimate assumes per service (decide/cost.py: 0.3 GiB, 30 tags kept);
# a team's quota is its share of that, rounded up to 10 GiB.
IMAGE_GIB = 0.3
TAGS_KEPT = 30
QUOTA_STEP_GIB = 10
# Mirrored add-on images (a few versions of each) and each upstream's pull-through cache.
PLATFORM_QUOTA_GIB = 50
PROXY_QUOTA_GIB = 50
# Quota of any other project an administrator creates by hand.
DEFAULT_QUOTA_GIB = 10
# Retention, per repository: the last releases (rollback and promotion lag), anything pulled
# recently (it is running somewhere), previews of open pull requests. Together about the 30
# tags the quota assumes.
RELEASES_KEPT = 20
PULLED_DAYS = 30
PREVIEW_DAYS = 14
RETENTION_SCHEDULE = "0 0 2 * * *"  # Harbor's cron has seconds: daily at 02:00
GC_SCHEDULE = "0 0 3 * * 0"  # weekly, Sunday 03:00, after that night's retention run
SCAN_SCHEDULE = "0 0 1 * * *"  # daily rescan of every artifact for newly published CVEs
AUDIT_PURGE_SCHEDULE = "0 0 4 * * *"
AUDIT_EVENT_TYPES = "create_artifact,delete_artifact,pull_artifact,other"
# Events worth a message in the alert channel (pushes and successful scans are not).
WEBHOOK_EVENTS = ("QUOTA_EXCEED", "QUOTA_WARNING", "SCANNING_FAILED")
# Posture -> lowest severity that keeps an image from being pulled. Hardened and regulated
# postures use the pipeline's gate (render/delivery SCAN_SEVERITY), so the registry refuses what
# the pipeline would have refused.
_PIPELINE_SEVERITY = max(SCAN_SEVERITY.lower().split(","),
                         key=("critical", "high", "medium", "low").index)
SEVERITY = {"baseline": "critical", "hardened": _PIPELINE_SEVERITY,
            "regulated": _PIPELINE_SEVERITY}
# Cosign's signature and attestation tags (`sha256-<digest>.sig`) are rewritten on re-signing.
COSIGN_TAGS = "sha256-*"
SECRET_LENGTH = 40
WEBHOOK_URL = "alert_webhook_url"


ROBOT_SECRET_VERSION = Variable(
    "robot_secret_version", "number",
    "Generation of the robot accounts' secrets: increase it to rotate every secret the layer "
    "writes to the secret store (also after an apply that failed between Harbor and the store).",
    default=1,
    validations=(Validation("var.robot_secret_version >= 1 && "
                            "floor(var.robot_secret_version) == var.robot_secret_version",
                            "robot_secret_version must be a whole number of at least 1."),))


# --- what the plan asks for ------------------------------------------------------------------


def owner(plan: Plan) -> str:
    """The environment whose layer configures Harbor: the registry every environment pulls
    from is production's."""
    return plan.topology.production


def teams(plan: Plan) -> tuple[str, ...]:
    """Application teams with a project. The spec names no teams: the application teams are
    the namespace the GitOps baseline prepares for them (`naming.APP_NAMESPACE`)."""
    return (naming.APP_NAMESPACE,)


def signed_only(plan: Plan) -> bool:
    """The policy decision admits only images signed by the platform's CI (hardened and
    regulated postures), so Harbor refuses to serve unsigned ones too."""
    return bool(plan.decision("policy").parameters.get("verifyImages"))


def severity(plan: Plan) -> str:
    posture = str((plan.inputs.get("security") or {}).get("posture", "hardened"))
    return SEVERITY[posture]


def team_quota_gib(plan: Plan) -> int:
    services = int((plan.inputs.get("workloads") or {}).get("services", 1))
    share = services * IMAGE_GIB * TAGS_KEPT / len(teams(plan))
    return max(QUOTA_STEP_GIB, math.ceil(share / QUOTA_STEP_GIB) * QUOTA_STEP_GIB)


def secret_store(plan: Plan) -> str:
    """The External Secrets provider of the secret store (vault, gcpsm, aws, azurekv)."""
    return str(plan.decision("secrets").parameters.get("secretStoreProvider", ""))


@dataclass(frozen=True)
class Receiver:
    """The alert receiver Harbor's webhooks post to."""

    notify_type: str  # Harbor's: http or slack
    label: str  # as the spec names it
    item: str  # its secret-store item, the one Alertmanager reads (blocks/metrics)


def alert_receiver(plan: Plan) -> Receiver | None:
    """A generic webhook receiver first (it takes any JSON payload), else Slack (Harbor formats
    Slack messages). PagerDuty, Opsgenie, Teams and e-mail take no Harbor payload."""
    receivers = (plan.inputs.get("observability") or {}).get("alertReceivers") or []
    for receiver in receivers:
        if receiver.get("type") == "webhook":
            name = str(receiver["name"])
            return Receiver("http", f"webhook {name}", f"alertmanager-webhook-{name}")
    for receiver in receivers:
        if receiver.get("type") == "slack":
            channel = str(receiver["channel"])
            item = re.sub(r"[^a-z0-9]+", "-", channel.lower()).strip("-")
            return Receiver("slack", f"Slack {channel}", f"alertmanager-slack-{item}")
    return None


@dataclass(frozen=True)
class Project:
    name: str
    quota_gib: int
    upstream: mirrors.Upstream | None = None  # a proxy cache of that registry

    @property
    def replicated(self) -> bool:
        """Proxy caches fill themselves from upstream in each Harbor; the rest is copied."""
        return self.upstream is None


def projects(plan: Plan) -> tuple[Project, ...]:
    """`platform`, one project per team and, where only the platform registry may be pulled
    from, the proxy caches."""
    out = [Project(PLATFORM_PROJECT, PLATFORM_QUOTA_GIB)]
    out += [Project(team, team_quota_gib(plan)) for team in teams(plan)]
    if mirrors.enabled(plan):
        out += [Project(u.name, PROXY_QUOTA_GIB, upstream=u) for u in mirrors.UPSTREAMS]
    return tuple(out)


# --- rendering --------------------------------------------------------------------------------


def _name(*parts: str) -> str:
    return "_".join(slug(p) for p in parts)


def _resource(env: TerraformEnv, region: str, type_: str, label: str, /,
              **attributes: Value | Block | Sequence[Block]) -> Block:
    """A resource of the Harbor in `region` (the replica's through its provider alias)."""
    provider = roots.harbor_provider(env, region)
    head: dict[str, Value | Block | Sequence[Block]] = {"provider": provider} if provider else {}
    return Block("resource", (type_, label), body({**head, **attributes}))


def _access(*actions: str, resource: str = "repository") -> list[Block]:
    return [block("access", action=a, resource=resource) for a in actions]


def _project_blocks(env: TerraformEnv, region: str, project: Project) -> list[Block]:
    plan = env.plan
    key = _name(region, project.name)
    settings: dict[str, Value | Block] = {
        "name": project.name,
        "public": False,
        "storage_quota": project.quota_gib,
        "vulnerability_scanning": True,
        "deployment_security": severity(plan),
        # Proxy caches hold upstream images, which the platform's CI never signs.
        "enable_content_trust_cosign": signed_only(plan) and project.upstream is None,
        "force_destroy": False,
    }
    blocks: list[Block] = []
    if project.upstream:
        upstream = project.upstream
        blocks.append(_resource(
            env, region, "harbor_registry", key, name=upstream.host,
            provider_name=upstream.harbor_provider, endpoint_url=upstream.harbor_endpoint,
            description=f"{upstream.host}, pulled through project {project.name}",
            insecure=False))
        settings["registry_id"] = ref("harbor_registry", key, "registry_id")
        # Keep serving what is cached when upstream deletes it (Harbor 2.15.1+).
        settings["proxy_cache_local_on_not_found"] = True
    blocks.append(_resource(env, region, "harbor_project", key, **settings))
    project_id = ref("harbor_project", key, "id")
    if project.upstream is None:
        blocks.append(_resource(
            env, region, "harbor_immutable_tag_rule", key, project_id=project_id,
            repo_matching="**", tag_excluding=COSIGN_TAGS))
        blocks.append(_resource(
            env, region, "harbor_retention_policy", key, scope=project_id,
            schedule=RETENTION_SCHEDULE, rule=_retention_rules(plan)))
    receiver = alert_receiver(plan)
    if receiver:
        blocks.append(_resource(
            env, region, "harbor_project_webhook", key, name="alert-channel",
            description=f"Quota and scan failures to the alert channel ({receiver.label})",
            project_id=project_id, address=var(WEBHOOK_URL), notify_type=receiver.notify_type,
            events_types=list(WEBHOOK_EVENTS), skip_cert_verify=False, enabled=True))
    return blocks


def _retention_rules(plan: Plan) -> list[Block]:
    """Retain rules (Harbor deletes what no rule retains; untagged artifacts match none)."""
    preview = f"{PREVIEW_TAG_PREFIX}*"
    rules = [
        block("rule", most_recently_pushed=RELEASES_KEPT, repo_matching="**",
              tag_excluding=preview, untagged_artifacts=False),
        block("rule", n_days_since_last_pull=PULLED_DAYS, repo_matching="**",
              tag_matching="**", untagged_artifacts=False),
        block("rule", n_days_since_last_push=PREVIEW_DAYS, repo_matching="**",
              tag_matching=preview, untagged_artifacts=False),
    ]
    if (plan.inputs.get("security") or {}).get("posture") == "regulated":
        # Audits reconstruct what ran while its logs are kept: every release of that window.
        days = retention_days(str((plan.inputs.get("observability") or {}).get("retention",
                                                                                "15d")))
        rules.append(block("rule", n_days_since_last_push=days, repo_matching="**",
                           tag_excluding=preview, untagged_artifacts=False))
    return rules


def _system_blocks(env: TerraformEnv, region: str) -> list[Block]:
    plan = env.plan
    key = slug(region)
    audit_days = retention_days(str((plan.inputs.get("observability") or {}).get("retention",
                                                                                  "15d")))
    return [
        _resource(env, region, "harbor_config_system", key,
                  project_creation_restriction="adminonly",
                  storage_per_project=DEFAULT_QUOTA_GIB, notification_enable=True),
        # No CVE is allowed system-wide; exceptions are per project and reviewed.
        _resource(env, region, "harbor_config_security", key, cve_allowlist=[]),
        _resource(env, region, "harbor_interrogation_services", key,
                  default_scanner="Trivy", vulnerability_scan_policy=SCAN_SCHEDULE),
        _resource(env, region, "harbor_garbage_collection", key, schedule=GC_SCHEDULE,
                  delete_untagged=True, workers=1),
        # Audit logs are kept as long as the platform's other logs.
        _resource(env, region, "harbor_purge_audit_log", key,
                  schedule=AUDIT_PURGE_SCHEDULE, audit_retention_hour=audit_days * 24,
                  include_event_types=AUDIT_EVENT_TYPES),
    ]


@dataclass(frozen=True)
class Robot:
    """A robot account and where its credentials go."""

    key: str  # resource name
    name: str
    level: str  # project | system
    description: str
    permissions: tuple[tuple[str, tuple[str, ...]], ...]  # (project, actions on repository)
    entry: str  # secret-store entry of its name and secret


def robots(env: TerraformEnv, region: str) -> list[Robot]:
    plan = env.plan
    out: list[Robot] = []
    if region == env.primary_region:
        for project in projects(plan):
            if project.upstream is None:
                out.append(Robot(
                    _name(region, "ci", project.name), "ci", "project",
                    f"CI pushes to {project.name}: push and pull on this project only",
                    ((project.name, ("pull", "push")),),
                    f"{env.prefix}-harbor-ci-{project.name}"))
    pulled = tuple((p.name, ("pull",)) for p in projects(plan))
    for environment in plan.metadata.environments:
        cluster = plan.topology.clusters_in(environment)[0]
        out.append(Robot(
            _name(region, "pull", environment), f"pull-{environment}", "system",
            f"Clusters of {environment} pull images: pull only, on the platform's projects",
            pulled, telemetry.remote_key(plan, cluster, f"harbor-pull-{region}")))
    return out


def _robot_blocks(env: TerraformEnv, region: str, robot: Robot, vault: bool) -> list[Block]:
    permissions = [block("permissions", kind="project",
                         namespace=ref("harbor_project", _name(region, project), "name"),
                         access=_access(*actions))
                   for project, actions in robot.permissions]
    args: dict[str, Value | Block | Sequence[Block]] = {
        "name": robot.name, "level": robot.level, "description": robot.description,
        # Never expires: rotation is robot_secret_version, so a forgotten expiry cannot stop
        # the pipelines or image pulls.
        "duration": -1}
    blocks: list[Block] = []
    if vault:
        secret = ref("ephemeral", "random_password", robot.key, "result")
        blocks.append(block("ephemeral", "random_password", robot.key, length=SECRET_LENGTH,
                            special=False, min_upper=1, min_lower=1, min_numeric=1))
        args |= {"secret_wo": secret, "secret_wo_version": var(ROBOT_SECRET_VERSION.name)}
    blocks.append(_resource(env, region, "harbor_robot_account", robot.key, **args,
                            permissions=permissions))
    if vault:
        blocks.append(block(
            "resource", "vault_kv_secret_v2", robot.key, mount=VAULT_KV_MOUNT, name=robot.entry,
            data_json_wo=call("jsonencode", {
                "username": ref("harbor_robot_account", robot.key, "full_name"),
                "password": ref("ephemeral", "random_password", robot.key, "result")}),
            data_json_wo_version=var(ROBOT_SECRET_VERSION.name)))
    return blocks


def _replication_blocks(env: TerraformEnv, replica: str) -> list[Block]:
    """A robot on the replica that may write the replicated projects, the replica as a
    registry endpoint of the primary, and one event-based push rule per project."""
    plan = env.plan
    primary = env.primary_region
    replicated = [p for p in projects(plan) if p.replicated]
    robot_key = _name(replica, "replication")
    # Push replication into existing projects: write and read their repositories and list
    # their artifacts and tags (what Harbor's Harbor adapter calls on the target).
    permissions = [block("permissions", kind="project",
                         namespace=ref("harbor_project", _name(replica, p.name), "name"),
                         access=[*_access("pull", "push"), *_access("read", "list",
                                                                     resource="artifact"),
                                 *_access("list", resource="tag")])
                   for p in replicated]
    # Harbor generates this secret: it must reach the primary's endpoint definition, which has
    # no write-only argument, so it is in this layer's state (and nowhere else).
    robot = _resource(env, replica, "harbor_robot_account", robot_key,
                      name=f"replication-from-{primary}", level="system",
                      description=f"The Harbor in {primary} replicates the platform's projects",
                      duration=-1, permissions=permissions)
    endpoint = _name(primary, "replica", replica)
    registry = _resource(env, primary, "harbor_registry", endpoint,
                         name=f"replica-{replica}", provider_name="harbor",
                         endpoint_url=f"https://{naming.harbor_host(plan, replica)}",
                         description=f"The replica Harbor in {replica}",
                         access_id=ref("harbor_robot_account", robot_key, "full_name"),
                         access_secret=ref("harbor_robot_account", robot_key, "secret"),
                         insecure=False)
    # Event-based: every push is copied; never deletes or overwrites on the replica.
    rules = [_resource(env, primary, "harbor_replication", _name(primary, p.name, "to", replica),
                       name=f"{p.name}-to-{replica}", action="push",
                       registry_id=ref("harbor_registry", endpoint, "registry_id"),
                       description=f"Every push to {p.name} is copied to {replica}",
                       schedule="event_based", override=False, deletion=False, enabled=True,
                       filters=[block("filters", name=f"{p.name}/**")],
                       depends_on=[ref("harbor_project", _name(replica, p.name))])
             for p in replicated]
    return [robot, registry, *rules]


def _webhook_variable(env: TerraformEnv) -> Variable | None:
    """The receiver's URL, a secret: a sensitive input read from the secret store at apply
    time, never a value in the output."""
    receiver = alert_receiver(env.plan)
    if receiver is None:
        return None
    entry = telemetry.remote_key(env.plan, env.clusters[0], receiver.item)
    return Variable(
        WEBHOOK_URL, "string",
        f"URL of the alert receiver {receiver.label} that Harbor's webhooks post to (quota "
        f"and scan failures): read it from the secret store entry `{entry}`, the one "
        "Alertmanager uses; never commit it.", sensitive=True,
        validations=(Validation(f'startswith(var.{WEBHOOK_URL}, "https://")',
                                f"{WEBHOOK_URL} must be an https:// URL."),))


def contribute(env: TerraformEnv) -> list[Contribution]:
    plan = env.plan
    if env.environment != owner(plan):
        return []
    vault = secret_store(plan) == "vault"
    regions = env.registry_regions
    system: list[Block] = []
    project_blocks: list[Block] = []
    robot_blocks: list[Block] = []
    replication: list[Block] = []
    all_robots: list[Robot] = []
    for region in regions:
        system += _system_blocks(env, region)
        for project in projects(plan):
            project_blocks += _project_blocks(env, region, project)
        for robot in robots(env, region):
            all_robots.append(robot)
            robot_blocks += _robot_blocks(env, region, robot, vault)
    for replica in regions[1:]:
        replication += _replication_blocks(env, replica)

    names = {r.entry: ref("harbor_robot_account", r.key, "full_name") for r in all_robots}
    outputs = [Output("robot_accounts", dict(sorted(names.items())),
                      "Robot account names by the secret-store entry that holds their "
                      "credentials.")]
    variables: list[Variable] = []
    if vault:
        variables.append(ROBOT_SECRET_VERSION)
    else:
        outputs.append(Output(
            "robot_secrets",
            {r.entry: ref("harbor_robot_account", r.key, "secret")
             for r in sorted(all_robots, key=lambda r: r.entry)},
            "Harbor-generated robot secrets by secret-store entry: copy each into that entry "
            "(`terraform output -json robot_secrets`), then nothing reads them from here.",
            sensitive=True))
    webhook = _webhook_variable(env)
    if webhook:
        variables.append(webhook)
    parts = [
        Contribution(LAYER, "system", tuple(system)),
        Contribution(LAYER, "projects", tuple(project_blocks), variables=tuple(variables),
                     outputs=tuple(outputs), notes=tuple(notes(env, all_robots, vault))),
        Contribution(LAYER, "robots", tuple(robot_blocks)),
    ]
    if replication:
        parts.append(Contribution(LAYER, "replication", tuple(replication)))
    return parts


def notes(env: TerraformEnv, all_robots: Sequence[Robot], vault: bool) -> list[str]:
    plan = env.plan
    path = f"terraform/{env.environment}/{LAYER}"
    hosts = " and ".join(f"https://{naming.harbor_host(plan, r)}" for r in env.registry_regions)
    admin = telemetry.remote_key(plan, env.clusters[0], "harbor-admin-password")
    state = ("; its state is in the site's PostgreSQL (`PG_CONN_STR`, a TLS connection string "
             f"from the secret store; schema `{roots.state_schema(plan, env.environment, LAYER)}`"
             ")") if env.provider == "onprem" else ""
    lines = [
        f"Harbor's projects, robots and policies (`{path}`) are applied after the first GitOps "
        f"sync has Harbor answering at {hosts}: set `HARBOR_USERNAME=admin` and "
        f"`HARBOR_PASSWORD` from the secret store entry `{admin}`"
        + (", and `VAULT_TOKEN` (a token that may write the robot secrets)" if vault else "")
        + f", then `terraform -chdir={path} init && terraform -chdir={path} apply`{state}.",
    ]
    ci = {r.permissions[0][0]: r.entry for r in all_robots if r.level == "project"}
    pull = sorted(r.entry for r in all_robots if r.level == "system")
    where = (f"Vault (KV v2 mount `{VAULT_KV_MOUNT}`, keys `username` and `password`)" if vault
             else "the secret store, copied there from the sensitive output `robot_secrets`")
    teams_ci = ", ".join(f"`{ci[t]}`" for t in teams(plan))
    lines.append(f"Robot credentials are in {where}: an application pipeline's CI settings "
                 f"HARBOR_ROBOT_NAME and HARBOR_ROBOT_SECRET come from its team's entry "
                 f"({teams_ci}), the job that mirrors upstream images into `{PLATFORM_PROJECT}` "
                 f"uses `{ci[PLATFORM_PROJECT]}`, and the clusters' image pull credentials of "
                 f"each environment and site are {', '.join(f'`{e}`' for e in pull)}.")
    if alert_receiver(plan) is None:
        lines.append("Harbor sends no webhooks: none of spec.observability.alertReceivers "
                     "takes Harbor's payload (a webhook or Slack receiver would).")
    return lines


__all__ = ["LAYER", "contribute", "owner", "projects", "robots", "severity", "teams"]
