"""Pull-through caches: where the posture asks for them, the registry layer creates a cache per
public registry and Kyverno sends every pull of those registries to it.

The rewrite is exercised, not just looked at: the Kyverno rules' JMESPath runs here with
python-jmespath plus the three Kyverno functions they call (`image_normalize` after the
distribution reference library's rules, `starts_with` is standard, `regex_replace_all_literal`),
over real add-on image references; each result must land in a cache the Terraform of the same
build creates.
"""

from __future__ import annotations

import re
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import jmespath
import pytest
import yaml
from jmespath import functions

from kubeplan.blocks.registry.rule import CACHED_REGISTRIES
from kubeplan.check.terraform import parse
from kubeplan.model import Plan
from kubeplan.render import mirrors

from .conftest import SHARED_UPSTREAM
from .gitops_support import example_plan, write
from .terraform_support import Rendered, plain
from .terraform_support import render as render_terraform


class KyvernoFunctions(functions.Functions):  # type: ignore[misc]
    @functions.signature({"types": ["string"]})  # type: ignore[untyped-decorator]
    def _func_image_normalize(self, image: str) -> str:
        """docker.io/library/<name> for bare names, docker.io/ for unqualified paths, :latest
        when there is neither tag nor digest (github.com/distribution/reference)."""
        first, _, rest = image.partition("/")
        if not rest or ("." not in first and ":" not in first and first != "localhost"):
            image = f"docker.io/{image}"
        host, _, path = image.partition("/")
        if host == "docker.io" and "/" not in path.split("@")[0].split(":")[0]:
            path = f"library/{path}"
        name = path.split("@")[0]
        if "@" not in path and ":" not in name:
            path = f"{path}:latest"
        return f"{host}/{path}"

    @functions.signature({"types": ["string"]}, {"types": ["string"]},  # type: ignore[untyped-decorator]
                         {"types": ["string"]})
    def _func_regex_replace_all_literal(self, regex: str, source: str, new: str) -> str:
        return re.sub(regex, lambda _: new, source)


OPTIONS = jmespath.Options(custom_functions=KyvernoFunctions())
VARIABLE = re.compile(r"^\{\{\s*(.+?)\s*\}\}$", re.S)


def evaluate(template: str, data: dict[str, Any]) -> Any:
    match = VARIABLE.match(template)
    assert match, template
    return jmespath.search(match.group(1), data, options=OPTIONS)


def applies(rule: dict[str, Any], spec: dict[str, Any]) -> bool:
    """The rule-level preconditions for a pod being created with `spec`."""
    data = {"request": {"operation": "CREATE", "object": {"spec": spec}}}
    checks = {"Equals": lambda a, b: a == b, "GreaterThanOrEquals": lambda a, b: a >= b}
    return all(checks[c["operator"]](evaluate(c["key"], data), c["value"])
               for c in rule["preconditions"]["all"])


def rewrite(policy: dict[str, Any], field: str, image: str) -> str:
    """What Kyverno's foreach rules of `policy` make of `image` in a container of `field`."""
    (rule,) = [r for r in policy["spec"]["rules"] if r["name"] == f"mirror-{field.lower()}"]
    assert applies(rule, {field: [{"name": "c", "image": image}]})
    result = image
    for entry in rule["mutate"]["foreach"]:
        assert entry["list"] == f"request.object.spec.{field}"
        data = {"element": {"name": "c", "image": result}}
        if all(evaluate(c["key"], data) == c["value"]
               for c in entry["preconditions"]["all"]):
            (patched,) = entry["patchStrategicMerge"]["spec"][field]
            result = evaluate(patched["image"], data)
    return result


# Image references the rendered add-ons' charts really use, one or more per cached registry,
# plus forms the rewrite must keep (digests, tag and digest) and registries it must not touch.
SAMPLES = {
    "nginx": "docker.io/library/nginx:latest",
    "grafana/grafana:12.3.0": "docker.io/grafana/grafana:12.3.0",
    "docker.io/velero/velero:v1.18.1": "docker.io/velero/velero:v1.18.1",
    "quay.io/jetstack/cert-manager-controller:v1.21.1":
        "quay.io/jetstack/cert-manager-controller:v1.21.1",
    "ghcr.io/kyverno/kyverno:v1.16.0@sha256:" + "a" * 64:
        "ghcr.io/kyverno/kyverno:v1.16.0@sha256:" + "a" * 64,
    "registry.k8s.io/external-dns/external-dns@sha256:" + "b" * 64:
        "registry.k8s.io/external-dns/external-dns@sha256:" + "b" * 64,
    "public.ecr.aws/eks/aws-load-balancer-controller:v2.14.0":
        "public.ecr.aws/eks/aws-load-balancer-controller:v2.14.0",
    "ecr-public.aws.com/docker/library/redis:8.2.1-alpine":
        "public.ecr.aws/docker/library/redis:8.2.1-alpine",
}
UNTOUCHED = ("cr.l5d.io/linkerd/proxy:edge-26.8.3", "mcr.microsoft.com/oss/kubernetes/pause:3.6",
             "gcr.io/distroless/static-debian13:nonroot")


@cache
def built(example: str) -> tuple[Plan, dict[str, bytes]]:
    plan = example_plan(example)
    return plan, write(plan, Path(tempfile.mkdtemp(prefix=f"kubeplan-mirrors-{example}-")))


def policies(files: dict[str, bytes], cluster: str, name: str) -> list[dict[str, Any]]:
    prefix = f"gitops/clusters/{cluster}/"
    out = []
    for path, data in files.items():
        if path.startswith(prefix) and path.endswith(f"clusterpolicy-{name}.yaml"):
            out += list(yaml.safe_load_all(data))
    return out


@cache
def terraform(example: str) -> Rendered:
    return render_terraform(example)


@cache
def layer_files(example: str, layer: str) -> tuple[dict[str, Any], ...]:
    """The production layer's .tf files, parsed once (python-hcl2 is slow)."""
    env = example_plan(example).topology.production
    return tuple(parse(text) for path, text in sorted(terraform(example).tf().items())
                 if path.startswith(f"terraform/{env}/{layer}/"))


def resources(example: str, layer: str, kind: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for parsed in layer_files(example, layer):
        for item in parsed.get("resource", []):
            for name, body in item.get(f'"{kind}"', item.get(kind, {})).items():
                out[plain(name)] = body
    return out


def mirror_output(example: str) -> str:
    env = example_plan(example).topology.production
    text = terraform(example).tf()[f"terraform/{env}/registry/outputs.tf"]
    match = re.search(r'IMAGE_MIRROR\s*=\s*"([^"]+)"', text)
    assert match, "the registry layer publishes no IMAGE_MIRROR"
    return match.group(1)


@pytest.mark.parametrize("example", ["shop", "aws-saas", "azure-startup"])
def test_cloud_rewrite_lands_in_a_cache_terraform_creates(example: str) -> None:
    plan, files = built(example)
    assert mirrors.enabled(plan), "hardened posture: the clusters pull through the caches"
    cluster = plan.topology.clusters_in(plan.topology.production)[0].name
    (policy,) = policies(files, cluster, "mirror-public-images")
    assert policy["metadata"]["annotations"]["pod-policies.kyverno.io/autogen-controllers"] \
        == "none", "rewriting Deployment templates would leave the GitOps tool out of sync"
    (rule,) = [r for r in policy["spec"]["rules"] if r["name"] == "mirror-containers"]
    assert rule["exclude"]["any"][0]["resources"]["namespaces"] == [
        "kube-system", "kube-public", "kube-node-lease"]
    stem = mirror_output(example)
    caches = cache_addresses(example, stem)
    assert len(caches) == len(mirrors.UPSTREAMS)
    for field in ("containers", "initContainers"):
        for image, normal in SAMPLES.items():
            out = rewrite(policy, field, image).replace("${IMAGE_MIRROR}", stem)
            host, _, rest = normal.partition("/")
            cached = [c for c in caches.values() if out.startswith(c + "/")]
            assert cached == [caches[host]], (image, out)
            assert out == f"{caches[host]}/{rest}", "path, tag and digest are kept"
        for image in UNTOUCHED:
            assert rewrite(policy, field, image) == image
    # A pod without init containers skips that rule rather than failing on a null list.
    (init,) = [r for r in policy["spec"]["rules"] if r["name"] == "mirror-initcontainers"]
    assert not applies(init, {"containers": [{"name": "c", "image": "nginx"}]})


def cache_addresses(example: str, stem: str) -> dict[str, str]:
    """Upstream host -> the address prefix of the cache that Terraform creates for it."""
    provider = example_plan(example).metadata.provider
    if provider == "gcp":
        repos = resources(example, "registry", "google_artifact_registry_repository")
        host = stem.rsplit("/", 1)[0]
        out = {}
        for body in repos.values():
            if plain(body.get("mode")) == "REMOTE_REPOSITORY":
                upstream = plain(body["remote_repository_config"][0]["description"])
                out[upstream] = f"{host}/{plain(body['repository_id'])}"
        return out
    env = example_plan(example).topology.production
    text = terraform(example).tf()[f"terraform/{env}/registry/registry.tf"]
    if provider == "aws":
        registry = stem.split("/", 1)[0]
        rules = re.findall(r'ecr_repository_prefix\s*=\s*"([^"]+)"\s*\n\s*upstream_registry_url'
                           r'\s*=\s*"([^"]+)"', text)
        url_host = {u.ecr_url: u.host for u in mirrors.UPSTREAMS}
        for prefix, _ in rules:
            assert len(prefix) <= mirrors.ECR_PREFIX_MAX, prefix
        return {url_host[url]: f"{registry}/{prefix}" for prefix, url in rules}
    login = stem.split("/", 1)[0]
    rules = re.findall(r'source_repository\s*=\s*"([^"]+)/\*"\s*\n\s*target_repository\s*=\s*'
                       r'"([^"]+)/\*"', text)
    return {source: f"{login}/{target}" for source, target in rules}


def test_kyverno_pulls_its_own_images_from_the_cache() -> None:
    plan, files = built("shop")
    cluster = plan.topology.clusters_in(plan.topology.production)[0].name
    values = yaml.safe_load(files[f"gitops/clusters/{cluster}/kyverno/values.yaml"])
    assert values["global"]["image"]["registry"] == "${IMAGE_MIRROR}-ghcr"


def test_aws_caches_need_credentials_only_where_ecr_does() -> None:
    prefix = f"{example_plan('aws-saas').metadata.name}-prod"
    secrets = resources("aws-saas", "registry", "aws_secretsmanager_secret")
    names = sorted(plain(b["name"]) for b in secrets.values())
    assert names == [f"ecr-pullthroughcache/{prefix}-dockerhub",
                     f"ecr-pullthroughcache/{prefix}-ghcr"]
    assert all("secret_string" not in b for b in secrets.values()), "no secret value in code"
    # The nodes may fill the caches, under the environment's prefix only.
    policy = resources("aws-saas", "cluster", "aws_iam_policy")["image_mirror"]
    assert "ecr:BatchImportUpstreamImage" in policy["policy"]
    assert f"{prefix}-mirror/*" in policy["policy"]


def test_ecr_prefix_stays_within_limits() -> None:
    for prefix in ("a-b", "aws-saas-prod", "a-very-long-platform-name-staging"):
        for upstream in mirrors.UPSTREAMS:
            full = f"{mirrors.ecr_prefix(prefix)}/{upstream.name}"
            assert 2 <= len(full) <= mirrors.ECR_PREFIX_MAX, full
    assert mirrors.ecr_prefix("a-very-long-platform-name-staging") != \
        mirrors.ecr_prefix("a-very-long-platform-name-stagin2")


def test_harbor_rewrites_only_application_namespaces_to_its_proxy_projects() -> None:
    plan, files = built("factory-onprem")
    assert mirrors.enabled(plan) and mirrors.harbor(plan)
    projects = {plain(b["name"]) for b in
                resources("factory-onprem", "harbor", "harbor_project").values()}
    for cluster in plan.topology.clusters:
        (policy,) = policies(files, cluster.name, "mirror-public-images")
        rule = policy["spec"]["rules"][0]
        selectors = [r["resources"]["namespaceSelector"] for r in rule["match"]["any"]]
        assert selectors and all("matchLabels" in s for s in selectors), \
            "Harbor runs on this platform: only application namespaces go through it"
        out = rewrite(policy, "containers", "quay.io/jetstack/cert-manager-controller:v1")
        host, project, _ = out.split("/", 2)
        assert host.startswith("registry-") and project in projects, out
        assert not policies(files, cluster.name, "platform-images-report")


def test_baseline_posture_has_no_caches() -> None:
    plan, files = built("internal-tool")
    assert not mirrors.enabled(plan)
    assert not any("mirror-public-images" in p for p in files)
    repositories = resources("internal-tool", "registry", "google_artifact_registry_repository")
    assert repositories and not [k for k in repositories if k.startswith("cache_")]


def _chart_registries(chart: str) -> set[str]:
    """Registries a chart's default values name for its images (`registry`, or the host of an
    image `repository` / `image` string)."""
    out: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("registry", "repository", "image"):
                value = node.get(key)
                if isinstance(value, str) and "." in value.split("/")[0]:
                    out.add(value.split("/")[0])
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    for path in (SHARED_UPSTREAM / "charts" / chart).rglob("values.yaml"):
        walk(yaml.safe_load(path.read_text("utf-8")))
    return out


# Charts whose default registry no cache fronts on every cloud, and the value that moves their
# images to a registry that is cached (the same releases, published there by the vendor).
MOVED = {"eck-operator": ("image", "repository"), "fluent-bit": ("image", "repository")}


@pytest.mark.parametrize("example", ["shop", "aws-saas", "azure-startup", "media-site"])
def test_every_addon_image_comes_through_a_cache(example: str) -> None:
    plan, files = built(example)
    cached = set(mirrors.targets(plan, plan.topology.clusters[0]))
    charts: dict[str, list[str]] = {}
    for path, data in files.items():
        if path.startswith("gitops/clusters/") and path.endswith(".yaml"):
            for chart in re.findall(rb"^\s+chart: ([a-z0-9-]+)\s*$", data, re.M):
                charts.setdefault(chart.decode(), []).append(path)
    assert "kyverno" in charts
    for chart in sorted(charts):
        uncached = _chart_registries(chart) - cached
        if not uncached:
            continue
        assert chart in MOVED, f"{example}: {chart} pulls from {sorted(uncached)}, not cached"
        paths = sorted(p for p in files if p.startswith("gitops/clusters/")
                       and p.endswith(f"/{chart}/values.yaml"))
        assert paths, chart
        for path in paths:
            value: Any = yaml.safe_load(files[path])
            for key in MOVED[chart]:
                value = value[key]
            assert str(value).split("/")[0] in cached, path


def test_decisions_name_the_registries_that_are_cached() -> None:
    assert CACHED_REGISTRIES == mirrors.SUMMARY
    hosts = {"Docker Hub": "docker.io", "GitHub": "ghcr.io", "Quay": "quay.io",
             "registry.k8s.io": "registry.k8s.io", "ECR Public": "public.ecr.aws"}
    named = re.split(r", | and ", mirrors.SUMMARY)
    assert sorted(hosts[n] for n in named) == sorted(u.host for u in mirrors.UPSTREAMS)
