// modelport console: small progressive enhancements. Pages work without it; it adds live numbers and charts.
"use strict";
(function () {
  const csrf = () => (document.querySelector('meta[name="csrf"]') || {}).content || "";

  // Charts follow their box's width (a phone turned sideways, a resized window).
  window.modelportFit = function (plot, box, height) {
    let pending = null;
    window.addEventListener("resize", function () {
      clearTimeout(pending);
      pending = setTimeout(() => plot.setSize({ width: Math.max(260, box.clientWidth), height: height }), 150);
    });
  };

  // Time series embedded by the server as <script type="application/json" data-series> next to a [data-chart].
  function drawSeries(box) {
    const source = document.getElementById(box.dataset.chart);
    if (!source || typeof uPlot === "undefined") return;
    const spec = JSON.parse(source.textContent);
    const width = Math.max(260, box.clientWidth || 600);
    const colours = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"];
    const series = [{}].concat(spec.series.map((s, i) => ({
      label: s.label, stroke: colours[i % colours.length], width: 2, spanGaps: true,
      dash: s.dash ? [6, 4] : undefined, points: { show: spec.x.length < 60 },
    })));
    box.textContent = "";
    const plot = new uPlot({ width: width, height: spec.height || 220, series: series, scales: { x: { time: spec.time !== false } },
      axes: [{}, { label: spec.ylabel || "" }] }, [spec.x].concat(spec.series.map((s) => s.y)), box);
    window.modelportFit(plot, box, spec.height || 220);
  }
  document.querySelectorAll("[data-chart]").forEach(drawSeries);

  // Live figures: [data-live=url] polled every few seconds; cells with data-key are filled from the JSON.
  window.modelportLive = function (root, onData) {
    const url = root.dataset.live;
    const every = Number(root.dataset.every || 2000);
    let stopped = false;
    async function tick() {
      if (stopped) return;
      try {
        const r = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
        if (r.status === 401 || r.status === 403) { stopped = true; return; }
        if (r.ok) onData(await r.json());
      } catch (e) { /* the next tick retries */ }
      setTimeout(tick, every);
    }
    tick();
  };

  window.modelportCsrf = csrf;
})();
