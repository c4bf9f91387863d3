"""Cloud CDN on GCP: a global external Application Load Balancer of its own in the `edge` layer,
whose only backend is an internet NEG at `origin.<zone>:443` (the GKE Gateway's global
address). The zone's names point at the CDN, `origin.<zone>` at the Gateway; the Gateway's
backends admit only Google's internet NEG source ranges, and the edge policy (when asked) sits
on the CDN's backend service."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from kubeplan import app
from kubeplan.check.terraform import parse
from kubeplan.model import Plan
from kubeplan.render import OutputTree, naming
from kubeplan.render.terraform.gcp import INTERNET_NEG_RANGES

from .gitops_support import example_plan

ENVIRONMENTS = ("dev", "staging", "prod")


def _clean(value: Any) -> Any:
    """python-hcl2 keeps string quotes and `${}` around references: drop both."""
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str):
        if value.startswith('"') and value.endswith('"'):
            return value[1:-1]
        if value.startswith("${") and value.endswith("}"):
            return value[2:-1]
    return value


class Built:
    def __init__(self, plan: Plan) -> None:
        tree = OutputTree()
        for renderer in (app.TARGET_RENDERERS[0], app.TARGET_RENDERERS[2]):  # gitops, terraform
            renderer(plan, tree)
        self.plan = plan
        self.files = dict(tree)

    def resources(self, environment: str, file: str) -> dict[str, dict[str, Any]]:
        """`type.name` -> attributes of the resources of terraform/<env>/edge/<file>.tf."""
        path = f"terraform/{environment}/edge/{file}.tf"
        if path not in self.files:
            return {}
        out: dict[str, dict[str, Any]] = {}
        for item in _clean(parse(self.files[path].decode())).get("resource", []):
            for kind, named in item.items():
                for name, attrs in named.items():
                    out[f"{kind}.{name}"] = attrs
        return out

    def backend_policies(self) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for path, data in self.files.items():
            if path.startswith("gitops/") and path.endswith(".yaml"):
                out += [(path, doc) for doc in yaml.safe_load_all(data)
                        if isinstance(doc, dict) and doc.get("kind") == "GCPBackendPolicy"]
        return out


@pytest.fixture(scope="module")
def shop() -> Built:
    return Built(example_plan("shop"))


@pytest.fixture(scope="module")
def payments() -> Built:
    return Built(example_plan("regulated-payments"))


@pytest.fixture(scope="module")
def internal() -> Built:
    return Built(example_plan("internal-tool"))


def _zone(built: Built, environment: str) -> str:
    domain = built.plan.metadata.domain
    return domain if environment == built.plan.topology.production else f"{environment}.{domain}"


def _single(attrs: dict[str, Any], name: str) -> dict[str, Any]:
    blocks = attrs[name]
    assert isinstance(blocks, list) and len(blocks) == 1, name
    return dict(blocks[0])


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_cdn_backend_is_the_gateway_through_an_internet_neg(shop: Built, environment: str) -> None:
    res = shop.resources(environment, "cdn")
    backend = res["google_compute_backend_service.cdn"]
    assert backend["enable_cdn"] is True
    assert backend["load_balancing_scheme"] == "EXTERNAL_MANAGED"
    assert backend["protocol"] == "HTTPS"
    assert backend["compression_mode"] == "AUTOMATIC"
    assert _single(backend, "log_config")["enable"] is True
    policy = _single(backend, "cdn_policy")
    assert policy["cache_mode"] == "USE_ORIGIN_HEADERS"
    assert policy["negative_caching"] is True and policy["request_coalescing"] is True
    assert policy["serve_while_stale"] > 0
    # The client's Host header must reach the Gateway's routes: no Host override.
    assert "custom_request_headers" not in backend
    backends = backend["backend"]
    assert [b["group"] for b in backends] == [
        "google_compute_global_network_endpoint_group.origin.id"]
    neg = res["google_compute_global_network_endpoint_group.origin"]
    assert neg["network_endpoint_type"] == "INTERNET_FQDN_PORT" and neg["default_port"] == 443
    endpoint = res["google_compute_global_network_endpoint.origin"]
    assert endpoint["fqdn"] == f"origin.{_zone(shop, environment)}" and endpoint["port"] == 443


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_records_send_the_zone_to_the_cdn_and_origin_to_the_gateway(
        shop: Built, environment: str) -> None:
    zone = _zone(shop, environment)
    res = shop.resources(environment, "cdn")
    records = {a["name"]: a["rrdatas"] for key, a in res.items()
               if key.startswith("google_dns_record_set.") and a["type"] == "A"}
    cdn = ["google_compute_global_address.cdn.address"]
    assert records[f"{zone}."] == cdn
    assert records[f"*.{zone}."] == cdn
    assert records[f"origin.{zone}."] == ["google_compute_global_address.gateway.address"]
    # The Gateway's address lives in the same layer (one per environment, also for prod's
    # multi-cluster Gateway in two regions).
    gateway = shop.resources(environment, "load-balancer")
    assert "google_compute_global_address.gateway" in gateway
    assert "google_compute_address.gateway" not in gateway
    if environment == "dev":  # where the previews run: their wildcard goes through the CDN too
        assert records[f"*.preview.{zone}."] == cdn


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_cdn_frontend_reuses_the_gateway_tls_and_redirects_http(
        shop: Built, environment: str) -> None:
    res = shop.resources(environment, "cdn")
    proxy = res["google_compute_target_https_proxy.cdn"]
    assert "google_certificate_manager_certificate_map.gateway.id" in proxy["certificate_map"]
    assert proxy["certificate_map"].startswith("//certificatemanager.googleapis.com/")
    assert proxy["ssl_policy"] == "google_compute_ssl_policy.gateway.id"
    https = res["google_compute_global_forwarding_rule.cdn_https"]
    http = res["google_compute_global_forwarding_rule.cdn_http"]
    assert (https["port_range"], http["port_range"]) == ("443", "80")
    for rule in (https, http):
        assert rule["ip_address"] == "google_compute_global_address.cdn.id"
        assert rule["load_balancing_scheme"] == "EXTERNAL_MANAGED"
    redirect = _single(res["google_compute_url_map.cdn_redirect"], "default_url_redirect")
    assert redirect["https_redirect"] is True


def test_gateway_admits_only_the_cdn(shop: Built) -> None:
    for environment in ENVIRONMENTS:
        policy = shop.resources(environment, "cdn")["google_compute_security_policy.origin"]
        assert policy["name"] == naming.origin_security_policy(shop.plan, environment)
        allowed = [r for r in policy["rule"] if r["action"] == "allow"]
        assert [_single(r, "match")["config"][0]["src_ip_ranges"] for r in allowed] == [
            list(INTERNET_NEG_RANGES)]
        default = max(policy["rule"], key=lambda r: r["priority"])
        assert default["priority"] == 2147483647 and default["action"].startswith("deny")
    # shop asks for no edge protection: the CDN's backend carries no edge policy.
    assert "security_policy" not in shop.resources("prod", "cdn")[
        "google_compute_backend_service.cdn"]
    policies = shop.backend_policies()
    assert {p.split("/")[2] for p, _ in policies} == {
        "dev-europe-west1", "staging-europe-west1", "prod-europe-west1"}
    for path, doc in policies:
        environment = path.split("/")[2].split("-")[0]
        assert doc["spec"]["default"]["securityPolicy"] == \
            naming.origin_security_policy(shop.plan, environment), path
        if environment == "prod":  # the multi-cluster Gateway's backend in the config cluster
            assert doc["spec"]["targetRef"]["kind"] == "ServiceImport"


def test_edge_policy_sits_on_the_cdn_backend(payments: Built) -> None:
    for environment in ENVIRONMENTS:
        backend = payments.resources(environment, "cdn")["google_compute_backend_service.cdn"]
        assert backend["security_policy"] == "google_compute_security_policy.edge.id"
        assert "google_compute_security_policy.edge" in payments.resources(
            environment, "load-balancer")
    for path, doc in payments.backend_policies():
        environment = path.split("/")[2].split("-")[0]
        assert doc["spec"]["default"]["securityPolicy"] == \
            naming.origin_security_policy(payments.plan, environment), path


def test_second_dns_provider_answers_the_same(payments: Built) -> None:
    zone = payments.plan.metadata.domain
    text = payments.files["terraform/prod/edge/dns-cloudflare.tf"].decode()
    records = {}
    for item in _clean(parse(text))["resource"]:
        for attrs in item.get("cloudflare_dns_record", {}).values():
            if attrs["type"] == "A":
                records[attrs["name"]] = attrs["content"]
    assert records == {zone: "google_compute_global_address.cdn.address",
                       f"*.{zone}": "google_compute_global_address.cdn.address",
                       f"origin.{zone}": "google_compute_global_address.gateway.address"}


def test_plan_no_longer_warns_about_cloud_cdn(shop: Built) -> None:
    assert not shop.plan.decision("cdn").warnings


def test_no_cdn_no_cdn_resources(internal: Built) -> None:
    assert internal.plan.choice("cdn") == "none"
    assert not naming.cdn_in_front(internal.plan)
    tf = "".join(d.decode() for p, d in internal.files.items() if p.endswith(".tf"))
    for marker in ("google_compute_backend_service", "INTERNET_FQDN_PORT",
                   'google_compute_security_policy" "origin"', "google_compute_global_address"
                   '" "cdn"', '"origin.'):
        assert marker not in tf, marker
    for path, doc in internal.backend_policies():
        assert doc["spec"]["default"].get("securityPolicy") != naming.origin_security_policy(
            internal.plan, path.split("/")[2].split("-")[0])


def test_published_route_names_point_at_the_cdn(shop: Built, internal: Built) -> None:
    """external-dns publishes every route hostname of a Gateway behind Cloud CDN at the CDN's
    address (a platform output of the edge layer), so no name reaches the origin-only Gateway
    directly."""
    gateways = [(p, doc) for p, data in shop.files.items()
                if p.startswith("gitops/") and p.endswith(".yaml")
                for doc in yaml.safe_load_all(data)
                if isinstance(doc, dict) and doc.get("kind") == "Gateway"
                and doc["metadata"]["name"] == "platform"]
    assert gateways
    for path, doc in gateways:
        assert doc["metadata"]["annotations"]["external-dns.alpha.kubernetes.io/target"] == \
            "${CDN_ADDRESS}", path
    outputs = shop.files["terraform/prod/edge/outputs.tf"].decode()
    assert "CDN_ADDRESS" in outputs and "google_compute_global_address.cdn.address" in outputs
    assert not any(b"external-dns.alpha.kubernetes.io/target" in d
                   for p, d in internal.files.items() if p.startswith("gitops/"))
