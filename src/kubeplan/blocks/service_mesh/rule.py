"""service_mesh: a mesh when mTLS is required or the number of services makes it pay off.

Trade-off: a mesh gives every service-to-service call mutual TLS, identity-based authorisation,
retries and uniform telemetry without touching application code, but it adds a control plane,
per-node (ambient) or per-pod (sidecar) proxies, latency and upgrades. For a handful of services
that overhead does not pay off; when mTLS is required, or the posture is regulated, it must.
Istio runs in ambient mode (ztunnel per node, waypoints only where Layer-7 policy is needed).
"""

from __future__ import annotations

from collections.abc import Mapping

from kubeplan.decide import Choice, Conflict, Context, Outcome, Rule
from kubeplan.model import Scalar

# From about this many services, uniform mTLS, retries and per-route telemetry across teams are
# worth the ztunnel per node, the waypoints and the mesh upgrades; below it they are not.
MESH_SERVICES = 30
# Why an explicit Linkerd is refused rather than rendered half-working.
LINKERD_REFUSED = (
    "Linkerd cannot be built to run here yet: without its CNI plugin every meshed pod needs the "
    "linkerd-init container with NET_ADMIN, which the restricted Pod Security Standard that "
    "kubeplan enforces in application namespaces refuses, and its identity needs a trust anchor "
    "distributed by trust-manager; kubeplan's pinned upstream data has neither the linkerd2-cni "
    "nor the trust-manager chart to render and validate them")
# Postures that need encryption and authentication between services even when not asked.
MTLS_POSTURES = ("regulated",)

COMPONENTS = {
    "none": (),
    "istio": ("Istio in ambient mode (istio-base, istiod, istio-cni, ztunnel per node; "
              "waypoint proxies only where Layer-7 policy is needed)",),
    "linkerd": ("Linkerd (linkerd-crds and linkerd-control-plane charts, sidecar proxies)",),
    "cilium": ("Cilium service mesh (per-node Envoy, WireGuard transparent encryption)",),
}
STRICT_COMPONENT = {
    "istio": "PeerAuthentication STRICT, mesh-wide",
    "linkerd": "default inbound policy all-authenticated",
    "cilium": "Cilium mutual authentication with SPIRE (CiliumNetworkPolicy "
              "authentication.mode required)",
}


class ServiceMesh(Rule):
    block = "service_mesh"
    title = "Service mesh"
    choices = (
        Choice("none", "No mesh: services call each other directly.",
               "Nothing to run or upgrade; traffic between services is plaintext unless the "
               "applications use TLS, and retries and telemetry are each application's job."),
        Choice("istio", "Istio in ambient mode: ztunnel per node, waypoints where needed, mTLS "
               "STRICT.",
               "Uniform mTLS, identity-based authorisation and telemetry without sidecars; "
               "istiod, ztunnel and waypoints are more components to upgrade and understand."),
        Choice("linkerd", "Linkerd with its small Rust sidecar proxies (not buildable yet: "
               "needs its CNI plugin and trust-manager, which kubeplan has no data for).",
               "The simplest mesh to operate, mTLS on by default; a sidecar in every pod, and "
               "stable releases now come from Buoyant's distribution (open source publishes "
               "edge releases)."),
        Choice("cilium", "Cilium's sidecar-less mesh on the CNI's eBPF dataplane.",
               "No sidecars and one component less; needs Cilium as the CNI you control (not "
               "a managed dataplane), and its mutual authentication is still beta."),
    )

    def decide(self, ctx: Context) -> Outcome:
        mtls: str = ctx.get("security.mtls")
        if mtls == "required":
            return Outcome("istio",
                           "spec.security.mtls is required: Istio in ambient mode encrypts and "
                           "authenticates every service-to-service hop (mTLS STRICT) without "
                           "sidecars.", self.parameters("istio", ctx))
        if mtls == "off":
            return Outcome("none",
                           "spec.security.mtls is off: no mesh is installed and services call "
                           "each other directly.", self.parameters("none", ctx))
        posture: str = ctx.get("security.posture")
        if posture in MTLS_POSTURES:
            return Outcome("istio",
                           f"spec.security.posture is {posture} and spec.security.mtls is auto: "
                           "encryption and authentication between services are expected, so "
                           "Istio in ambient mode enforces mTLS STRICT.",
                           self.parameters("istio", ctx))
        services: int = ctx.get("workloads.services")
        if services >= MESH_SERVICES:
            return Outcome("istio",
                           f"spec.workloads.services is {services} (at least {MESH_SERVICES}) "
                           "and spec.security.mtls is auto: uniform mTLS, retries and telemetry "
                           "across that many services outweigh the ambient mesh's overhead.",
                           self.parameters("istio", ctx))
        return Outcome("none",
                       f"spec.workloads.services is {services} (below {MESH_SERVICES}), "
                       f"spec.security.mtls is auto and spec.security.posture is {posture}: the "
                       "mesh's proxies and upgrades would not pay off.",
                       self.parameters("none", ctx))

    def _strict(self, ctx: Context) -> bool:
        mtls: str = ctx.get("security.mtls")
        return mtls != "off"

    def warnings(self, choice: str, ctx: Context) -> tuple[str, ...]:
        posture: str = ctx.get("security.posture")
        if choice != "none" or posture not in MTLS_POSTURES:
            return ()
        return (f"spec.security.posture is {posture} but no service mesh runs: encryption "
                "between services is left to each application",)

    def parameters(self, choice: str, ctx: Context) -> Mapping[str, Scalar]:
        if choice == "none":
            return {}
        mode = "ambient" if choice == "istio" else (
            "sidecar" if choice == "linkerd" else "sidecar-less")
        return {"mode": mode, "mtls": "STRICT" if self._strict(ctx) else "PERMISSIVE"}

    def components(self, choice: str, ctx: Context) -> tuple[str, ...]:
        base = COMPONENTS[choice]
        if choice != "none" and self._strict(ctx):
            return (*base, STRICT_COMPONENT[choice])
        return base

    def conflict(self, choice: str, ctx: Context) -> Conflict | None:
        if choice == "linkerd":
            return Conflict(LINKERD_REFUSED, ("spec", "security", "posture"),
                            "use service_mesh: istio (ambient mode: no privileged container in "
                            "application pods) or drop the override")
        if choice == "none" and ctx.get("security.mtls") == "required":
            return Conflict("mTLS between services is required but no mesh would provide it",
                            ("spec", "security", "mtls"),
                            "drop the override, or set spec.security.mtls to auto or off")
        return None


RULE = ServiceMesh()
