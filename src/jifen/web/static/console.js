// jifen console: draws every ECharts chart on the page, including ones htmx swaps in later.
// A chart is <div class="chart" data-chart="ID"> with its option in <script type="application/json" id="ID">.
(function () {
  function draw(el) {
    if (el.dataset.drawn || typeof echarts === "undefined") return;
    var src = document.getElementById(el.dataset.chart);
    if (!src) return;
    el.dataset.drawn = "1";
    var chart = echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(JSON.parse(src.textContent));
    window.addEventListener("resize", function () { chart.resize(); });
  }
  function scan(root) {
    (root.querySelectorAll ? root : document).querySelectorAll("[data-chart]").forEach(draw);
    if (root.dataset && root.dataset.chart) draw(root);
  }
  document.addEventListener("DOMContentLoaded", function () {
    scan(document);
    new MutationObserver(function (records) {
      records.forEach(function (r) { r.addedNodes.forEach(function (n) { if (n.nodeType === 1) scan(n); }); });
    }).observe(document.body, { childList: true, subtree: true });
  });
})();
