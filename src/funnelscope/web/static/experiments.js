/* The experiments page: the form writes an experiment spec (docs/cli.md, "funnelscope
 * experiment": name, an inline funnel, the exposure, the control, weights, alpha) and posts it
 * to POST /api/v1/experiment, which returns the JSON of `funnelscope experiment --format json`:
 * each variant's funnel and conversion with its interval, every step x variant comparison with
 * its lift, interval, p-values and chance to beat control, the sample-ratio check and the
 * verdict. The page draws them; the statistics are the API's. */
(function () {
  "use strict";

  var el = Page.el;
  var C = FunnelCharts;
  var form = document.getElementById("experiment-form");
  var funnelField = document.getElementById("funnel");
  var results = document.getElementById("results");
  var statusNode = document.getElementById("status");
  var saved = [];

  function pValue(v) { return v === null || v === undefined ? "-" : Number(v).toPrecision(2); }
  function signed(v) { return v === null || v === undefined ? "-" : (v >= 0 ? "+" : "") + (100 * v).toFixed(2) + "%"; }
  function pct(v) { return v === null || v === undefined ? null : 100 * v; }

  /* Values with their intervals drawn as whiskers: `rows` of {name, value, low, high} (0-1),
   * as bars from 0 (lifts) or, with `points`, as dots on an axis fitted to the intervals
   * (rates, whose bars would start at an arbitrary level). */
  function intervalOption(rows, axisName, colorOf, points) {
    return {
      grid: { left: 60, right: 20, top: 30, bottom: 70 },
      xAxis: { type: "category", data: rows.map(function (r) { return r.name; }),
               axisLabel: { interval: 0, rotate: rows.length > 4 ? 20 : 0, width: 140, overflow: "truncate" } },
      yAxis: { type: "value", name: axisName, scale: !!points, axisLabel: { formatter: "{value}%" } },
      series: [
        { type: points ? "scatter" : "bar", name: axisName, barMaxWidth: 70, symbolSize: 14, z: 6,
          data: rows.map(function (r, i) { return { value: pct(r.value), itemStyle: { color: colorOf(r, i) } }; }) },
        { type: "custom", name: "95% interval", z: 5, encode: { x: 0, y: [1, 2] },
          data: rows.map(function (r, i) { return [i, pct(r.low), pct(r.high)]; }),
          renderItem: function (params, api) {
            if (isNaN(api.value(1)) || isNaN(api.value(2))) return null;
            var low = api.coord([api.value(0), api.value(1)]);
            var high = api.coord([api.value(0), api.value(2)]);
            var half = Math.min(api.size([1, 0])[0] * 0.15, 12);
            var style = { stroke: "#1d2330", lineWidth: 1.5 };
            return { type: "group", children: [
              { type: "line", shape: { x1: low[0], y1: low[1], x2: high[0], y2: high[1] }, style: style },
              { type: "line", shape: { x1: low[0] - half, y1: low[1], x2: low[0] + half, y2: low[1] }, style: style },
              { type: "line", shape: { x1: high[0] - half, y1: high[1], x2: high[0] + half, y2: high[1] }, style: style },
            ] };
          } },
      ],
    };
  }

  function showVariants(result, labels) {
    var rows = result.variants.map(function (v) {
      var row = { variant: v.variant, exposed: v.exposed, rate: v.conversion.rate,
                  low: v.conversion.interval ? v.conversion.interval[0] : null,
                  high: v.conversion.interval ? v.conversion.interval[1] : null };
      v.steps.forEach(function (n, i) { row["step" + (i + 1)] = n; });
      return row;
    });
    var columns = [["Variant", "variant"], ["Exposed", "exposed", C.number]].concat(labels.map(function (label, i) {
      return [(i + 1) + ". " + label, "step" + (i + 1), C.number];
    })).concat([["Conversion", "rate", C.percent], ["Low", "low", C.percent], ["High", "high", C.percent]]);
    var chartRows = rows.map(function (r) { return { name: r.variant, value: r.rate, low: r.low, high: r.high }; });
    C.panel(results, "variants", "Conversion per variant", "Exposure to the last step (" + labels[labels.length - 1] +
            "), with its 95% Wilson interval; the table has each step's persons.",
            C.table("table-variants", columns, rows),
            intervalOption(chartRows, "conversion", function (r, i) {
              return r.name === result.control ? "#8c96a8" : C.COLORS[i % C.COLORS.length];
            }, true));
  }

  var COMPARISON_COLUMNS = [
    ["Step", "step"], ["Label", "label"], ["Variant", "variant"],
    ["Control rate", "control_rate", C.percent], ["Variant rate", "variant_rate", C.percent],
    ["Relative lift", "relative_lift", signed], ["Low", "relative_low", signed], ["High", "relative_high", signed],
    ["Absolute lift", "absolute_lift", signed], ["p", "p_value", pValue], ["p (Holm)", "p_adjusted", pValue],
    ["Significant", "significant"], ["Chance to beat control", "chance_to_win", C.percent],
    ["Peeking-safe p", "always_valid_p", pValue],
  ];

  function comparisonRows(list) {
    return list.map(function (s) {
      return { step: s.step, label: s.label, variant: s.variant, control_rate: s.control.rate,
               variant_rate: s.treatment.rate, relative_lift: s.relative_lift,
               relative_low: s.relative_ci ? s.relative_ci[0] : null, relative_high: s.relative_ci ? s.relative_ci[1] : null,
               absolute_lift: s.absolute_lift, p_value: s.p_value, p_adjusted: s.p_adjusted,
               significant: s.significant, chance_to_win: s.chance_to_win, always_valid_p: s.always_valid_p };
    });
  }

  function showComparisons(result) {
    var rows = comparisonRows(result.steps);
    var chartRows = rows.map(function (r) {
      return { name: r.step + ". " + r.label + " \u00b7 " + r.variant, value: r.relative_lift, low: r.relative_low,
               high: r.relative_high, significant: r.significant };
    });
    C.panel(results, "steps", "Each step's rate against the control",
            "Relative lift of the rate into each step (from the step before) with its 95% interval; darker: significant after Holm.",
            C.table("table-steps", COMPARISON_COLUMNS, rows),
            intervalOption(chartRows, "relative lift", function (r) { return r.significant ? C.COLORS[0] : "#b7c4e3"; }));
    C.panel(results, "overall", "The whole funnel: exposure to the last step", "Compared as its own family.",
            C.table("table-overall", COMPARISON_COLUMNS, comparisonRows(result.overall)), null);
  }

  function showVerdict(result) {
    var srm = result.srm;
    var facts = [
      "Control: " + result.control + "; variants: " + result.variants.map(function (v) { return v.variant; }).join(", "),
      srm ? "Split: chi-square " + srm.chi_square.toFixed(2) + ", p = " + pValue(srm.p_value) +
        (srm.mismatch ? " \u2014 sample ratio mismatch: do not decide" : " \u2014 as planned") : "Split: not checked",
      "Crossovers (left out): " + C.number(result.crossovers) + "; exposures without a variant: " + C.number(result.unnamed_exposures),
    ];
    results.appendChild(el("section", { class: "card", id: "verdict" }, [
      el("h2", { text: "Experiment " + result.experiment }),
      el("ul", { class: "verdict" }, result.verdict.map(function (line) {
        var cls = /^Safe to decide: yes/.test(line) ? "yes" : /^Safe to decide/.test(line) ? "no" : null;
        return el("li", { class: cls, text: line });
      })),
      el("p", { class: "hint", text: facts.join(" \u00b7 ") }),
    ]));
  }

  /* The experiment spec the form describes. */
  function specOf(query) {
    if (!query.funnel) throw new Error("Write the funnel (a JSON spec), or pick a saved funnel.");
    if (!query.property) throw new Error("Pick the property that names the variant.");
    var exposure = query.assign === "person" ? { person_property: query.property } :
      { event: query.exposure_event, variant_property: query.property };
    var spec = { funnel: query.funnel, exposure: exposure, control: query.control || "control" };
    if (query.name) spec.name = query.name;
    if (query.weights) spec.weights = query.weights;
    if (query.alpha) spec.alpha = query.alpha;
    return spec;
  }

  function run() {
    Page.clear(results);
    return Page.computing(statusNode, function () {
      var query = Page.readForm(form);
      var body = { spec: specOf(query) };
      ["engine", "from", "to"].forEach(function (key) { if (query[key]) body[key] = query[key]; });
      Page.setPermalink(query);
      return Page.post("/api/v1/experiment", body).then(function (result) {
        var labels = (query.funnel.steps || []).map(function (s) { return typeof s === "string" ? s : s.label || s.event; });
        showVerdict(result);
        showVariants(result, labels);
        showComparisons(result);
      });
    });
  }

  form.addEventListener("submit", function (event) { event.preventDefault(); run(); });
  document.getElementById("assign").addEventListener("change", function (event) {
    document.getElementById("exposure-event").disabled = event.target.value === "person";
  });
  document.getElementById("saved-funnel").addEventListener("change", function (event) {
    var chosen = saved.filter(function (f) { return String(f.id) === event.target.value; })[0];
    if (chosen) funnelField.value = JSON.stringify(chosen.spec, null, 1);
  });

  Promise.all([Page.get("/api/v1/events"), Page.get("/api/v1/properties"), Page.get("/api/v1/saved-funnels")]).then(function (got) {
    var events = got[0], properties = got[1];
    saved = got[2];
    // likely picks for a first visit: an event that names an experiment, a property "variant"
    var exposure = events.filter(function (e) { return /experiment|exposure|exposed/i.test(e.name); })[0];
    var variant = properties.filter(function (p) { return /variant|group|arm/i.test(p.name); })[0];
    Page.options(document.getElementById("exposure-event"), events.map(function (e) { return [e.name, e.name]; }), exposure ? exposure.name : undefined);
    Page.options(document.getElementById("variant-property"), properties.map(function (p) { return [p.name, p.name]; }), variant ? variant.name : undefined);
    Page.options(document.getElementById("saved-funnel"), [["", "(pick one to fill the funnel)"]].concat(saved.map(function (f) {
      return [String(f.id), f.name + " (#" + f.id + ")"];
    })), "");
    var linked = Page.linkedQuery();
    if (linked) {
      Page.fillForm(form, linked);
      document.getElementById("exposure-event").disabled = linked.assign === "person";
      form.setAttribute("data-ready", "yes");
      run();
      return;
    }
    var spec = saved.length ? saved[0].spec : { steps: events.slice(0, 3).map(function (e) { return e.name; }), window: "7d" };
    funnelField.value = JSON.stringify(spec, null, 1);
    form.setAttribute("data-ready", "yes");
  }).catch(function (error) { Page.showError(error.message); });
})();
