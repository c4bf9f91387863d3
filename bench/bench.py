"""Speed targets, measured outside the test suite (timed tests are flaky on shared CI).

    python bench/bench.py            # prints timings; exit 1 when a target is missed

Targets: planning any example in under 0.5 s, rendering a full output tree in under 15 s,
on the 2-core reference machine.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

from kubeplan import app

PLAN_TARGET_S = 0.5
BUILD_TARGET_S = 15.0
REPEAT = 5


def _best(fn: Callable[[], object], repeat: int = REPEAT) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    missed = 0
    rows = []
    for name in app.example_names():
        loaded = app.load_spec(None, name).loaded
        plan_s = _best(lambda loaded=loaded: app.plan(loaded))  # type: ignore[misc]
        the_plan = app.plan(loaded)
        build_s = _best(lambda the_plan=the_plan: app.build_tree(the_plan), repeat=2)  # type: ignore[misc]
        rows.append((name, plan_s, build_s))
        missed += (plan_s > PLAN_TARGET_S) + (build_s > BUILD_TARGET_S)
    width = max(len(r[0]) for r in rows)
    print(f"{'example':{width}}  plan (s)  build (s)")
    for name, plan_s, build_s in rows:
        print(f"{name:{width}}  {plan_s:8.3f}  {build_s:9.3f}")
    print(f"median plan {statistics.median(r[1] for r in rows):.3f} s "
          f"(target {PLAN_TARGET_S}), median build {statistics.median(r[2] for r in rows):.3f} s "
          f"(target {BUILD_TARGET_S})")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
