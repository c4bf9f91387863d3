"""docs/index.html: self-contained, and rendered by headless Chromium with the network cut off.

Two Chromium launches per session: one loads the report through a test page that measures it
(diagram size, every icon painted, the decisions table, requests made), one takes the
screenshot kept as a test artifact.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from kubeplan.render import write_tree

from .docs_support import built, harness, png_size, run_chromium

WIDTH, HEIGHT = 1400, 2400


class _Refs(HTMLParser):
    """Every element, and every attribute that could make a browser fetch something."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.refs: list[tuple[str, str, str]] = []
        self.policy = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        if tag == "meta" and values.get("http-equiv") == "Content-Security-Policy":
            self.policy = values.get("content") or ""
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "srcset", "poster", "data", "action"):
                self.refs.append((tag, name, value or ""))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report") / "platform"
    write_tree(built("shop").tree, root)
    return root


@pytest.fixture(scope="module")
def measured(site: Path) -> dict[str, Any]:
    page = site.parent / "harness.html"
    page.write_text(harness("platform/docs/index.html", WIDTH, HEIGHT), "utf-8")
    dom = run_chromium(site.parent / "profile-measure", "--allow-file-access-from-files",
                       "--virtual-time-budget=30000", f"--window-size={WIDTH},{HEIGHT}",
                       "--dump-dom", page.as_uri())
    found = re.search(r'<pre id="result">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    text = found.group(1).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    assert text != "pending", "the report never finished loading in Chromium"
    result: dict[str, Any] = json.loads(text)
    assert "error" not in result, result
    return result


def test_report_references_nothing_outside_itself(site: Path) -> None:
    page = (site / "docs/index.html").read_text("utf-8")
    parser = _Refs()
    parser.feed(page)
    assert "script" not in parser.tags and "iframe" not in parser.tags
    assert "link" not in parser.tags, "styles are inline, nothing is linked in"
    for tag, name, value in parser.refs:
        if tag == "a":
            # Links go to files of the build, relative to docs/.
            assert not re.match(r"^[a-z]+:|^/", value), (tag, name, value)
            assert (site / "docs" / value.split("#")[0]).resolve().exists(), value
        else:
            assert value.startswith(("#", "data:image/png;base64,")), (tag, name, value[:80])
    # The page itself forbids any load but inline styles and data: images.
    assert parser.policy.startswith("default-src 'none';"), parser.policy
    assert "url(" not in page and "@import" not in page


def test_chromium_renders_the_diagram_with_every_icon(measured: dict[str, Any]) -> None:
    figure, paint = measured["figure"], measured["paint"]
    assert figure["width"] > 1000 and figure["height"] > 500, figure
    graph_boxes = built("shop").tree.get("docs/architecture.svg").count(b"<use ")
    assert measured["uses"] == graph_boxes > 30
    assert paint["painted"] == measured["uses"] and paint["blank"] == 0, paint
    assert paint["ink"] > 0.1 and paint["colours"] > 200, paint


def test_chromium_renders_the_decisions(measured: dict[str, Any]) -> None:
    plan = built("shop").plan
    rows = measured["decisions"]
    assert [r[0] for r in rows] == [f"decision-{d.block}" for d in plan.decisions]
    for (_, choice, rationale_length), decision in zip(rows, plan.decisions, strict=True):
        assert choice.startswith(decision.choice)
        assert rationale_length == len(decision.rationale)
    assert measured["title"] == f"{plan.metadata.name}: platform architecture"


def test_chromium_made_no_requests(measured: dict[str, Any]) -> None:
    assert measured["requests"] == []


def test_screenshot_is_kept(site: Path) -> None:
    shot = site.parent / "report.png"
    run_chromium(site.parent / "profile-shot", f"--window-size={WIDTH},{HEIGHT}",
                 f"--screenshot={shot}", (site / "docs/index.html").as_uri())
    assert png_size(shot.read_bytes()) == (WIDTH, HEIGHT)
    assert shot.stat().st_size > 100_000, "a blank page compresses to almost nothing"
