/* What every page of funnelscope serve shares: calling the read API with the session's CSRF
 * token, the permalink (the whole query as compact JSON in `?q=`), forms read into a query and
 * filled back from one, the status line and the error box. Pages compute nothing: they send
 * what the form says to /api/v1 and draw the JSON that comes back (charts.js).
 *
 * Data is put in the page with textContent only (names and values come from captured data).
 */
(function () {
  "use strict";

  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.content : "";

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else if (attrs[key] !== null && attrs[key] !== undefined) node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  /* A select's options: `values` are [value, text] pairs; a chosen value the list lacks is
   * kept (a link may name what this store does not have). */
  function options(select, values, chosen) {
    select.textContent = "";
    values.forEach(function (v) {
      var option = el("option", { value: v[0], text: v[1] });
      if (v[0] === chosen) option.selected = true;
      select.appendChild(option);
    });
    if (chosen && values.every(function (v) { return v[0] !== chosen; })) {
      select.appendChild(el("option", { value: chosen, text: chosen + " (not found)" }));
    }
    select.value = chosen === undefined || chosen === null ? (values.length ? values[0][0] : "") : chosen;
  }

  /* One API call with the session (and its CSRF token on a state-changing method); the JSON
   * answer, or an Error saying the status and the API's message. */
  function request(method, path, body) {
    var init = { method: method, credentials: "same-origin", headers: {} };
    if (method !== "GET") init.headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (response) {
      if (response.status === 204) return null;
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (response.ok) return data;
        var message = data.error || data.detail || response.statusText;
        if (Array.isArray(message)) {
          message = message.map(function (d) { return (d.loc || []).join(".") + ": " + d.msg; }).join("; ");
        }
        throw new Error(response.status + ": " + message);
      });
    });
  }

  function get(path) { return request("GET", path); }
  function post(path, body) { return request("POST", path, body); }
  function put(path, body) { return request("PUT", path, body); }
  function del(path) { return request("DELETE", path); }

  /* The query of the address (`?q=`), or null; a link that is not JSON says so. */
  function linkedQuery() {
    var asked = new URLSearchParams(location.search).get("q");
    if (!asked) return null;
    try {
      var query = JSON.parse(asked);
      return query && typeof query === "object" ? query : null;
    } catch (e) {
      showError("The link's query is not valid JSON.");
      return null;
    }
  }

  /* Put the query in the address and in the #permalink link beside the form's button. */
  function setPermalink(query) {
    var link = location.pathname + "?q=" + encodeURIComponent(JSON.stringify(query));
    history.replaceState(null, "", link);
    var anchor = document.getElementById("permalink");
    if (anchor) {
      anchor.href = link;
      anchor.hidden = false;
    }
    return link;
  }

  /* A form's fields (every element with a name) as a query: empty fields are left out, a
   * checkbox is true or left out, a number field is a number, a `data-json` field is parsed. */
  function readForm(form) {
    var query = {};
    form.querySelectorAll("[name]").forEach(function (field) {
      var name = field.name;
      if (field.type === "checkbox") {
        if (field.checked) query[name] = true;
        return;
      }
      var text = field.value.trim();
      if (text === "") return;
      if (field.hasAttribute("data-json")) {
        try {
          query[name] = JSON.parse(text);
        } catch (e) {
          throw new Error(name + ": not valid JSON (" + e.message + ")");
        }
      } else if (field.type === "number") {
        query[name] = Number(text);
      } else {
        query[name] = text;
      }
    });
    return query;
  }

  /* Fill a form from a query (fields the query leaves out go back to their defaults). */
  function fillForm(form, query) {
    form.querySelectorAll("[name]").forEach(function (field) {
      var value = query[field.name];
      if (field.type === "checkbox") {
        field.checked = value === true;
      } else if (value === undefined || value === null) {
        field.value = field.getAttribute("data-default") || (field.tagName === "SELECT" && field.options.length ? field.options[0].value : "");
      } else if (field.hasAttribute("data-json")) {
        field.value = JSON.stringify(value, null, 1);
      } else if (field.tagName === "SELECT" && !Array.prototype.some.call(field.options, function (o) { return o.value === String(value); })) {
        field.appendChild(el("option", { value: String(value), text: String(value) + " (not found)" }));
        field.value = String(value);
      } else {
        field.value = String(value);
      }
    });
  }

  function showError(message, node) {
    var box = node || document.getElementById("error");
    if (!box) return;
    box.textContent = message || "";
    box.hidden = !message;
  }

  /* The status line: its text and a data-state (computing, done, error) tests wait on. */
  function status(node, state, text) {
    node.textContent = text || "";
    node.setAttribute("data-state", state);
  }

  /* Dispose of the charts inside a node and empty it. */
  function clear(node) {
    node.querySelectorAll(".chart").forEach(function (chartNode) {
      var chart = window.echarts && echarts.getInstanceByDom(chartNode);
      if (chart) chart.dispose();
    });
    node.textContent = "";
  }

  /* Run `work` (a function returning a promise) with the status line and the error box
   * (#error unless `errorNode` is given) kept. */
  function computing(statusNode, work, errorNode) {
    var started = performance.now();
    showError("", errorNode);
    status(statusNode, "computing", "Computing\u2026");
    return Promise.resolve().then(work).then(function (value) {
      status(statusNode, "done", "Computed in " + Math.round(performance.now() - started) + " ms");
      return value;
    }).catch(function (error) {
      status(statusNode, "error", "");
      showError(error.message, errorNode);
    });
  }

  window.Page = {
    csrf: csrf, el: el, options: options, request: request, get: get, post: post, put: put,
    del: del, linkedQuery: linkedQuery, setPermalink: setPermalink, readForm: readForm,
    fillForm: fillForm, showError: showError, status: status, clear: clear, computing: computing,
  };
})();
