// Bar charts of the report pages (out-of-county analysis, cost structure) with ECharts.
// Each element [data-chart] names a json_script element holding
// {categories, axes: [name, …], series: [{name, axis, values}], stack}: horizontal bars,
// the first category at the top; a second axis (top) for a series with axis 1; stacked
// when "stack" is true. The print button of the quarterly report prints the page.
(function () {
  "use strict";
  var colours = ["#0b6e4f", "#1565c0", "#e69f00", "#6a1b9a", "#b71c1c", "#56b4e9"];
  function draw(box) {
    var source = document.getElementById(box.dataset.chart);
    if (!source || !window.echarts) return;
    var data = JSON.parse(source.textContent);
    if (!data.categories.length) {
      box.textContent = box.dataset.empty || "";
      box.classList.add("text-muted", "small");
      return;
    }
    var perRow = data.stack ? 32 : 22 * data.series.length + 12;
    box.style.height = Math.max(180, 110 + data.categories.length * perRow) + "px";
    var axes = data.axes.map(function (name, i) {
      return { type: "value", name: name, position: i === 0 ? "bottom" : "top",
               nameLocation: "middle", nameGap: 26, splitLine: { show: i === 0 } };
    });
    var chart = window.echarts.init(box);
    chart.setOption({
      color: colours,
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      legend: { top: 0 },
      grid: { left: 8, right: 24, top: data.axes.length > 1 ? 64 : 32, bottom: 36,
              containLabel: true },
      xAxis: axes,
      yAxis: { type: "category", data: data.categories, inverse: true,
               axisLabel: { width: 160, overflow: "truncate" } },
      series: data.series.map(function (s) {
        return { type: "bar", name: s.name, data: s.values, xAxisIndex: s.axis || 0,
                 stack: data.stack ? "total" : undefined, barMaxWidth: 18,
                 label: { show: !data.stack, position: "right", fontSize: 11 } };
      })
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
  function start() {
    document.querySelectorAll("[data-chart]").forEach(draw);
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.addEventListener("click", function () { window.print(); });
    });
  }
  if (document.readyState === "complete") start(); else window.addEventListener("load", start);
})();
