// Live deploy status and log: an EventSource on the dashboard's stream.
// The browser reconnects by itself and sends Last-Event-ID (the last log
// line's number), so the server resumes after it; lines are also keyed by
// number here, so a replayed line is never shown twice.
(function () {
  "use strict";
  var log = document.getElementById("deploy-log");
  if (!log) return;
  var statusEl = document.getElementById("deploy-status");
  var errorEl = document.getElementById("deploy-error");
  var stateEl = document.getElementById("stream-state");
  var seen = {};
  var source = new EventSource(log.dataset.eventsUrl);

  source.addEventListener("open", function () {
    stateEl.textContent = "Following the log live.";
  });
  source.addEventListener("log", function (event) {
    if (seen[event.lastEventId]) return;
    seen[event.lastEventId] = true;
    var line = document.createElement("span");
    line.className = "line";
    line.dataset.seq = event.lastEventId;
    line.textContent = event.data + "\n";
    var atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.appendChild(line);
    if (atBottom) log.scrollTop = log.scrollHeight;
  });
  source.addEventListener("status", function (event) {
    var data = JSON.parse(event.data);
    statusEl.textContent = data.status;
    statusEl.className = "status s-" + data.status;
    errorEl.textContent = data.error || "";
  });
  source.addEventListener("end", function (event) {
    source.close();
    stateEl.textContent = "The deploy is " + event.data + "; the log is complete.";
  });
  source.addEventListener("error", function () {
    if (source.readyState === EventSource.CLOSED) {
      stateEl.textContent = "The log stream closed; reload the page to retry.";
    } else {
      stateEl.textContent = "Connection lost; reconnecting…";
    }
  });
})();
