"""Add-ons -> deployable units (a chart, a Git path of plain manifests, or kubeplan's own
objects), each with its phase and its place in the apply order.

Both GitOps tools are driven from these units: Argo CD turns each into an Application whose sync
wave is `PHASES[phase] + depth`, Flux puts it into its phase's Kustomization and HelmRelease
`dependsOn`. `depth` orders units inside one phase by the add-ons' `depends_on`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kubeplan import catalogue
from kubeplan.errors import RenderError
from kubeplan.model import Cluster
from kubeplan.render.gitops.addon import PHASES, Addon
from kubeplan.render.gitops.objects import addon_dir

CHART = "chart"
GIT = "git"
MANIFESTS = "manifests"
# Room between phases for ordering inside a phase (PHASES are ten apart).
MAX_DEPTH = 9


@dataclass(frozen=True)
class Unit:
    name: str            # Application / HelmRelease / Kustomization name, unique per cluster
    addon: Addon
    kind: str            # CHART, GIT or MANIFESTS
    phase: str
    wave: int
    path: str            # the unit's folder in the tree
    chart: dict[str, Any] | None = None  # the catalogue entry (CHART and GIT units)

    @property
    def phase_index(self) -> int:
        return PHASES[self.phase]


def _entry(addon: Addon) -> dict[str, Any]:
    assert addon.chart is not None
    try:
        return catalogue.chart(addon.chart)
    except catalogue.CatalogueError as error:
        raise RenderError(f"add-on {addon.name}: {error}") from None


def units(cluster: Cluster, addons: Sequence[Addon]) -> list[Unit]:
    """Units of every add-on, sorted by wave then name; raises on inconsistent ordering."""
    by_name: dict[str, Addon] = {}
    for addon in addons:
        if addon.name in by_name:
            raise RenderError(f"two add-ons are called {addon.name!r} in cluster {cluster.name}")
        by_name[addon.name] = addon
    raw: list[tuple[str, Addon, str, str, str, dict[str, Any] | None]] = []
    for addon in addons:
        folder = addon_dir(cluster, addon.name)
        for dep in addon.depends_on:
            if dep not in by_name:
                raise RenderError(f"add-on {addon.name} depends on {dep!r}, which cluster "
                                  f"{cluster.name} does not have")
            if PHASES[by_name[dep].phase] > PHASES[addon.phase]:
                raise RenderError(f"add-on {addon.name} (phase {addon.phase}) depends on {dep} "
                                  f"in the later phase {by_name[dep].phase}")
        if addon.chart is not None:
            entry = _entry(addon)
            kind = GIT if entry.get("type") == "git" else CHART
            raw.append((addon.name, addon, kind, addon.phase, folder, entry))
            if addon.objects and PHASES[addon.objects_phase] <= PHASES[addon.phase]:
                raise RenderError(f"add-on {addon.name}: its objects (phase "
                                  f"{addon.objects_phase}) must come after its chart (phase "
                                  f"{addon.phase}), which installs what they need")
        if addon.objects:
            name = f"{addon.name}-config" if addon.chart is not None else addon.name
            raw.append((name, addon, MANIFESTS, addon.objects_phase, f"{folder}/manifests", None))
    names = [r[0] for r in raw]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise RenderError(f"unit names clash in cluster {cluster.name}: {', '.join(clash)}")
    # Depth inside a phase: a unit comes after the units of the add-ons it depends on.
    phases_of: dict[str, set[str]] = {}
    for r in raw:
        phases_of.setdefault(r[1].name, set()).add(r[3])
    depth: dict[str, int] = {}

    def depth_of(addon: Addon, phase: str, trail: tuple[str, ...]) -> int:
        key = f"{addon.name}@{phase}"
        if key in depth:
            return depth[key]
        if addon.name in trail:
            raise RenderError(f"add-on dependency cycle: {' -> '.join((*trail, addon.name))}")
        level = 0
        for dep in addon.depends_on:
            if phase in phases_of.get(dep, set()):
                level = max(level, depth_of(by_name[dep], phase, (*trail, addon.name)) + 1)
        if level > MAX_DEPTH:
            raise RenderError(f"add-on {addon.name}: more than {MAX_DEPTH} levels of "
                              f"dependencies inside phase {phase}")
        depth[key] = level
        return level

    out = [Unit(name, addon, kind, phase, PHASES[phase] + depth_of(addon, phase, ()), path,
                entry)
           for name, addon, kind, phase, path, entry in raw]
    return sorted(out, key=lambda u: (u.wave, u.name))
