"""registry -> Terraform `registry` layer: Harbor's PostgreSQL, when the registry is Harbor.

Harbor keeps its projects, robots, policies and artifact metadata in an external PostgreSQL
(blocks/registry/gitops.py: `database.type: external`, `sslmode: verify-full`). Production's
`registry` layer (on Azure its `storage` layer, see `layer`), applied before the GitOps sync,
creates one per Harbor site (`naming.harbor_regions`).

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

AWS: an Amazon RDS for PostgreSQL 15 instance per site: Multi-AZ (a synchronous standby in
another zone), encrypted with the site's KMS key, in a DB subnet group of the region's
control-plane subnets (they lie in the node range, which the clusters' NetworkPolicies let
platform pods reach), behind a security group admitting 5432 from the cluster's nodes only
(pods share their node's security groups under the VPC CNI), never publicly accessible,
deletion-protected, backed up daily (point-in-time recovery comes with backups), TLS forced
(`rds.force_ssl`). Harbor connects to the instance's endpoint address, which the RDS
certificate (`rds-ca-rsa2048-g1`) carries; that CA is not a public root, so the site's CA
entry is created here and filled once by the operator with the regional bundle AWS publishes
(Terraform has no source of the PEM short of fetching it). The master user is Harbor's.

Azure: a Flexible Server for PostgreSQL 15 per site, zone-redundant HA, geo-redundant
backups, reached only through a private endpoint in the site's node subnet (no delegated
subnet: the network layer has none, and the node subnet is what NetworkPolicies already
allow) and the `privatelink.postgres.database.azure.com` zone linked to the environment's
VNets, TLS required, a delete lock. Harbor connects to the server's FQDN, whose certificate
chains to the public DigiCert / Microsoft roots Harbor's images already trust: no CA bundle.
Encrypted at rest with service-managed keys: a customer-managed key would need a key vault
in each server's region and, with geo-redundant backups, another in the paired region, and
the environment has one vault.

Password and host are shared across clouds: one ephemeral password per apply, written
write-only to every site's server and to the entry Harbor's ExternalSecret reads (in each
site's region on AWS, where the store is regional), and the hosts handed over as the
platform outputs above. On-prem the site's operators run the database: the runbook says what
to provision.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubeplan.render import naming
from kubeplan.render.gitops import outputs as platform_outputs
from kubeplan.render.gitops import telemetry
from kubeplan.render.naming import identity
from kubeplan.render.terraform import aws, azure, gcp, roots
from kubeplan.render.terraform.hcl import Block, Expr, block, call, ref, template, var
from kubeplan.render.terraform.model import (
    Contribution,
    Output,
    TerraformEnv,
    Validation,
    Variable,
    slug,
)
from kubeplan.render.terraform.objectstore import STORAGE, retention_days

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
    """Production's Harbor database: rendered on the clouds, a runbook note on-prem."""
    if env.provider == "onprem":
        return [Contribution(LAYER, FILE, notes=(_not_rendered(env),))]
    builder = {"gcp": _gcp, "aws": _aws, "azure": _azure}[env.provider]
    regions = naming.harbor_regions(env.plan)
    blocks, sites, notes = builder(env, regions, PASSWORD)
    return [_contribution(env, [PASSWORD_BLOCK, *blocks], sites, notes)]


def layer(env: TerraformEnv) -> str:
    """The layer that creates the database. Azure's goes to the storage layer: the password
    is written to the secrets vault in the same apply, and that vault is created there
    (blocks/secrets), after the registry layer. Both precede the GitOps sync."""
    return STORAGE if env.provider == "azure" else LAYER


def _not_rendered(env: TerraformEnv) -> str:
    plan = env.plan
    hosts = ", ".join(naming.harbor_database_host(plan, region)
                      for region in naming.harbor_regions(plan))
    return (f"Harbor's PostgreSQL ({hosts} in {env.environment}) is the site's PostgreSQL, "
            "which the site's operators run (by design: on-prem databases are theirs). "
            "Provision it before the GitOps sync: PostgreSQL 15 (Harbor 2.15's documented "
            "version), TLS with a server certificate for that name (Harbor connects with "
            "`verify-full` and trusts the public CAs of its images), user `harbor`, database "
            f"`registry`, its password in the secret store entry `{password_entry(env)}`.")


# --- provider-neutral: the password, the hosts, the hand-over ------------------------------

# One password per apply, never in state: the same value goes write-only to every site's
# server and to the secret store entry (or entries) Harbor's ExternalSecret reads.
PASSWORD = ref("ephemeral", "random_password", "harbor_database", "result")
PASSWORD_BLOCK = block("ephemeral", "random_password", "harbor_database", length=PASSWORD_LENGTH,
                       special=False, min_upper=1, min_lower=1, min_numeric=1)
PASSWORD_WRITE = var(PASSWORD_VERSION.name)


@dataclass(frozen=True)
class Site:
    """What one site's database hands over: its identifier (output) and the name Harbor
    connects to, the one its server certificate carries."""

    region: str
    instance: Expr
    host: Expr


def _contribution(env: TerraformEnv, blocks: list[Block], sites: list[Site],
                  notes: tuple[str, ...]) -> Contribution:
    kind = {"gcp": "Cloud SQL connection name", "aws": "RDS instance identifier",
            "azure": "Flexible Server ID"}[env.provider]
    apis = (frozenset({SQLADMIN, SECRETMANAGER, "cloudkms.googleapis.com",
                       "compute.googleapis.com", "dns.googleapis.com"})
            if env.provider == "gcp" else frozenset())
    return Contribution(
        layer(env), FILE, tuple(blocks), variables=(PASSWORD_VERSION,),
        outputs=(
            Output("harbor_database_instances", {s.region: s.instance for s in sites},
                   f"{kind} of Harbor's PostgreSQL per site."),
            Output("harbor_database_hosts", {s.region: s.host for s in sites},
                   "DNS name (the server certificate's) Harbor connects to, per site."),
        ),
        gitops={f"harbor.database.host.{s.region}": s.host for s in sites},
        platform={platform_outputs.HARBOR_DATABASE_HOSTS[index]: s.host
                  for index, s in enumerate(sites)},
        notes=notes, gcp_apis=apis)


# --- GCP -----------------------------------------------------------------------------------


def _gcp(env: TerraformEnv, regions: list[str], password: Expr
         ) -> tuple[list[Block], list[Site], tuple[str, ...]]:
    network = env.remote("network", "network_self_link")
    blocks: list[Block] = []
    sites: list[Site] = []
    for region in regions:
        blocks += gcp.crypto_key(env, LAYER, KEY, region)
        blocks += gcp.service_agent_key_grant(KEY, region, SQLADMIN)
        blocks += gcp.service_agent_key_grant(KEY, region, SECRETMANAGER)
        blocks += _instance(env, region, password)
        blocks += _endpoint(env, region, network)
        blocks += _ca_entry(env, region)
        sites.append(Site(region, instance_ref(region, "connection_name"), host_expr(region)))
    blocks += _password_entry(env, regions, password)
    return blocks, sites, (_note(env, regions),)


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
                 type="BUILT_IN", password_wo=password, password_wo_version=PASSWORD_WRITE)
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
              secret_data_wo=password, secret_data_wo_version=PASSWORD_WRITE),
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


# --- AWS -----------------------------------------------------------------------------------

AWS_ENGINE_VERSION = "15"  # the major only: RDS picks the minor and upgrades it in windows
AWS_PARAMETER_FAMILY = "postgres15"
# 2 vCPUs and 8 GiB (Graviton), as on GCP; storage starts small and grows by itself.
AWS_INSTANCE_CLASS = "db.m7g.large"
AWS_STORAGE_GIB = 20
AWS_MAX_STORAGE_GIB = 1000
# Same windows as GCP's: backups before Harbor's retention and GC runs, maintenance after.
AWS_BACKUP_WINDOW = "01:00-01:30"
AWS_MAINTENANCE_WINDOW = "sun:05:00-sun:05:30"
# The CA that signs the instance's certificate (RSA 2048, valid to 2061); AWS publishes its
# regional bundle at the truststore address below.
AWS_CA = "rds-ca-rsa2048-g1"
AWS_CA_BUNDLE = "https://truststore.pki.rds.amazonaws.com/{region}/{region}-bundle.pem"
MAX_BACKUP_DAYS = 35  # the longest automated-backup retention RDS and Flexible Server allow
POSTGRES_PORT = 5432
# Enhanced monitoring's OS metrics every minute (CloudWatch Logs, cents per month).
AWS_MONITORING_SECONDS = 60
AWS_MONITORING_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"


def backup_days(env: TerraformEnv) -> int:
    """Daily backups as long as the platform keeps its logs, within what RDS and Flexible
    Server allow (35 days)."""
    return min(MAX_BACKUP_DAYS, backups_kept(env))


def _server_parameters() -> list[tuple[str, str]]:
    """GCP's logging flags without Cloud SQL's own, pgAudit's (it needs a preloaded library
    and the extension created in the database) and `log_hostname` (reverse lookups of private
    addresses; `log_connections` logs the address)."""
    return [(name, value) for name, value in DATABASE_FLAGS
            if not name.startswith(("cloudsql.", "pgaudit.")) and name != "log_hostname"]


def _aws(env: TerraformEnv, regions: list[str], password: Expr
         ) -> tuple[list[Block], list[Site], tuple[str, ...]]:
    reader = aws.role_arn(identity(env.plan, env.environment, "external-secrets"))
    monitoring = f"{env.prefix}-harbor-db-monitoring"
    blocks: list[Block] = [
        block("resource", "aws_iam_role", "harbor_db_monitoring", name=monitoring,
              description="RDS enhanced monitoring of Harbor's PostgreSQL",
              assume_role_policy=call("jsonencode", {"Version": "2012-10-17", "Statement": [{
                  "Effect": "Allow", "Principal": {"Service": "monitoring.rds.amazonaws.com"},
                  "Action": "sts:AssumeRole"}]}),
              force_detach_policies=True, tags=env.labels),
        block("resource", "aws_iam_role_policy_attachment", "harbor_db_monitoring",
              role=ref("aws_iam_role", "harbor_db_monitoring", "name"),
              policy_arn=AWS_MONITORING_POLICY),
    ]
    sites: list[Site] = []
    for region in regions:
        key = slug(region)
        kms = f"{KEY.replace('-', '_')}_{key}"
        cluster = next(c for c in env.clusters if c.region == region)
        blocks += aws.kms_key(kms, f"Harbor's PostgreSQL and its secrets in {region}", region,
                              aws.secrets_key_use(reader, region))
        blocks += _aws_network(env, region, env.cluster_name(cluster), cluster.name)
        blocks += _aws_instance(env, region, aws.key_arn(kms), password)
        blocks += _aws_secrets(env, region, aws.key_arn(kms), password)
        sites.append(Site(region, ref("aws_db_instance", f"harbor_{key}", "identifier"),
                          ref("aws_db_instance", f"harbor_{key}", "address")))
    return blocks, sites, (_aws_note(env, regions),)


def _aws_network(env: TerraformEnv, region: str, cluster_name: str, cluster: str
                 ) -> list[Block]:
    key = slug(region)
    name = f"{env.prefix}-harbor-db-{region}"
    return [
        # The control-plane subnets: private, in three zones, and inside the node range the
        # harbor namespace's NetworkPolicies may reach (the worker subnets are in the pod
        # range, which they may not).
        block("resource", "aws_db_subnet_group", f"harbor_{key}", region=region, name=name,
              description=f"Harbor's PostgreSQL in {region}: private subnets",
              subnet_ids=env.remote("network", "control_plane_subnets").index(region),
              tags=env.labels),
        block("resource", "aws_security_group", f"harbor_db_{key}", region=region, name=name,
              description=f"Harbor's PostgreSQL in {region}: {cluster_name}'s nodes only",
              vpc_id=env.remote("network", "vpc_ids").index(region), tags=env.labels),
        # No egress rule: the database opens no connections.
        block("resource", "aws_vpc_security_group_ingress_rule", f"harbor_db_{key}",
              region=region,
              security_group_id=ref("aws_security_group", f"harbor_db_{key}", "id"),
              description="PostgreSQL from the cluster's nodes (pods share their node's groups)",
              referenced_security_group_id=env.remote("cluster", "node_security_groups")
              .index(cluster),
              ip_protocol="tcp", from_port=POSTGRES_PORT, to_port=POSTGRES_PORT,
              tags=env.labels),
    ]


def _aws_instance(env: TerraformEnv, region: str, kms: Expr, password: Expr) -> list[Block]:
    key = slug(region)
    name = f"{env.prefix}-harbor-{region}"
    parameters = [("rds.force_ssl", "1"),
                  *((n, {"on": "1", "off": "0"}.get(v, v)) for n, v in _server_parameters())]
    group = block("resource", "aws_db_parameter_group", f"harbor_{key}", region=region,
                  name=name, family=AWS_PARAMETER_FAMILY,
                  description=f"Harbor's PostgreSQL in {region}: TLS only, server logging",
                  parameter=[block("parameter", name=n, value=v) for n, v in parameters],
                  tags=env.labels,
                  lifecycle=block("lifecycle", create_before_destroy=True))
    instance = block(
        "resource", "aws_db_instance", f"harbor_{key}",
        region=region, identifier=name, engine="postgres", engine_version=AWS_ENGINE_VERSION,
        instance_class=AWS_INSTANCE_CLASS, allocated_storage=AWS_STORAGE_GIB,
        max_allocated_storage=AWS_MAX_STORAGE_GIB, storage_type="gp3",
        storage_encrypted=True, kms_key_id=kms, multi_az=True,
        db_subnet_group_name=ref("aws_db_subnet_group", f"harbor_{key}", "name"),
        vpc_security_group_ids=[ref("aws_security_group", f"harbor_db_{key}", "id")],
        publicly_accessible=False, port=POSTGRES_PORT, ca_cert_identifier=AWS_CA,
        parameter_group_name=ref("aws_db_parameter_group", f"harbor_{key}", "name"),
        db_name=DATABASE, username=USER, password_wo=password,
        password_wo_version=PASSWORD_WRITE,
        # Password logins for Harbor; IAM authentication on as well, for operators' audited
        # logins without a shared password.
        iam_database_authentication_enabled=True,
        backup_retention_period=backup_days(env), backup_window=AWS_BACKUP_WINDOW,
        maintenance_window=AWS_MAINTENANCE_WINDOW, copy_tags_to_snapshot=True,
        deletion_protection=True, skip_final_snapshot=False,
        final_snapshot_identifier=f"{name}-final", delete_automated_backups=False,
        auto_minor_version_upgrade=True, allow_major_version_upgrade=False,
        enabled_cloudwatch_logs_exports=["postgresql", "upgrade"],
        performance_insights_enabled=True, performance_insights_kms_key_id=kms,
        performance_insights_retention_period=7,
        monitoring_interval=AWS_MONITORING_SECONDS,
        monitoring_role_arn=ref("aws_iam_role", "harbor_db_monitoring", "arn"),
        tags=env.labels,
        depends_on=[ref("aws_iam_role_policy_attachment.harbor_db_monitoring")])
    return [group, instance]


def _aws_secrets(env: TerraformEnv, region: str, kms: Expr, password: Expr) -> list[Block]:
    """The password and CA entries in the site's region: the site's cluster reads Secrets
    Manager in its own region (blocks/secrets), so each site has its copy."""
    key = slug(region)
    rotation = ("checkov:skip=CKV2_AWS_57:rotated by Terraform ({what}), which writes the "
                "database and this entry in one apply; a rotation Lambda would change one "
                "without the other")
    return [
        block("resource", "aws_secretsmanager_secret", f"harbor_database_password_{key}",
              comments=[rotation.format(what=f"`{PASSWORD_VERSION.name}`")],
              region=region, name=password_entry(env),
              description="Password of Harbor's PostgreSQL user (written by Terraform, "
                          "write-only)",
              kms_key_id=kms, recovery_window_in_days=7, tags=env.labels),
        block("resource", "aws_secretsmanager_secret_version",
              f"harbor_database_password_{key}", region=region,
              secret_id=ref("aws_secretsmanager_secret", f"harbor_database_password_{key}",
                            "id"),
              secret_string_wo=password, secret_string_wo_version=PASSWORD_WRITE),
        block("resource", "aws_secretsmanager_secret", f"harbor_database_ca_{key}",
              comments=["checkov:skip=CKV2_AWS_57:public certificates, replaced when AWS "
                        "publishes a new bundle, not a credential to rotate"],
              region=region, name=ca_entry(env, region),
              description=f"The RDS CA bundle of {region} ({AWS_CA} and the others AWS "
                          "publishes), put there by the operator",
              kms_key_id=kms, recovery_window_in_days=7, tags=env.labels),
    ]


def _aws_note(env: TerraformEnv, regions: list[str]) -> str:
    path = f"terraform/{env.environment}/{LAYER}"
    puts = "; ".join(
        f"`curl -fsSL {AWS_CA_BUNDLE.format(region=r)} -o {r}-bundle.pem && aws "
        f"secretsmanager put-secret-value --region {r} --secret-id {ca_entry(env, r)} "
        f"--secret-string file://{r}-bundle.pem`" for r in regions)
    return (f"Harbor's PostgreSQL is Amazon RDS (`{path}`, one Multi-AZ instance per Harbor "
            f"site: {', '.join(regions)}), private, reached from the clusters' nodes only; the "
            f"layer writes the `harbor` user's password to `{password_entry(env)}` in each "
            "site's region (never to state); rotate it with "
            f"`{PASSWORD_VERSION.name}`. Harbor verifies the server's certificate ({AWS_CA}), "
            "whose CA is AWS's own: after the first apply and before the GitOps sync, put "
            f"each region's CA bundle, which AWS publishes, into its entry: {puts}. Backups "
            f"are kept {MAX_BACKUP_DAYS} days at most (RDS's limit): keep longer copies with "
            "AWS Backup if audits need them.")


# --- Azure ---------------------------------------------------------------------------------

AZURE_VERSION = "15"
# General Purpose, 2 vCores and 8 GiB (HA needs General Purpose or Memory Optimized).
AZURE_SKU = "GP_Standard_D2ds_v5"
AZURE_STORAGE_MB = 32768
AZURE_ZONES = ("1", "2")  # the primary's zone and the standby's
AZURE_PRIVATE_ZONE = "privatelink.postgres.database.azure.com"
# Sunday (Azure counts days from Sunday = 0) 05:00 UTC, as on the other clouds.
AZURE_MAINTENANCE_DAY = 0


def azure_server_name(env: TerraformEnv, region: str) -> str:
    """Globally unique (it is the server's DNS name): the platform's stable suffix."""
    return f"{env.prefix}-harbor-{region}-{roots.suffix(env.plan)[:4]}"


def _azure(env: TerraformEnv, regions: list[str], password: Expr
           ) -> tuple[list[Block], list[Site], tuple[str, ...]]:
    group = azure.resource_group(env)
    blocks: list[Block] = [
        block("resource", "azurerm_private_dns_zone", "harbor_db", name=AZURE_PRIVATE_ZONE,
              resource_group_name=group, tags=env.labels),
        *(block("resource", "azurerm_private_dns_zone_virtual_network_link",
                f"harbor_db_{slug(r)}", name=f"{env.prefix}-{r}", resource_group_name=group,
                private_dns_zone_name=ref("azurerm_private_dns_zone", "harbor_db", "name"),
                virtual_network_id=env.remote("network", "vnet_ids").index(r),
                registration_enabled=False, tags=env.labels)
          for r in env.regions),
    ]
    sites: list[Site] = []
    for region in regions:
        key = slug(region)
        blocks += _azure_server(env, region, password)
        sites.append(Site(region,
                          ref("azurerm_postgresql_flexible_server", f"harbor_{key}", "id"),
                          ref("azurerm_postgresql_flexible_server", f"harbor_{key}", "fqdn")))
    blocks += _azure_password_entry(env, password)
    return blocks, sites, (_azure_note(env, regions),)


def _azure_server(env: TerraformEnv, region: str, password: Expr) -> list[Block]:
    key = slug(region)
    group = azure.resource_group(env)
    name = azure_server_name(env, region)
    server = ref("azurerm_postgresql_flexible_server", f"harbor_{key}", "id")
    instance = block(
        "resource", "azurerm_postgresql_flexible_server", f"harbor_{key}",
        name=name, resource_group_name=group, location=region, version=AZURE_VERSION,
        sku_name=AZURE_SKU, storage_mb=AZURE_STORAGE_MB, auto_grow_enabled=True,
        zone=AZURE_ZONES[0],
        high_availability=block("high_availability", mode="ZoneRedundant",
                                standby_availability_zone=AZURE_ZONES[1]),
        backup_retention_days=backup_days(env), geo_redundant_backup_enabled=True,
        public_network_access_enabled=False,
        authentication=block("authentication", password_auth_enabled=True,
                             active_directory_auth_enabled=False),
        administrator_login=USER, administrator_password_wo=password,
        administrator_password_wo_version=PASSWORD_WRITE,
        maintenance_window=block("maintenance_window", day_of_week=AZURE_MAINTENANCE_DAY,
                                 start_hour=MAINTENANCE_HOUR, start_minute=0),
        tags=env.labels,
        # A failover swaps the zones of primary and standby; Terraform must not swap back.
        lifecycle=block("lifecycle", ignore_changes=[
            Expr("zone"), Expr("high_availability[0].standby_availability_zone")]))
    database = block("resource", "azurerm_postgresql_flexible_server_database",
                     f"harbor_{key}", name=DATABASE, server_id=server, charset="UTF8",
                     collation="en_US.utf8")
    settings = [("require_secure_transport", "on"), ("ssl_min_protocol_version", "TLSv1.2"),
                *_server_parameters()]
    configurations = [
        block("resource", "azurerm_postgresql_flexible_server_configuration",
              f"harbor_{key}_{slug(setting)}", name=setting, server_id=server, value=value)
        for setting, value in settings]
    endpoint = block(
        "resource", "azurerm_private_endpoint", f"harbor_db_{key}",
        name=f"{name}-pe", location=region, resource_group_name=group,
        # The node subnet, like the platform's other private endpoints: the harbor
        # namespace's NetworkPolicies allow it.
        subnet_id=env.remote("network", "node_subnet_ids").index(region),
        private_service_connection=block(
            "private_service_connection", name=name, private_connection_resource_id=server,
            subresource_names=["postgresqlServer"], is_manual_connection=False),
        private_dns_zone_group=block(
            "private_dns_zone_group", name="postgres",
            private_dns_zone_ids=[ref("azurerm_private_dns_zone", "harbor_db", "id")]),
        tags=env.labels)
    lock = azure.delete_lock(f"harbor_db_{key}", server, f"Harbor's PostgreSQL in {region}")
    return [instance, database, *configurations, endpoint, lock]


def _azure_password_entry(env: TerraformEnv, password: Expr) -> list[Block]:
    """The entry in the environment's secrets vault, the one Harbor's ExternalSecret reads
    (`azurerm_key_vault.secrets`, which blocks/secrets creates in this same layer)."""
    return [
        block("resource", "azurerm_key_vault_secret", "harbor_database_password",
              comments=["checkov:skip=CKV_AZURE_41:rotated by Terraform "
                        f"(`{PASSWORD_VERSION.name}`) together with the servers; an expiry "
                        "date would stop Harbor's sync of a password still in use"],
              name=password_entry(env), key_vault_id=ref("azurerm_key_vault", "secrets", "id"),
              content_type="password", value_wo=password, value_wo_version=PASSWORD_WRITE,
              tags=env.labels),
    ]


def _azure_note(env: TerraformEnv, regions: list[str]) -> str:
    path = f"terraform/{env.environment}/{STORAGE}"
    return (f"Harbor's PostgreSQL is Azure Database for PostgreSQL Flexible Server (`{path}`, "
            "one zone-redundant server per Harbor site: "
            f"{', '.join(azure_server_name(env, r) for r in regions)}), reached only through "
            f"private endpoints; the layer writes the `harbor` user's password to the Key Vault "
            f"secret `{password_entry(env)}` (never to state: the identity applying the layer "
            "needs Key Vault Secrets Officer on that vault); rotate it with "
            f"`{PASSWORD_VERSION.name}`. Harbor verifies the server's certificate against the "
            "public roots its images carry. The servers are encrypted with service-managed "
            f"keys, and backups are kept {MAX_BACKUP_DAYS} days at most (the service's limit).")


__all__ = ["LAYER", "ca_entry", "contribute", "host_expr", "layer", "password_entry"]
