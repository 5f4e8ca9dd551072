// Draws the overview's five charts with uPlot from the rows embedded in the page (#analytics).
"use strict";
(function () {
  const source = document.getElementById("analytics");
  if (!source || typeof uPlot === "undefined") return;
  const data = JSON.parse(source.textContent);
  const step = data.bucket_s;
  const first = Math.floor(data.since / step) * step;
  const xs = [];
  for (let t = first; t < data.until; t += step) xs.push(t);
  const slot = new Map(xs.map((t, i) => [t, i]));
  const palette = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"];

  // rows -> one y array per key (missing buckets: fill, e.g. 0 for counts, null for ratios)
  function pivot(rows, keyOf, valueOf, fill) {
    const series = new Map();
    for (const row of rows) {
      const key = keyOf(row);
      if (!series.has(key)) series.set(key, xs.map(() => fill));
      const i = slot.get(row.bucket);
      if (i !== undefined) series.get(key)[i] = valueOf(row);
    }
    return series;
  }

  function draw(id, series, unit) {
    const el = document.getElementById(id);
    const names = [...series.keys()];
    let points = 0;
    for (const ys of series.values()) points += ys.filter((v) => v !== null && v !== 0).length;
    el.dataset.series = String(names.length);
    el.dataset.points = String(points);
    if (names.length === 0) {
      el.textContent = "no data in this window";
      el.classList.add("nodata");
      return;
    }
    const opts = {
      width: Math.max(320, el.clientWidth || 480),
      height: 220,
      scales: { x: { time: true } },
      axes: [{}, { size: 72, values: (u, ticks) => ticks.map((v) => +v.toPrecision(3) + unit) }],
      series: [{}].concat(names.map((name, i) => ({
        label: String(name),
        stroke: palette[i % palette.length],
        width: 2,
        spanGaps: true,
        points: { show: true, size: 5 },
      }))),
    };
    new uPlot(opts, [xs, ...series.values()], el);
    el.dataset.rendered = "true";
  }

  const label = (v) => (v === null || v === undefined ? "(none)" : v);
  draw("chart-rpm", pivot(data.rpm, (r) => label(r.model), (r) => r.rpm, 0), "");
  draw("chart-cache", pivot(data.cache, () => "hit rate", (r) => 100 * r.hit_rate, null), "%");
  const latency = new Map();
  for (const [name, ys] of pivot(data.latency, (r) => label(r.provider), (r) => r.p50_ms, null)) latency.set(name + " p50", ys);
  for (const [name, ys] of pivot(data.latency, (r) => label(r.provider), (r) => r.p95_ms, null)) latency.set(name + " p95", ys);
  draw("chart-latency", latency, "");
  draw("chart-cost", pivot(data.cost, () => "USD / request", (r) => r.cost_per_request_usd, null), "");
  draw("chart-errors", pivot(data.errors, (r) => label(r.provider), (r) => 100 * r.error_rate, null), "%");
})();
