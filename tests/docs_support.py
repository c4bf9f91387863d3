"""Helpers of the docs tests: builds per example (once per session), a tiny PNG reader and a
headless Chromium runner."""

from __future__ import annotations

import shutil
import struct
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from kubeplan import app
from kubeplan.model import Plan
from kubeplan.render import OutputTree

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync",
                  # Any host name resolves to nothing: a page that tried the network would fail.
                  "--host-resolver-rules=MAP * ~NOTFOUND")


@dataclass(frozen=True)
class Built:
    plan: Plan
    tree: OutputTree


@cache
def built(example: str) -> Built:
    """The full build of a built-in example, shared by every docs test of the session."""
    the_plan = app.plan(app.load_spec(None, example).loaded)
    return Built(the_plan, app.build_tree(the_plan))


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists()
                                       else None)
        if found:
            return found
    raise AssertionError("headless Chromium is needed for the report test: run "
                         "`bash scripts/test.sh`, which installs Debian's chromium")


def run_chromium(profile: Path, *args: str, timeout: int = 120) -> str:
    done = subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


# A test page that opens the report in a frame (same origin under
# --allow-file-access-from-files) and reports, as JSON in #result, what a reader gets: the
# diagram's size, the decisions table, the network requests the report made, and whether every
# icon is painted. The inline diagram is drawn on a canvas twice, with and without its icons;
# each icon must change the pixels where it sits.
HARNESS = """<!DOCTYPE html><html><head><meta charset="utf-8">
<style>body{margin:0} iframe{border:0;width:%(width)dpx;height:%(height)dpx}</style></head>
<body><pre id="result">pending</pre><iframe id="report" src="%(src)s"></iframe>
<script>
const WIDTH = 1000;
function loadImage(src) {
  return new Promise(done => { const i = new Image(); i.onload = () => done(i);
                               i.onerror = () => done(null); i.src = src; });
}
async function draw(svg) {
  const box = svg.viewBox.baseVal;
  const text = new XMLSerializer().serializeToString(svg);
  const img = await loadImage(URL.createObjectURL(new Blob([text], {type: 'image/svg+xml'})));
  if (!img) return null;
  const c = document.createElement('canvas');
  c.width = WIDTH; c.height = Math.round(box.height * WIDTH / box.width);
  const g = c.getContext('2d');
  g.fillStyle = '#fff'; g.fillRect(0, 0, c.width, c.height);
  g.drawImage(img, 0, 0, c.width, c.height);
  return g.getImageData(0, 0, c.width, c.height);
}
async function paint(svg) {
  const full = await draw(svg);
  const bare = svg.cloneNode(true);
  bare.querySelectorAll('use').forEach(u => u.remove());
  const empty = await draw(bare);
  if (!full || !empty) return {error: 'the diagram does not load as an image'};
  let ink = 0;
  const colours = new Set();
  for (let p = 0; p < full.data.length; p += 4) {
    const [r, g, b] = [full.data[p], full.data[p + 1], full.data[p + 2]];
    if (r < 245 || g < 245 || b < 245) ink++;
    colours.add((r >> 3) << 10 | (g >> 3) << 5 | (b >> 3));
  }
  let painted = 0, blank = 0;
  const frame = svg.getBoundingClientRect(), k = WIDTH / frame.width;
  for (const use of svg.querySelectorAll('use')) {
    const r = use.getBoundingClientRect();
    const x0 = Math.floor((r.x - frame.x) * k), y0 = Math.floor((r.y - frame.y) * k);
    const w = Math.floor(r.width * k), h = Math.floor(r.height * k);
    let changed = 0;
    for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) {
      const p = (y * full.width + x) * 4;
      if (Math.abs(full.data[p] - empty.data[p]) + Math.abs(full.data[p + 1] - empty.data[p + 1])
          + Math.abs(full.data[p + 2] - empty.data[p + 2]) > 60) changed++;
    }
    if (changed > w * h * 0.05) painted++; else blank++;
  }
  return {ink: ink / (full.data.length / 4), colours: colours.size, painted, blank};
}
document.getElementById('report').addEventListener('load', async (event) => {
  const out = {};
  try {
    const frame = event.target, d = frame.contentDocument;
    const svg = d.querySelector('figure svg');
    const r = svg.getBoundingClientRect();
    out.title = d.title;
    out.figure = {x: r.x, y: r.y, width: r.width, height: r.height};
    out.uses = d.querySelectorAll('figure svg use').length;
    out.decisions = [...d.querySelectorAll('#decisions tbody tr')].map(
      tr => [tr.id, tr.cells[2].textContent.trim(), tr.cells[3].textContent.trim().length]);
    out.paint = await paint(svg);
    out.requests = frame.contentWindow.performance.getEntriesByType('resource').map(e => e.name);
  } catch (e) { out.error = String(e); }
  document.getElementById('result').textContent = JSON.stringify(out);
});
</script></body></html>
"""


def harness(report: str, width: int, height: int) -> str:
    return HARNESS % {"src": report, "width": width, "height": height}
