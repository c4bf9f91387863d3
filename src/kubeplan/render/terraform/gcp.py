"""Google Cloud building blocks several blocks share: Cloud KMS keys, private buckets and
workload identities. Helpers return identical blocks for identical inputs, so two blocks asking
for the same key get one (the composer merges equal blocks).
"""

from __future__ import annotations

from kubeplan.render.delivery import preview_cluster
from kubeplan.render.gitops import network
from kubeplan.render.naming import WORKLOADS, identity
from kubeplan.render.terraform.hcl import Block, Expr, Value, block, ref, template, var
from kubeplan.render.terraform.model import TerraformEnv, slug
from kubeplan.render.terraform.shared import ZONE_MODULE

# Keys rotate every 90 days (CIS GCP 1.10); old versions stay to decrypt old data.
KEY_ROTATION = "7776000s"
# Service agents of the Google services that encrypt with our keys, by service.
SERVICE_AGENT = {
    "container": "container-engine-robot.iam.gserviceaccount.com",
    "compute": "compute-system.iam.gserviceaccount.com",
    "artifactregistry": "gcp-sa-artifactregistry.iam.gserviceaccount.com",
}
# Project data source, for the project number in service-agent addresses.
PROJECT = block("data", "google_project", "this", project_id=var("project_id"))


def key_ring(env: TerraformEnv, layer: str, region: str) -> Block:
    # Key rings cannot be deleted in Cloud KMS: the name carries the layer so each layer owns
    # its own ring and a re-created layer adopts it by import rather than colliding.
    return block("resource", "google_kms_key_ring", f"{layer}_{slug(region)}",
                 name=f"{env.prefix}-{layer}-{region}", location=region,
                 project=var("project_id"))


def crypto_key(env: TerraformEnv, layer: str, purpose: str, region: str, *,
               agents: tuple[str, ...] = (), named: str | None = None) -> list[Block]:
    """A key ring (per layer and region), a rotated key and encrypt/decrypt grants. `named`
    gives the key a ring of its own, both called `named` (a name other targets compute)."""
    if named:
        ring = block("resource", "google_kms_key_ring", f"{slug(purpose)}_ring_{slug(region)}",
                     name=named, location=region, project=var("project_id"))
    else:
        ring = key_ring(env, layer, region)
    key_name = f"{slug(purpose)}_{slug(region)}"
    key = block("resource", "google_kms_crypto_key", key_name,
                name=named or purpose, key_ring=ref("google_kms_key_ring", ring.labels[1], "id"),
                rotation_period=KEY_ROTATION, purpose="ENCRYPT_DECRYPT",
                lifecycle=block("lifecycle", prevent_destroy=True))
    out = [ring, key]
    for agent in agents:
        out.append(PROJECT)
        member = template("serviceAccount:service-", ref("data.google_project.this.number"),
                          f"@{SERVICE_AGENT[agent]}")
        out.append(block("resource", "google_kms_crypto_key_iam_member",
                         f"{key_name}_{agent}", crypto_key_id=key_ref(purpose, region),
                         role="roles/cloudkms.cryptoKeyEncrypterDecrypter", member=member))
    return out


def grant_ref(purpose: str, region: str, agent: str) -> Expr:
    """The grant of key `purpose` to a service agent: resources that encrypt depend on it."""
    return ref("google_kms_crypto_key_iam_member", f"{slug(purpose)}_{slug(region)}_{agent}")


def key_ref(purpose: str, region: str) -> Expr:
    return ref("google_kms_crypto_key", f"{slug(purpose)}_{slug(region)}", "id")


def service_agent_name(service: str) -> str:
    """`sqladmin.googleapis.com` -> `sqladmin`: the agent's part of resource names."""
    return slug(service.split(".", 1)[0])


def service_identity(service: str) -> Block:
    """The service agent of an API that Google creates only on request (Cloud SQL, Secret
    Manager), generated so it can be granted a key before the first resource uses it. The
    resource exists in google-beta only."""
    return block("resource", "google_project_service_identity", service_agent_name(service),
                 provider=Expr("google-beta"), project=var("project_id"), service=service)


def service_agent_key_grant(purpose: str, region: str, service: str) -> list[Block]:
    """Encrypt/decrypt on key `purpose` for the agent of `service` (see `service_identity`);
    `grant_ref(purpose, region, service_agent_name(service))` is what encrypting resources
    depend on."""
    identity = service_identity(service)
    agent = service_agent_name(service)
    return [identity, block(
        "resource", "google_kms_crypto_key_iam_member", f"{slug(purpose)}_{slug(region)}_{agent}",
        crypto_key_id=key_ref(purpose, region), role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
        member=ref("google_project_service_identity", agent, "member"))]


# --- buckets --------------------------------------------------------------------------------

STORAGE_AGENT = block("data", "google_storage_project_service_account", "this",
                      project=var("project_id"))


def bucket_key(env: TerraformEnv, region: str) -> list[Block]:
    """The storage layer's key for bucket contents in `region`, usable by Cloud Storage."""
    blocks = crypto_key(env, "storage", "buckets", region)
    blocks.append(STORAGE_AGENT)
    blocks.append(block("resource", "google_kms_crypto_key_iam_member",
                        f"buckets_{slug(region)}_storage",
                        crypto_key_id=key_ref("buckets", region),
                        role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
                        member=template("serviceAccount:",
                                        ref("data.google_storage_project_service_account.this"
                                            ".email_address"))))
    return blocks


def bucket(env: TerraformEnv, resource: str, name: str, region: str, *,
           expire_days: int | None, versioned: bool, why_unversioned: str = "") -> list[Block]:
    """A private, CMEK-encrypted bucket with lifecycle rules; deletion-protected by versioning
    (backups) or expiring by age (observability data, where versions would only add cost)."""
    rules: list[Block] = []
    if expire_days is not None:
        rules.append(block("lifecycle_rule", action=block("action", type="Delete"),
                           condition=block("condition", age=expire_days)))
    if versioned:
        rules.append(block("lifecycle_rule", action=block("action", type="Delete"),
                           condition=block("condition", days_since_noncurrent_time=7,
                                           with_state="ARCHIVED")))
    rules.append(block("lifecycle_rule", action=block("action", type="AbortIncompleteMultipartUpload"),
                       condition=block("condition", age=1)))
    comments = [
        "checkov:skip=CKV_GCP_62:access is recorded by Cloud Audit Logs (data access logs), "
        "not by legacy bucket access logs into a second bucket",
    ]
    if not versioned:
        comments.append(f"checkov:skip=CKV_GCP_78:{why_unversioned}")
    storage_grant = f"buckets_{slug(region)}_storage"
    args: dict[str, Value | Block | list[Block]] = {
        "name": name,
        "project": var("project_id"),
        "location": region.upper(),
        "storage_class": "STANDARD",
        "force_destroy": False,
        "uniform_bucket_level_access": True,
        "public_access_prevention": "enforced",
        "labels": env.labels,
        "versioning": block("versioning", enabled=versioned),
        "encryption": block("encryption", default_kms_key_name=key_ref("buckets", region)),
        "lifecycle_rule": rules,
        "depends_on": [ref("google_kms_crypto_key_iam_member", storage_grant)],
    }
    return [*bucket_key(env, region),
            block("resource", "google_storage_bucket", resource, comments=comments, **args)]


# --- workload identity ------------------------------------------------------------------------


def workload_identity(env: TerraformEnv, component: str) -> list[Block]:
    """A Google service account the component's Kubernetes service account impersonates."""
    workload = WORKLOADS[component]
    name = slug(component)
    member = template("serviceAccount:", var("project_id"),
                      f".svc.id.goog[{workload.namespace}/{workload.service_account}]")
    return [
        block("resource", "google_service_account", name,
              project=var("project_id"), account_id=identity(env.plan, env.environment, component),
              display_name=f"{component} ({env.environment}, workload identity)"),
        block("resource", "google_service_account_iam_member", f"{name}_workload_identity",
              service_account_id=ref("google_service_account", name, "name"),
              role="roles/iam.workloadIdentityUser", member=member),
    ]


def identity_member(component: str) -> Expr:
    return template("serviceAccount:", ref("google_service_account", slug(component), "email"))


def identity_email(component: str) -> Expr:
    return ref("google_service_account", slug(component), "email")


def bucket_access(component: str, bucket_resource: str, role: str = "roles/storage.objectAdmin"
                  ) -> Block:
    return block("resource", "google_storage_bucket_iam_member", f"{slug(component)}_{bucket_resource}",
                 bucket=ref("google_storage_bucket", bucket_resource, "name"), role=role,
                 member=identity_member(component))


def bucket_name(resource: str) -> Expr:
    return ref("google_storage_bucket", resource, "name")


TRANSFER_AGENT = block("data", "google_storage_transfer_project_service_account", "this",
                       project=var("project_id"))
# Copies run every hour: the replica of a backup bucket lags by at most that much.
REPLICATION_INTERVAL = "3600s"


def replica(env: TerraformEnv, resource: str, name: str, region: str) -> list[Block]:
    """A copy of bucket `resource` in `region`, kept in step by Storage Transfer Service (GCS
    only replicates natively between regions of one continent, which a plan need not have)."""
    replica_resource = f"{resource}_replica"
    blocks = bucket(env, replica_resource, name, region, expire_days=None, versioned=True)
    agent = template("serviceAccount:",
                     ref("data.google_storage_transfer_project_service_account.this.email"))
    source_grant = block("resource", "google_storage_bucket_iam_member",
                         f"{resource}_transfer_source", bucket=bucket_name(resource),
                         role="roles/storage.objectViewer", member=agent)
    bucket_reader = block("resource", "google_storage_bucket_iam_member",
                          f"{resource}_transfer_source_bucket", bucket=bucket_name(resource),
                          role="roles/storage.legacyBucketReader", member=agent)
    sink_grant = block("resource", "google_storage_bucket_iam_member",
                       f"{resource}_transfer_sink", bucket=bucket_name(replica_resource),
                       role="roles/storage.legacyBucketWriter", member=agent)
    job = block(
        "resource", "google_storage_transfer_job", replica_resource,
        project=var("project_id"),
        description=f"Copy {resource} backups to {region}",
        transfer_spec=block(
            "transfer_spec",
            gcs_data_source=block("gcs_data_source", bucket_name=bucket_name(resource)),
            gcs_data_sink=block("gcs_data_sink", bucket_name=bucket_name(replica_resource)),
            transfer_options=block("transfer_options",
                                   overwrite_objects_already_existing_in_sink=False,
                                   delete_objects_unique_in_sink=False)),
        schedule=block("schedule",
                       schedule_start_date=block("schedule_start_date", year=2026, month=1, day=1),
                       repeat_interval=REPLICATION_INTERVAL),
        depends_on=[ref("google_storage_bucket_iam_member", f"{resource}_transfer_source"),
                    ref("google_storage_bucket_iam_member", f"{resource}_transfer_source_bucket"),
                    ref("google_storage_bucket_iam_member", f"{resource}_transfer_sink")])
    return [*blocks, TRANSFER_AGENT, source_grant, bucket_reader, sink_grant, job]


# --- Cloud CDN in front of the Gateway ------------------------------------------------------

# Where Google's front ends connect to internet NEG backends from (INTERNET_FQDN_PORT and
# INTERNET_IP_PORT), i.e. the source of the CDN's origin fetches: "Request source ranges" in
# https://cloud.google.com/load-balancing/docs/https#firewall-rules, also published in the
# `_cloud-eoips.googleusercontent.com` TXT record
# (https://cloud.google.com/load-balancing/docs/https/setup-global-ext-https-external-backend).
INTERNET_NEG_RANGES = ("34.96.0.0/20", "34.127.192.0/18")
# The CDN load balancer's anycast address and the host its internet NEG fetches from.
CDN_ADDRESS = "google_compute_global_address.cdn"
ORIGIN_HOST = "origin"
GATEWAY_ADDRESS = "google_compute_global_address.gateway"


def cdn_hosts(env: TerraformEnv) -> tuple[str, ...]:
    """Names (relative to the zone, "" the apex) whose records point at the CDN: every name the
    Gateway's certificate map covers, i.e. the apex, its subdomains and, where the previews
    run, their wildcard, so the names routed through the Gateway go through the CDN."""
    hosts = ["", "*"]
    previews = network.preview_wildcard(env.plan)
    if previews and env.environment == preview_cluster(env.plan).environment \
            and previews.endswith(f".{env.zone}"):
        hosts.append(previews.removesuffix(f".{env.zone}"))
    return tuple(hosts)


def host_key(host: str) -> str:
    """A Terraform resource name for a relative DNS name."""
    return {"": "apex", "*": "wildcard"}.get(host, slug(host.replace("*", "wildcard")))


def address_records(env: TerraformEnv, name: str, hosts: tuple[str, ...], address: Expr,
                    ttl: int = 300) -> list[Block]:
    """A records of `hosts` (relative names) in the environment's Cloud DNS zone."""
    return [block("resource", "google_dns_record_set", f"{name}_{host_key(host)}",
                  project=var("project_id"), managed_zone=ref(f"module.{ZONE_MODULE}.name"),
                  name=f"{host}.{env.zone}." if host else f"{env.zone}.", type="A", ttl=ttl,
                  rrdatas=[address])
            for host in hosts]
