"""metrics: kube-prometheus-stack in every cluster; Thanos on top once there are several clusters.

The trade-off: one Prometheus per cluster is the simplest stack that works, but with several
clusters nobody can ask one question across them, and history is bounded by each cluster's
disk. Thanos (a sidecar next to each Prometheus, Query, Store Gateway and Compactor) gives one
global query view and long history on object storage, at the price of four more components
and a bucket to run. Alertmanager, Grafana and the OpenTelemetry Collector come either way.

The cluster list is built after the decisions, so the rule derives "several clusters" from its
inputs: one cluster per environment, plus one per extra production region whenever the
topology is multi-region.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from kubeplan.decide import Choice, Context, Outcome, Rule
from kubeplan.model import Scalar
from kubeplan.spec import format_duration, parse_duration

SCRAPE_INTERVAL = "30s"
# Storage estimate, per Prometheus replica. An estimate to size the volume, not a measurement.
# Active series one service adds: about 3 pods x (its RED metrics with histogram buckets,
# cAdvisor container series and kube-state-metrics object series).
SERIES_PER_SERVICE = 2_000
# Series every cluster has before any workload: node-exporter, kubelet, API server, CoreDNS and
# the platform add-ons themselves.
BASELINE_SERIES = 50_000
# Prometheus compresses to 1-2 bytes per sample (Prometheus storage docs); take the upper end.
BYTES_PER_SAMPLE = 2
# WAL, compaction working space and series churn on top of the steady-state blocks.
STORAGE_HEADROOM = 1.5
# Volumes are sized in steps of this many GiB, never below one step.
STORAGE_STEP_GI = 10
GIB = 2**30
SECONDS_PER_DAY = 86_400
# With Thanos, Prometheus keeps only recent blocks on its own disk: the sidecar uploads every
# two-hour block to the bucket and the Store Gateway serves older data from there.
THANOS_LOCAL_RETENTION = "2d"
# From this availability target up, one Prometheus restart must not leave a gap in alerting.
HA_TARGET = 99.9
HA_REPLICAS = 2

STACK = (
    "kube-prometheus-stack (Prometheus Operator, Prometheus, Alertmanager, Grafana, "
    "node-exporter, kube-state-metrics)",
    "OpenTelemetry Collector (OTLP in, metrics to Prometheus)",
)
OBJECT_STORE = {
    "gcp": "Google Cloud Storage bucket",
    "aws": "Amazon S3 bucket",
    "azure": "Azure Blob Storage container",
    "onprem": "Ceph RGW S3 bucket on Rook",
}


def prometheus_storage_gi(services: int, retention_seconds: int, scrape_seconds: int) -> int:
    """GiB per Prometheus replica: series x samples per series x bytes per sample x headroom."""
    series = BASELINE_SERIES + services * SERIES_PER_SERVICE
    days = math.ceil(retention_seconds / SECONDS_PER_DAY)
    samples_per_series = days * SECONDS_PER_DAY // scrape_seconds
    gib = series * samples_per_series * BYTES_PER_SAMPLE * STORAGE_HEADROOM / GIB
    return max(STORAGE_STEP_GI, math.ceil(gib / STORAGE_STEP_GI) * STORAGE_STEP_GI)


class Metrics(Rule):
    block = "metrics"
    title = "Metrics, alerting and dashboards"
    needs = ("topology",)
    choices = (
        Choice("prometheus",
               "kube-prometheus-stack in each cluster: Prometheus, Alertmanager and Grafana, with "
               "the OpenTelemetry Collector for application metrics.",
               "Fewest moving parts; each cluster is queried on its own and history is bounded "
               "by the Prometheus volume, so long retention means big disks."),
        Choice("prometheus-thanos",
               "kube-prometheus-stack plus Thanos: a sidecar ships blocks to object storage, "
               "Query gives one view across clusters, Store Gateway and Compactor serve history.",
               "One global query view and cheap long history in a bucket; four more components "
               "to run and upgrade, and queries over old data are slower than local ones."),
    )

    def decide(self, ctx: Context) -> Outcome:
        environments: list[str] = ctx.get("environments")
        topology = ctx.choice("topology")
        if len(environments) > 1 or topology != "single-region":
            why = []
            if len(environments) > 1:
                why.append(f"spec.environments lists {len(environments)} environments "
                           f"({', '.join(environments)})")
            if topology != "single-region":
                why.append(f"the topology is {topology} (spec.regions)")
            return Outcome(
                "prometheus-thanos",
                f"{' and '.join(why)}, so there are several clusters: Thanos sidecars ship each "
                "Prometheus's blocks to object storage "
                f"({OBJECT_STORE[ctx.provider]}) and Thanos Query gives one view across them "
                "for spec.observability.retention "
                f"{ctx.get('observability.retention')}.",
                self.parameters("prometheus-thanos", ctx))
        return Outcome(
            "prometheus",
            f"spec.environments lists one environment ({environments[0]}) and the topology is "
            "single-region, so there is one cluster and one Prometheus answers every query; "
            f"it keeps spec.observability.retention {ctx.get('observability.retention')} on its "
            "own volume.",
            self.parameters("prometheus", ctx))

    def parameters(self, choice: str, ctx: Context) -> Mapping[str, Scalar]:
        retention: str = ctx.get("observability.retention")
        services: int = ctx.get("workloads.services")
        target: float = ctx.get("availability.target")
        local = retention
        if choice == "prometheus-thanos":
            local = format_duration(min(parse_duration(retention),
                                        parse_duration(THANOS_LOCAL_RETENTION)))
        params: dict[str, Scalar] = {
            "retention": retention,
            "scrapeInterval": SCRAPE_INTERVAL,
            "prometheusStorageGi": prometheus_storage_gi(
                services, parse_duration(local), parse_duration(SCRAPE_INTERVAL)),
            "replicas": HA_REPLICAS if target >= HA_TARGET else 1,
        }
        if choice == "prometheus-thanos":
            # Prometheus keeps `localRetention`; the Thanos Compactor keeps `retention`.
            params["localRetention"] = local
        return params

    def components(self, choice: str, ctx: Context) -> tuple[str, ...]:
        if choice == "prometheus-thanos":
            return (*STACK,
                    "Thanos sidecar, Query, Store Gateway and Compactor",
                    f"{OBJECT_STORE[ctx.provider]} for Thanos blocks")
        return STACK


RULE = Metrics()
