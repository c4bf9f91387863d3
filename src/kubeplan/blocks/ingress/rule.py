"""ingress: the Gateway API implementation that turns routes into load-balancer configuration.

Trade-off: the provider's own controller (GKE Gateway, AWS Load Balancer Controller) programs the
provider's Layer-7 load balancer directly, so there is no proxy fleet to run, but it ties routes
to one cloud; an in-cluster proxy (Envoy Gateway, Istio, Cilium) behaves the same everywhere and
you scale, patch and pay for its pods. Everything speaks the Gateway API (HTTPRoute); the
retired ingress-nginx controller and the Ingress API are deliberately not offered.
"""

from __future__ import annotations

from collections.abc import Mapping

from kubeplan.decide import Choice, Conflict, Context, Outcome, Rule
from kubeplan.model import Scalar

DEFAULT = {
    "gcp": "gke-gateway",
    "aws": "aws-load-balancer-controller",
    "azure": "envoy-gateway",
    "onprem": "envoy-gateway",
}
# Choices that exist on one provider only.
PROVIDER_ONLY = {
    "gke-gateway": "gcp",
    "aws-load-balancer-controller": "aws",
    "application-gateway-for-containers": "azure",
}
# Gateway API GatewayClass name and controllerName per implementation.
GATEWAY_CLASS = {
    "aws-load-balancer-controller": "alb",
    "application-gateway-for-containers": "azure-alb-external",
    "envoy-gateway": "eg",
    "istio-gateway": "istio",
    "cilium-gateway": "cilium",
}
GKE_CLASS = {
    "global": "gke-l7-global-external-managed",
    "regional": "gke-l7-regional-external-managed",
}
CONTROLLER_NAME = {
    "gke-gateway": "networking.gke.io/gateway",
    "aws-load-balancer-controller": "gateway.k8s.aws/alb",
    "application-gateway-for-containers": "alb.networking.azure.io/alb-controller",
    "envoy-gateway": "gateway.envoyproxy.io/gatewayclass-controller",
    "istio-gateway": "istio.io/gateway-controller",
    "cilium-gateway": "io.cilium/gateway-controller",
}
COMPONENTS = {
    "gke-gateway": ("GKE Gateway controller (managed; Gateway API enabled on the cluster)",
                    "GCPBackendPolicy and HealthCheckPolicy (networking.gke.io)"),
    "aws-load-balancer-controller": ("AWS Load Balancer Controller (Helm chart, Gateway API "
                                     "for ALB enabled)",
                                     "Gateway API CRDs (standard channel)"),
    "application-gateway-for-containers": ("Application Gateway for Containers (ALB Controller, "
                                           "Gateway API)",),
    "envoy-gateway": ("Envoy Gateway (gateway-helm chart)", "Gateway API CRDs (standard channel)"),
    "istio-gateway": ("Istio gateway (istiod, GatewayClass istio)",
                      "Gateway API CRDs (standard channel)"),
    "cilium-gateway": ("Cilium Gateway API support (gatewayAPI.enabled, kube-proxy "
                       "replacement)",
                       "Gateway API CRDs (standard channel)"),
}
CERT_MANAGER = "cert-manager (certificates for the Gateway listeners, ACME DNS-01)"
# The implementation that programs each provider's Layer-7 load balancer from Gateway objects.
NATIVE = {"gcp": "gke-gateway", "aws": "aws-load-balancer-controller"}
L7_NAME = {
    "gcp": {"global": "global external Application Load Balancer",
            "regional": "regional external Application Load Balancer"},
    "aws": {"global": "Application Load Balancers behind Global Accelerator",
            "regional": "Application Load Balancer"},
}
REASON = {
    "gcp": "the GKE Gateway controller programs Google's Application Load Balancer straight "
           "from Gateway and HTTPRoute objects, with no proxy pods to run",
    "aws": "the AWS Load Balancer Controller turns Gateway and HTTPRoute objects into an "
           "Application Load Balancer, with no proxy pods to run",
    "azure": "Envoy Gateway runs behind the Azure Load Balancer; Application Gateway for "
             "Containers is the managed alternative, but its controller chart and CRDs are not "
             "in kubeplan's pinned upstream data, so it could not be rendered and validated",
    "onprem": "Envoy Gateway is the CNCF Gateway API implementation with no cloud dependency, "
              "behind the MetalLB address",
}


class Ingress(Rule):
    block = "ingress"
    title = "Ingress (Gateway API)"
    needs = ("load_balancer",)
    choices = (
        Choice("gke-gateway", "GKE's managed Gateway controller programs Google's Application "
               "Load Balancers.",
               "No proxy pods and Google-managed certificates, CDN and IAP on routes; GCP only, "
               "and features follow Google's release pace."),
        Choice("aws-load-balancer-controller", "The AWS Load Balancer Controller turns Gateway "
               "API objects into ALBs.",
               "No proxy pods, ACM certificates and WAF on the ALB; AWS only, one ALB per "
               "Gateway to pay for, and its Gateway API support is younger than its Ingress "
               "support."),
        Choice("application-gateway-for-containers", "Azure's managed Layer-7 load balancer "
               "driven by the ALB Controller.",
               "Managed on Azure with no proxy pods; Azure only, and kubeplan refuses it until "
               "its chart and CRDs are in the pinned upstream data."),
        Choice("envoy-gateway", "Envoy proxies in the cluster, managed by Envoy Gateway, behind "
               "a Layer-4 load balancer.",
               "The same behaviour on every provider and rich traffic policies; you scale, "
               "patch and pay for the proxy pods and run cert-manager for TLS."),
        Choice("istio-gateway", "Istio's gateway, sharing the mesh's control plane.",
               "One control plane for north-south and east-west traffic; pulls in Istio even "
               "where no mesh is needed."),
        Choice("cilium-gateway", "Cilium's built-in Gateway API support on its eBPF dataplane.",
               "No separate ingress controller; needs Cilium as the CNI with kube-proxy "
               "replacement, which managed dataplanes (GKE Dataplane V2) do not allow."),
    )

    def decide(self, ctx: Context) -> Outcome:
        provider = ctx.provider
        choice = DEFAULT[provider]
        lb_note = ""
        if choice == "gke-gateway":
            lb_note = f" (decisions.load_balancer is {ctx.choice('load_balancer')})"
        return Outcome(choice, f"spec.provider is {provider}: {REASON[provider]}{lb_note}.",
                       self.parameters(choice, ctx))

    def _cert_manager(self, choice: str, ctx: Context) -> bool:
        """True when the gateway, not the provider's load balancer, holds the certificates."""
        if choice == "aws-load-balancer-controller":
            return False
        if choice == "gke-gateway":
            return ctx.choice("load_balancer") != "global"
        return True

    def parameters(self, choice: str, ctx: Context) -> Mapping[str, Scalar]:
        if choice == "gke-gateway":
            lb = ctx.choice("load_balancer")
            gateway_class = GKE_CLASS.get(lb, GKE_CLASS["regional"])
        else:
            gateway_class = GATEWAY_CLASS[choice]
        params: dict[str, Scalar] = {
            "gatewayClassName": gateway_class,
            "controllerName": CONTROLLER_NAME[choice],
            "certManager": self._cert_manager(choice, ctx),
        }
        return params

    def warnings(self, choice: str, ctx: Context) -> tuple[str, ...]:
        provider = ctx.provider
        native = NATIVE.get(provider)
        if native is None or choice == native:
            return ()
        lb = ctx.choice("load_balancer")
        return (f"ingress {choice} does not program the {L7_NAME[provider][lb]} that "
                f"load_balancer {lb} describes on {provider}: the gateway's Service of type "
                "LoadBalancer gets a Layer-4 load balancer, so wire the Layer-7 one to it "
                "separately or use ingress " + native,)

    def components(self, choice: str, ctx: Context) -> tuple[str, ...]:
        base = COMPONENTS[choice]
        return (*base, CERT_MANAGER) if self._cert_manager(choice, ctx) else base

    def conflict(self, choice: str, ctx: Context) -> Conflict | None:
        only = PROVIDER_ONLY.get(choice)
        if only is not None and ctx.provider != only:
            default = DEFAULT[ctx.provider]
            others = "" if default == "envoy-gateway" else " or envoy-gateway"
            return Conflict(f"{choice} exists on {only} only, not on {ctx.provider}",
                            ("spec", "provider"),
                            f"use ingress: {default} (the default on {ctx.provider}){others}")
        if choice == "application-gateway-for-containers":
            # Rendering it unvalidated, or not at all, would leave the platform without an
            # edge; refused until its chart and CRDs are in the pinned upstream data.
            return Conflict("kubeplan cannot build Application Gateway for Containers yet: its "
                            "ALB Controller chart and CRDs (alb.networking.azure.io) are not in "
                            "the pinned upstream data, so nothing of it could be rendered and "
                            "validated", ("spec", "provider"),
                            "use ingress: envoy-gateway (the default on azure)")
        return None


RULE = Ingress()
