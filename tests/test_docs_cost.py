"""The cost and availability estimates behind COST.md and SLO.md, and `kubeplan explain`'s
comparison of alternatives."""

from __future__ import annotations

import copy
import math
import re
from typing import Any

import pytest
import yaml

from kubeplan import app
from kubeplan.cli import main
from kubeplan.decide import cost as cost_model
from kubeplan.decide.availability import sla_table
from kubeplan.model import Plan
from kubeplan.spec import load_text

from .conftest import BASE_SPEC, merge
from .docs_support import built

# Rows the cost model prices from, per cloud (on-prem has no list prices by design).
USED_ROWS = {"control_plane", "node", "nat_gateway", "nat_data", "cdn_egress", "object_storage"}


def _plan(fragment: dict[str, Any]) -> Plan:
    document = merge(copy.deepcopy(BASE_SPEC), {"spec": fragment})
    return app.plan(load_text(yaml.safe_dump(document), "<test>"))


def test_price_table_rows_are_dated_and_sourced() -> None:
    table = cost_model.price_table()
    assert table["currency"] == "USD" and table["hours_per_month"] == 730
    for provider in ("gcp", "aws", "azure"):
        rows = table["rows"][provider]
        assert set(rows) >= USED_ROWS, provider
        for key, row in rows.items():
            assert row["price"] > 0 and row["unit"] and row["item"], (provider, key)
            assert row["source"] and str(row["as_of"]), (provider, key)
    assert table["rows"]["onprem"] == {}


@pytest.mark.parametrize("example", ["shop", "aws-saas", "azure-startup", "factory-onprem"])
def test_lines_add_up(example: str) -> None:
    cost = built(example).plan.cost
    assert math.isclose(sum(cost.by("environment").values()), cost.total, abs_tol=0.05)
    assert math.isclose(sum(cost.by("block").values()), cost.total, abs_tol=0.05)
    for line in cost.lines:
        assert line.source and line.as_of and line.quantity >= 0
        if line.monthly is not None and line.unit_price is not None:
            assert math.isclose(line.quantity * line.unit_price, line.monthly,
                                rel_tol=0.01, abs_tol=0.05), line
    envs = {*built(example).plan.metadata.environments, "shared"}
    assert {line.environment for line in cost.lines} <= envs


def test_onprem_gives_capacity_not_prices() -> None:
    cost = built("factory-onprem").plan.cost
    assert cost.total == 0 and cost.lines and all(line.monthly is None for line in cost.lines)
    assert all(pool.control_plane_nodes == cost_model.CONTROL_PLANE_NODES
               for pool in cost.node_pools)


def test_node_pools_follow_traffic_and_services() -> None:
    small = _plan({"traffic": {"peakRps": 100}, "workloads": {"services": 4}})
    busy = _plan({"traffic": {"peakRps": 8000}, "workloads": {"services": 4}})
    many = _plan({"traffic": {"peakRps": 100}, "workloads": {"services": 60}})
    nodes = {name: sum(p.nodes for p in plan.cost.node_pools)
             for name, plan in (("small", small), ("busy", busy), ("many", many))}
    assert nodes["small"] >= cost_model.MIN_NODES
    assert nodes["busy"] > nodes["small"] and nodes["many"] > nodes["small"]
    assert busy.cost.total > small.cost.total and many.cost.total > small.cost.total


def test_standby_region_is_smaller_than_the_active_one() -> None:
    pools = {p.cluster: p for p in built("aws-saas").plan.cost.node_pools}
    assert pools["prod-eu-west-1"].nodes < pools["prod-eu-central-1"].nodes


def test_cdn_moves_bytes_between_cdn_and_origin_egress() -> None:
    base = {"traffic": {"peakRps": 3000, "staticShare": 0.7, "audience": "global"}}
    with_cdn = _plan(base)
    without = _plan({**base, "overrides": {"cdn": "none"}})
    assert with_cdn.choice("cdn") == "provider" and without.choice("cdn") == "none"
    assert with_cdn.cost.by("block")["cdn"] > 0 and "cdn" not in without.cost.by("block")
    assert without.cost.by("block")["load_balancer"] > with_cdn.cost.by("block")["load_balancer"]


def test_unpriced_items_are_listed_not_guessed() -> None:
    plan = built("regulated-payments").plan  # Cloudflare as a second DNS provider
    unpriced = {line.item for line in plan.cost.unpriced()}
    assert "Cloudflare DNS (second provider)" in unpriced
    assert any("Cloud DNS" in i or "DNS zone" in i for i in unpriced), unpriced


def test_availability_what_ifs() -> None:
    single = _plan({"availability": {"target": 99.9}})
    changes = {w.change: w for w in single.availability.what_if}
    more = next(w for c, w in changes.items() if c.startswith("one more production region"))
    assert more.after >= more.before
    zonal = next(w for c, w in changes.items() if "unreplicated control plane" in c)
    gcp = sla_table()["rows"]["gcp"]
    assert zonal.before == gcp["control_plane"]["sla"]
    assert zonal.after == gcp["control_plane_zonal"]["sla"]
    assert any(c.startswith("a second DNS provider") for c in changes)
    a = built("shop").plan.availability
    assert a.deploy_any_region is not None and a.deploy_per_cluster is not None
    assert a.deploy_any_region > a.deploy_per_cluster  # two production regions


def test_second_dns_provider_is_a_parallel_term() -> None:
    a = built("regulated-payments").plan.availability
    dns = a.serial[0]
    assert " or " in dns.component and ";" in dns.source
    onprem = _plan({"provider": "onprem", "regions": ["site-a"],
                    "availability": {"target": 99.99}})
    term = onprem.availability.serial[0]
    bind = sla_table()["rows"]["onprem"]["dns"]["sla"]
    assert term.sla > bind  # 1 - (1 - 99.99%) x (1 - 100%)


def test_alternatives_replan_or_say_why_not() -> None:
    loaded = app.load_spec(None, "factory-onprem").loaded
    outcomes = {o.choice: o for o in app.alternatives(loaded, "storage")}
    assert outcomes["provider-csi"].plan is None
    assert "on-prem has no provider storage" in outcomes["provider-csi"].problem
    shop = {o.choice: o for o in app.alternatives(app.load_spec(None, "shop").loaded, "cdn")}
    none = shop["none"].plan
    assert none is not None and none.choice("cdn") == "none"
    assert none.decision("cdn").overridden


def test_explain_shows_the_cost_of_turning_the_cdn_off(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "cdn", "--example", "shop"]) == 0
    out = capsys.readouterr().out
    section = out.split("effect of each alternative", 1)[1]
    line = next(li for li in section.splitlines() if li.strip().startswith("none:"))
    match = re.search(r"([\d,.]+) -> ([\d,.]+) a month \(([+-][\d,.]+)\)", line)
    assert match, line
    before, after, delta = (float(g.replace(",", "")) for g in match.groups())
    assert math.isclose(after - before, delta, abs_tol=0.02)
    plan = built("shop").plan
    assert math.isclose(before, plan.cost.total, abs_tol=0.01)
    assert "availability" in line and "by block:" in section and "cdn -" in section
    assert "third-party:" in section and "without a price: Cloudflare" in section
