// An endpoint's live figures: totals polled every 2 s, turned into rates here; a uPlot chart of requests/s.
"use strict";
(function () {
  const root = document.getElementById("live");
  if (!root) return;
  const state = document.getElementById("live-state");
  const chartBox = document.getElementById("rate-chart");
  let last = null;
  const xs = [];
  const ys = {};
  let plot = null;
  const fmt = (x, d) => (x === null || x === undefined || !isFinite(x)) ? "—" : Number(x).toFixed(d);

  function set(row, key, text) {
    const cell = row.querySelector('[data-key="' + key + '"]');
    if (cell && cell.textContent !== text) cell.textContent = text;
  }

  function chart(names) {
    if (typeof uPlot === "undefined" || !chartBox || xs.length < 2) return;  // a rate needs two readings
    const data = [xs].concat(names.map((n) => ys[n]));
    if (!plot) {
      const colours = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00"];
      plot = new uPlot({
        width: Math.max(260, chartBox.clientWidth || 600), height: 180,
        series: [{}].concat(names.map((n, i) => ({ label: n + " req/s", stroke: colours[i % colours.length], width: 2 }))),
        axes: [{}, { label: "requests/s" }],
      }, data, chartBox);
      window.modelportFit(plot, chartBox, 180);
    } else {
      plot.setData(data);
    }
  }

  window.modelportLive(root, function (now) {
    const names = Object.keys(now.variants);
    for (const name of names) {
      const v = now.variants[name];
      const row = root.querySelector('tr[data-variant="' + CSS.escape(name) + '"]');
      if (!row) continue;
      const before = last && last.variants[name];
      const dt = last ? now.t - last.t : 0;
      let rate = null, errorRate = null, batch = null;
      if (before && dt > 0) {
        const dreq = v.requests - before.requests;
        rate = dreq / dt;
        errorRate = dreq > 0 ? (v.errors - before.errors) / dreq : null;
        batch = dreq > 0 ? (v.rows - before.rows) / dreq : null;
      }
      if (batch === null && v.requests > 0) batch = v.rows / v.requests;
      if (errorRate === null && v.requests > 0) errorRate = v.errors / v.requests;
      set(row, "weight", v.shadow ? "—" : String(v.weight));
      set(row, "rate", fmt(rate, 2));
      set(row, "p50_ms", fmt(v.p50_ms, 1));
      set(row, "p99_ms", fmt(v.p99_ms, 1));
      set(row, "error_rate", errorRate === null ? "—" : (100 * errorRate).toFixed(1) + "%");
      set(row, "batch", fmt(batch, 1));
      set(row, "requests", String(Math.round(v.requests)));
      if (!ys[name]) ys[name] = xs.map(() => null);
      ys[name].push(rate);
    }
    xs.push(now.t);
    if (xs.length > 300) { xs.shift(); for (const n of names) ys[n].shift(); }
    last = now;
    root.dataset.updated = String(now.t);
    root.dataset.readings = String(xs.length);
    if (state) state.textContent = "(updated " + new Date(now.t * 1000).toLocaleTimeString() + ", revision " + now.revision + ")";
    chart(names);
  });
})();
