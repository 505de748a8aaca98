/* Dashboards: the list (/dashboards: make one, the saved funnels) and one dashboard
 * (/dashboards/ID: each saved funnel computed now through POST /api/v1/saved-funnels/ID/run and
 * drawn by charts.js as its chart and table; add and remove saved funnels). Every change goes
 * through the API (PUT /api/v1/dashboards/ID) with the session's CSRF token. */
(function () {
  "use strict";

  var el = Page.el;
  var KINDS = {
    steps: "steps", breakdown: "breakdown", trend: "trend",
    time_to_convert: "time to convert", table: "table",
  };

  function builderLink(funnel) {
    var query = { spec: funnel.spec, trend: funnel.options.trend || null };
    return "/funnels?q=" + encodeURIComponent(JSON.stringify(query));
  }

  function stepNames(spec) {
    return (spec.steps || []).map(function (s) {
      return typeof s === "string" ? s : s.label || s.event;
    }).join(" \u2192 ");
  }

  // ------------------------------------------------------------------ the list: /dashboards

  function listPage() {
    var list = document.getElementById("dashboard-list");
    var savedTable = document.getElementById("saved-funnels");
    var statusNode = document.getElementById("status");

    function showSaved(funnels) {
      savedTable.textContent = "";
      savedTable.appendChild(el("thead", {}, [el("tr", {}, ["Id", "Name", "Steps", "Window", "Saved", ""].map(function (t) {
        return el("th", { text: t });
      }))]));
      var body = el("tbody");
      funnels.forEach(function (f) {
        var remove = el("button", { type: "button", class: "small", text: "Delete" });
        remove.addEventListener("click", function () {
          Page.del("/api/v1/saved-funnels/" + f.id).then(load).catch(function (e) { Page.showError(e.message); });
        });
        body.appendChild(el("tr", { "data-id": f.id }, [
          el("td", { class: "num", text: String(f.id) }),
          el("td", {}, [el("a", { href: builderLink(f), text: f.name })]),
          el("td", { text: stepNames(f.spec) }),
          el("td", { text: f.spec.window || "" }),
          el("td", { text: (f.updated_at || "").slice(0, 16).replace("T", " ") }),
          el("td", {}, [remove]),
        ]));
      });
      if (!funnels.length) body.appendChild(el("tr", {}, [el("td", { colspan: "6", text: "No saved funnel yet." })]));
      savedTable.appendChild(body);
    }

    function load() {
      return Promise.all([Page.get("/api/v1/dashboards"), Page.get("/api/v1/saved-funnels")]).then(function (got) {
        list.textContent = "";
        got[0].forEach(function (d) {
          var count = d.items.length + (d.items.length === 1 ? " funnel" : " funnels");
          list.appendChild(el("li", { "data-id": d.id }, [
            el("a", { href: "/dashboards/" + d.id, text: d.name }), " \u00b7 " + count,
          ]));
        });
        if (!got[0].length) list.appendChild(el("li", { class: "hint", text: "No dashboard yet." }));
        showSaved(got[1]);
        document.body.setAttribute("data-ready", "yes");
      }).catch(function (e) { Page.showError(e.message); });
    }

    document.getElementById("new-dashboard").addEventListener("submit", function (event) {
      event.preventDefault();
      var name = document.getElementById("dashboard-name").value.trim();
      Page.computing(statusNode, function () {
        return Page.post("/api/v1/dashboards", { name: name, items: [] }).then(function (made) {
          location.href = "/dashboards/" + made.id;
        });
      });
    });
    load();
  }

  // ---------------------------------------------------------- one dashboard: /dashboards/ID

  function dashboardPage(id) {
    var items = document.getElementById("items");
    var statusNode = document.getElementById("status");
    var title = document.getElementById("dashboard-title");
    var current = null;
    var funnels = {};

    function save(changed) {
      var body = { name: current.name, items: changed.map(function (i) { return { funnel_id: i.funnel_id, chart: i.chart }; }) };
      return Page.put("/api/v1/dashboards/" + id, body).then(show);
    }

    function drawItem(node, item, index, result) {
      var funnel = funnels[item.funnel_id] || { name: "#" + item.funnel_id };
      var prefix = "item" + (index + 1) + "-";
      var draw = {
        steps: FunnelCharts.renderSteps, breakdown: FunnelCharts.renderBreakdown,
        trend: FunnelCharts.renderTrend, time_to_convert: FunnelCharts.renderTimeToConvert,
        table: FunnelCharts.renderStepTable,
      }[item.chart];
      if (draw(node, result, prefix) === null) {  // saved without what this chart shows
        var missing = { breakdown: "a breakdown", trend: "a trend period", time_to_convert: "time to convert" };
        node.appendChild(el("p", { class: "hint", text: "\u201c" + funnel.name + "\u201d was saved without " +
          missing[item.chart] + ": its steps instead. Save it again from the builder with one." }));
        FunnelCharts.renderSteps(node, result, prefix);
      }
    }

    function show(dashboard) {
      current = dashboard;
      title.textContent = dashboard.name;
      document.title = dashboard.name + " - funnelscope";
      Page.clear(items);
      return Page.computing(statusNode, function () {
        var runs = dashboard.items.map(function (item, index) {
          var funnel = funnels[item.funnel_id] || { name: "#" + item.funnel_id, spec: {}, options: {} };
          var remove = el("button", { type: "button", class: "small remove-item", text: "Remove" });
          remove.addEventListener("click", function () {
            var kept = dashboard.items.filter(function (_, i) { return i !== index; });
            save(kept).catch(function (e) { Page.showError(e.message); });
          });
          var body = el("div", { class: "item-body" });
          items.appendChild(el("section", { class: "dash-item", id: "item-" + (index + 1), "data-funnel-id": item.funnel_id, "data-chart": item.chart }, [
            el("div", { class: "row item-head" }, [
              el("span", { class: "item-name", text: (index + 1) + ". " + funnel.name + " \u00b7 " + KINDS[item.chart] }),
              el("a", { href: builderLink(funnel), text: "open in the builder" }), remove,
            ]),
            body,
          ]));
          return Page.post("/api/v1/saved-funnels/" + item.funnel_id + "/run").then(function (result) {
            return function () { drawItem(body, item, index, result); };
          });
        });
        return Promise.all(runs).then(function (draws) {
          draws.forEach(function (draw) { draw(); });
          if (!dashboard.items.length) {
            items.appendChild(el("p", { class: "card hint", text: "Nothing on this dashboard yet: add a saved funnel above." }));
          }
        });
      });
    }

    document.getElementById("add-item").addEventListener("submit", function (event) {
      event.preventDefault();
      var funnelId = Number(document.getElementById("add-funnel").value);
      if (!funnelId) { Page.showError("Save a funnel in the builder first."); return; }
      var chart = document.getElementById("add-chart").value;
      save(current.items.concat([{ funnel_id: funnelId, chart: chart }])).catch(function (e) { Page.showError(e.message); });
    });
    document.getElementById("delete-dashboard").addEventListener("click", function () {
      if (!window.confirm("Delete the dashboard \u201c" + current.name + "\u201d? The saved funnels stay.")) return;
      Page.del("/api/v1/dashboards/" + id).then(function () { location.href = "/dashboards"; })
        .catch(function (e) { Page.showError(e.message); });
    });

    Promise.all([Page.get("/api/v1/dashboards/" + id), Page.get("/api/v1/saved-funnels")]).then(function (got) {
      got[1].forEach(function (f) { funnels[f.id] = f; });
      var choices = got[1].map(function (f) { return [String(f.id), f.name + " (#" + f.id + ")"]; });
      Page.options(document.getElementById("add-funnel"), choices.length ? choices : [["", "(no saved funnel yet)"]]);
      document.getElementById("add-item").setAttribute("data-ready", "yes");
      return show(got[0]);
    }).catch(function (e) { Page.showError(e.message); });
  }

  var one = document.getElementById("dashboard");
  if (one) dashboardPage(one.getAttribute("data-dashboard-id"));
  else listPage();
})();
