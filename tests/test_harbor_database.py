"""Harbor's PostgreSQL: on every cloud production's Terraform creates one private, highly
available, encrypted, backed-up, deletion-protected server per Harbor site (Cloud SQL, RDS,
Flexible Server); the password exists only for an apply (write-only into the server and into
the entry Harbor's ExternalSecret reads); Harbor connects, with `verify-full`, to the name the
server certificate carries (a platform output) and trusts the server's CA (Cloud SQL's and
RDS's through the secret store; Azure's roots are public). On-prem the runbook says what to
provision.

Examples: regulated-payments (GCP, Harbor in two of three production regions), the same on AWS
and on Azure (two regions), and factory-onprem (the site's PostgreSQL)."""

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
    assert "does not render" not in notes


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


# --- AWS and Azure ---------------------------------------------------------------------------

CLOUDS = {"aws": ["eu-west-1", "eu-central-1"], "azure": ["westeurope", "northeurope"]}
EPHEMERAL = "${ephemeral.random_password.harbor_database.result}"
VERSION = "${var.harbor_database_password_version}"


class Cloud:
    """regulated-payments on another cloud: its Terraform, the database's layer parsed, and
    its GitOps tree."""

    def __init__(self, provider: str, root: Path) -> None:
        data = example_data(EXAMPLE)
        data["spec"]["provider"] = provider
        data["spec"]["regions"] = CLOUDS[provider]
        if provider == "azure":
            # Identity-aware proxy access is not built on Azure.
            data["spec"]["security"]["adminAccess"] = "bastion"
        self.plan = plan_from(data)
        self.rendered = render(f"{EXAMPLE}-{provider}", self.plan)
        production = self.plan.topology.production
        self.layer_name = "storage" if provider == "azure" else "registry"
        prefix = f"terraform/{production}/{self.layer_name}/"
        self.layer = {p.removeprefix(prefix): t for p, t in self.rendered.tf().items()
                      if p.startswith(prefix)}
        self.parsed = {name: check_terraform.parse(text) for name, text in self.layer.items()}
        self.root = root
        self.files = write(self.plan, root / "gitops-tree")
        self.layer_root = root / "layer"
        for name, text in self.layer.items():
            (self.layer_root / name).parent.mkdir(parents=True, exist_ok=True)
            (self.layer_root / name).write_text(text)

    def of(self, type_: str, kind: str = "resource") -> dict[str, Any]:
        return blocks(self.parsed, kind, type_)

    def cluster(self, region: str) -> str:
        return next(c.name for c in self.plan.topology.clusters_in(self.plan.topology.production)
                    if c.region == region)

    def sites(self) -> list[str]:
        return naming.harbor_regions(self.plan)


@pytest.fixture(scope="module")
def aws_cloud(tmp_path_factory: pytest.TempPathFactory) -> Cloud:
    return Cloud("aws", tmp_path_factory.mktemp("harbor-db-aws"))


@pytest.fixture(scope="module")
def azure_cloud(tmp_path_factory: pytest.TempPathFactory) -> Cloud:
    return Cloud("azure", tmp_path_factory.mktemp("harbor-db-azure"))


@pytest.fixture(params=sorted(CLOUDS))
def cloud(request: pytest.FixtureRequest) -> Cloud:
    built: Cloud = request.getfixturevalue(f"{request.param}_cloud")
    return built


def test_cloud_variant_has_harbor_in_two_sites(cloud: Cloud) -> None:
    assert cloud.plan.choice("registry") == "harbor"
    assert cloud.sites() == CLOUDS[cloud.plan.metadata.provider]
    # The GCP instance's layer is not where the others look.
    assert not any("google_sql" in t for t in cloud.rendered.tf().values())


def test_aws_one_private_multi_az_encrypted_protected_instance_per_site(
        aws_cloud: Cloud) -> None:
    cloud = aws_cloud
    instances = {b["region"]: b for b in cloud.of("aws_db_instance").values()}
    assert sorted(instances) == sorted(cloud.sites())
    keys = cloud.of("aws_kms_key")
    groups = cloud.of("aws_db_parameter_group")
    subnets = cloud.of("aws_db_subnet_group")
    rules = cloud.of("aws_vpc_security_group_ingress_rule")
    keep = min(35, max(7, retention_days(cloud.plan.inputs["observability"]["retention"])))
    for region, body in instances.items():
        key = region.replace("-", "_")
        assert body["multi_az"] is True and body["storage_encrypted"] is True
        kms = re.fullmatch(r"\$\{aws_kms_key\.(\w+)\.arn\}", body["kms_key_id"])
        assert kms and keys[kms[1]]["region"] == region
        assert keys[kms[1]]["enable_key_rotation"] is True
        assert body["publicly_accessible"] is False
        assert body["deletion_protection"] is True and body["skip_final_snapshot"] is False
        assert body["backup_retention_period"] == keep
        assert body["auto_minor_version_upgrade"] is True
        assert body["iam_database_authentication_enabled"] is True
        assert body["engine"] == "postgres" and body["engine_version"] == "15"
        assert body["ca_cert_identifier"] == database.AWS_CA
        group = groups[f"harbor_{key}"]
        assert {"name": "rds.force_ssl", "value": "1"} in group["parameter"]
        assert body["parameter_group_name"] == f"${{aws_db_parameter_group.harbor_{key}.name}}"
        # Private subnets in the node range, and 5432 from the site cluster's nodes only.
        assert subnets[f"harbor_{key}"]["subnet_ids"] == \
            f'${{data.terraform_remote_state.network.outputs.control_plane_subnets["{region}"]}}'
        assert body["vpc_security_group_ids"] == [f"${{aws_security_group.harbor_db_{key}.id}}"]
        own = [r for r in rules.values()
               if r["security_group_id"] == f"${{aws_security_group.harbor_db_{key}.id}}"]
        assert len(own) == 1
        assert own[0]["from_port"] == own[0]["to_port"] == 5432
        assert own[0]["referenced_security_group_id"] == (
            "${data.terraform_remote_state.cluster.outputs.node_security_groups"
            f'["{cloud.cluster(region)}"]}}')
        assert "cidr_ipv4" not in own[0]


def test_azure_one_private_zone_redundant_locked_server_per_site(azure_cloud: Cloud) -> None:
    cloud = azure_cloud
    servers = {b["location"]: (name, b)
               for name, b in cloud.of("azurerm_postgresql_flexible_server").items()}
    assert sorted(servers) == sorted(cloud.sites())
    endpoints = cloud.of("azurerm_private_endpoint")
    settings = cloud.of("azurerm_postgresql_flexible_server_configuration")
    locks = cloud.of("azurerm_management_lock")
    for region, (name, body) in servers.items():
        server = f"${{azurerm_postgresql_flexible_server.{name}.id}}"
        assert one(body, "high_availability")["mode"] == "ZoneRedundant"
        assert body["public_network_access_enabled"] is False
        assert body["geo_redundant_backup_enabled"] is True
        assert body["version"] == "15"
        endpoint = [e for e in endpoints.values()
                    if one(e, "private_service_connection")[
                        "private_connection_resource_id"] == server]
        assert len(endpoint) == 1
        assert one(endpoint[0], "private_service_connection")["subresource_names"] == \
            ["postgresqlServer"]
        assert endpoint[0]["subnet_id"] == \
            f'${{data.terraform_remote_state.network.outputs.node_subnet_ids["{region}"]}}'
        assert {(s["name"], s["value"]) for s in settings.values()
                if s["server_id"] == server} >= {("require_secure_transport", "on")}
        assert [lock["lock_level"] for lock in locks.values() if lock["scope"] == server] == \
            ["CanNotDelete"]


def test_cloud_password_is_write_only_and_is_what_harbor_reads(cloud: Cloud) -> None:
    provider = cloud.plan.metadata.provider
    text = "".join(cloud.layer.values())
    assert 'resource "random_password"' not in text
    assert not re.search(r"^\s*(password|administrator_password|secret_string)\s*=",
                         text, re.MULTILINE)
    assert "password" not in cloud.layer["outputs.tf"].lower()
    if provider == "aws":
        servers = cloud.of("aws_db_instance").values()
        assert all(s["password_wo"] == EPHEMERAL and s["password_wo_version"] == VERSION
                   for s in servers)
        secrets = cloud.of("aws_secretsmanager_secret")
        versions = cloud.of("aws_secretsmanager_secret_version")
        written = {}
        for region in cloud.sites():
            key = region.replace("-", "_")
            secret = secrets[f"harbor_database_password_{key}"]
            assert secret["region"] == region and secret["kms_key_id"]
            version = versions[f"harbor_database_password_{key}"]
            assert version["secret_string_wo"] == EPHEMERAL
            assert version["secret_string_wo_version"] == VERSION
            written[region] = secret["name"]
    else:
        servers = cloud.of("azurerm_postgresql_flexible_server").values()
        assert all(s["administrator_password_wo"] == EPHEMERAL and
                   s["administrator_password_wo_version"] == VERSION for s in servers)
        entry = cloud.of("azurerm_key_vault_secret")["harbor_database_password"]
        assert entry["value_wo"] == EPHEMERAL and entry["value_wo_version"] == VERSION
        assert "value" not in entry
        # The vault Harbor's store reads (AZURE_KEY_VAULT_URL), created in this same layer.
        assert entry["key_vault_id"] == "${azurerm_key_vault.secrets.id}"
        assert "secrets" in cloud.of("azurerm_key_vault")
        written = dict.fromkeys(cloud.sites(), entry["name"])
    for region in cloud.sites():
        read = remote_keys(external_secret(cloud.files, cloud.cluster(region),
                                           harbor_gitops.DATABASE_SECRET))["password"]
        assert read == written[region]


def test_cloud_harbor_connects_to_the_server_name_from_the_platform_outputs(
        cloud: Cloud) -> None:
    provider = cloud.plan.metadata.provider
    # The last layer before the sync merges earlier layers' outputs: read the text.
    platform = cloud.layer["outputs.tf"].split('output "platform_outputs"')[1]
    for site, region in enumerate(cloud.sites()):
        key = region.replace("-", "_")
        variable = outputs.HARBOR_DATABASE_HOSTS[site]
        host = (f"aws_db_instance.harbor_{key}.address" if provider == "aws" else
                f"azurerm_postgresql_flexible_server.harbor_{key}.fqdn")
        assert re.search(rf"^\s*{variable}\s*=\s*{re.escape(host)}$", platform, re.MULTILINE)
        values = values_of(cloud.files, cloud.cluster(region))
        external = values["database"]["external"]
        assert external["host"] == outputs.var(variable)
        assert external["sslmode"] == "verify-full"
        assert external["username"] == database.USER
        assert external["coreDatabase"] == database.DATABASE


def test_cloud_server_ca_reaches_harbor_where_it_is_not_public(cloud: Cloud) -> None:
    """RDS's CA is AWS's own: an entry per site, filled from AWS's published bundle (the
    runbook says how), synced into caBundleSecretName. Azure's chain to public roots."""
    provider = cloud.plan.metadata.provider
    ca_file = (f"gitops/clusters/{cloud.cluster(cloud.sites()[0])}/{harbor_gitops.RELEASE}"
               f"-credentials/manifests/{harbor_gitops.NAMESPACE}/externalsecret-"
               f"{harbor_gitops.DATABASE_CA_SECRET}.yaml")
    if provider == "azure":
        for region in cloud.sites():
            assert "caBundleSecretName" not in values_of(cloud.files, cloud.cluster(region))
        assert ca_file not in cloud.files
        return
    secrets = cloud.of("aws_secretsmanager_secret")
    runbook = cloud.rendered.files["terraform/README.md"].decode()
    for region in cloud.sites():
        key = region.replace("-", "_")
        values = values_of(cloud.files, cloud.cluster(region))
        assert values["caBundleSecretName"] == harbor_gitops.DATABASE_CA_SECRET
        read = remote_keys(external_secret(cloud.files, cloud.cluster(region),
                                           harbor_gitops.DATABASE_CA_SECRET))
        entry = secrets[f"harbor_database_ca_{key}"]
        assert read == {"ca.crt": entry["name"]} and entry["region"] == region
        assert f"https://truststore.pki.rds.amazonaws.com/{region}/{region}-bundle.pem" in \
            runbook
        assert f"--region {region} --secret-id {entry['name']}" in runbook


def test_cloud_layer_passes_checkov(cloud: Cloud) -> None:
    findings = check_terraform.checkov(cloud.layer_root, cloud.layer_root)
    assert not findings, "\n".join(f.render() for f in findings)


def test_cloud_gitops_tree_passes_its_validators(cloud: Cloud) -> None:
    findings = check(cloud.root / "gitops-tree")
    assert not findings, "\n".join(f.render() for f in findings)
