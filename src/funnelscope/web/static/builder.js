/* The funnel builder: a form that writes a funnel spec (docs/spec.md), posts it to the read API
 * with the session's CSRF token, and draws the answer with charts.js. The whole query lives in
 * the URL (?q=compact JSON), so a link reopens the same funnel and computes it again. */
(function () {
  "use strict";

  var OPS = ["eq", "neq", "in", "not_in", "contains", "not_contains", "gt", "gte", "lt", "lte",
             "is_set", "is_not_set"];
  var catalog = { events: [], properties: [] };
  var FORM_KEYS = ["name", "steps", "window", "order", "breakdown", "date_range"];
  var STEP_KEYS = ["event", "label", "where"];
  var kept = {};  // what a linked spec says that the form has no field for: kept as it was
  var stepsNode = document.getElementById("steps");
  var errorNode = document.getElementById("error");
  var statusNode = document.getElementById("status");
  var results = document.getElementById("results");

  var el = Page.el;
  var options = Page.options;

  function eventChoices() {
    return catalog.events.map(function (e) {
      return [e.name, e.name + " (" + e.count.toLocaleString("en-US") + ")"];
    });
  }

  function propertyChoices() {
    return catalog.properties.map(function (p) { return [p.name, p.name]; });
  }

  function filterRow(filter) {
    var property = el("select", { class: "filter-property", "aria-label": "property" });
    options(property, propertyChoices(), filter.property);
    var op = el("select", { class: "filter-op", "aria-label": "operator" });
    options(op, OPS.map(function (o) { return [o, o]; }), filter.op || "eq");
    var shown = filter.value === undefined ? "" : Array.isArray(filter.value) ? filter.value.join(",") : String(filter.value);
    var value = el("input", { class: "filter-value", "aria-label": "value", size: "12", value: shown });
    var remove = el("button", { type: "button", class: "small", title: "Remove the filter", text: "x" });
    var row = el("li", { class: "filter" }, [el("span", { text: "where " }), property, op, value, remove]);
    remove.addEventListener("click", function () { row.remove(); });
    return row;
  }

  function stepRow(step) {
    var event = el("select", { class: "step-event", "aria-label": "event" });
    options(event, eventChoices(), step.event);
    var filters = el("ul", { class: "filters" });
    (step.where || []).forEach(function (f) { filters.appendChild(filterRow(f)); });
    var addFilter = el("button", { type: "button", class: "small", text: "+ filter" });
    var up = el("button", { type: "button", class: "small move-up", title: "Move up", text: "\u2191" });
    var down = el("button", { type: "button", class: "small move-down", title: "Move down", text: "\u2193" });
    var remove = el("button", { type: "button", class: "small remove-step", title: "Remove the step", text: "Remove" });
    var row = el("li", { class: "step" }, [event, addFilter, up, down, remove, filters]);
    if (step.label) row.setAttribute("data-label", step.label);
    var extra = without(step, STEP_KEYS);
    if (Object.keys(extra).length) row.setAttribute("data-extra", JSON.stringify(extra));
    event.addEventListener("change", function () { row.removeAttribute("data-label"); });
    addFilter.addEventListener("click", function () {
      filters.appendChild(filterRow({ property: (catalog.properties[0] || {}).name }));
    });
    up.addEventListener("click", function () {
      if (row.previousElementSibling) stepsNode.insertBefore(row, row.previousElementSibling);
    });
    down.addEventListener("click", function () {
      if (row.nextElementSibling) stepsNode.insertBefore(row.nextElementSibling, row);
    });
    remove.addEventListener("click", function () { row.remove(); });
    return row;
  }

  function without(object, keys) {
    var out = {};
    Object.keys(object || {}).forEach(function (key) {
      if (keys.indexOf(key) < 0) out[key] = object[key];
    });
    return out;
  }

  function addStep(step) { stepsNode.appendChild(stepRow(step || {})); }

  /* A filter's value as the spec wants it: a list for in/not_in, a number for comparisons,
   * nothing for is_set/is_not_set, else the text as typed. */
  function filterValue(op, text) {
    if (op === "is_set" || op === "is_not_set") return undefined;
    if (op === "in" || op === "not_in") {
      return text.split(",").map(function (v) { return v.trim(); }).filter(function (v) { return v !== ""; });
    }
    if (["gt", "gte", "lt", "lte"].indexOf(op) >= 0 && text.trim() !== "" && !isNaN(Number(text))) {
      return Number(text);
    }
    return text;
  }

  function formQuery() {
    var steps = [];
    stepsNode.querySelectorAll("li.step").forEach(function (row) {
      var step = JSON.parse(row.getAttribute("data-extra") || "{}");
      step.event = row.querySelector(".step-event").value;
      if (row.hasAttribute("data-label")) step.label = row.getAttribute("data-label");
      var where = [];
      row.querySelectorAll("li.filter").forEach(function (f) {
        var op = f.querySelector(".filter-op").value;
        var filter = { property: f.querySelector(".filter-property").value, op: op };
        var value = filterValue(op, f.querySelector(".filter-value").value);
        if (value !== undefined) filter.value = value;
        where.push(filter);
      });
      if (where.length) step.where = where;
      steps.push(Object.keys(step).length > 1 ? step : step.event);
    });
    var spec = without(kept, FORM_KEYS);
    spec.name = document.getElementById("funnel-name").value.trim() || "funnel";
    spec.steps = steps;
    spec.window = document.getElementById("window").value.trim();
    spec.order = document.getElementById("order").value;
    var breakdown = document.getElementById("breakdown").value;
    if (breakdown) {  // a linked breakdown's other settings (limit, attribution...) stay
      var linked = kept.breakdown;
      spec.breakdown = linked && typeof linked === "object" && linked.property === breakdown ?
        linked : breakdown;
    }
    var from = document.getElementById("date-from").value;
    var to = document.getElementById("date-to").value;
    if (from || to) {
      spec.date_range = without(kept.date_range, ["from", "to"]);  // e.g. its timezone
      if (from) spec.date_range.from = from;
      if (to) spec.date_range.to = to;
    }
    return { spec: spec, trend: document.getElementById("trend").value || null };
  }

  function fillForm(query) {
    var spec = query.spec || {};
    kept = spec;
    document.getElementById("funnel-name").value = spec.name || "funnel";
    document.getElementById("window").value = spec.window || "7d";
    document.getElementById("order").value = spec.order || "ordered";
    var breakdown = typeof spec.breakdown === "string" ? spec.breakdown :
      spec.breakdown && typeof spec.breakdown.property === "string" ? spec.breakdown.property : "";
    options(document.getElementById("breakdown"), [["", "(none)"]].concat(propertyChoices()), breakdown);
    var range = spec.date_range || {};
    document.getElementById("date-from").value = range.from || "";
    document.getElementById("date-to").value = range.to || "";
    document.getElementById("trend").value = query.trend === null ? "" : query.trend || "week";
    stepsNode.textContent = "";
    (spec.steps || []).forEach(function (s) { addStep(typeof s === "string" ? { event: s } : s); });
  }

  function showError(message) { Page.showError(message, errorNode); }

  function compute() {
    var query = formQuery();
    Page.setPermalink(query);
    showError("");
    statusNode.textContent = "Computing\u2026";
    statusNode.setAttribute("data-state", "computing");
    Page.clear(results);
    var started = performance.now();
    // one request: the funnel with its time to convert and trend (the CLI's
    // `funnel --time-to-convert --trend PERIOD --format json`)
    var body = { spec: query.spec, time_to_convert: true, trend: query.trend || null };
    Page.post("/api/v1/funnel", body).then(function (result) {
      results.hidden = false;
      FunnelCharts.renderFunnel(results, result);
      FunnelCharts.renderTiming(results, result);
      statusNode.textContent = "Computed in " + Math.round(performance.now() - started) + " ms";
      statusNode.setAttribute("data-state", "done");
    }).catch(function (error) {
      statusNode.textContent = "";
      statusNode.setAttribute("data-state", "error");
      showError(error.message);
    });
  }

  /* Save the funnel as the form has it, under its name, with the options it is computed with
   * here (time to convert and the trend period), for dashboards to show. */
  function save() {
    var query = formQuery();
    var saved = document.getElementById("saved");
    saved.textContent = "";
    showError("");
    var options = { time_to_convert: true };
    if (query.trend) options.trend = query.trend;
    Page.post("/api/v1/saved-funnels", { name: query.spec.name, spec: query.spec, options: options })
      .then(function (made) {
        saved.setAttribute("data-id", made.id);
        saved.appendChild(document.createTextNode("Saved \u201c" + made.name + "\u201d (#" + made.id + "); "));
        saved.appendChild(el("a", { href: "/dashboards", text: "add it to a dashboard" }));
      }).catch(function (error) { showError(error.message); });
  }

  function start() {
    var query = Page.linkedQuery();
    if (query) {
      fillForm(query);
      compute();
    } else {
      var first = catalog.events.slice(0, 2).map(function (e) { return e.name; });
      fillForm({ spec: { steps: first }, trend: "week" });
    }
  }

  document.getElementById("add-step").addEventListener("click", function () {
    addStep({ event: (catalog.events[0] || {}).name });
  });
  document.getElementById("save-funnel").addEventListener("click", save);
  document.getElementById("funnel-form").addEventListener("submit", function (event) {
    event.preventDefault();
    compute();
  });

  function read(path) {
    return fetch(path, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) throw new Error(response.status + ": the store's event names could not be read");
      return response.json();
    });
  }

  Promise.all([read("/api/v1/events"), read("/api/v1/properties")]).then(function (lists) {
    var data = { events: lists[0], properties: lists[1] };
    catalog = data;
    document.getElementById("funnel-form").setAttribute("data-ready", "yes");
    start();
  }).catch(function (error) { showError(error.message); });
})();
