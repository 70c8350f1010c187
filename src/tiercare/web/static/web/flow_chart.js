// The alliance office's flow chart: referrals between levels as a sankey diagram (ECharts).
// Data: the json_script element "flow-data" ({nodes, links}) written by the server.
(function () {
  "use strict";
  function draw() {
    var box = document.getElementById("flow-chart");
    var source = document.getElementById("flow-data");
    if (!box || !source || !window.echarts) return;
    var data = JSON.parse(source.textContent);
    if (!data.links.length) {
      box.textContent = box.dataset.empty;
      box.classList.add("text-muted", "small");
      box.style.height = "auto";
      return;
    }
    var chart = window.echarts.init(box);
    chart.setOption({
      tooltip: { trigger: "item" },
      series: [{ type: "sankey", data: data.nodes, links: data.links, nodeAlign: "justify",
                 emphasis: { focus: "adjacency" }, lineStyle: { color: "gradient", opacity: 0.4 },
                 label: { fontSize: 12 } }]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
  if (document.readyState === "complete") draw(); else window.addEventListener("load", draw);
})();
