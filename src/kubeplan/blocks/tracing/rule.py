"""tracing: distributed tracing once there are enough services for a request to get lost in.

The trade-off: logs say what each service did, traces say what one request did across all of
them. Tracing is not free: every request carries a trace context from service to service and
every kept span is exported and stored, so it pays off with many services and is noise with a
few. Tempo stores traces cheaply in object storage and is found from Grafana; Jaeger is chosen
when logging already runs Elasticsearch, which Jaeger can use as its span store.

Sampling is decided at the head (the first service): the ratio keeps about
TARGET_TRACES_PER_SECOND traces at spec.traffic.peakRps, and child spans follow their parent's
decision so every kept trace is whole.
"""

from __future__ import annotations

from collections.abc import Mapping

from kubeplan.decide import Choice, Conflict, Context, Outcome, Rule
from kubeplan.model import Scalar

# From this many services, a request crosses enough hops that logs alone no longer show where
# its time went, and the context-propagation overhead pays for itself.
MANY_SERVICES = 10
# Traces per second worth keeping at peak: enough to see every endpoint's latency shape within
# seconds, little enough that the trace store stays a small line on the bill.
TARGET_TRACES_PER_SECOND = 50
# Head-sampling ratios, largest first; the rule takes the largest one that keeps at most the
# target. Below the last step so few requests are traced that rare paths vanish: at that scale
# tail sampling in the Collector is the better tool, so the ratio floors there.
SAMPLING_STEPS = (1.0, 0.5, 0.25, 0.1, 0.05, 0.01, 0.005, 0.001)
# OTEL_TRACES_SAMPLER value: the root decides with the ratio, children follow their parent.
SAMPLER = "parentbased_traceidratio"

OBJECT_STORE = {
    "gcp": "Google Cloud Storage bucket",
    "aws": "Amazon S3 bucket",
    "azure": "Azure Blob Storage container",
    "onprem": "Ceph RGW S3 bucket on Rook",
}
INSTRUMENTATION = (f"OpenTelemetry SDKs with head sampling ({SAMPLER}) exporting OTLP to the "
                   "OpenTelemetry Collector")


def sampling_ratio(peak_rps: int) -> float:
    """The largest step that keeps at most TARGET_TRACES_PER_SECOND at `peak_rps`."""
    if peak_rps <= TARGET_TRACES_PER_SECOND:
        return 1.0
    wanted = TARGET_TRACES_PER_SECOND / peak_rps
    for step in SAMPLING_STEPS:
        if step <= wanted:
            return step
    return SAMPLING_STEPS[-1]


class Tracing(Rule):
    block = "tracing"
    title = "Distributed tracing"
    needs = ("logging",)
    choices = (
        Choice("none", "No distributed tracing; logs and metrics only.",
               "No per-request overhead and nothing to store; a slow request across several "
               "services has to be pieced together from logs by hand."),
        Choice("tempo",
               "Grafana Tempo storing traces in object storage, linked from Grafana to logs "
               "and metrics.",
               "Cheap to keep (no index, traces in a bucket) and one UI with metrics and logs; "
               "finding traces needs a trace ID or TraceQL, and every request pays for "
               "context propagation."),
        Choice("jaeger",
               "Jaeger v2 storing spans in Elasticsearch, the backend logging already runs.",
               "Reuses the Elasticsearch cluster and its search over span tags; spans add "
               "index load and disk to that cluster, and traces live in a second UI next to "
               "Grafana."),
    )

    def decide(self, ctx: Context) -> Outcome:
        mode: str = ctx.get("observability.tracing")
        if mode == "disabled":
            return Outcome("none", "spec.observability.tracing is disabled, so requests carry "
                           "no trace context and nothing is stored.")
        if mode == "auto":
            services: int = ctx.get("workloads.services")
            if services < MANY_SERVICES:
                return Outcome(
                    "none",
                    f"spec.observability.tracing is auto and spec.workloads.services is "
                    f"{services}, below {MANY_SERVICES}: with few hops logs show where a "
                    "request went, and tracing would add context propagation to every request "
                    "for little gain.")
            why = (f"spec.observability.tracing is auto and spec.workloads.services is "
                   f"{services} (at least {MANY_SERVICES}), so a request crosses enough services "
                   "that traces pay for their overhead")
        else:
            why = "spec.observability.tracing is enabled"
        rps: int = ctx.get("traffic.peakRps")
        ratio = sampling_ratio(rps)
        kept = round(ratio * rps)
        keep = (f"at spec.traffic.peakRps {rps} head sampling keeps every request ({kept} "
                "traces/s)" if ratio == 1.0 else
                f"at spec.traffic.peakRps {rps} head sampling keeps a ratio of {ratio:g}, about "
                f"{kept} traces/s against a target of {TARGET_TRACES_PER_SECOND}")
        if ctx.choice("logging") == "elasticsearch":
            return Outcome(
                "jaeger",
                f"{why}; logging runs Elasticsearch ({self._why_logging(ctx)}), so Jaeger "
                f"stores spans there instead of in a second backend; {keep}.",
                self.parameters("jaeger", ctx))
        return Outcome(
            "tempo",
            f"{why}; Tempo keeps traces in object storage ({OBJECT_STORE[ctx.provider]}) "
            f"next to the Grafana that shows metrics and logs; {keep}.",
            self.parameters("tempo", ctx))

    def _why_logging(self, ctx: Context) -> str:
        if ctx.decision("logging").overridden:
            return "spec.overrides.logging"
        return f"spec.observability.logSearch is {ctx.peek('observability.logSearch')}"

    def parameters(self, choice: str, ctx: Context) -> Mapping[str, Scalar]:
        if choice == "none":
            return {}
        return {"samplingRatio": sampling_ratio(ctx.get("traffic.peakRps")),
                "sampler": SAMPLER,
                "retention": str(ctx.get("observability.retention"))}

    def components(self, choice: str, ctx: Context) -> tuple[str, ...]:
        if choice == "tempo":
            return ("Grafana Tempo (distributed) with traces in object storage "
                    f"({OBJECT_STORE[ctx.provider]})",
                    INSTRUMENTATION)
        if choice == "jaeger":
            if ctx.choice("logging") == "elasticsearch":
                store = "Jaeger v2 with the Elasticsearch storage backend on the logging ECK cluster"
            else:
                # Overridden to jaeger without Elasticsearch logs: it needs its own store.
                store = "Jaeger v2 with a dedicated Elasticsearch cluster (ECK) for spans"
            return (store, INSTRUMENTATION)
        return ()

    def conflict(self, choice: str, ctx: Context) -> Conflict | None:
        mode: str = ctx.get("observability.tracing")
        if choice != "none" and mode == "disabled":
            return Conflict(f"tracing: {choice} records traces, but tracing is turned off",
                            ("spec", "observability", "tracing"),
                            "set spec.observability.tracing to enabled (or auto), or drop the "
                            "override")
        if choice == "none" and mode == "enabled":
            return Conflict("tracing: none turns tracing off, but tracing is asked for",
                            ("spec", "observability", "tracing"),
                            "set spec.observability.tracing to disabled, or drop the override")
        return None


RULE = Tracing()
