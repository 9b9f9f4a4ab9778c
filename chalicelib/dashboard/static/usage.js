// The usage chart: tokens per hour, one line per model (Chart.js, vendored).
(function () {
  "use strict";
  var canvas = document.getElementById("usage-chart");
  var raw = document.getElementById("usage-data");
  if (!canvas || !raw || typeof Chart === "undefined") return;
  var usage = JSON.parse(raw.textContent);
  var colors = ["#2c5cc5", "#d9822b", "#1b7a3a", "#b00020", "#7b3fb8", "#0f8b8d"];
  var chart = new Chart(canvas, {
    type: "bar",
    data: {
      labels: usage.labels.map(function (label) { return label.slice(5, 16).replace("T", " "); }),
      datasets: usage.series.map(function (series, index) {
        return {
          label: series.model,
          data: series.tokens,
          backgroundColor: colors[index % colors.length],
        };
      }),
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, title: { display: true, text: "tokens" } } },
    },
  });
  canvas.dataset.models = usage.series.map(function (s) { return s.model; }).join(",");
  canvas.dataset.ready = String(chart.data.datasets.length);
})();
