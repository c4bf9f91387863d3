"""logging: Loki when logs are found by labels, Elasticsearch when they are searched as text.

The trade-off: Loki indexes only labels (namespace, pod, app) and keeps compressed chunks in
object storage, so it is cheap to run and to keep, but a search for a word scans every chunk
in the time range. Elasticsearch indexes every word, so full-text search is fast, at the price
of JVM memory, disks sized for the index and a cluster to operate. The provider's logging
service is the least work but bills per GB ingested and ties logs to one cloud; kubeplan picks
it only when asked (spec.overrides.logging).

Loki runs in simple scalable mode (read, write and backend targets on object storage). The
Loki 3.x chart marks that mode deprecated, to be removed in Loki 4; moving to the distributed
mode is a values change on the same bucket. Grafana Alloy ships the logs: Promtail is
deprecated upstream and is never used.
"""

from __future__ import annotations

from collections.abc import Mapping

from kubeplan.decide import Choice, Conflict, Context, Outcome, Rule
from kubeplan.model import Scalar

OBJECT_STORE = {
    "gcp": "Google Cloud Storage bucket",
    "aws": "Amazon S3 bucket",
    "azure": "Azure Blob Storage container",
    "onprem": "Ceph RGW S3 bucket on Rook",
}
# The Loki chart's deploymentMode value for read, write and backend targets.
LOKI_DEPLOYMENT_MODE = "SimpleScalable"
PROVIDER_LOGGING = {
    "gcp": ("Google Cloud Logging (GKE system and workload logs, log bucket with custom "
            "retention)",),
    "aws": ("Amazon CloudWatch Logs (log groups with a retention setting)",
            "Fluent Bit through the Amazon CloudWatch Observability EKS add-on"),
    "azure": ("Azure Monitor Logs (Log Analytics workspace, Container insights)",),
}


class Logging(Rule):
    block = "logging"
    title = "Log aggregation"
    choices = (
        Choice("loki",
               "Grafana Loki in simple scalable mode on object storage, fed by Grafana Alloy, "
               "queried from the same Grafana as metrics.",
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
            f"{ctx.get('observability.retention')}.",
            self.parameters("loki", ctx))

    def parameters(self, choice: str, ctx: Context) -> Mapping[str, Scalar]:
        params: dict[str, Scalar] = {"retention": str(ctx.get("observability.retention"))}
        if choice == "loki":
            params["deploymentMode"] = LOKI_DEPLOYMENT_MODE
        return params

    def components(self, choice: str, ctx: Context) -> tuple[str, ...]:
        provider = ctx.provider
        if choice == "loki":
            return ("Grafana Loki (simple scalable mode: read, write and backend targets)",
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
