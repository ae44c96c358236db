// jifen member portal: live notifications (EventSource) shown as a toast and in the list.
(function () {
  function toast(text) {
    var el = document.getElementById("toast");
    if (!el) return;
    el.textContent = text;
    el.style.display = "block";
    clearTimeout(el._t);
    el._t = setTimeout(function () { el.style.display = "none"; }, 4000);
  }
  window.jifenToast = toast;
  document.addEventListener("DOMContentLoaded", function () {
    var url = document.body.dataset.stream;
    if (!url || typeof EventSource === "undefined") return;
    var source = new EventSource(url);
    function show(ev) {
      var text = ev.data;
      try {
        var data = JSON.parse(ev.data);
        text = data.text || data.title || data.topic || ev.data;
      } catch (e) { /* plain text */ }
      toast(text);
      var list = document.getElementById("notifications");
      if (list) {
        var li = document.createElement("li");
        li.textContent = text;
        li.setAttribute("data-testid", "notification");
        list.insertBefore(li, list.firstChild);
      }
    }
    source.onmessage = show;
    ["notification", "points.credited", "points.debited"].forEach(function (name) {
      source.addEventListener(name, show);
    });
  });
})();
// Results swapped in by htmx: spin the lottery wheel to the prize, reload after a success.
(function () {
  function handle(el) {
    if (el.dataset.done) return;
    el.dataset.done = "1";
    if (el.dataset.spin !== undefined) {
      var wheel = document.getElementById("wheel");
      var n = parseInt(el.dataset.segments || "1", 10);
      var i = parseInt(el.dataset.spin, 10);
      if (wheel) {
        // Segment i spans [i, i+1) * 360/n from the top, clockwise; bring its middle under the pointer.
        var target = 360 * 5 + (360 - (i + 0.5) * (360 / n));
        wheel.style.transform = "rotate(" + target + "deg)";
        wheel.dataset.stopped = String(i);
      }
    }
    if (el.dataset.refresh) {
      setTimeout(function () { location.reload(); }, parseInt(el.dataset.refresh, 10));
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    new MutationObserver(function () {
      document.querySelectorAll("[data-spin],[data-refresh]").forEach(handle);
    }).observe(document.body, { childList: true, subtree: true });
  });
})();
