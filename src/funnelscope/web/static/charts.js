/* funnelscope's charts and tables, shared by the server's pages and the HTML report.
 *
 * Input: the JSON of `funnelscope funnel --format json` (steps, breakdown), and when present
 * its `time_to_convert` and `trend` keys. Every chart gets its table beside it and CSV / PNG
 * export buttons. Data is put in the page with textContent only (event names and property
 * values come from captured data), and tooltips are drawn on the canvas (richText), never as
 * HTML.
 */
(function () {
  "use strict";

  var COLORS = ["#3461c1", "#e07b39", "#3a9d5d", "#b5427a", "#7a5cc7", "#8c7a3a"];

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(child);
    });
    return node;
  }

  function number(value) {
    return value === null || value === undefined ? "-" : Number(value).toLocaleString("en-US");
  }

  function percent(rate) {
    return rate === null || rate === undefined ? "-" : (100 * rate).toFixed(2) + "%";
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "-";
    var s = Math.round(seconds);
    if (s < 60) return s + "s";
    var parts = s < 3600 ? [[Math.floor(s / 60), "m"], [s % 60, "s"]] :
      s < 86400 ? [[Math.floor(s / 3600), "h"], [Math.floor((s % 3600) / 60), "m"]] :
      [[Math.floor(s / 86400), "d"], [Math.floor((s % 86400) / 3600), "h"]];
    return parts[0][0] + parts[0][1] + (parts[1][0] ? " " + parts[1][0] + parts[1][1] : "");
  }

  /* A table: `columns` are [title, key, format]; the raw value goes in data-value, so CSV and
   * tests read exact numbers while people read formatted ones. */
  function table(id, columns, rows) {
    var head = el("tr", {}, columns.map(function (c) { return el("th", { text: c[0] }); }));
    var body = rows.map(function (row) {
      return el("tr", {}, columns.map(function (c) {
        var raw = row[c[1]];
        var cell = el("td", { text: c[2] ? c[2](raw) : String(raw === null ? "-" : raw) });
        cell.setAttribute("data-value", raw === null || raw === undefined ? "" : String(raw));
        if (typeof raw === "number") cell.className = "num";
        return cell;
      }));
    });
    return el("table", { id: id, class: "data" }, [el("thead", {}, [head]), el("tbody", {}, body)]);
  }

  function csvCell(text) {
    return /[",\n\r]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  /* The table as CSV: header texts, then each cell's raw value. */
  function tableCsv(tableNode) {
    var lines = [];
    tableNode.querySelectorAll("tr").forEach(function (tr) {
      var cells = [];
      tr.querySelectorAll("th,td").forEach(function (cell) {
        var raw = cell.hasAttribute("data-value") ? cell.getAttribute("data-value") : cell.textContent;
        cells.push(csvCell(raw));
      });
      lines.push(cells.join(","));
    });
    return lines.join("\r\n") + "\r\n";
  }

  function download(name, href) {
    var link = el("a", { href: href, download: name });
    document.body.appendChild(link);
    link.click();
    link.remove();
  }

  function exportButtons(name, tableNode, chart) {
    var csv = el("button", { type: "button", class: "export", "data-export": "csv", text: "CSV" });
    csv.addEventListener("click", function () {
      var blob = new Blob([tableCsv(tableNode)], { type: "text/csv" });
      var url = URL.createObjectURL(blob);
      download(name + ".csv", url);
      setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
    });
    var buttons = [csv];
    if (chart) {
      var png = el("button", { type: "button", class: "export", "data-export": "png", text: "PNG" });
      png.addEventListener("click", function () {
        download(name + ".png", chart.getDataURL({ type: "png", pixelRatio: 2, backgroundColor: "#fff" }));
      });
      buttons.push(png);
    }
    return el("div", { class: "exports" }, buttons);
  }

  /* One panel: a title, the chart (when there is one) and its table side by side, the export
   * buttons under them. Returns the panel (its chart: echarts.getInstanceByDom). */
  function panel(container, key, title, note, tableNode, option) {
    var chartNode = option ? el("div", { id: "chart-" + key, class: "chart" }) : null;
    var body = el("div", { class: option ? "panel-body" : "panel-body wide" }, [
      chartNode,
      el("div", { class: "table-wrap" }, [tableNode]),
    ]);
    var section = el("section", { class: "panel card", id: "panel-" + key }, [
      el("h2", { text: title }),
      note ? el("p", { class: "hint", text: note }) : null,
      body,
    ]);
    container.appendChild(section);
    var chart = null;
    if (option) {
      chart = echarts.init(chartNode, null, { renderer: "canvas" });
      option.animation = false;
      option.tooltip = option.tooltip || { trigger: "axis", renderMode: "richText" };
      option.color = COLORS;
      chart.setOption(option);
      window.addEventListener("resize", function () { chart.resize(); });
    }
    section.appendChild(exportButtons(key, tableNode, chart));
    return section;
  }

  function stepRows(steps) {
    return steps.map(function (s) {
      return {
        step: s.step, label: s.label, count: s.count,
        conversion_from_previous: s.conversion_from_previous,
        conversion_from_start: s.conversion_from_start,
        dropped_from_previous: s.dropped_from_previous,
        median_seconds_from_previous: s.median_seconds_from_previous,
      };
    });
  }

  var STEP_COLUMNS = [
    ["Step", "step"], ["Label", "label"], ["Count", "count", number],
    ["From previous", "conversion_from_previous", percent],
    ["From start", "conversion_from_start", percent],
    ["Dropped", "dropped_from_previous", number],
    ["Median time", "median_seconds_from_previous", duration],
  ];

  function funnelOption(steps) {
    return {
      grid: { left: 60, right: 20, top: 40, bottom: 60 },
      xAxis: { type: "category", data: steps.map(function (s) { return s.step + ". " + s.label; }),
               axisLabel: { interval: 0, width: 110, overflow: "truncate" } },
      yAxis: { type: "value", name: steps.length ? "" : "count" },
      series: [{
        type: "bar", name: "count", barMaxWidth: 80,
        data: steps.map(function (s) { return s.count; }),
        label: {
          show: true, position: "top", fontSize: 12,
          formatter: function (p) {
            var s = steps[p.dataIndex];
            return number(s.count) + (s.step === 1 ? "" : " (" + percent(s.conversion_from_start) + ")");
          },
        },
      }],
    };
  }

  function funnelTitle(result) {
    var words = [result.order, "window " + duration(result.window_seconds), "counting " + result.counting];
    if (result.date_range) {
      words.push("entering " + (result.date_range.from || "...") + ".." + (result.date_range.to || "..."));
    }
    return words.join(", ");
  }

  function breakdownTitle(by) {
    if (!by) return "Breakdown";
    var names = [].concat(by.property || by.properties || []).join(" \u00d7 ");
    return "Breakdown by " + names + " (" + (by.attribution || "first_touch") + ", " + (by.scope || "event") + " scope)";
  }

  /* The funnel chart with its step table. `prefix` keeps the ids of several funnels on one
   * page apart (a dashboard); `title` replaces "Funnel: NAME". */
  function renderSteps(container, result, prefix, title) {
    var pre = prefix || "";
    return panel(container, pre + "funnel", title || "Funnel: " + result.funnel, funnelTitle(result),
                 table("table-" + pre + "funnel", STEP_COLUMNS, stepRows(result.steps)),
                 funnelOption(result.steps));
  }

  /* The step table alone, without its chart (a dashboard's "table"). */
  function renderStepTable(container, result, prefix, title) {
    var pre = prefix || "";
    return panel(container, pre + "funnel", title || "Funnel: " + result.funnel, funnelTitle(result),
                 table("table-" + pre + "funnel", STEP_COLUMNS, stepRows(result.steps)), null);
  }

  /* The breakdown: conversion from the start per value, and every value's rows (nothing
   * without a breakdown). */
  function renderBreakdown(container, result, prefix, title) {
    var pre = prefix || "";
    if (!result.breakdown || !result.breakdown.length) return null;
    var steps = result.steps;
    var rows = [];
    result.breakdown.forEach(function (group) {
      stepRows(group.steps).forEach(function (row) {
        row.value = group.value;
        rows.push(row);
      });
    });
    var columns = [["Value", "value"]].concat(STEP_COLUMNS);
    var series = result.breakdown.map(function (group) {
      return { type: "bar", name: String(group.value),
               data: group.steps.map(function (s) { return s.conversion_from_start === null ? 0 : 100 * s.conversion_from_start; }) };
    });
    return panel(container, pre + "breakdown", title || breakdownTitle(result.breakdown_by),
          "Conversion from the first step, per value", table("table-" + pre + "breakdown", columns, rows), {
            grid: { left: 60, right: 20, top: 40, bottom: 60 },
            legend: { type: "scroll", top: 0 },
            xAxis: { type: "category", data: steps.map(function (s) { return s.step + ". " + s.label; }),
                     axisLabel: { interval: 0, width: 110, overflow: "truncate" } },
            yAxis: { type: "value", axisLabel: { formatter: "{value}%" } },
            series: series,
          });
  }

  /* The funnel chart with its step table, and the breakdown rows when there are some. */
  function renderFunnel(container, result, prefix) {
    renderSteps(container, result, prefix);
    renderBreakdown(container, result, prefix);
  }

  /* Time to convert: a histogram of first to last step (nothing without it in the result). */
  function renderTimeToConvert(container, result, prefix, title) {
    var pre = prefix || "";
    var ttc = result.time_to_convert;
    if (ttc) {
      var bins = ttc.bins.map(function (b) {
        return { from_seconds: b.from_seconds, to_seconds: b.to_seconds, count: b.count,
                 range: duration(b.from_seconds) + " - " + duration(b.to_seconds) };
      });
      var note = "Steps " + ttc.from_step + " to " + ttc.to_step + ": " + number(ttc.n) +
        " conversions; median " + duration(ttc.median_seconds) + ", mean " + duration(ttc.mean_seconds) +
        ", p90 " + duration(ttc.p90_seconds);
      return panel(container, pre + "time-to-convert", title || "Time to convert", note,
            table("table-" + pre + "time-to-convert", [["From", "from_seconds", duration], ["To", "to_seconds", duration],
                                            ["Count", "count", number]], bins), {
              grid: { left: 60, right: 20, top: 20, bottom: 60 },
              xAxis: { type: "category", data: bins.map(function (b) { return b.range; }) },
              yAxis: { type: "value" },
              series: [{ type: "bar", name: "conversions", barCategoryGap: "5%",
                         data: bins.map(function (b) { return b.count; }) }],
            });
    }
    return null;
  }

  /* The conversion trend by entry period: a line inside its Wilson interval. */
  function renderTrend(container, result, prefix, title) {
    var pre = prefix || "";
    var trend = result.trend;
    if (trend) {
      var points = trend.points.map(function (p) {
        return { period: p.period, n: p.n, conversions: p.conversions, rate: p.rate,
                 low: p.interval ? p.interval[0] : null, high: p.interval ? p.interval[1] : null,
                 incomplete: p.incomplete };
      });
      var periods = points.map(function (p) { return p.period; });
      var pct = function (v) { return v === null ? null : 100 * v; };
      return panel(container, pre + "trend", title || "Conversion by " + trend.grain + " of entry",
            "Line: conversion to the last step; band: its 95% Wilson interval (" + trend.timezone +
            "); an incomplete period's attempts may still convert",
            table("table-" + pre + "trend", [["Period", "period"], ["Entered", "n", number],
                                  ["Converted", "conversions", number], ["Rate", "rate", percent],
                                  ["Low", "low", percent], ["High", "high", percent],
                                  ["Incomplete", "incomplete"]], points), {
              grid: { left: 60, right: 20, top: 20, bottom: 60 },
              xAxis: { type: "category", data: periods, boundaryGap: false },
              yAxis: { type: "value", scale: true, axisLabel: { formatter: "{value}%" } },
              tooltip: {
                trigger: "axis", renderMode: "richText",
                formatter: function (items) {
                  var p = points[items[0].dataIndex];
                  return p.period + "\n" + percent(p.rate) + " (" + percent(p.low) + " - " + percent(p.high) +
                    ")\n" + number(p.conversions) + " of " + number(p.n) + (p.incomplete ? "\nincomplete" : "");
                },
              },
              series: [
                { type: "line", name: "low", stack: "band", symbol: "none", lineStyle: { opacity: 0 },
                  color: "rgba(52, 97, 193, 0.18)",
                  data: points.map(function (p) { return pct(p.low); }) },
                { type: "line", name: "interval", stack: "band", symbol: "none", lineStyle: { opacity: 0 },
                  areaStyle: { color: "rgba(52, 97, 193, 0.18)" }, color: "rgba(52, 97, 193, 0.18)",
                  data: points.map(function (p) { return p.low === null ? null : 100 * (p.high - p.low); }) },
                { type: "line", name: "rate", symbolSize: 6, color: COLORS[0],
                  data: points.map(function (p) { return pct(p.rate); }) },
              ],
            });
    }
    return null;
  }

  /* Time to convert (a histogram) and the conversion trend (a line in its Wilson interval). */
  function renderTiming(container, result, prefix) {
    renderTimeToConvert(container, result, prefix);
    renderTrend(container, result, prefix);
  }

  window.FunnelCharts = {
    renderFunnel: renderFunnel, renderTiming: renderTiming, renderSteps: renderSteps,
    renderStepTable: renderStepTable, renderBreakdown: renderBreakdown, renderTimeToConvert: renderTimeToConvert,
    renderTrend: renderTrend, panel: panel, table: table, tableCsv: tableCsv,
    exportButtons: exportButtons, el: el, number: number, percent: percent, duration: duration,
    COLORS: COLORS,
  };
})();
