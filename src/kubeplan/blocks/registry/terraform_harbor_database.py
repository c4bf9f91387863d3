"""registry -> Terraform `registry` layer: Harbor's PostgreSQL, when the registry is Harbor.

Harbor keeps its projects, robots, policies and artifact metadata in an external PostgreSQL
(blocks/registry/gitops.py: `database.type: external`, `sslmode: verify-full`). Production's
`registry` layer, applied before the GitOps sync, creates one per Harbor site
(`naming.harbor_regions`).

GCP: a Cloud SQL for PostgreSQL instance per site.

- PostgreSQL 15, the newest major version Harbor 2.15 documents for an external database
  (its own image ships 15; newer majors are not yet supported upstream).
- High availability (REGIONAL: a synchronous standby in a second zone, automatic failover),
  deletion protection in Terraform and in the API, a weekly maintenance window.
- Encrypted with a customer-managed key per site (rotated; Cloud SQL's service agent, which is
  only created on request, may use it), daily backups kept as long as the platform's other
  records and point-in-time recovery (write-ahead logs kept the seven days Enterprise allows).
- Private only: no public address; reached through a Private Service Connect endpoint in the
  site's node subnet. PSC needs no peering range carved out of the network plan (private
  services access would), and the node subnet is a destination the clusters' NetworkPolicies
  already allow (render/gitops baseline: the nodes' own addresses).
- TLS only (`ssl_mode ENCRYPTED_ONLY`), with the server certificate issued by Google's shared
  CA (`GOOGLE_MANAGED_CAS_CA`): those certificates carry the instance's DNS name, so Harbor
  connects to that name with `verify-full`. The name is Cloud SQL's (`<id>.<region>.sql.goog`,
  known only after apply): a private Cloud DNS zone of exactly that name resolves it to the
  endpoint inside the VPC, and the name reaches Harbor's values as a platform output
  (`HARBOR_DATABASE_HOST`, `HARBOR_REPLICA_DATABASE_HOST`). A name of the platform domain
  (`naming.harbor_database_host`) would need a certificate Google's CA does not issue for it.
- The CA certificates (public data) go to the secret store entry
  `<prefix>harbor-database-ca-<region>`, which Harbor's `caBundleSecretName` Secret is synced
  from; Harbor adds them to its components' trust stores.
- The user `harbor` owns nothing but logs in with a password that exists for one apply only
  (an ephemeral random_password): written to the instance (`password_wo`) and to the secret
  store entry Harbor's ExternalSecret reads (`secret_data_wo`), never to state or outputs.
  `harbor_database_password_version` rotates it.

AWS, Azure and on-prem are not rendered here: the layer's notes say what to provision.
"""

from __future__ import annotations

from kubeplan.render import naming
from kubeplan.render.gitops import outputs as platform_outputs
from kubeplan.render.gitops import telemetry
from kubeplan.render.terraform import gcp
from kubeplan.render.terraform.hcl import Block, Expr, Value, block, call, ref, template, var
from kubeplan.render.terraform.model import (
    Contribution,
    Output,
    TerraformEnv,
    Validation,
    Variable,
    slug,
)
from kubeplan.render.terraform.objectstore import retention_days

LAYER = "registry"
FILE = "harbor-database"
KEY = "harbor-db"
DATABASE = "registry"
USER = "harbor"
PASSWORD_ITEM = "harbor-database-password"
# Harbor 2.15's documented PostgreSQL (goharbor/harbor#23505: 15.x until the 2.16 bump).
DATABASE_VERSION = "POSTGRES_15"
EDITION = "ENTERPRISE"
# 2 vCPUs and 7.5 GiB: Harbor's metadata is small; the storage grows by itself.
TIER = "db-custom-2-7680"
# Backups start at 01:00 UTC, before Harbor's retention (02:00) and GC (Sunday 03:00) runs;
# maintenance is Sunday 05:00 UTC, after GC, on the stable track (two weeks' notice).
BACKUP_START = "01:00"
MAINTENANCE_DAY = 7
MAINTENANCE_HOUR = 5
# Write-ahead logs for point-in-time recovery: the most Cloud SQL Enterprise keeps.
LOG_RETENTION_DAYS = 7
MIN_BACKUPS = 7
MAX_BACKUPS = 365  # Cloud SQL's limit on retained automated backups
PASSWORD_LENGTH = 40
SQLADMIN = "sqladmin.googleapis.com"
SECRETMANAGER = "secretmanager.googleapis.com"
# Server logging CIS GCP 6.2 asks of PostgreSQL (connections, locks, temp files, errors,
# durations), and pgAudit for the audit trail of schema and role changes. Statement texts are
# not logged (`log_min_duration_statement -1`): they can carry data.
DATABASE_FLAGS: tuple[tuple[str, str], ...] = (
    ("cloudsql.enable_pgaudit", "on"),
    ("log_checkpoints", "on"),
    ("log_connections", "on"),
    ("log_disconnections", "on"),
    ("log_duration", "on"),
    ("log_hostname", "on"),
    ("log_lock_waits", "on"),
    ("log_min_duration_statement", "-1"),
    ("log_min_error_statement", "error"),
    ("log_min_messages", "warning"),
    ("log_statement", "ddl"),
    ("log_temp_files", "0"),
    ("pgaudit.log", "ddl,role"),
)

PASSWORD_VERSION = Variable(
    "harbor_database_password_version", "number",
    "Generation of the password of Harbor's database user: increase it to set a new one on "
    "every Harbor site's instance and in the secret store at once (Harbor picks it up when "
    "External Secrets next syncs and its pods restart).",
    default=1,
    validations=(Validation("var.harbor_database_password_version >= 1 && "
                            "floor(var.harbor_database_password_version) == "
                            "var.harbor_database_password_version",
                            "harbor_database_password_version must be a whole number of at "
                            "least 1."),))


def password_entry(env: TerraformEnv) -> str:
    """The secret store entry of the password: the one Harbor's ExternalSecret reads."""
    return telemetry.remote_key(env.plan, env.clusters[0], PASSWORD_ITEM)


def ca_entry(env: TerraformEnv, region: str) -> str:
    """The secret store entry of the CA certificates of the site's database server."""
    return telemetry.remote_key(env.plan, env.clusters[0], f"harbor-database-ca-{region}")


def backups_kept(env: TerraformEnv) -> int:
    """Daily backups are kept as long as the platform keeps its logs (audits look back that
    far), at least a week, at most Cloud SQL's limit."""
    retention = str((env.plan.inputs.get("observability") or {}).get("retention", "15d"))
    return min(MAX_BACKUPS, max(MIN_BACKUPS, retention_days(retention)))


def instance_ref(region: str, *attribute: str) -> Expr:
    return ref("google_sql_database_instance", f"harbor_{slug(region)}", *attribute)


def host_expr(region: str) -> Expr:
    """The instance's DNS name (what its certificate carries), without the root dot."""
    return call("trimsuffix", instance_ref(region, "dns_name"), ".")


def contribute(env: TerraformEnv) -> list[Contribution]:
    """Production's Harbor database: rendered on GCP, a note elsewhere."""
    if env.provider == "gcp":
        return [_gcp(env)]
    return [Contribution(LAYER, FILE, notes=(_not_rendered(env),))]


def _not_rendered(env: TerraformEnv) -> str:
    plan = env.plan
    hosts = ", ".join(naming.harbor_database_host(plan, region)
                      for region in naming.harbor_regions(plan))
    where = ("the site's PostgreSQL, which the site's operators run (by design: on-prem "
             "databases are theirs)" if env.provider == "onprem" else
             {"aws": "Amazon RDS for PostgreSQL 15, Multi-AZ, KMS-encrypted, private",
              "azure": "Azure Database for PostgreSQL Flexible Server 15, zone-redundant "
                       "high availability, private access"}[env.provider]
             + ": kubeplan does not render it on this provider yet")
    return (f"Harbor's PostgreSQL ({hosts} in {env.environment}) is {where}. Provision it "
            "before the GitOps sync: PostgreSQL 15 (Harbor 2.15's documented version), TLS "
            "with a server certificate for that name (Harbor connects with `verify-full` and "
            "trusts the public CAs of its images), user `harbor`, database `registry`, its "
            f"password in the secret store entry `{password_entry(env)}`.")


def _gcp(env: TerraformEnv) -> Contribution:
    plan = env.plan
    regions = naming.harbor_regions(plan)
    network = env.remote("network", "network_self_link")
    password = ref("ephemeral", "random_password", "harbor_database", "result")
    blocks: list[Block] = [
        block("ephemeral", "random_password", "harbor_database", length=PASSWORD_LENGTH,
              special=False, min_upper=1, min_lower=1, min_numeric=1),
    ]
    platform: dict[str, Value] = {}
    instances: dict[str, Value] = {}
    hosts: dict[str, Value] = {}
    for index, region in enumerate(regions):
        blocks += gcp.crypto_key(env, LAYER, KEY, region)
        blocks += gcp.service_agent_key_grant(KEY, region, SQLADMIN)
        blocks += gcp.service_agent_key_grant(KEY, region, SECRETMANAGER)
        blocks += _instance(env, region, password)
        blocks += _endpoint(env, region, network)
        blocks += _ca_entry(env, region)
        platform[platform_outputs.HARBOR_DATABASE_HOSTS[index]] = host_expr(region)
        instances[region] = instance_ref(region, "connection_name")
        hosts[region] = host_expr(region)
    blocks += _password_entry(env, regions, password)
    return Contribution(
        LAYER, FILE, tuple(blocks), variables=(PASSWORD_VERSION,),
        outputs=(
            Output("harbor_database_instances", instances,
                   "Cloud SQL connection name of Harbor's PostgreSQL per site."),
            Output("harbor_database_hosts", hosts,
                   "DNS name (the server certificate's) Harbor connects to, per site."),
        ),
        gitops={f"harbor.database.host.{region}": hosts[region] for region in regions},
        platform=platform,
        notes=(_note(env, regions),),
        gcp_apis=frozenset({SQLADMIN, SECRETMANAGER, "cloudkms.googleapis.com",
                            "compute.googleapis.com", "dns.googleapis.com"}))


def _instance(env: TerraformEnv, region: str, password: Expr) -> list[Block]:
    key = slug(region)
    name = f"{env.prefix}-harbor-{region}"
    ip = block(
        "ip_configuration",
        ipv4_enabled=False,
        ssl_mode="ENCRYPTED_ONLY",
        server_ca_mode="GOOGLE_MANAGED_CAS_CA",
        psc_config=block("psc_config", psc_enabled=True,
                         allowed_consumer_projects=[var("project_id")]))
    backups = block(
        "backup_configuration",
        enabled=True,
        start_time=BACKUP_START,
        point_in_time_recovery_enabled=True,
        transaction_log_retention_days=LOG_RETENTION_DAYS,
        backup_retention_settings=block("backup_retention_settings",
                                        retained_backups=backups_kept(env),
                                        retention_unit="COUNT"))
    settings = block(
        "settings",
        tier=TIER,
        edition=EDITION,
        availability_type="REGIONAL",
        disk_type="PD_SSD",
        disk_autoresize=True,
        deletion_protection_enabled=True,
        user_labels=env.labels,
        ip_configuration=ip,
        backup_configuration=backups,
        maintenance_window=block("maintenance_window", day=MAINTENANCE_DAY,
                                 hour=MAINTENANCE_HOUR, update_track="stable"),
        insights_config=block("insights_config", query_insights_enabled=True,
                              record_client_address=False, record_application_tags=False),
        database_flags=[block("database_flags", name=flag, value=value)
                        for flag, value in DATABASE_FLAGS])
    instance = block(
        "resource", "google_sql_database_instance", f"harbor_{key}",
        comments=[
            "checkov:skip=CKV_GCP_6:ENCRYPTED_ONLY refuses every unencrypted connection and "
            "Harbor verifies the server (verify-full); Harbor's database settings take no "
            "client certificate, which TRUSTED_CLIENT_CERTIFICATE_REQUIRED would demand",
            "checkov:skip=CKV_GCP_79:Harbor 2.15 documents PostgreSQL 15 for its external "
            "database (goharbor/harbor#23505); the major version moves with Harbor's",
        ],
        project=var("project_id"), name=name, region=region,
        database_version=DATABASE_VERSION, encryption_key_name=gcp.key_ref(KEY, region),
        deletion_protection=True, settings=settings,
        depends_on=[gcp.grant_ref(KEY, region, gcp.service_agent_name(SQLADMIN))])
    database = block("resource", "google_sql_database", f"harbor_{key}",
                     project=var("project_id"), instance=instance_ref(region, "name"),
                     name=DATABASE)
    # Members of cloudsqlsuperuser, as every user Cloud SQL creates: the database (owned by
    # that role) is Harbor's to migrate.
    user = block("resource", "google_sql_user", f"harbor_{key}",
                 project=var("project_id"), instance=instance_ref(region, "name"), name=USER,
                 type="BUILT_IN", password_wo=password,
                 password_wo_version=var(PASSWORD_VERSION.name))
    return [instance, database, user]


def _endpoint(env: TerraformEnv, region: str, network: Expr) -> list[Block]:
    """The PSC endpoint in the site's node subnet and the private DNS name that resolves to
    it (a zone of exactly the instance's name, so it shadows nothing else of `sql.goog`)."""
    key = slug(region)
    name = f"{env.prefix}-harbor-db-{region}"
    address = block("resource", "google_compute_address", f"harbor_db_{key}",
                    project=var("project_id"), name=name, region=region,
                    address_type="INTERNAL",
                    subnetwork=env.remote("network", "subnet_self_links").index(region),
                    description=f"Harbor's PostgreSQL in {region} (Private Service Connect)")
    endpoint = block("resource", "google_compute_forwarding_rule", f"harbor_db_{key}",
                     project=var("project_id"), name=name, region=region, network=network,
                     ip_address=ref("google_compute_address", f"harbor_db_{key}", "id"),
                     target=instance_ref(region, "psc_service_attachment_link"),
                     load_balancing_scheme="")
    zone = block(
        "resource", "google_dns_managed_zone", f"harbor_db_{key}",
        comments=["checkov:skip=CKV_GCP_16:a private zone (VPC only); DNSSEC signs public "
                  "zones"],
        project=var("project_id"), name=name,
        dns_name=template(host_expr(region), "."),
        description=f"Harbor's PostgreSQL in {region}: its Cloud SQL name, inside the VPC",
        visibility="private", labels=env.labels,
        private_visibility_config=block(
            "private_visibility_config",
            networks=block("networks", network_url=network)))
    record = block("resource", "google_dns_record_set", f"harbor_db_{key}",
                   project=var("project_id"),
                   managed_zone=ref("google_dns_managed_zone", f"harbor_db_{key}", "name"),
                   name=ref("google_dns_managed_zone", f"harbor_db_{key}", "dns_name"),
                   type="A", ttl=300,
                   rrdatas=[ref("google_compute_address", f"harbor_db_{key}", "address")])
    return [address, endpoint, zone, record]


def _replication(regions: list[str]) -> Block:
    """Secret Manager copies in the Harbor sites only, each encrypted with the site's key."""
    return block("replication", user_managed=block("user_managed", replicas=[
        block("replicas", location=region,
              customer_managed_encryption=block("customer_managed_encryption",
                                                kms_key_name=gcp.key_ref(KEY, region)))
        for region in regions]))


def _secret(env: TerraformEnv, resource: str, secret_id: str, regions: list[str]) -> Block:
    return block(
        "resource", "google_secret_manager_secret", resource,
        project=var("project_id"), secret_id=secret_id, labels=env.labels,
        replication=_replication(regions),
        depends_on=[gcp.grant_ref(KEY, r, gcp.service_agent_name(SECRETMANAGER))
                    for r in regions])


def _password_entry(env: TerraformEnv, regions: list[str], password: Expr) -> list[Block]:
    return [
        _secret(env, "harbor_database_password", password_entry(env), regions),
        block("resource", "google_secret_manager_secret_version", "harbor_database_password",
              secret=ref("google_secret_manager_secret", "harbor_database_password", "id"),
              secret_data_wo=password,
              secret_data_wo_version=var(PASSWORD_VERSION.name)),
    ]


def _ca_entry(env: TerraformEnv, region: str) -> list[Block]:
    """Every CA Cloud SQL currently trusts for the instance (the next one too, during a CA
    rotation), as one PEM bundle; kept in the site's region only."""
    key = slug(region)
    certs = block("data", "google_sql_ca_certs", f"harbor_{key}", project=var("project_id"),
                  instance=instance_ref(region, "name"))
    bundle = call("join", "", Expr(f"data.google_sql_ca_certs.harbor_{key}.certs[*].cert"))
    return [
        certs,
        _secret(env, f"harbor_database_ca_{key}", ca_entry(env, region), [region]),
        block("resource", "google_secret_manager_secret_version", f"harbor_database_ca_{key}",
              secret=ref("google_secret_manager_secret", f"harbor_database_ca_{key}", "id"),
              secret_data=bundle),
    ]


def _note(env: TerraformEnv, regions: list[str]) -> str:
    path = f"terraform/{env.environment}/{LAYER}"
    return (f"Harbor's PostgreSQL is Cloud SQL (`{path}`, one HA instance per Harbor site: "
            f"{', '.join(regions)}), private behind a Private Service Connect endpoint and a "
            "private DNS name the server certificate carries; the layer writes the `harbor` "
            f"user's password to `{password_entry(env)}` (never to state) and the server CAs "
            f"to {', '.join(f'`{ca_entry(env, r)}`' for r in regions)}. Rotate the password "
            f"with `{PASSWORD_VERSION.name}`.")


__all__ = ["LAYER", "ca_entry", "contribute", "host_expr", "password_entry"]
