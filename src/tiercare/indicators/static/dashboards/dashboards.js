// The indicator dashboards (ECharts): a twelve-month sparkline in each overview card
// (json_script "spark-data": {indicator: {labels, values, status}}) and the ranking's bar
// chart ("ranking-data": {names, values, unit}). The period field and the year-to-date
// field clear each other, so that the form asks for one span.
(function () {
  "use strict";
  var COLOURS = { met: "#2e7d32", near: "#e65100", missed: "#b71c1c", none: "#546e7a" };

  function data(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function sparklines() {
    var all = data("spark-data");
    if (!all) return [];
    var charts = [];
    document.querySelectorAll("[data-spark]").forEach(function (box) {
      var series = all[box.dataset.spark];
      if (!series || !series.values.some(function (v) { return v !== null; })) return;
      var chart = window.echarts.init(box, null, { renderer: "svg" });
      chart.setOption({
        animation: false,
        grid: { left: 2, right: 2, top: 4, bottom: 2 },
        xAxis: { type: "category", data: series.labels, show: false, boundaryGap: false },
        yAxis: { type: "value", show: false, scale: true },
        tooltip: { trigger: "axis", confine: true, textStyle: { fontSize: 11 },
                   position: function (point) { return [point[0], -28]; } },
        series: [{ type: "line", data: series.values, symbol: "circle", symbolSize: 3,
                   connectNulls: true,
                   lineStyle: { width: 1.5, color: COLOURS[series.status] || COLOURS.none },
                   areaStyle: { opacity: 0.08, color: COLOURS[series.status] || COLOURS.none } }]
      });
      charts.push(chart);
    });
    return charts;
  }

  function ranking() {
    var box = document.getElementById("ranking-chart");
    var series = data("ranking-data");
    if (!box || !series) return [];
    if (!series.values.length) {
      box.textContent = box.dataset.empty;
      box.classList.add("text-muted", "small");
      box.style.height = "auto";
      return [];
    }
    box.style.height = Math.max(160, 28 * series.values.length + 40) + "px";
    var chart = window.echarts.init(box);
    chart.setOption({
      grid: { left: 8, right: 48, top: 8, bottom: 8, containLabel: true },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: { type: "value", scale: false },
      yAxis: { type: "category", data: series.names.slice().reverse(),
               axisLabel: { fontSize: 12 } },
      series: [{ type: "bar", data: series.values.slice().reverse(), barMaxWidth: 18,
                 itemStyle: { color: "#0b6e4f" },
                 label: { show: true, position: "right", fontSize: 11 } }]
    });
    return [chart];
  }

  function clearing() {
    document.querySelectorAll("[data-clears]").forEach(function (field) {
      field.addEventListener("input", function () {
        var other = document.getElementById(field.dataset.clears);
        if (other && field.value) other.value = "";
      });
    });
  }

  function draw() {
    clearing();
    if (!window.echarts) return;
    var charts = sparklines().concat(ranking());
    window.addEventListener("resize", function () {
      charts.forEach(function (chart) { chart.resize(); });
    });
  }
  if (document.readyState === "complete") draw(); else window.addEventListener("load", draw);
})();
