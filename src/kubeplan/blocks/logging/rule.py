"""logging: Loki when logs are found by labels, Elasticsearch when they are searched as text.

The trade-off: Loki indexes only labels (namespace, pod, app) and keeps compressed chunks in
object storage, so it is cheap to run and to keep, but a search for a word scans every chunk
in the time range. Elasticsearch indexes every word, so full-text search is fast, at the price
of JVM memory, disks sized for the index and a cluster to operate. The provider's logging
service is the least work but bills per GB ingested and ties logs to one cloud; kubeplan picks
it only when asked (spec.overrides.logging).

Loki's deployment mode follows the expected log volume. Small platforms run the monolithic
mode (one binary running every target, replicated on object storage); larger ones run the
distributed mode (distributor, ingester, querier, query frontend, query scheduler, index
gateway and compactor scaled apart). The simple scalable mode is never used: the pinned chart
marks it deprecated, to be removed in Loki 4 (and `SingleBinary` is only its deprecated alias
for `Monolithic`). Both modes keep the same bucket and schema, so moving from one to the other
is a values change. Grafana Alloy ships the logs: Promtail is deprecated upstream and is never
used.
"""

from __future__ import annotations

from collections.abc import Mapping

from kubeplan.decide import Choice, Conflict, Context, Outcome, Rule
from kubeplan.decide.cost import AVERAGE_TO_PEAK, LOG_BYTES_PER_REQUEST
from kubeplan.model import Scalar

OBJECT_STORE = {
    "gcp": "Google Cloud Storage bucket",
    "aws": "Amazon S3 bucket",
    "azure": "Azure Blob Storage container",
    "onprem": "Ceph RGW S3 bucket on Rook",
}
# The Loki chart's deploymentMode values (chart 18.x names; not the deprecated SingleBinary).
MONOLITHIC = "Monolithic"
DISTRIBUTED = "Distributed"
# The chart sizes the monolithic mode for "up to a few tens of GB/day"; take the low end. The
# estimate uses the cost model's assumptions (bytes logged per request, average over peak load)
# at the platform's peak, before node logs: 30 GB/day is reached at about 1,000 requests/s.
MONOLITHIC_MAX_GB_PER_DAY = 30
# Every monolithic replica also answers queries: with this many services (and the teams behind
# them) searching at once, reads must scale apart from ingestion.
MONOLITHIC_MAX_SERVICES = 30
SECONDS_PER_DAY = 86_400
GB = 10**9
LOKI_MODES = {
    MONOLITHIC: "Grafana Loki (monolithic mode: every target in one binary, three replicas in "
                "production)",
    DISTRIBUTED: "Grafana Loki (distributed mode: distributor, ingester, querier, query "
                 "frontend, query scheduler, index gateway and compactor)",
}
PROVIDER_LOGGING = {
    "gcp": ("Google Cloud Logging (GKE system and workload logs, log bucket with custom "
            "retention)",),
    "aws": ("Amazon CloudWatch Logs (log groups with a retention setting)",
            "Fluent Bit through the Amazon CloudWatch Observability EKS add-on"),
    "azure": ("Azure Monitor Logs (Log Analytics workspace, Container insights)",),
}


def log_gb_per_day(peak_rps: int) -> float:
    """Application log volume at the given peak load, in GB per day (an estimate)."""
    return peak_rps * AVERAGE_TO_PEAK * SECONDS_PER_DAY * LOG_BYTES_PER_REQUEST / GB


def deployment_mode(peak_rps: int, services: int) -> str:
    if (log_gb_per_day(peak_rps) > MONOLITHIC_MAX_GB_PER_DAY
            or services > MONOLITHIC_MAX_SERVICES):
        return DISTRIBUTED
    return MONOLITHIC


def _mode_reason(ctx: Context) -> str:
    rps: int = ctx.get("traffic.peakRps")
    services: int = ctx.get("workloads.services")
    gb = log_gb_per_day(rps)
    volume = f"spec.traffic.peakRps {rps} means about {gb:.0f} GB of logs a day"
    over = []
    if gb > MONOLITHIC_MAX_GB_PER_DAY:
        over.append(f"{volume}, above the monolithic mode's {MONOLITHIC_MAX_GB_PER_DAY} GB/day")
    if services > MONOLITHIC_MAX_SERVICES:
        over.append(f"spec.workloads.services is {services}, above "
                    f"{MONOLITHIC_MAX_SERVICES}")
    if over:
        return (f"{' and '.join(over)}, so Loki runs distributed: ingestion and queries scale "
                "apart")
    return (f"{volume} and spec.workloads.services is {services}, within "
            f"{MONOLITHIC_MAX_GB_PER_DAY} GB/day and {MONOLITHIC_MAX_SERVICES} services, so Loki "
            "runs monolithic (three replicas in production, one elsewhere)")


class Logging(Rule):
    block = "logging"
    title = "Log aggregation"
    choices = (
        Choice("loki",
               "Grafana Loki on object storage (monolithic for small platforms, distributed "
               "for large ones), fed by Grafana Alloy, queried from the same Grafana as "
               "metrics.",
               "Cheap to run and keep: only labels are indexed and chunks live in a bucket; "
               "searching for a word scans every chunk in the time range, so free-text "
               "searches over days are slow."),
        Choice("elasticsearch",
               "Elasticsearch and Kibana run by the ECK operator, fed by Fluent Bit.",
               "Fast full-text search over every field; needs JVM memory and fast disks sized "
               "for the index, a cluster to upgrade, and the Elastic License or AGPL rather "
               "than Apache-2.0."),
        Choice("provider",
               "The cloud's logging service (Cloud Logging, CloudWatch Logs, Azure Monitor "
               "Logs).",
               "Nothing to run and integrated with the cloud console; billed per GB ingested "
               "and stored, query languages differ per cloud, and logs stay in that cloud."),
    )

    def decide(self, ctx: Context) -> Outcome:
        search: str = ctx.get("observability.logSearch")
        if search == "full-text":
            return Outcome(
                "elasticsearch",
                "spec.observability.logSearch is full-text: only an inverted index answers "
                "free-text queries quickly, so logs go to Elasticsearch (ECK) through Fluent Bit "
                f"and are kept for spec.observability.retention "
                f"{ctx.get('observability.retention')}.",
                self.parameters("elasticsearch", ctx))
        return Outcome(
            "loki",
            "spec.observability.logSearch is labels: logs are found by namespace, pod and app "
            "labels, which Loki indexes cheaply while keeping chunks in "
            f"object storage ({OBJECT_STORE[ctx.provider]}) for spec.observability.retention "
            f"{ctx.get('observability.retention')}; {_mode_reason(ctx)}.",
            self.parameters("loki", ctx))

    def parameters(self, choice: str, ctx: Context) -> Mapping[str, Scalar]:
        params: dict[str, Scalar] = {"retention": str(ctx.get("observability.retention"))}
        if choice == "loki":
            params["deploymentMode"] = deployment_mode(ctx.get("traffic.peakRps"),
                                                       ctx.get("workloads.services"))
        return params

    def components(self, choice: str, ctx: Context) -> tuple[str, ...]:
        provider = ctx.provider
        if choice == "loki":
            return (LOKI_MODES[deployment_mode(ctx.get("traffic.peakRps"),
                                               ctx.get("workloads.services"))],
                    f"{OBJECT_STORE[provider]} for Loki chunks and TSDB index",
                    "Grafana Alloy (DaemonSet) collecting pod and node logs")
        if choice == "elasticsearch":
            return ("Elastic Cloud on Kubernetes (ECK) operator",
                    "Elasticsearch (three nodes across zones, ILM policy deleting indices after "
                    "the retention)",
                    "Kibana",
                    "Fluent Bit (DaemonSet) shipping pod and node logs to Elasticsearch")
        return PROVIDER_LOGGING.get(provider, ())

    def conflict(self, choice: str, ctx: Context) -> Conflict | None:
        if choice == "provider" and ctx.provider == "onprem":
            return Conflict("on-prem has no provider logging service", ("spec", "provider"),
                            "use logging: loki or logging: elasticsearch on-prem")
        return None


RULE = Logging()
