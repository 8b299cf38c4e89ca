// Charts of the supervision pages (Apache ECharts, served from the package; no CDN).
document.addEventListener("DOMContentLoaded", function () {
  if (typeof echarts === "undefined") return;
  document.querySelectorAll("[data-chart='trend']").forEach(function (el) {
    var rows = JSON.parse(el.getAttribute("data-series") || "[]");
    var labels = JSON.parse(el.getAttribute("data-labels") || "{}");
    el.style.width = "100%";
    el.style.height = "320px";
    var chart = echarts.init(el);
    chart.setOption({
      tooltip: { trigger: "axis" },
      legend: { data: [labels.tickets, labels.rate] },
      grid: { left: 40, right: 40, bottom: 30, containLabel: true },
      xAxis: { type: "category", data: rows.map(function (r) { return r.month; }) },
      yAxis: [{ type: "value", minInterval: 1 }, { type: "value", min: 0, max: 100 }],
      series: [
        { name: labels.tickets, type: "bar", data: rows.map(function (r) { return r.tickets; }) },
        { name: labels.rate, type: "line", yAxisIndex: 1,
          data: rows.map(function (r) { return r.on_time_rate; }) }
      ]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  });
});
