/* The sales pipeline page: the board (stages as columns, open deals as cards, overdue
 * follow-ups in red), the stage funnel of deals, the targets with attainment and pace, and the
 * call-today list. Three API calls with what the form says (POST /api/v1/pipeline/funnel with
 * by=owner, /followups, /targets), each the JSON of `funnelscope pipeline ... --format json`;
 * the page only picks which of the returned funnels to show and lays the numbers out. The
 * settings are the server's (`serve --pipeline-settings`). */
(function () {
  "use strict";

  var el = Page.el;
  var C = FunnelCharts;
  var form = document.getElementById("pipeline-form");
  var results = document.getElementById("results");
  var statusNode = document.getElementById("status");
  var summary = document.getElementById("summary");

  function fixed(digits) {
    return function (v) {
      return v === null || v === undefined ? "-" : Number(v).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
    };
  }
  var money = fixed(2);
  function pValue(v) { return v === null || v === undefined ? "-" : Number(v).toPrecision(2); }
  var days = fixed(1);

  function amountText(deal, currency) {
    if (deal.amount === null || deal.amount === undefined) return "no amount";
    return money(deal.amount) + " " + (deal.currency || currency || "");
  }

  /* Follow-ups the API counts as overdue: cadence touches not done by their day, or CRM
   * activities planned for a day before the as-of day. */
  function isOverdue(deal) {
    return deal.overdue > 0 || deal.planned.some(function (p) { return p.overdue; });
  }

  // -------------------------------------------------------------------------- the board

  function card(deal, currency) {
    var overdue = isOverdue(deal);
    var tags = [];
    if (deal.overdue > 0) tags.push(el("span", { class: "tag late", text: deal.overdue + " overdue" }));
    else if (overdue) tags.push(el("span", { class: "tag late", text: "CRM task overdue" }));
    if (deal.due_today) tags.push(el("span", { class: "tag today", text: "due today" }));
    if (deal.rotting) tags.push(el("span", { class: "tag rotting", text: "rotting" }));
    return el("li", {
      class: "deal-card" + (overdue ? " overdue" : ""), "data-deal-id": deal.deal_id,
      "data-overdue": overdue ? "yes" : "no", title: deal.deal_id + ": next touch due " + (deal.next_due || "-"),
    }, [
      el("div", { class: "deal-name", text: deal.name || deal.deal_id }),
      el("div", { class: "deal-amount", text: amountText(deal, currency) }),
      el("div", { class: "deal-meta" }, [
        el("span", { class: "deal-owner", text: deal.owner || "(no owner)" }),
        el("span", { class: "deal-days", "data-value": String(deal.days_in_stage), text: days(deal.days_in_stage) + " d in stage" }),
      ]),
      tags.length ? el("div", { class: "deal-tags" }, tags) : null,
    ]);
  }

  var BOARD_COLUMNS = [
    ["Deal", "deal_id"], ["Name", "name"], ["Pipeline", "pipeline"], ["Stage", "stage"],
    ["Amount", "amount", money], ["Currency", "currency"], ["Owner", "owner"],
    ["Days in stage", "days_in_stage", days], ["Overdue touches", "overdue", C.number],
    ["Due today", "due_today"], ["Rotting", "rotting"], ["Next due", "next_due"],
  ];

  function board(container, funnels, followups) {
    var section = el("section", { class: "card", id: "panel-board" }, [
      el("h2", { text: "Board: open deals by stage" }),
      el("p", { class: "hint", text: "As of " + followups.as_of.slice(0, 16).replace("T", " ") + " UTC: " +
        C.number(followups.open_deals) + " open deals, " + C.number(followups.overdue_deals) + " with overdue touches (red), " +
        C.number(followups.due_today_deals) + " due today, " + C.number(followups.rotting_deals) + " rotting. Days in stage: since the deal entered its current stage." }),
    ]);
    funnels.forEach(function (funnel) {
      var stages = funnel.stages.map(function (s) { return s.stage; });
      var deals = followups.deals.filter(function (d) { return d.pipeline === funnel.pipeline; });
      var others = deals.filter(function (d) { return stages.indexOf(d.stage) < 0; });
      var columns = stages.map(function (stage) {
        return [stage, deals.filter(function (d) { return d.stage === stage; })];
      });
      if (others.length) columns.push(["(other stages)", others]);
      if (funnels.length > 1) section.appendChild(el("h3", { text: funnel.pipeline }));
      section.appendChild(el("div", { class: "board", "data-pipeline": funnel.pipeline }, columns.map(function (column) {
        var cards = column[1].slice().sort(function (a, b) {
          return (isOverdue(b) - isOverdue(a)) || (b.days_in_stage - a.days_in_stage);
        });
        return el("div", { class: "column", "data-stage": column[0] }, [
          el("div", { class: "column-head" }, [
            el("span", { class: "stage-name", text: column[0] }),
            el("span", { class: "stage-count", text: String(cards.length) }),
          ]),
          el("ul", { class: "cards" }, cards.map(function (d) { return card(d, followups.currency); })),
        ]);
      })));
    });
    var tableNode = C.table("table-board", BOARD_COLUMNS, followups.deals);
    section.appendChild(el("details", {}, [el("summary", { text: "The open deals as a table" }), el("div", { class: "table-wrap" }, [tableNode])]));
    section.appendChild(C.exportButtons("board", tableNode, null));
    container.appendChild(section);
  }

  // ------------------------------------------------------------------- the stage funnel

  var STAGE_COLUMNS = [
    ["Stage", "stage"], ["Reached", "reached", C.number], ["Entered", "entered", C.number],
    ["Skipped", "skipped", C.number], ["Advanced", "advanced", C.number],
    ["Conversion", "conversion", C.percent], ["From start", "from_start", C.percent],
    ["Lost here", "lost_here", C.number], ["Open here", "open_here", C.number],
    ["Median days", "median_days", days], ["P90 days", "p90_days", days],
  ];

  function stageFunnel(container, funnel, index, mode, period) {
    var rows = funnel.stages.map(function (s) {
      var row = {};
      STAGE_COLUMNS.forEach(function (c) { row[c[1]] = s[c[1]]; });
      row.median_days = s.time_in_stage.median_days;
      row.p90_days = s.time_in_stage.p90_days;
      return row;
    });
    var who = funnel.group === null ? "" : " \u00b7 owner " + funnel.group;
    var note = "Deals " + (mode === "active" ? "reaching each stage" : "created") + " " +
      (period ? "in " + period : "all time") + ": " + C.number(funnel.deals) + " (" + C.number(funnel.won) + " won, " +
      C.number(funnel.lost) + " lost, " + C.number(funnel.open) + " open; win rate " + C.percent(funnel.win_rate) +
      "). Conversion: advanced / reached.";
    C.panel(container, "stage-funnel-" + index, "Stage funnel: " + funnel.pipeline + who, note,
            C.table("table-stage-funnel-" + index, STAGE_COLUMNS, rows), {
              grid: { left: 60, right: 20, top: 40, bottom: 40 },
              xAxis: { type: "category", data: rows.map(function (r) { return r.stage; }), axisLabel: { interval: 0 } },
              yAxis: { type: "value", name: "deals" },
              series: [{
                type: "bar", name: "reached", barMaxWidth: 80, data: rows.map(function (r) { return r.reached; }),
                label: { show: true, position: "top", formatter: function (p) {
                  var r = rows[p.dataIndex];
                  return C.number(r.reached) + (r.conversion === null ? "" : " (" + C.percent(r.conversion) + " on)");
                } },
              }],
            });
  }

  // --------------------------------------------------------------------------- targets

  var TARGET_COLUMNS = [
    ["Period", "period"], ["Who", "who"], ["State", "state"],
    ["Revenue target", "revenue_target", money], ["Won revenue", "won_revenue", money],
    ["Revenue share", "revenue_share", C.percent], ["Deals target", "deals_target", C.number],
    ["Won deals", "won_deals", C.number], ["Deals share", "deals_share", C.percent],
    ["Days remaining", "days_remaining", days], ["Revenue per day so far", "revenue_run_rate", money],
    ["Needed per day", "revenue_needed_per_day", money], ["Projected share", "projected_share", C.percent],
    ["Projected deals", "projected_deals", days],
  ];

  function targets(container, result, pipeline) {
    var list = result.targets;
    if (!list.length) {
      container.appendChild(el("section", { class: "card", id: "panel-targets" }, [
        el("h2", { text: "Targets" }),
        el("p", { class: "hint", text: "No targets: they come from the settings' targets (docs/pipeline.md)." }),
      ]));
      return;
    }
    var names = list.map(function (t) { return t.period + " " + t.who; });
    var share = function (t) { return t.revenue_share !== null ? t.revenue_share : t.deals_share; };
    var projected = function (t) { return t.revenue_target !== null ? t.projected_share : null; };
    var pct = function (v) { return v === null || v === undefined ? null : Math.round(1000 * v) / 10; };
    C.panel(container, "targets", "Targets: attainment and pace (" + (result.currency || "") + ")",
            "Bars: share of the target won so far (revenue, else deals), and the revenue projected by the period's end at the pace so far.",
            C.table("table-targets", TARGET_COLUMNS, list), {
              grid: { left: 150, right: 40, top: 30, bottom: 30 },
              legend: { top: 0 },
              yAxis: { type: "category", data: names, inverse: true },
              xAxis: { type: "value", min: 0, max: function (v) { return Math.max(110, Math.ceil(v.max / 10) * 10); },
                       axisLabel: { formatter: "{value}%" } },
              series: [
                { type: "bar", name: "won so far", data: list.map(function (t) { return pct(share(t)); }),
                  markLine: { symbol: "none", data: [{ xAxis: 100 }], lineStyle: { color: "#a31d1d" }, label: { formatter: "target" } } },
                { type: "bar", name: "projected", data: list.map(function (t) { return pct(projected(t)); }) },
              ],
            });
    var gaps = [];
    list.forEach(function (t) {
      (t.stages || []).forEach(function (s) {
        if (pipeline && s.pipeline !== pipeline) return;
        gaps.push({ who: t.period + " " + t.who, pipeline: s.pipeline, stage: s.stage, win_rate: s.win_rate,
                    rate_basis: s.rate_basis, needed: s.needed, open_at_or_past: s.open_at_or_past, more: s.more, phrase: s.phrase });
      });
    });
    if (gaps.length) {
      C.panel(container, "target-gaps", "What the targets take, stage by stage",
              "At today's win rates: deals needed at each stage to close the gap, and how many more than are open at or past it.",
              C.table("table-target-gaps", [["Target", "who"], ["Pipeline", "pipeline"], ["Stage", "stage"],
                ["Win rate", "win_rate", C.percent], ["Basis", "rate_basis"], ["Needed", "needed", C.number],
                ["Open at or past", "open_at_or_past", C.number], ["More", "more", C.number], ["", "phrase"]], gaps), null);
    }
  }

  // ------------------------------------------------------------------------ call today

  var CALL_COLUMNS = [
    ["Rank", "rank", C.number], ["Deal", "deal_id"], ["Name", "name"], ["Owner", "owner"],
    ["Stage", "stage"], ["Why", "reasons"], ["Value at risk", "value_at_risk", money],
    ["Amount", "amount_report", money], ["Win probability", "win_probability", C.percent],
    ["Overdue touches", "overdue", C.number], ["Next due", "next_due"], ["Idle days", "idle_days", days],
    ["Flags", "flags"],
  ];

  function callToday(container, result) {
    C.panel(container, "call-today", "Call today (" + (result.currency || "") + ")",
            C.number(result.call_today.length) + " of " + C.number(result.on_list) + " deals on the list, ranked by value at risk (amount x the stage's win rate).",
            C.table("table-call-today", CALL_COLUMNS, result.call_today), null);
  }

  function gapsFound(container, funnel) {
    var found = (funnel.group_gaps || []).filter(function (g) { return g.significant && g.worse; });
    if (!found.length) return;
    var rows = found.map(function (g) {
      return { kind: g.kind, group: g.group, where: g.stage || g.reason, group_rate: g.group_rate,
               rest_rate: g.rest_rate, group_deals: g.group_deals, adjusted_p: g.adjusted_p };
    });
    C.panel(container, "owner-gaps", "Owners who convert worse or lose more for one reason",
            "Each owner against all other deals, Holm-adjusted (pipeline funnel --by owner).",
            C.table("table-owner-gaps", [["Kind", "kind"], ["Owner", "group"], ["Stage or reason", "where"],
              ["Owner's rate", "group_rate", C.percent], ["Others' rate", "rest_rate", C.percent],
              ["Owner's deals", "group_deals", C.number], ["Adjusted p", "adjusted_p", pValue]], rows), null);
  }

  // ----------------------------------------------------------------------------- the page

  function choices(select, values, none) {
    var chosen = select.value;
    Page.options(select, [["", none]].concat(values.map(function (v) { return [v, v]; })), chosen);
  }

  function compute() {
    var query = Page.readForm(form);
    Page.setPermalink(query);
    Page.clear(results);
    summary.textContent = "";
    var common = query.as_of ? { as_of: query.as_of } : {};
    var funnelBody = Object.assign({ by: "owner", mode: query.mode || "created" }, common);
    if (query.period) funnelBody.period = query.period;
    var followBody = Object.assign({}, common);
    if (query.owner) followBody.owner = query.owner;
    if (query.pipeline) followBody.pipeline = query.pipeline;
    if (query.limit) followBody.limit = query.limit;
    var targetBody = Object.assign({}, common);
    if (query.owner) targetBody.owner = query.owner;
    return Page.computing(statusNode, function () {
      return Promise.all([
        Page.post("/api/v1/pipeline/funnel", funnelBody),
        Page.post("/api/v1/pipeline/followups", followBody),
        Page.post("/api/v1/pipeline/targets", targetBody),
      ]).then(function (got) {
        var funnelResult = got[0], followups = got[1], targetResult = got[2];
        var pipelines = [], owners = [];
        funnelResult.funnels.forEach(function (f) {
          if (pipelines.indexOf(f.pipeline) < 0) pipelines.push(f.pipeline);
          if (f.group !== null && owners.indexOf(f.group) < 0) owners.push(f.group);
        });
        choices(document.getElementById("pipeline"), pipelines, "(all)");
        choices(document.getElementById("owner"), owners.sort(), "(everyone)");
        var overall = funnelResult.funnels.filter(function (f) {
          return f.group === null && (!query.pipeline || f.pipeline === query.pipeline);
        });
        var shown = funnelResult.funnels.filter(function (f) {
          return f.group === (query.owner || null) && (!query.pipeline || f.pipeline === query.pipeline);
        });
        summary.textContent = "As of " + followups.as_of.slice(0, 16).replace("T", " ") + " UTC" +
          (query.pipeline ? " \u00b7 pipeline " + query.pipeline : "") + (query.owner ? " \u00b7 owner " + query.owner : "");
        board(results, overall, followups);
        shown.forEach(function (f, i) { stageFunnel(results, f, i + 1, funnelBody.mode, query.period); });
        if (!shown.length) results.appendChild(el("p", { class: "card hint", text: "No deals of this owner in the funnel's period." }));
        targets(results, targetResult, query.pipeline);
        callToday(results, followups);
        if (!query.owner) gapsFound(results, funnelResult);
        var notes = followups.notes.concat(targetResult.notes);
        if (notes.length) {
          results.appendChild(el("section", { class: "card notes" }, [el("h2", { text: "Notes" }),
            el("ul", {}, notes.filter(function (n, i) { return notes.indexOf(n) === i; }).map(function (n) { return el("li", { text: n }); }))]));
        }
      });
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    compute();
  });
  var linked = Page.linkedQuery();
  if (linked) Page.fillForm(form, linked);
  form.setAttribute("data-ready", "yes");
  compute();
})();
