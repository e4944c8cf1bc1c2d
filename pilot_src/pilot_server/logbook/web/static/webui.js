// The logbook's web page: the few things done in the browser (no framework, no external file).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // A pilot's log: show or hide each level at once (the server also filters with ?levels=).
  var log = document.getElementById("log");
  var toggles = document.querySelectorAll("input.level-toggle");
  function refresh() {
    if (!log) { return; }
    toggles.forEach(function (box) {
      log.classList.toggle("hide-" + box.value, !box.checked);
    });
    var shown = 0;
    log.querySelectorAll("tbody tr").forEach(function (row) {
      if (row.offsetParent !== null) { shown += 1; }
    });
    var count = document.getElementById("log-shown");
    if (count) { count.textContent = String(shown); }
  }
  toggles.forEach(function (box) { box.addEventListener("change", refresh); });
  refresh();
  // Times: also show the browser's local time on hover.
  document.querySelectorAll("time[datetime]").forEach(function (node) {
    var when = new Date(node.getAttribute("datetime"));
    if (!isNaN(when.getTime())) { node.title = "local: " + when.toString(); }
  });
});
