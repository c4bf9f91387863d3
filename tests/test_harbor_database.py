"""Harbor's PostgreSQL: on GCP production's `registry` layer creates one private, highly
available, CMEK-encrypted, backed-up Cloud SQL instance per Harbor site; the password exists
only for an apply (write-only into the instance and into the entry Harbor's ExternalSecret
reads); Harbor connects, with `verify-full`, to the name the server certificate carries and
trusts the server's CA. Elsewhere the runbook says precisely what to provision.

Examples: regulated-payments (GCP, Harbor in two of three production regions), factory-onprem
(the site's PostgreSQL), and aws-saas switched to Harbor."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeplan.blocks.registry import gitops as harbor_gitops
from kubeplan.blocks.registry import terraform_harbor_database as database
from kubeplan.check import terraform as check_terraform
from kubeplan.render import naming
from kubeplan.render.gitops import outputs, telemetry
from kubeplan.render.terraform.objectstore import retention_days

from .gitops_support import (
    check,
    cluster_objects,
    example_data,
    example_plan,
    plan_from,
    write,
)
from .terraform_support import Rendered, plain, render

EXAMPLE = "regulated-payments"


@pytest.fixture(scope="module")
def rendered() -> Rendered:
    return render(EXAMPLE)


@pytest.fixture(scope="module")
def layer(rendered: Rendered) -> dict[str, str]:
    """The production registry layer's files, by name."""
    prefix = f"terraform/{rendered.plan.topology.production}/{database.LAYER}/"
    return {p.removeprefix(prefix): t for p, t in rendered.tf().items() if p.startswith(prefix)}


@pytest.fixture(scope="module")
def parsed(layer: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {name: check_terraform.parse(text) for name, text in layer.items()}


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    root = tmp_path_factory.mktemp("harbor-database")
    return root, write(example_plan(EXAMPLE), root)




def blocks(parsed: dict[str, dict[str, Any]], kind: str, type_: str) -> dict[str, Any]:
    """name -> body of every `kind "type_" "name"` block of the layer."""
    out: dict[str, Any] = {}
    for data in parsed.values():
        for entry in data.get(kind, []):
            for first, inner in plain(entry).items():
                if first == type_:
                    out.update(inner)
    return out


def one(body: dict[str, Any], key: str) -> Any:
    """A nested block (python-hcl2 gives a list of one)."""
    value = body[key]
    return value[0] if isinstance(value, list) else value


def instances(parsed: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {b["region"]: b
            for b in blocks(parsed, "resource", "google_sql_database_instance").values()}


def values_of(files: dict[str, bytes], cluster: str) -> dict[str, Any]:
    data = files[f"gitops/clusters/{cluster}/{harbor_gitops.RELEASE}/values.yaml"]
    loaded: dict[str, Any] = yaml.safe_load(data)
    return loaded


def external_secret(files: dict[str, bytes], cluster: str, name: str) -> dict[str, Any]:
    data = files[f"gitops/clusters/{cluster}/{harbor_gitops.RELEASE}-credentials/manifests/"
                 f"{harbor_gitops.NAMESPACE}/externalsecret-{name}.yaml"]
    loaded: dict[str, Any] = yaml.safe_load(data)
    return loaded


def remote_keys(secret: dict[str, Any]) -> dict[str, str]:
    return {d["secretKey"]: d["remoteRef"]["key"] for d in secret["spec"]["data"]}


# --- the instances ------------------------------------------------------------------------


def test_one_instance_per_harbor_site_in_production_only(rendered: Rendered,
                                                         parsed: dict[str, Any]) -> None:
    plan = rendered.plan
    assert sorted(instances(parsed)) == sorted(naming.harbor_regions(plan))
    assert len(instances(parsed)) == 2  # the primary and the replicateTo site, not all three
    for environment in plan.metadata.environments:
        if environment == plan.topology.production:
            continue
        others = [t for p, t in rendered.tf().items() if p.startswith(f"terraform/{environment}/")]
        assert not any("google_sql_database_instance" in t for t in others), environment


def test_private_only_highly_available_and_protected(parsed: dict[str, Any]) -> None:
    for region, body in instances(parsed).items():
        settings = one(body, "settings")
        ip = one(settings, "ip_configuration")
        assert ip["ipv4_enabled"] is False, region
        assert "authorized_networks" not in ip, region
        assert one(ip, "psc_config")["psc_enabled"] is True, region
        assert ip["ssl_mode"] == "ENCRYPTED_ONLY", region
        assert settings["availability_type"] == "REGIONAL", region
        assert body["deletion_protection"] is True, region
        assert settings["deletion_protection_enabled"] is True, region
        window = one(settings, "maintenance_window")
        assert 1 <= window["day"] <= 7 and 0 <= window["hour"] <= 23, region
        assert body["database_version"] == database.DATABASE_VERSION


def test_encrypted_with_a_key_of_its_region_granted_to_cloud_sql(
        parsed: dict[str, Any]) -> None:
    keys = blocks(parsed, "resource", "google_kms_crypto_key")
    rings = blocks(parsed, "resource", "google_kms_key_ring")
    grants = blocks(parsed, "resource", "google_kms_crypto_key_iam_member")
    identities = blocks(parsed, "resource", "google_project_service_identity")
    assert identities["sqladmin"]["service"] == "sqladmin.googleapis.com"
    for region, body in instances(parsed).items():
        key_name = re.fullmatch(r"\$\{google_kms_crypto_key\.(\w+)\.id\}",
                                body["encryption_key_name"])
        assert key_name, body["encryption_key_name"]
        key = keys[key_name[1]]
        ring = re.fullmatch(r"\$\{google_kms_key_ring\.(\w+)\.id\}", key["key_ring"])
        assert ring and rings[ring[1]]["location"] == region
        assert key["rotation_period"]
        grant = grants[f"{key_name[1]}_sqladmin"]
        assert grant["member"] == "${google_project_service_identity.sqladmin.member}"
        assert grant["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
        assert f"${{google_kms_crypto_key_iam_member.{key_name[1]}_sqladmin}}" in \
            str(body["depends_on"])


def test_backups_with_point_in_time_recovery_kept_as_long_as_the_logs(
        rendered: Rendered, parsed: dict[str, Any]) -> None:
    keep = retention_days(rendered.plan.inputs["observability"]["retention"])
    for region, body in instances(parsed).items():
        backups = one(one(body, "settings"), "backup_configuration")
        assert backups["enabled"] is True and backups["point_in_time_recovery_enabled"] is True
        assert backups["transaction_log_retention_days"] == 7, region
        retention = one(backups, "backup_retention_settings")
        assert retention == {"retained_backups": max(7, keep), "retention_unit": "COUNT"}


def test_database_and_user_harbor_reads(parsed: dict[str, Any], tree: tuple[Path, Any]) -> None:
    _, files = tree
    databases = blocks(parsed, "resource", "google_sql_database")
    users = blocks(parsed, "resource", "google_sql_user")
    external = values_of(files, "prod-europe-west1")["database"]["external"]
    for region in instances(parsed):
        name = f"${{google_sql_database_instance.harbor_{region.replace('-', '_')}.name}}"
        assert {d["name"] for d in databases.values() if d["instance"] == name} == \
            {external["coreDatabase"]}
        assert {u["name"] for u in users.values() if u["instance"] == name} == \
            {external["username"]}


# --- the password ----------------------------------------------------------------------------


def test_password_is_write_only_and_never_an_output(layer: dict[str, str],
                                                    parsed: dict[str, Any]) -> None:
    text = "".join(layer.values())
    assert not re.search(r"^\s*(password|secret_data)\s*=\s*(?!.*sql_ca_certs)", text,
                         re.MULTILINE)
    assert 'resource "random_password"' not in text  # only the ephemeral one: not in state
    ephemeral = "${ephemeral.random_password.harbor_database.result}"
    for user in blocks(parsed, "resource", "google_sql_user").values():
        assert user["password_wo"] == ephemeral
        assert user["password_wo_version"] == "${var.harbor_database_password_version}"
    versions = blocks(parsed, "resource", "google_secret_manager_secret_version")
    assert versions["harbor_database_password"]["secret_data_wo"] == ephemeral
    outputs_text = layer["outputs.tf"]
    assert "random_password" not in outputs_text and "sensitive" not in outputs_text
    assert "password" not in outputs_text.lower()


def test_password_entry_is_the_one_harbor_reads(rendered: Rendered, parsed: dict[str, Any],
                                                tree: tuple[Path, Any]) -> None:
    _, files = tree
    secrets = blocks(parsed, "resource", "google_secret_manager_secret")
    written = secrets["harbor_database_password"]["secret_id"]
    for region in naming.harbor_regions(rendered.plan):
        cluster = next(c for c in rendered.plan.topology.clusters_in("prod")
                       if c.region == region)
        read = remote_keys(external_secret(files, cluster.name,
                                           harbor_gitops.DATABASE_SECRET))["password"]
        assert read == written == telemetry.remote_key(rendered.plan, cluster,
                                                       database.PASSWORD_ITEM)
    # Kept in the Harbor sites only, each copy under the site's key.
    replicas = one(one(secrets["harbor_database_password"], "replication"),
                   "user_managed")["replicas"]
    assert sorted(r["location"] for r in replicas) == sorted(naming.harbor_regions(
        rendered.plan))
    assert all(one(r, "customer_managed_encryption")["kms_key_name"] for r in replicas)


# --- verify-full -------------------------------------------------------------------------------


def test_harbor_connects_to_the_name_the_certificate_carries(
        rendered: Rendered, layer: dict[str, str], parsed: dict[str, Any],
        tree: tuple[Path, Any]) -> None:
    _, files = tree
    plan = rendered.plan
    platform = _platform_outputs(parsed)
    zones = blocks(parsed, "resource", "google_dns_managed_zone")
    records = blocks(parsed, "resource", "google_dns_record_set")
    rules = blocks(parsed, "resource", "google_compute_forwarding_rule")
    for site, region in enumerate(naming.harbor_regions(plan)):
        key = region.replace("-", "_")
        instance = instances(parsed)[region]
        # Google's shared CA issues certificates for the instance's DNS name.
        assert one(one(instance, "settings"), "ip_configuration")["server_ca_mode"] == \
            "GOOGLE_MANAGED_CAS_CA"
        host = f'${{trimsuffix(google_sql_database_instance.harbor_{key}.dns_name, ".")}}'
        variable = outputs.HARBOR_DATABASE_HOSTS[site]
        assert platform[variable] == host
        cluster = next(c for c in plan.topology.clusters_in("prod") if c.region == region)
        external = values_of(files, cluster.name)["database"]["external"]
        assert external["host"] == outputs.var(variable)
        assert external["sslmode"] == "verify-full"
        # The name resolves, inside the VPC only, to the instance's PSC endpoint.
        zone = zones[f"harbor_db_{key}"]
        assert zone["visibility"] == "private"
        assert zone["dns_name"] == f"{host}."
        record = records[f"harbor_db_{key}"]
        assert record["type"] == "A"
        assert record["rrdatas"] == [f"${{google_compute_address.harbor_db_{key}.address}}"]
        assert rules[f"harbor_db_{key}"]["target"] == \
            f"${{google_sql_database_instance.harbor_{key}.psc_service_attachment_link}}"
        assert "harbor-db-" not in external["host"]


def _platform_outputs(parsed: dict[str, Any]) -> dict[str, str]:
    for data in parsed.values():
        for entry in data.get("output", []):
            output = plain(entry)
            if "platform_outputs" in output:
                value: dict[str, str] = output["platform_outputs"]["value"]
                return value
    raise AssertionError("no platform_outputs output")


def test_harbor_trusts_the_server_ca_from_the_secret_store(
        rendered: Rendered, parsed: dict[str, Any], tree: tuple[Path, Any]) -> None:
    _, files = tree
    secrets = blocks(parsed, "resource", "google_secret_manager_secret")
    versions = blocks(parsed, "resource", "google_secret_manager_secret_version")
    for region in naming.harbor_regions(rendered.plan):
        key = region.replace("-", "_")
        cluster = next(c for c in rendered.plan.topology.clusters_in("prod")
                       if c.region == region)
        values = values_of(files, cluster.name)
        assert values["caBundleSecretName"] == harbor_gitops.DATABASE_CA_SECRET
        read = remote_keys(external_secret(files, cluster.name,
                                           harbor_gitops.DATABASE_CA_SECRET))
        assert set(read) == {"ca.crt"}
        assert read["ca.crt"] == secrets[f"harbor_database_ca_{key}"]["secret_id"]
        assert versions[f"harbor_database_ca_{key}"]["secret_data"] == \
            f'${{join("", data.google_sql_ca_certs.harbor_{key}.certs[*].cert)}}'


def test_gitops_tree_passes_its_validators(tree: tuple[Path, Any]) -> None:
    """Kubernetes schemas, CRDs, chart values (caBundleSecretName included) and secrets."""
    root, _ = tree
    findings = check(root)
    assert not findings, "\n".join(f.render() for f in findings)


# --- the runbook ---------------------------------------------------------------------------


def test_runbook_says_what_is_rendered_and_what_is_not(rendered: Rendered) -> None:
    gcp = rendered.files["terraform/README.md"].decode()
    assert "Harbor's PostgreSQL is Cloud SQL" in gcp
    assert not re.search(r"Harbor's PostgreSQL[^\n]*not rendered", gcp)
    onprem = render("factory-onprem").files
    notes = "".join(b.decode() for p, b in onprem.items() if p.endswith("README.md"))
    assert "the site's PostgreSQL, which the site's operators run" in notes
    data = example_data("aws-saas")
    data["spec"]["delivery"]["registry"] = "harbor"
    aws = render("aws-on-harbor", plan_from(data))
    text = aws.files["terraform/README.md"].decode()
    assert "Amazon RDS for PostgreSQL 15" in text and "does not render it" in text
    assert not any("google_sql_database_instance" in t or "aws_db_instance" in t
                   for t in aws.tf().values())


def test_harbor_pods_may_reach_the_endpoint_in_the_node_subnet(
        rendered: Rendered, layer: dict[str, str], tree: tuple[Path, Any]) -> None:
    """The PSC endpoint takes its address from the site's node subnet: the harbor namespace's
    default-deny egress must let PostgreSQL (5432) through to that subnet."""
    _, files = tree
    plan = rendered.plan
    assert "subnet_self_links" in layer["harbor-database.tf"]
    for region in naming.harbor_regions(plan):
        cluster = next(c for c in plan.topology.clusters_in("prod") if c.region == region)
        subnet = ipaddress.ip_network(str(plan.decision("network").param(f"nodeCidr.{region}")))
        allowed = False
        for obj in cluster_objects(files, cluster.name):
            if obj["kind"] != "NetworkPolicy" or \
                    obj["metadata"].get("namespace") != harbor_gitops.NAMESPACE:
                continue
            for rule in obj["spec"].get("egress", []):
                ports = {p.get("port") for p in rule.get("ports", [])}
                if ports and 5432 not in ports:
                    continue
                for peer in rule.get("to", []):
                    block = peer.get("ipBlock")
                    if block and subnet.subnet_of(ipaddress.ip_network(block["cidr"])) and \
                            not block.get("except"):
                        allowed = True
        assert allowed, cluster.name
