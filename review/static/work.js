// The steward's loop: one doubtful field at a time, keyboard first. Decisions are saved in order
// in the background while the next field (prefetched with its crop) is already on screen.
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf"]').content;
  var buf = [], seen = {}, current = null, chain = Promise.resolve(), fetching = null;
  var decided = 0, t0 = null, inflight = 0;
  function el(id) { return document.getElementById(id); }

  function api(path, body) {
    var opt = {credentials: "same-origin", method: body ? "POST" : "GET", headers: {}};
    if (body) {
      opt.headers = {"Content-Type": "application/json", "X-CSRF-Token": csrf};
      opt.body = JSON.stringify(body);
    }
    return fetch(path, opt).then(function (r) {
      if (r.status === 401) { location.href = "/login"; }
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (!r.ok) { var e = new Error(j.error || ("error " + r.status)); e.status = r.status; throw e; }
        return j;
      });
    });
  }

  function preload(t) { if (t.has_source) { var i = new Image(); i.src = t.crop; } }

  function refill() {
    if (fetching) { return fetching; }
    fetching = chain.then(function () { return api("/api/next?limit=4"); }).then(function (j) {
      j.tasks.forEach(function (t) {
        var dup = seen[t.task_id] || buf.some(function (b) { return b.task_id === t.task_id; });
        if (!dup) { buf.push(t); preload(t); }
      });
    }).catch(function (e) { message("Could not load the next field: " + e.message); })
      .then(function () { fetching = null; });
    return fetching;
  }

  function fmt(v) { return v === null || v === undefined ? "—" : String(v); }
  function text(node, s) { node.textContent = s; return node; }
  function make(tag, cls, s) { var n = document.createElement(tag); if (cls) { n.className = cls; } if (s !== undefined) { n.textContent = s; } return n; }

  function render(t) {
    el("field").hidden = false; el("empty").hidden = true;
    text(el("f-region"), t.region_code);
    text(el("f-form"), t.form_type);
    text(el("f-round"), t.round > 1 ? "second opinion (" + t.reason + ")" : "first look");
    el("f-round").className = t.round > 1 ? "pill warn" : "pill";
    text(el("f-label"), t.label || t.field_id);
    text(el("f-id"), t.field_id + (t.section ? " · section " + t.section : "") + " · 0–" + t.max_value);
    var why = el("f-why"); why.textContent = "";
    (t.why || []).forEach(function (w) { why.appendChild(make("span", "chip", w)); });
    var crop = el("f-crop"), nocrop = el("f-nocrop");
    if (t.has_source) {
      crop.hidden = false; nocrop.hidden = true; crop.src = t.crop;
      crop.onerror = function () { crop.hidden = true; nocrop.hidden = false; };
      var bf = el("f-bubbles-frame"), bi = el("f-bubbles");
      bf.hidden = true; bi.onload = function () { bf.hidden = false; }; bi.onerror = function () { bf.hidden = true; };
      bi.src = t.bubbles_crop;
    } else { crop.hidden = true; nocrop.hidden = false; el("f-bubbles-frame").hidden = true; }
    text(el("f-reading"), fmt(t.reading));
    var conf = t.confidence === null ? 0 : t.confidence;
    text(el("f-conf"), t.confidence === null ? "not read" : "p = " + conf.toFixed(2));
    el("f-conf-bar").style.width = Math.round(conf * 100) + "%";
    el("f-conf-bar").className = conf >= 0.9 ? "hi" : conf >= 0.5 ? "mid" : "lo";
    var alts = el("f-alts"); alts.textContent = "";
    (t.alternatives || []).filter(function (a) { return a[1] >= 0.01; }).forEach(function (a) {
      alts.appendChild(make("span", "chip alt", fmt(a[0]) + " · " + a[1].toFixed(2)));
    });
    if (!alts.childNodes.length) { alts.appendChild(make("span", "muted", "none")); }
    text(el("f-bubble"), t.bubble_value === null && !t.bubble_confident ? "—" :
      fmt(t.bubble_value) + (t.bubble_confident ? "" : " (unsure)"));
    var sugg = (t.suggestions || []).map(function (s) { return fmt(s.new) + " (p=" + s.probability.toFixed(2) + ", " + s.rules.join(", ") + ")"; });
    (t.auto || []).forEach(function (a) { sugg.push("auto: " + fmt(a.old) + " → " + fmt(a.new)); });
    el("f-sugg-row").hidden = !sugg.length; text(el("f-sugg"), sugg.join("; "));
    var rules = el("f-rules"); rules.textContent = "";
    (t.rules || []).forEach(function (r) {
      var box = make("div", "rule " + r.severity);
      var head = make("div", "rule-head");
      head.appendChild(make("b", "", r.rule_id)); head.appendChild(make("span", "sev", r.severity));
      head.appendChild(make("span", "", " " + r.message));
      box.appendChild(head);
      if (r.expected !== null && r.found !== null) {
        box.appendChild(make("div", "muted small", "expected " + r.expected + ", found " + r.found));
      }
      var tbl = make("table", "ruletbl");
      r.fields.forEach(function (f) {
        var tr = make("tr", f.field_id === t.field_id ? "me" : "");
        tr.appendChild(make("td", "", f.field_id)); tr.appendChild(make("td", "r", fmt(f.value)));
        tbl.appendChild(tr);
      });
      box.appendChild(tbl); rules.appendChild(box);
    });
    text(el("f-confirm-val"), fmt(t.reading));
    document.body.dataset.taskId = t.task_id;
    document.body.dataset.field = t.region_code + "/" + t.field_id;
    var input = el("value"); input.value = ""; input.focus();
  }

  function showNext() {
    if (buf.length) {
      current = buf.shift(); seen[current.task_id] = true; render(current);
      if (buf.length < 2) { refill(); }
      return;
    }
    current = null;
    refill().then(function () {
      if (buf.length) { showNext(); return; }
      el("field").hidden = true; el("empty").hidden = false; document.body.dataset.taskId = "";
      document.body.dataset.empty = "1";
    });
  }

  function message(s) { var m = el("msg"); m.hidden = !s; m.textContent = s || ""; }
  function saving() { text(el("saving"), inflight ? "saving " + inflight + "…" : "all saved"); document.body.dataset.inflight = inflight; }

  function check(v, max) {
    if (v === "-") { return ""; }
    if (!/^[0-9]+$/.test(v)) { return "“" + v + "” is not a whole number: digits only (or - for an empty field)"; }
    if (parseInt(v, 10) > max) { return v + " is out of range: this field holds 0–" + max; }
    return "";
  }

  function submit(action, value) {
    var t = current;
    if (!t) { return; }
    if (action === "value") {
      var err = check(value, t.max_value);
      if (err) { message(err); return; }
    }
    message("");
    if (t0 === null) { t0 = Date.now(); }
    inflight++; saving();
    var body = action === "skip" ? {task_id: t.task_id} : {task_id: t.task_id, action: action, value: value};
    chain = chain.then(function () { return api(action === "skip" ? "/api/skip" : "/api/decide", body); })
      .then(function (res) {
        if (action !== "skip") {
          decided++; text(el("count"), decided);
          var mins = (Date.now() - t0) / 60000;
          text(el("rate"), mins > 0.05 ? (decided / mins).toFixed(1) : "–");
          if (res.second_opinion && res.second_opinion.length) { message("Saved; a rule still breaks, so another steward will give a second opinion."); }
        }
      }).catch(function (e) { message("Not saved (" + t.region_code + " " + t.field_id + "): " + e.message); })
      .then(function () { inflight--; saving(); });
    showNext();
  }

  el("decide").addEventListener("submit", function (e) {
    e.preventDefault();
    var v = el("value").value.trim();
    if (!v) { message("Type a number and Enter, or c to confirm, u if you cannot read it, s to skip."); return; }
    submit("value", v);
  });
  document.addEventListener("keydown", function (e) {
    if (!current || e.ctrlKey || e.metaKey || e.altKey) { return; }
    var input = el("value");
    if (input.value === "" && (e.key === "c" || e.key === "u" || e.key === "s")) {
      e.preventDefault();
      submit({c: "confirm", u: "unreadable", s: "skip"}[e.key]);
    } else if (e.key === "Escape") { input.value = ""; message(""); }
    else if (document.activeElement !== input && /^[0-9-]$/.test(e.key)) { input.focus(); }
  });
  saving();
  showNext();
  document.body.dataset.ready = "1";
})();
