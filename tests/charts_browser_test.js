// Opens <ctx>/debug/charts/ in headless Chromium (Debian's, driven by playwright-core) and
// checks, from the page itself, that it showed the history kept before it opened, that every
// chart drew at least 3 live points, that the top-10 table names demo functions, and that the
// slowest-calls table (the demo runs in timing mode for this test) lists demo functions by p99
// with p50 <= p99 <= max. Saves a screenshot. Usage: node this.js URL SCREENSHOT
"use strict";
const { chromium } = require(process.env.PLAYWRIGHT_CORE);

async function main() {
  const [url, screenshot] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    // No background networking: this machine's closed network refuses those connections.
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync"],
  });
  const errors = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
    page.on("pageerror", e => errors.push("page error: " + e));
    page.on("console", m => { if (m.type() === "error") errors.push("console: " + m.text()); });
    await page.goto(url);
    // Three live frames after the history: about three seconds.
    await page.waitForFunction(() => window.hookprofCharts && window.hookprofCharts.livePoints >= 3,
                               null, { timeout: 30000 });
    const state = await page.evaluate(() => {
      const out = { charts: {}, top: [], error: window.hookprofCharts.error };
      for (const [id, u] of Object.entries(window.hookprofCharts.plots)) {
        // Points per series, and whether the canvas has any drawn pixel in the plot area.
        const lengths = u.data.map(s => s.filter(v => v !== null && v !== undefined).length);
        const c = u.ctx.canvas;
        const pixels = u.ctx.getImageData(0, 0, c.width, c.height).data;
        let painted = 0;
        for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) painted++;
        out.charts[id] = { lengths, painted, width: c.width, height: c.height };
      }
      out.top = Array.from(document.querySelectorAll("#top tr td:first-child"), td => td.textContent);
      out.slowest = Array.from(document.querySelectorAll("#slowest tr"),
                               tr => Array.from(tr.children, td => td.textContent));
      out.slowestNoteHidden = document.getElementById("slowest-note").hidden;
      out.live = window.hookprofCharts.livePoints;
      out.history = window.hookprofCharts.historyPoints;
      return out;
    });
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log(JSON.stringify(state, null, 1));
    const problems = [];
    if (errors.length) problems.push(...errors);
    if (state.error) problems.push("page: " + state.error);
    const ids = Object.keys(state.charts);
    if (ids.length !== 5) problems.push("expected 5 charts, got " + ids.join(","));
    for (const [id, c] of Object.entries(state.charts)) {
      // Time axis and the chart's fullest series (the heap profile's series is empty when the
      // heap sampler is off, as under the sanitizers).
      if (c.lengths[0] < 3 || Math.max(...c.lengths.slice(1)) < 3) {
        problems.push(id + ": fewer than 3 points " + c.lengths);
      }
      if (c.painted === 0) problems.push(id + ": nothing drawn on the canvas");
    }
    // Opened 4 s after the demo started: the history the process kept shows at once.
    if (state.history < 3) problems.push("the page opened late got " + state.history + " history points");
    if (!state.top.some(f => f.startsWith("demo::"))) {
      problems.push("top-10 table names no demo function: " + JSON.stringify(state.top));
    }
    if (!state.slowest.some(r => r[0].startsWith("demo::"))) {
      problems.push("slowest-calls table names no demo function: " + JSON.stringify(state.slowest));
    }
    for (const r of state.slowest) {
      const [p50, p99, max] = r.slice(2).map(Number);
      if (!(Number(r[1]) > 0 && p50 <= p99 && p99 <= max)) problems.push("slowest-calls row out of order: " + r);
    }
    if (state.slowest.length && !state.slowestNoteHidden) problems.push("timing-mode note shown over rows");
    if (problems.length) {
      console.log("FAIL:\n" + problems.join("\n"));
      process.exitCode = 1;
    } else {
      console.log("PASS: 5 charts with >= 3 live points each; top: " + state.top.slice(0, 3).join(", "));
    }
  } finally {
    await browser.close();
  }
}

main().catch(e => { console.log("FAIL: " + e); process.exitCode = 1; });
