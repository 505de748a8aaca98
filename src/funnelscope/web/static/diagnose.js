/* The diagnosis page: a funnel spec and the diagnosis options go to POST /api/v1/diagnose (the
 * JSON of `funnelscope diagnose SPEC --format json`): the leaks ranked by the final conversions
 * they cost, as a chart and a table, each with its evidence, causes and actions. The what-if
 * sends the same body with a step and a change to POST /api/v1/whatif (`funnelscope whatif`):
 * final conversions, revenue, cost and cost per conversion now and then. The query (both forms)
 * is in the address. */
(function () {
  "use strict";

  var el = Page.el;
  var C = FunnelCharts;
  var form = document.getElementById("diagnose-form");
  var whatifForm = document.getElementById("whatif-form");
  var specField = document.getElementById("spec");
  var stepSelect = document.getElementById("whatif-step");
  var results = document.getElementById("results");
  var whatifResults = document.getElementById("whatif-results");
  var whatifError = document.getElementById("whatif-error");
  var statusNode = document.getElementById("status");
  var whatifStatus = document.getElementById("whatif-status");
  var saved = [];
  var lastQuery = {};

  function money(v) {
    return v === null || v === undefined ? "-" : Number(v).toLocaleString("en-US", { maximumFractionDigits: 2 });
  }
  function count(v) {
    return v === null || v === undefined ? "-" : Number(v).toLocaleString("en-US", { maximumFractionDigits: 1 });
  }
  function pValue(v) { return v === null || v === undefined ? "-" : Number(v).toPrecision(2); }
  function segmentText(segment) {
    var keys = Object.keys(segment || {});
    return keys.length ? keys.map(function (k) { return k + "=" + segment[k]; }).join(", ") : "(all)";
  }

  /* The what-if's step choices: the spec's steps from the second (the rate into each). */
  function stepChoices() {
    var spec;
    try { spec = JSON.parse(specField.value); } catch (e) { return; }
    var steps = (spec && spec.steps) || [];
    var values = steps.slice(1).map(function (s, i) {
      var name = typeof s === "string" ? s : s.label || s.event;
      return [String(i + 2), (i + 2) + ". " + name];
    });
    Page.options(stepSelect, values, stepSelect.value || (values[0] || [""])[0]);
  }

  // ----------------------------------------------------------------------- the diagnosis

  var LEAK_COLUMNS = [
    ["#", "rank"], ["Layer", "layer"], ["From", "from_stage"], ["Segment", "segment"],
    ["Rate", "rate", C.percent], ["Reference rate", "reference_rate", C.percent],
    ["Reference", "reference"], ["Conversions lost", "lost_final", count],
    ["Revenue lost", "lost_revenue", money], ["Significant", "significant"], ["p", "p_value", pValue],
  ];

  function showDiagnosis(result) {
    var current = result.current || [], baseline = result.baseline || [];
    var span = function (periods) { return periods.length ? periods[0] + ".." + periods[periods.length - 1] + " (" + periods.length + ")" : "none"; };
    results.appendChild(el("section", { class: "card", id: "diagnosis-summary" }, [
      el("h2", { text: "Diagnosis: final stage " + result.final_stage }),
      el("p", { class: "hint", text: "By " + result.period + ": the current periods " + span(current) +
        " against the baseline " + span(baseline) + ", peers and typical ranges." }),
    ]));
    var rows = result.leaks.map(function (leak, i) {
      return { rank: i + 1, layer: leak.layer, from_stage: leak.from_stage, segment: segmentText(leak.segment),
               rate: leak.rate, reference_rate: leak.reference_rate, reference: leak.reference,
               lost_final: leak.lost_final, lost_revenue: leak.lost_revenue, significant: leak.significant,
               p_value: leak.p_value };
    });
    if (!rows.length) {
      results.appendChild(el("section", { class: "card", id: "panel-leaks" }, [
        el("h2", { text: "No leak found" }),
        el("p", { class: "hint", text: "No rate is significantly and at least the minimum gap below its reference. " +
          "Tick \u201calso not significant\u201d to see the near misses, or segment by a property." }),
      ]));
    } else {
      var names = rows.map(function (r) { return "#" + r.rank + " " + r.layer + " " + r.segment; });
      C.panel(results, "leaks", "Leaks, ranked by the final conversions they cost",
              "Overlapping leaks (a segment and its parent) are not to be added up; the what-if below gives a total.",
              C.table("table-leaks", LEAK_COLUMNS, rows), {
                grid: { left: 210, right: 40, top: 20, bottom: 30 },
                yAxis: { type: "category", data: names, inverse: true, axisLabel: { width: 200, overflow: "truncate" } },
                xAxis: { type: "value", name: "lost" },
                series: [{ type: "bar", name: "conversions lost", data: rows.map(function (r) {
                  return { value: Math.round(10 * r.lost_final) / 10, itemStyle: { color: r.significant ? C.COLORS[0] : "#9fb0d6" } };
                }), label: { show: true, position: "right" } }],
              });
      var details = el("section", { class: "card", id: "leak-details" }, [el("h2", { text: "Why, and what to do" })]);
      result.leaks.forEach(function (leak, i) {
        var also = (leak.symptoms || []).map(function (s) {
          return typeof s.segment === "string" ? s.segment : segmentText(s.segment);
        });
        details.appendChild(el("div", { class: "leak" }, [
          el("h3", { text: (i + 1) + ". " + leak.from_stage + " \u2192 " + leak.layer + ", " + segmentText(leak.segment) +
            (leak.significant ? "" : " (not significant)") }),
          el("p", { text: leak.evidence }),
          el("div", { class: "two" }, [
            el("div", {}, [el("b", { text: "Likely causes" }), el("ul", {}, leak.causes.map(function (c) { return el("li", { text: c }); }))]),
            el("div", {}, [el("b", { text: "Actions" }), el("ul", {}, leak.actions.map(function (a) { return el("li", { text: a }); }))]),
          ]),
          also.length ? el("p", { class: "hint", text: "Also shows in: " + also.join("; ") }) : null,
        ]));
      });
      results.appendChild(details);
    }
    if (result.notes.length) {
      results.appendChild(el("section", { class: "card notes" }, [el("h2", { text: "Notes" }),
        el("ul", {}, result.notes.map(function (n) { return el("li", { text: n }); }))]));
    }
  }

  function diagnoseBody(query) {
    var body = {};
    Object.keys(query).forEach(function (key) { body[key] = query[key]; });
    return body;
  }

  function diagnose() {
    Page.clear(results);
    return Page.computing(statusNode, function () {
      lastQuery = Page.readForm(form);
      if (!lastQuery.spec) throw new Error("Write a funnel spec, or pick a saved funnel.");
      writeLink();
      return Page.post("/api/v1/diagnose", diagnoseBody(lastQuery)).then(showDiagnosis);
    });
  }

  // ------------------------------------------------------------------------- the what-if

  var OUTCOME_COLUMNS = [["Measure", "measure"], ["Now", "now", money], ["What if", "after", money], ["Change", "change", money]];

  function showWhatIf(result) {
    var rows = ["final", "revenue", "cost", "cpa"].map(function (key) {
      var names = { final: "final conversions", revenue: "revenue", cost: "cost", cpa: "cost per conversion" };
      return { measure: names[key], now: result.before[key], after: result.after[key],
               change: key === "cost" ? null : result.delta[key] };
    });
    var title = "What if " + result.from_stage + " \u2192 " + result.layer + " on " + segmentText(result.segment) +
      " went from " + C.percent(result.rate) + " to " + C.percent(result.new_rate) + " (" + result.change + ")";
    var label = { show: true, position: "top", formatter: function (p) { return count(p.value); } };
    C.panel(whatifResults, "whatif", title, result.notes.join(" "), C.table("table-whatif", OUTCOME_COLUMNS, rows), {
      grid: { left: 70, right: 20, top: 40, bottom: 30 },
      xAxis: { type: "category", data: ["now", "what if"] },
      yAxis: { type: "value", name: "final conversions" },
      series: [{ type: "bar", name: "final conversions", barMaxWidth: 90, label: label,
                 data: [{ value: result.before.final, itemStyle: { color: C.COLORS[0] } },
                        { value: result.after.final, itemStyle: { color: C.COLORS[1] } }] }],
    });
  }

  function whatIf() {
    Page.clear(whatifResults);
    return Page.computing(whatifStatus, function () {
      lastQuery = Page.readForm(form);
      if (!lastQuery.spec) throw new Error("Write a funnel spec above, or pick a saved funnel.");
      var change = Page.readForm(whatifForm);
      if (!change.lift && !change.to_reference) throw new Error("Give a change (e.g. 10%) or tick \u201cto its leaks' references\u201d.");
      writeLink(change);
      return Page.post("/api/v1/whatif", Object.assign(diagnoseBody(lastQuery), change)).then(showWhatIf);
    }, whatifError);
  }

  function writeLink(change) {
    var query = { diagnose: Page.readForm(form) };
    if (change) query.whatif = change;
    Page.setPermalink(query);
  }

  // ----------------------------------------------------------------------------- the page

  form.addEventListener("submit", function (event) { event.preventDefault(); diagnose(); });
  whatifForm.addEventListener("submit", function (event) { event.preventDefault(); whatIf(); });
  specField.addEventListener("change", stepChoices);
  document.getElementById("saved-funnel").addEventListener("change", function (event) {
    var chosen = saved.filter(function (f) { return String(f.id) === event.target.value; })[0];
    if (!chosen) return;
    specField.value = JSON.stringify(chosen.spec, null, 1);
    ["engine", "from", "to"].forEach(function (key) {
      if (chosen.options[key]) form.elements[key].value = chosen.options[key];
    });
    stepChoices();
  });

  Promise.all([Page.get("/api/v1/saved-funnels"), Page.get("/api/v1/events?limit=3")]).then(function (got) {
    saved = got[0];
    Page.options(document.getElementById("saved-funnel"), [["", "(pick one to fill the spec)"]].concat(saved.map(function (f) {
      return [String(f.id), f.name + " (#" + f.id + ")"];
    })), "");
    var linked = Page.linkedQuery();
    if (linked && linked.diagnose) {
      Page.fillForm(form, linked.diagnose);
      stepChoices();
      if (linked.whatif) Page.fillForm(whatifForm, linked.whatif);
      form.setAttribute("data-ready", "yes");
      diagnose().then(function () { if (linked.whatif) whatIf(); });
      return;
    }
    var spec = saved.length ? saved[0].spec : { steps: got[1].map(function (e) { return e.name; }), window: "7d" };
    specField.value = JSON.stringify(spec, null, 1);
    stepChoices();
    form.setAttribute("data-ready", "yes");
  }).catch(function (error) { Page.showError(error.message); });
})();
