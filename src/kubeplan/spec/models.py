"""The platform spec (`platform.yaml`): pydantic models, the contract users write against.

Field names are camelCase in YAML (aliases) and snake_case in Python. Every model forbids
unknown keys so that a misspelt key is an error with a "did you mean", never silently ignored.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from kubeplan.spec.durations import DURATION_PATTERN, parse_duration

API_VERSION = "kubeplan.dev/v1alpha1"
KIND = "Platform"
DEFAULT_KUBERNETES_VERSION: Literal["1.35"] = "1.35"
SUPPORTED_KUBERNETES_VERSIONS = ("1.33", "1.34", "1.35", "1.36", "1.37")

DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
_LABEL = re.compile(DNS1123_LABEL)
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_REGION = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")


def _label(value: str) -> str:
    if not _LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a DNS-1123 label: use 1-63 lower-case letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return value


def _duration(value: str) -> str:
    parse_duration(value)
    return value


Label = Annotated[str, AfterValidator(_label)]
Duration = Annotated[str, Field(pattern=DURATION_PATTERN), AfterValidator(_duration)]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        use_enum_values=True,
    )


class Provider(StrEnum):
    GCP = "gcp"
    AWS = "aws"
    AZURE = "azure"
    ONPREM = "onprem"


class Metadata(_Model):
    name: Label = Field(description="DNS-1123 label; used in resource and file names.")


class Availability(_Model):
    target: float = Field(
        99.9, ge=90, lt=100, description="Monthly availability target in percent, e.g. 99.95."
    )
    rpo: Duration = Field("24h", description="Recovery point objective: data loss you accept.")
    rto: Duration = Field("4h", description="Recovery time objective: time to restore service.")


class Traffic(_Model):
    peak_rps: int = Field(100, ge=0, le=10_000_000, description="Peak requests per second.")
    static_share: float = Field(
        0.0, ge=0, le=1, description="Share of requests for static, cacheable content (0..1)."
    )
    audience: Literal["local", "regional", "global"] = Field(
        "regional", description="Where users are: one metro, one continent, or worldwide."
    )
    ddos_protection: bool = Field(False, description="The service is a likely DDoS target.")


class Security(_Model):
    posture: Literal["baseline", "hardened", "regulated"] = "hardened"
    admin_access: Literal["auto", "identity-aware-proxy", "bastion", "vpn"] = "auto"
    mtls: Literal["auto", "required", "off"] = "auto"


class Operations(_Model):
    kubernetes: Literal["auto", "managed", "self-managed"] = "auto"
    dedicated_platform_team: bool = False


class Workloads(_Model):
    services: int = Field(5, ge=1, le=10_000, description="Number of services deployed.")
    stateful: bool = False
    shared_filesystem: bool = False


class SlackReceiver(_Model):
    type: Literal["slack"]
    channel: str = Field(pattern=r"^[#@][A-Za-z0-9._-]{1,80}$")


class PagerDutyReceiver(_Model):
    type: Literal["pagerduty"]
    severity: Literal["critical", "warning", "info"] = "critical"


class EmailReceiver(_Model):
    type: Literal["email"]
    to: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class WebhookReceiver(_Model):
    type: Literal["webhook"]
    name: Label


class MsTeamsReceiver(_Model):
    type: Literal["msteams"]
    name: Label


class OpsgenieReceiver(_Model):
    type: Literal["opsgenie"]
    severity: Literal["critical", "warning", "info"] = "critical"


Receiver = Annotated[
    SlackReceiver
    | PagerDutyReceiver
    | EmailReceiver
    | WebhookReceiver
    | MsTeamsReceiver
    | OpsgenieReceiver,
    Field(discriminator="type"),
]
RECEIVERS: dict[str, type[BaseModel]] = {
    "slack": SlackReceiver,
    "pagerduty": PagerDutyReceiver,
    "email": EmailReceiver,
    "webhook": WebhookReceiver,
    "msteams": MsTeamsReceiver,
    "opsgenie": OpsgenieReceiver,
}
RECEIVER_TYPES = tuple(RECEIVERS)


class Observability(_Model):
    retention: Duration = Field("15d", description="How long metrics, logs and traces are kept.")
    log_search: Literal["labels", "full-text"] = "labels"
    tracing: Literal["auto", "enabled", "disabled"] = "auto"
    alert_receivers: tuple[Receiver, ...] = Field(
        default=(), description="Where alerts go; secrets are referenced, never written."
    )


class Delivery(_Model):
    ci: Literal["github-actions", "gitlab-ci"] = "github-actions"
    gitops: Literal["argocd", "flux"] = "argocd"
    registry: Literal["auto", "provider", "harbor"] = "auto"
    preview_environments: bool = False


class PlatformSpec(_Model):
    provider: Provider
    regions: tuple[Annotated[str, Field(pattern=_REGION.pattern)], ...] = Field(
        min_length=1, max_length=8, description="Regions ordered by preference; on-prem: sites."
    )
    domain: str = Field(description="The platform's public DNS domain.")
    environments: tuple[Label, ...] = Field(default=("prod",), min_length=1, max_length=10)
    kubernetes_version: Literal["1.33", "1.34", "1.35", "1.36", "1.37"] = DEFAULT_KUBERNETES_VERSION
    availability: Availability = Availability()
    traffic: Traffic = Traffic()
    security: Security = Security()
    operations: Operations = Operations()
    workloads: Workloads = Workloads()
    observability: Observability = Observability()
    delivery: Delivery = Delivery()
    # Keys are block ids (snake_case, e.g. service_mesh); unknown ones are reported by the engine.
    overrides: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")], str] = Field(
        default_factory=dict,
        description="Block id -> choice id; beats the decision (e.g. {cdn: none}).",
    )

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        if not _DOMAIN.match(value):
            raise ValueError(
                f"{value!r} is not a fully qualified lower-case domain such as shop.example.com"
            )
        return value

    @field_validator("regions", "environments")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        seen: set[str] = set()
        for item in value:
            if item in seen:
                raise ValueError(f"{item!r} is listed twice; each entry must be unique")
            seen.add(item)
        return value

    @model_validator(mode="after")
    def _receivers_unique(self) -> PlatformSpec:
        keys = [r.model_dump_json() for r in self.observability.alert_receivers]
        if len(keys) != len(set(keys)):
            raise ValueError("observability.alertReceivers lists the same receiver twice")
        return self


class Platform(_Model):
    """The whole document: `apiVersion`, `kind`, `metadata`, `spec`."""

    api_version: Literal["kubeplan.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["Platform"]
    metadata: Metadata
    spec: PlatformSpec


def json_schema() -> dict[str, Any]:
    """The JSON Schema of `platform.yaml`, for editors (yaml-language-server) and docs."""
    schema = Platform.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://kubeplan.dev/schemas/v1alpha1/platform.json"
    schema["title"] = "kubeplan Platform"
    return schema
