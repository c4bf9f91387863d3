"""A rough monthly cost estimate per block and environment, from a dated list-price table.

The point is comparison (cdn on or off, Loki or Elasticsearch, one region or two), not a
quote: list prices from `data/prices.yaml`, each line with its source and date, and a sizing
model whose every constant is named here and stated in COST.md as an assumption.

Sizing, per cluster:

    requested vCPU = services x replicas x VCPU_PER_REPLICA              (application pods)
                   + origin dynamic rps / RPS_PER_VCPU                   (request handling)
                   + origin static rps / STATIC_RPS_PER_VCPU             (files without a CDN)
                   + the add-ons the decisions put in the cluster        (ADDON_VCPU)
    nodes          = max(MIN_NODES, ceil(requested / (node vCPU x ALLOCATABLE x UTILISATION)))

An active production region is sized to carry the whole peak alone (losing a region loses no
capacity); a standby region runs the add-ons and one replica of each service and scales up on
failover; other environments see NON_PRODUCTION_TRAFFIC of the peak with one replica. Each
block's share of the nodes is its requested vCPU at the per-vCPU price of a node; what whole
nodes and the minimum add on top is the cluster's headroom. Storage follows retention, egress
follows traffic, and what the table has no price for is listed with its quantity, unpriced.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from kubeplan.model import Cluster, CostEstimate, CostLine, Decision, NodePool, Topology
from kubeplan.spec import parse_duration

# Traffic shape. Average load over a month relative to the peak (daily and weekly cycles).
AVERAGE_TO_PEAK = 0.35
# Average response sizes: static files (images, scripts, styles) and dynamic pages or JSON.
STATIC_RESPONSE_KIB = 50
DYNAMIC_RESPONSE_KIB = 10
# Share of static requests a CDN answers from its cache.
CDN_HIT_RATIO = 0.9
# Non-production environments carry this share of the production peak (tests, demos).
NON_PRODUCTION_TRAFFIC = 0.05

# Capacity. CPU request of one idle service replica, and what one vCPU serves at peak.
VCPU_PER_REPLICA = 0.25
RPS_PER_VCPU = 100
STATIC_RPS_PER_VCPU = 1000
REPLICAS_PRODUCTION = 2  # one pod can be lost (node drain, zone) without losing the service
REPLICAS_OTHER = 1
# Share of a node's vCPU that pods can request (the rest is kubelet and system reserve), and
# the utilisation to plan for, leaving room for rolling updates and autoscaling.
ALLOCATABLE = 0.9
UTILISATION = 0.7
MIN_NODES = 3  # one node per zone
CONTROL_PLANE_NODES = 3  # self-managed clusters: three stacked etcd members
# Open pull requests with a preview environment at a time, each a copy of every service.
PREVIEW_ENVIRONMENTS = 3

# Requested vCPU of what a decision runs in each cluster (controllers, proxies, stores).
ADDON_VCPU: dict[tuple[str, str], float] = {
    ("metrics", "prometheus"): 1.5,
    ("metrics", "prometheus-thanos"): 2.5,
    ("logging", "loki"): 1.5,
    ("logging", "elasticsearch"): 6.0,
    ("logging", "provider"): 0.3,
    ("tracing", "tempo"): 1.0,
    ("tracing", "jaeger"): 1.0,
    ("service_mesh", "istio"): 1.5,
    ("service_mesh", "linkerd"): 1.0,
    ("service_mesh", "cilium"): 0.5,
    ("ingress", "envoy-gateway"): 1.0,
    ("ingress", "istio-gateway"): 1.0,
    ("ingress", "cilium-gateway"): 0.3,
    ("ingress", "aws-load-balancer-controller"): 0.2,
    ("ingress", "application-gateway-for-containers"): 0.2,
    ("policy", "kyverno"): 0.5,
    ("policy", "gatekeeper"): 0.5,
    ("secrets", "provider-secret-manager"): 0.2,
    ("secrets", "vault"): 1.5,
    ("network_policy", "cilium"): 0.5,
    ("network_policy", "calico"): 0.5,
    ("backup", "velero"): 0.3,
    ("backup", "velero-etcd"): 0.4,
    ("storage", "rook-ceph"): 4.0,
    ("registry", "harbor"): 2.0,
    ("gitops", "argocd"): 1.0,
    ("gitops", "flux"): 0.3,
    ("dns", "provider-managed"): 0.1,
    ("dns", "self-hosted"): 0.1,
    ("dns", "multi-provider"): 0.2,
}

# Storage. Metrics: active series per node (node exporter, kubelet, cAdvisor) and per service
# replica, at this many bytes per compressed sample.
SERIES_PER_NODE = 2000
SERIES_PER_REPLICA = 500
BYTES_PER_SAMPLE = 1.5
# Logs: bytes logged per origin request (access log and application lines), per node per day,
# Loki's compression in object storage, and Elasticsearch's index overhead and one replica.
LOG_BYTES_PER_REQUEST = 1000
NODE_LOG_GIB_PER_DAY = 1.0
LOKI_COMPRESSION = 8
ELASTICSEARCH_FACTOR = 1.1 * 2
# Traces: spans per kept trace (capped by the number of services) and bytes per span;
# Tempo compresses its blocks, Jaeger on Elasticsearch pays the same factor as logs.
MAX_SPANS_PER_TRACE = 8
SPAN_BYTES = 500
TEMPO_COMPRESSION = 4
# Backups: Kubernetes objects per cluster per backup, and an etcd snapshot.
BACKUP_OBJECTS_GIB = 0.05
ETCD_SNAPSHOT_GIB = 0.1
# Stateful services: volume per service when spec.workloads.stateful (production; other
# environments a fifth), replicated three times by Ceph when Rook runs on provider disks.
STATEFUL_GIB_PER_SERVICE = 20
CEPH_REPLICAS = 3
# Registry: image size and tags kept per service.
IMAGE_GIB = 0.3
TAGS_KEPT = 30
# NAT: traffic from nodes to the internet (package mirrors, external APIs) per node.
NAT_GIB_PER_NODE = 30
# AWS puts a NAT gateway in each of the three AZs; GCP and Azure use one regional gateway.
NAT_GATEWAYS = {"aws": 3}
# Forwarding rules of a GCP load balancer: HTTPS and the HTTP-to-HTTPS redirect.
GCP_LB_RULES = 2
# ALB capacity units: the larger of processed GB per hour (1 LCU each) and new connections per
# second (25 each); keep-alive leaves about one new connection per ten requests.
LCU_GB_PER_HOUR = 1.0
LCU_NEW_CONNECTIONS = 25
NEW_CONNECTION_SHARE = 0.1

GIB = 2**30
GB = 10**9
DAYS_PER_MONTH = 730 / 24
SECONDS_PER_DAY = 86_400


@cache
def price_table() -> dict[str, Any]:
    text = resources.files("kubeplan").joinpath("data/prices.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def _days(duration: str) -> float:
    return parse_duration(duration) / SECONDS_PER_DAY


def _per_unit(unit: str) -> int:
    """Bytes per billing unit of a transfer or storage row."""
    return GIB if unit.startswith("GiB") else GB


@dataclass
class _Acc:
    block: str
    environment: str
    item: str
    unit: str
    quantity: float
    unit_price: float | None
    source: str
    as_of: str
    tiers: tuple[tuple[float, float], ...] = ()

    def line(self) -> CostLine:
        monthly: float | None = None
        unit_price = self.unit_price
        if unit_price is not None:
            monthly = _tiered(self.quantity, unit_price, self.tiers)
            if self.tiers and self.quantity:
                unit_price = monthly / self.quantity
            monthly = round(monthly, 2)
            unit_price = round(unit_price, 6)
        source = self.source
        if self.tiers and self.quantity > self.tiers[-1][0]:
            source += (f"; above the table's largest tier ({self.tiers[-1][0]:g} {self.unit}) "
                       "list prices drop, so this line overestimates")
        return CostLine(block=self.block, environment=self.environment, item=self.item,
                        quantity=round(self.quantity, 3), unit=self.unit, unit_price=unit_price,
                        monthly=monthly, source=source, as_of=self.as_of)


def _tiered(quantity: float, price: float, tiers: tuple[tuple[float, float], ...]) -> float:
    """Cost of `quantity` across volume tiers; above the last tier its price continues."""
    if not tiers:
        return quantity * price
    total, floor = 0.0, 0.0
    for up_to, tier_price in tiers:
        used = max(0.0, min(quantity, up_to) - floor)
        total += used * tier_price
        floor = up_to
    return total + max(0.0, quantity - floor) * tiers[-1][1]


class _Ledger:
    """Accumulates quantities per (block, environment, item) and prices them from the table."""

    def __init__(self, provider: str) -> None:
        table = price_table()
        self.provider = provider
        self.rows: dict[str, dict[str, Any]] = table["rows"].get(provider) or {}
        self.hours = int(table["hours_per_month"])
        self._acc: dict[tuple[str, str, str], _Acc] = {}

    def has(self, key: str) -> bool:
        return key in self.rows

    def add(self, block: str, env: str, key: str, quantity: float, *, what: str = "",
            unit: str = "") -> None:
        """A priced row by key; without a row for this provider the line is kept unpriced."""
        row = self.rows.get(key)
        if row is None:
            self.unpriced(block, env, what or key, quantity, unit or key,
                          why="not in the price table for this provider")
            return
        tiers = tuple((float(t["up_to"]), float(t["price"])) for t in row.get("tiers", ()))
        self._put(_Acc(block, env, row["item"], row["unit"], quantity, float(row["price"]),
                       row["source"], str(row["as_of"]), tiers))

    def held(self, block: str, env: str, key: str, what: str, gib: float) -> None:
        """Storage of `gib` GiB for `what`, priced by the row `key` (GB-month rows)."""
        row = self.rows[key]
        self.derived(block, env, f"{row['item']}: {what}", gib * GIB / _per_unit(row["unit"]),
                     row["unit"], unit_price=float(row["price"]), source=row["source"],
                     as_of=str(row["as_of"]))

    def derived(self, block: str, env: str, item: str, quantity: float, unit: str, *,
                unit_price: float | None, source: str, as_of: str) -> None:
        self._put(_Acc(block, env, item, unit, quantity, unit_price, source, as_of))

    def unpriced(self, block: str, env: str, item: str, quantity: float, unit: str, *,
                 why: str) -> None:
        self._put(_Acc(block, env, item, unit, quantity, None, why, "-"))

    def _put(self, acc: _Acc) -> None:
        key = (acc.block, acc.environment, acc.item)
        if key in self._acc:
            self._acc[key].quantity += acc.quantity
        else:
            self._acc[key] = acc

    def lines(self, block_order: list[str], env_order: list[str]) -> tuple[CostLine, ...]:
        def rank(acc: _Acc) -> tuple[int, int, str]:
            block = block_order.index(acc.block) if acc.block in block_order else len(block_order)
            env = env_order.index(acc.environment) if acc.environment in env_order else len(
                env_order)
            return block, env, acc.item

        return tuple(acc.line() for acc in sorted(self._acc.values(), key=rank))


@dataclass(frozen=True)
class _Traffic:
    """Origin traffic of one cluster at peak (requests per second)."""

    dynamic_rps: float
    static_rps: float  # static requests that reach the origin (CDN misses, or all without one)
    cdn_rps: float  # static requests the CDN answers

    @property
    def origin_rps(self) -> float:
        return self.dynamic_rps + self.static_rps

    def monthly_bytes(self) -> tuple[float, float]:
        """(bytes served by the origin, bytes served by the CDN) in an average month."""
        seconds = AVERAGE_TO_PEAK * 730 * 3600
        origin = (self.dynamic_rps * DYNAMIC_RESPONSE_KIB + self.static_rps * STATIC_RESPONSE_KIB)
        return origin * 1024 * seconds, self.cdn_rps * STATIC_RESPONSE_KIB * 1024 * seconds


def _traffic(peak: float, static_share: float, cdn: bool) -> _Traffic:
    static = peak * static_share
    cached = static * CDN_HIT_RATIO if cdn else 0.0
    return _Traffic(dynamic_rps=peak - static, static_rps=static - cached, cdn_rps=cached)


class _Estimator:
    def __init__(self, decisions: Mapping[str, Decision], topology: Topology,
                 inputs: Mapping[str, Any], provider: str) -> None:
        self.d = decisions
        self.topology = topology
        self.inputs = inputs
        self.provider = provider
        self.ledger = _Ledger(provider)
        self.services = int(inputs["workloads"]["services"])
        self.peak = float(inputs["traffic"]["peakRps"])
        self.static_share = float(inputs["traffic"]["staticShare"])
        self.retention_days = _days(str(inputs["observability"]["retention"]))
        self.node_row = self.ledger.rows.get("node")
        self.node_vcpu = int(self.node_row["vcpu"]) if self.node_row else 4
        self.node_memory = int(self.node_row["memory_gib"]) if self.node_row else 16
        self.usable_vcpu = self.node_vcpu * ALLOCATABLE * UTILISATION
        self.node_pools: list[NodePool] = []

    def choice(self, block: str) -> str:
        decision = self.d.get(block)
        return decision.choice if decision is not None else ""

    def param(self, block: str, key: str, default: Any = None) -> Any:
        decision = self.d.get(block)
        if decision is None:
            return default
        return decision.parameters.get(key, default)

    # sizing ---------------------------------------------------------------------------
    def cluster_traffic(self, cluster: Cluster) -> _Traffic:
        cdn = self.choice("cdn") not in ("", "none")
        if cluster.environment != self.topology.production:
            return _traffic(self.peak * NON_PRODUCTION_TRAFFIC, self.static_share, cdn)
        if cluster.role == "standby":
            return _traffic(0.0, self.static_share, cdn)
        return _traffic(self.peak, self.static_share, cdn)

    def replicas(self, cluster: Cluster) -> int:
        production = cluster.environment == self.topology.production
        return REPLICAS_PRODUCTION if production and cluster.role != "standby" else REPLICAS_OTHER

    def preview_cluster(self) -> Cluster:
        others = [c for c in self.topology.clusters if c.environment != self.topology.production]
        return (others or list(self.topology.clusters))[0]

    def demands(self, cluster: Cluster, traffic: _Traffic) -> dict[str, float]:
        """Requested vCPU per block in one cluster ("cluster" holds the application)."""
        app = (self.services * self.replicas(cluster) * VCPU_PER_REPLICA
               + traffic.dynamic_rps / RPS_PER_VCPU + traffic.static_rps / STATIC_RPS_PER_VCPU)
        out = {"cluster": app}
        for block, decision in self.d.items():
            vcpu = ADDON_VCPU.get((block, decision.choice), 0.0)
            if block == "registry" and cluster.environment != self.topology.production:
                vcpu = 0.0  # Harbor runs next to production, where the images are pulled
            if vcpu:
                out[block] = vcpu
        if (self.choice("preview") == "pull-request-namespaces"
                and cluster == self.preview_cluster()):
            out["preview"] = PREVIEW_ENVIRONMENTS * self.services * VCPU_PER_REPLICA
        return out

    def size(self) -> list[tuple[Cluster, _Traffic, int]]:
        sized = []
        self_managed = self.choice("cluster") == "self-managed"
        for cluster in self.topology.clusters:
            traffic = self.cluster_traffic(cluster)
            demand = self.demands(cluster, traffic)
            total = sum(demand.values())
            nodes = max(MIN_NODES, math.ceil(total / self.usable_vcpu - 1e-9))
            self.node_pools.append(NodePool(
                cluster=cluster.name, environment=cluster.environment, region=cluster.region,
                machine=self._machine(), vcpu_per_node=self.node_vcpu,
                memory_gib_per_node=self.node_memory, nodes=nodes,
                requested_vcpu=round(total, 2),
                control_plane_nodes=CONTROL_PLANE_NODES if self_managed else 0))
            self._charge_nodes(cluster, demand, nodes)
            sized.append((cluster, traffic, nodes))
        return sized

    def _machine(self) -> str:
        if self.node_row is not None:
            return str(self.node_row["item"])
        return f"{self.node_vcpu} vCPU / {self.node_memory} GiB server"

    def _charge_nodes(self, cluster: Cluster, demand: dict[str, float], nodes: int) -> None:
        env = cluster.environment
        row = self.node_row
        node_month = float(row["price"]) * self.ledger.hours if row else None
        per_vcpu = node_month / self.usable_vcpu if node_month is not None else None
        source = row["source"] if row else "on-prem hardware has no public list price"
        as_of = str(row["as_of"]) if row else "-"
        for block, vcpu in demand.items():
            what = "application services" if block == "cluster" else "its components"
            self.ledger.derived(block, env, f"worker-node capacity for {what}", vcpu,
                                "vCPU requested", unit_price=per_vcpu, source=source,
                                as_of=as_of)
        slack = nodes * self.usable_vcpu - sum(demand.values())
        self.ledger.derived("cluster", env, "headroom: whole nodes and the minimum of "
                            f"{MIN_NODES} per cluster", slack, "vCPU", unit_price=per_vcpu,
                            source=source, as_of=as_of)
        if self.choice("cluster") == "self-managed":
            self.ledger.derived("cluster", env, "control-plane nodes (kubeadm, stacked etcd)",
                                CONTROL_PLANE_NODES * self.ledger.hours, "node-hour",
                                unit_price=float(row["price"]) if row else None, source=source,
                                as_of=as_of)
        else:
            self.ledger.add("cluster", env, "control_plane", self.ledger.hours,
                            what="managed control-plane fee", unit="cluster-hour")

    # the rest, per cluster ---------------------------------------------------------------
    def charge(self, cluster: Cluster, traffic: _Traffic, nodes: int) -> None:
        self._network(cluster, nodes)
        self._edge(cluster, traffic)
        self._observability(cluster, traffic, nodes)
        self._data(cluster)

    def _network(self, cluster: Cluster, nodes: int) -> None:
        env = cluster.environment
        if not self.param("network", "natEgress", False):
            return
        if self.provider == "onprem":
            self.ledger.unpriced("network", env, "source NAT at the site edge router", 1,
                                 "site", why="runs on the site's own routers")
            return
        gateways = NAT_GATEWAYS.get(self.provider, 1)
        self.ledger.add("network", env, "nat_gateway", gateways * self.ledger.hours)
        row = self.ledger.rows.get("nat_data")
        if row is not None:
            self.ledger.add("network", env, "nat_data",
                            nodes * NAT_GIB_PER_NODE * GIB / _per_unit(row["unit"]))

    def _edge(self, cluster: Cluster, traffic: _Traffic) -> None:
        env = cluster.environment
        origin_bytes, cdn_bytes = traffic.monthly_bytes()
        lb = self.choice("load_balancer")
        provider = self.provider
        if provider == "onprem":
            self.ledger.unpriced("load_balancer", env, "MetalLB address announcement", 1,
                                 "cluster", why="open-source software on the cluster's own nodes")
        elif provider == "gcp":
            if lb == "global":
                if cluster == self.topology.clusters_in(env)[0]:
                    self.ledger.add("load_balancer", env, "lb_rule",
                                    GCP_LB_RULES * self.ledger.hours)
                    if self.choice("cdn") == "provider":
                        # Cloud CDN's own load balancer in front of the Gateway: its HTTPS rule
                        # and redirect, and the cache misses' second hop over its internet NEG.
                        self.ledger.add("cdn", env, "lb_rule", GCP_LB_RULES * self.ledger.hours)
                        self.ledger.unpriced("cdn", env, "Cloud CDN origin fetches (cache fill "
                                             "and misses) from the Gateway over the internet "
                                             "NEG", origin_bytes / GB,
                                             "GB", why="not in the price table")
            else:
                self.ledger.add("load_balancer", env, "lb_rule", GCP_LB_RULES * self.ledger.hours)
                self.ledger.add("load_balancer", env, "lb_data", origin_bytes / GIB)
        elif provider == "aws":
            self.ledger.add("load_balancer", env, "lb_hour", self.ledger.hours)
            gb_per_hour = origin_bytes / GB / self.ledger.hours
            connections = traffic.origin_rps * AVERAGE_TO_PEAK * NEW_CONNECTION_SHARE
            lcu = max(gb_per_hour / LCU_GB_PER_HOUR, connections / LCU_NEW_CONNECTIONS)
            self.ledger.add("load_balancer", env, "lb_lcu", lcu * self.ledger.hours)
            if lb == "global":
                self.ledger.unpriced("load_balancer", env, "AWS Global Accelerator (hourly fee "
                                     "and data transfer premium)", self.ledger.hours,
                                     "accelerator-hour", why="not in the price table")
        elif provider == "azure":
            self.ledger.add("load_balancer", env, "lb_hour", self.ledger.hours)
            self.ledger.add("load_balancer", env, "lb_data", origin_bytes / GB)
        self._cdn(cluster, cdn_bytes)
        if provider != "onprem":
            row = self.ledger.rows.get("internet_egress")
            if row is None:
                self.ledger.unpriced("load_balancer", env, "internet egress from the origin",
                                     origin_bytes / GB, "GB", why="not in the price table")
            else:
                self.ledger.add("load_balancer", env, "internet_egress",
                                origin_bytes / _per_unit(row["unit"]))

    def _cdn(self, cluster: Cluster, cdn_bytes: float) -> None:
        env = cluster.environment
        cdn = self.choice("cdn")
        if cdn == "third-party":
            self.ledger.unpriced("cdn", env, "Cloudflare plan and transfer", cdn_bytes / GB, "GB",
                                 why="not in the price table (plan-based pricing)")
        elif cdn == "provider":
            row = self.ledger.rows.get("cdn_egress")
            if row is not None:
                self.ledger.add("cdn", env, "cdn_egress", cdn_bytes / _per_unit(row["unit"]))
            first = cluster == self.topology.clusters_in(env)[0]
            if first and self.ledger.has("cdn_base"):
                self.ledger.add("cdn", env, "cdn_base", 1)
        lb = self.choice("load_balancer")
        if (self.provider == "azure" and lb == "global" and cdn != "provider"
                and cluster == self.topology.clusters_in(env)[0]):
            # Azure's global load balancer is Front Door: its base fee without the CDN rules.
            self.ledger.add("load_balancer", env, "cdn_base", 1)

    def _store(self, block: str, env: str, gib: float, what: str) -> None:
        """Object storage for `what` (GiB held on average)."""
        if self.provider == "onprem":
            self.ledger.unpriced(block, env, f"Ceph RGW capacity for {what}", gib, "GiB",
                                 why="on-prem disks have no public list price")
            return
        self.ledger.held(block, env, "object_storage", what, gib)

    def _disk(self, block: str, env: str, gib: float, what: str) -> None:
        """Block volumes for `what` (GiB provisioned)."""
        row = self.ledger.rows.get("block_storage")
        if self.provider == "onprem":
            self.ledger.unpriced(block, env, f"Ceph RBD capacity for {what}", gib, "GiB",
                                 why="on-prem disks have no public list price")
        elif row is None:
            self.ledger.unpriced(block, env, f"managed disks for {what}", gib, "GiB",
                                 why="not in the price table for this provider")
        else:
            self.ledger.held(block, env, "block_storage", what, gib)

    def _observability(self, cluster: Cluster, traffic: _Traffic, nodes: int) -> None:
        env = cluster.environment
        seconds = AVERAGE_TO_PEAK * SECONDS_PER_DAY
        metrics = self.choice("metrics")
        if metrics:
            replicas = int(self.param("metrics", "replicas", 1))
            disk = float(self.param("metrics", "prometheusStorageGi", 10))
            self._disk("metrics", env, replicas * disk, "Prometheus volumes")
            if metrics == "prometheus-thanos":
                interval = parse_duration(str(self.param("metrics", "scrapeInterval", "30s")))
                series = (SERIES_PER_NODE * nodes
                          + SERIES_PER_REPLICA * self.services * self.replicas(cluster))
                per_day = series * SECONDS_PER_DAY / interval * BYTES_PER_SAMPLE
                days = _days(str(self.param("metrics", "retention", "15d")))
                self._store("metrics", env, per_day * days / GIB, "Thanos metric blocks")
        logging = self.choice("logging")
        log_per_day = (traffic.origin_rps * seconds * LOG_BYTES_PER_REQUEST
                       + nodes * NODE_LOG_GIB_PER_DAY * GIB)
        days = _days(str(self.param("logging", "retention", "15d")))
        if logging == "loki":
            self._store("logging", env, log_per_day / LOKI_COMPRESSION * days / GIB, "Loki chunks")
        elif logging == "elasticsearch":
            self._disk("logging", env, log_per_day * ELASTICSEARCH_FACTOR * days / GIB,
                       "Elasticsearch indexes (one replica)")
        elif logging == "provider":
            self.ledger.unpriced("logging", env, "provider log ingestion and retention",
                                 log_per_day * DAYS_PER_MONTH / GB, "GB ingested",
                                 why="not in the price table")
        tracing = self.choice("tracing")
        if tracing in ("tempo", "jaeger"):
            ratio = float(self.param("tracing", "samplingRatio", 1.0))
            spans = min(self.services, MAX_SPANS_PER_TRACE)
            per_day = traffic.origin_rps * seconds * ratio * spans * SPAN_BYTES
            days = _days(str(self.param("tracing", "retention", "15d")))
            if tracing == "tempo":
                self._store("tracing", env, per_day / TEMPO_COMPRESSION * days / GIB,
                            "Tempo trace blocks")
            elif self.choice("logging") == "elasticsearch":
                self._disk("tracing", env, per_day * ELASTICSEARCH_FACTOR * days / GIB,
                           "Jaeger span indexes on the logging Elasticsearch")
            else:
                self._disk("tracing", env, per_day * ELASTICSEARCH_FACTOR * days / GIB,
                           "Jaeger span indexes (dedicated Elasticsearch)")

    def _data(self, cluster: Cluster) -> None:
        env = cluster.environment
        backup = self.choice("backup")
        if backup:
            ttl_days = _go_duration_days(str(self.param("backup", "ttl", "168h0m0s")))
            period = _cron_period_days(str(self.param("backup", "schedule", "0 2 * * *")))
            kept = ttl_days / period
            self._store("backup", env, kept * BACKUP_OBJECTS_GIB, "Velero backups of objects")
            if backup == "velero-etcd":
                etcd = _cron_period_days(str(self.param("backup", "etcdSnapshotSchedule",
                                                        "0 */6 * * *")))
                self._store("backup", env, ttl_days / etcd * ETCD_SNAPSHOT_GIB, "etcd snapshots")
            if self.param("backup", "snapshotVolumes", False):
                self.ledger.unpriced("backup", env, "volume snapshots (incremental)",
                                     self._stateful_gib(cluster), "GiB of volumes",
                                     why="snapshot storage is not in the price table")
        stateful = self._stateful_gib(cluster)
        if stateful:
            if self.choice("storage") == "rook-ceph" and self.provider != "onprem":
                self._disk("storage", env, stateful * CEPH_REPLICAS,
                           f"Ceph OSD volumes ({CEPH_REPLICAS} replicas)")
            else:
                self._disk("storage", env, stateful, "stateful service volumes")

    def _stateful_gib(self, cluster: Cluster) -> float:
        if not self.inputs["workloads"].get("stateful"):
            return 0.0
        full = self.services * STATEFUL_GIB_PER_SERVICE
        return float(full if cluster.environment == self.topology.production else full / 5)

    # shared ----------------------------------------------------------------------------
    def shared(self) -> None:
        registry = self.choice("registry")
        copies = 2 if self.param("registry", "replicateTo", "") else 1
        gib = self.services * IMAGE_GIB * TAGS_KEPT * copies
        if registry == "harbor":
            self._store("registry", "shared", gib, "Harbor image storage")
            if self.provider == "gcp":
                # blocks/registry/terraform_harbor_database.py: one HA instance per Harbor site.
                self.ledger.unpriced("registry", "shared",
                                     "Cloud SQL for PostgreSQL, regional HA (Harbor's database)",
                                     copies, "instance", why="not in the price table")
        elif registry == "provider":
            if self.ledger.has("registry_fee"):
                fee = self.ledger.rows["registry_fee"]
                self.ledger.add("registry", "shared", "registry_fee", DAYS_PER_MONTH)
                above = max(0.0, gib * GIB / GB - float(fee.get("included_gb", 0)))
                self.ledger.add("registry", "shared", "registry_storage", above)
                if copies > 1:
                    self.ledger.unpriced("registry", "shared", "geo-replica of the registry", 1,
                                         "region", why="not in the price table")
            else:
                self.ledger.add("registry", "shared", "registry_storage", gib * GIB / GB)
        dns = self.choice("dns")
        if dns == "self-hosted":
            self.ledger.unpriced("dns", "shared", "BIND 9 secondaries in separate sites", 2,
                                 "server", why="runs on your own servers")
        elif dns:
            self.ledger.add("dns", "shared", "dns_zone", 1, what="public DNS zone and queries",
                            unit="zone-month")
            if dns == "multi-provider":
                self.ledger.unpriced("dns", "shared", "Cloudflare DNS (second provider)", 1,
                                     "zone-month", why="not in the price table")
        admin = self.d.get("admin_access")
        if admin is not None:
            self.ledger.unpriced("admin_access", "shared", admin.components[0], 1, "entry point",
                                 why="not in the price table")
        secrets = self.d.get("secrets")
        if secrets is not None and secrets.choice == "provider-secret-manager":
            self.ledger.unpriced("secrets", "shared", secrets.components[0] if secrets.components
                                 else "provider secret manager", 1, "store",
                                 why="secret and KMS key prices are not in the price table")
        ci = self.d.get("ci")
        if ci is not None:
            self.ledger.unpriced("ci", "shared", f"{ci.choice} minutes or runners", 1, "pipeline",
                                 why="not in the price table")


def _go_duration_days(text: str) -> float:
    """Days in a Go duration such as Velero's 720h0m0s."""
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
    if not match or not text:
        raise ValueError(f"{text!r} is not a Go duration")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return (hours * 3600 + minutes * 60 + seconds) / SECONDS_PER_DAY


def _cron_period_days(expr: str) -> float:
    """The period of one of the backup rule's cron forms, in days."""
    minute, hour = expr.split()[:2]
    if minute.startswith("*/"):
        return int(minute[2:]) / (24 * 60)
    if hour == "*":
        return 1 / 24
    if hour.startswith("*/"):
        return int(hour[2:]) / 24
    return 1.0


def assumptions(provider: str) -> tuple[str, ...]:
    table = price_table()
    rows = table["rows"].get(provider) or {}
    node = rows.get("node")
    machine = (f"worker nodes are {node['item']} at the {node['region']} list price"
               if node else "worker nodes are 4 vCPU / 16 GiB servers")
    return (
        f"List prices in {table['currency']} from the table compiled {table['compiled']}; "
        f"a month is {table['hours_per_month']} hours. Prices were read for the region each "
        "line names: other regions differ (about 10% higher for compute in some).",
        "Free tiers, credits, committed-use and spot discounts, volume tiers beyond the "
        "table's, support plans and taxes are left out.",
        f"{machine}; memory follows CPU at the machine's 1:4 ratio.",
        f"Requested vCPU per cluster = services x replicas x {VCPU_PER_REPLICA} + origin "
        f"dynamic rps / {RPS_PER_VCPU} + origin static rps / {STATIC_RPS_PER_VCPU} + add-ons; "
        f"nodes = max({MIN_NODES}, ceil(requested / (node vCPU x {ALLOCATABLE} allocatable x "
        f"{UTILISATION} utilisation))).",
        f"Replicas: {REPLICAS_PRODUCTION} per service in active production clusters, "
        f"{REPLICAS_OTHER} elsewhere; every active production region carries the whole peak "
        "alone; a standby region carries no traffic until it takes over; other environments "
        f"see {NON_PRODUCTION_TRAFFIC:.0%} of the peak.",
        f"Traffic: the average month runs at {AVERAGE_TO_PEAK:.0%} of the peak; static "
        f"responses average {STATIC_RESPONSE_KIB} KiB, dynamic ones {DYNAMIC_RESPONSE_KIB} "
        f"KiB; a CDN answers {CDN_HIT_RATIO:.0%} of static requests from its cache.",
        f"Storage: {SERIES_PER_NODE} metric series per node and {SERIES_PER_REPLICA} per "
        f"replica at {BYTES_PER_SAMPLE} bytes per sample; {LOG_BYTES_PER_REQUEST} log bytes "
        f"per origin request plus {NODE_LOG_GIB_PER_DAY:g} GiB per node per day (Loki "
        f"compresses {LOKI_COMPRESSION}x, Elasticsearch keeps {ELASTICSEARCH_FACTOR:g}x); "
        f"{SPAN_BYTES} bytes per span, up to {MAX_SPANS_PER_TRACE} spans per trace; "
        f"{STATEFUL_GIB_PER_SERVICE} GiB of volume per stateful service in production (a "
        f"fifth elsewhere); {TAGS_KEPT} image tags of {IMAGE_GIB} GiB kept per service.",
        f"NAT carries {NAT_GIB_PER_NODE} GiB per node a month; "
        + ("AWS runs one NAT gateway per AZ (three)." if provider == "aws"
           else "one regional NAT gateway per cluster network."),
        "Items the table has no price for are listed with their quantity and no price; the "
        "totals leave them out.",
    )


def estimate_cost(decisions: Mapping[str, Decision], topology: Topology,
                  inputs: Mapping[str, Any], provider: str) -> CostEstimate:
    estimator = _Estimator(decisions, topology, inputs, provider)
    for cluster, traffic, nodes in estimator.size():
        estimator.charge(cluster, traffic, nodes)
    estimator.shared()
    table = price_table()
    envs = [*dict.fromkeys(c.environment for c in topology.clusters), "shared"]
    return CostEstimate(
        currency=str(table["currency"]),
        hours_per_month=int(table["hours_per_month"]),
        prices_compiled=str(table["compiled"]),
        lines=estimator.ledger.lines(list(decisions), envs),
        node_pools=tuple(estimator.node_pools),
        assumptions=assumptions(provider),
    )
