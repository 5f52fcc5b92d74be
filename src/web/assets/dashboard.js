/* global echarts, document, window */
// The dashboard's only client code: draws the daily chart from the JSON block the server rendered
// (#daily-data). The figures themselves are in the server-rendered tables; the chart is an enhancement.
(function drawDailyChart() {
  const element = document.getElementById('daily-chart');
  const source = document.getElementById('daily-data');
  if (!element || !source || typeof echarts === 'undefined') return;
  const data = JSON.parse(source.textContent);
  const chart = echarts.init(element, null, { renderer: 'svg' });
  chart.setOption({
    animation: false,
    grid: { left: 56, right: 16, top: 40, bottom: 32 },
    legend: { top: 0, type: 'scroll' },
    tooltip: {
      trigger: 'axis',
      axisPointer: { type: 'shadow' },
      formatter(items) {
        const rows = items
          .filter((item) => item.value > 0)
          .map((item) => `${item.marker}${item.seriesName}: ${item.value.toFixed(3)} ${data.labels.gb} (${data.series[item.seriesIndex].exact[item.dataIndex]} ${data.labels.bytes})`);
        return [items[0] ? items[0].axisValue : ''].concat(rows).join('<br>');
      },
    },
    xAxis: { type: 'category', data: data.days.map((day) => day.slice(5)) },
    yAxis: { type: 'value', name: data.labels.gb },
    series: data.series.map((series) => ({ name: series.name, type: 'bar', stack: 'bytes', data: series.gb, emphasis: { focus: 'series' } })),
  });
  element.dataset.rendered = 'true';
  window.addEventListener('resize', () => chart.resize());
})();
