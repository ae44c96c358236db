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
// Definition forms (forms.py): add and remove rows of a repeatable section (the inputs of row i
// are named "<section>.<i>.<field>", renumbered after a removal so error paths match), and show
// only the inputs that apply to the chosen kind (data-when="kind" data-when-in="points,coupon").
(function () {
  function renumber(section) {
    var name = section.dataset.rows;
    section.querySelectorAll("[data-rows-body] > [data-row]").forEach(function (row, i) {
      row.querySelectorAll("[name]").forEach(function (input) {
        input.name = input.name.replace(new RegExp("^" + name + "\\.[^.]+\\."), name + "." + i + ".");
      });
    });
  }
  function applyWhen(scope) {
    scope.querySelectorAll("[data-when]").forEach(function (el) {
      var box = el.closest("[data-row]") || el.closest("form");
      if (!box) return;
      var wanted = el.dataset.when;
      var input = Array.prototype.find.call(box.querySelectorAll("[name]"), function (i) {
        return i.name === wanted || i.name.endsWith("." + wanted) && i.closest("[data-row]") === el.closest("[data-row]");
      });
      if (input) el.hidden = el.dataset.whenIn.split(",").indexOf(input.value) < 0;
    });
  }
  document.addEventListener("click", function (e) {
    var add = e.target.closest("[data-add-row]");
    if (add) {
      var section = add.closest("[data-rows]");
      var body = section.querySelector("[data-rows-body]");
      var tpl = section.querySelector("template[data-row-template]");
      body.appendChild(tpl.content.cloneNode(true));
      renumber(section);
      applyWhen(section);
      return;
    }
    var remove = e.target.closest("[data-remove-row]");
    if (remove) {
      var sec = remove.closest("[data-rows]");
      remove.closest("[data-row]").remove();
      renumber(sec);
    }
  });
  document.addEventListener("change", function (e) {
    var form = e.target.closest && e.target.closest("form.defform");
    if (form) applyWhen(form);
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.defform").forEach(applyWhen);
  });
})();
