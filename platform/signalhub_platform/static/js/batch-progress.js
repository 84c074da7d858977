/* Batch page: while the batch is being checked or committed, poll its JSON status every second and
   move the progress bars; reload the page once the work is done so the results and actions show.
   A script file, not inline: the Content-Security-Policy allows scripts from 'self' only. */
(function () {
  "use strict";
  var section = document.getElementById("batch-progress");
  if (!section || section.getAttribute("data-working") !== "1" || !window.fetch) {
    return;
  }
  var url = section.getAttribute("data-status-url");
  var WORKING = ["uploaded", "validating", "committing"];

  function show(name, value, max) {
    var count = section.querySelector('[data-count="' + name + '"]');
    if (count) { count.textContent = String(value); }
    var bar = section.querySelector('[data-progress="' + name + '"]');
    if (bar && max) { bar.max = max; bar.value = value; }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (batch) {
        if (!batch) { return; }
        var p = batch.progress || {};
        show("read", p.read || 0, p.total);
        show("validated", p.validated || 0, p.total);
        show("committed", p.committed || 0, batch.counts && batch.counts.valid);
        if (WORKING.indexOf(batch.state) === -1 && !batch.commit_pending) {
          window.location.replace(window.location.pathname);  /* drop the "queued" notice */
          return;
        }
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }

  window.setTimeout(poll, 1000);
})();
