"""The input layer: the `platform.yaml` models, their JSON Schema and the located loader."""

from kubeplan.spec.durations import format_duration, parse_duration
from kubeplan.spec.load import LoadedSpec, SourceMap, did_you_mean, load_file, load_text
from kubeplan.spec.models import (
    API_VERSION,
    KIND,
    Platform,
    PlatformSpec,
    Provider,
    json_schema,
)

__all__ = [
    "API_VERSION",
    "KIND",
    "LoadedSpec",
    "Platform",
    "PlatformSpec",
    "Provider",
    "SourceMap",
    "did_you_mean",
    "format_duration",
    "json_schema",
    "load_file",
    "load_text",
    "parse_duration",
]
