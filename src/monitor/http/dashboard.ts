// The dashboard: one self-contained page (inline CSS and JS, no external assets, no framework) that reads the
// JSON API and listens to /events. All text from alerts is inserted as text, never as HTML. The page is kept
// in a raw template literal, so it must not contain a backtick or a dollar-brace.

export function dashboardHtml(): string {
  return DASHBOARD_HTML;
}

const DASHBOARD_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>slowq</title>
<link rel="icon" href="data:,">
<style>
:root {
  --bg: #111418; --panel: #181c22; --panel2: #1e232a; --line: #2a3038; --text: #d9dee5; --muted: #8a94a0; --faint: #5d6672;
  --critical: #e5534b; --warning: #d9a53a; --info: #5a9ef0; --ok: #5fb36a; --link: #7ab4f5;
  --critical-bg: rgba(229,83,75,.10); --warning-bg: rgba(217,165,58,.09); --info-bg: rgba(90,158,240,.08);
  --mono: ui-monospace, "DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace;
  color-scheme: dark;
}
@media (prefers-color-scheme: light) {
  :root {
    --bg: #f4f5f7; --panel: #ffffff; --panel2: #f7f8fa; --line: #dfe3e8; --text: #1f2328; --muted: #5b6570; --faint: #8c959f;
    --critical: #c93c37; --warning: #a86b00; --info: #2f6fc8; --ok: #2e8540; --link: #2f6fc8;
    --critical-bg: rgba(201,60,55,.07); --warning-bg: rgba(168,107,0,.07); --info-bg: rgba(47,111,200,.06);
    color-scheme: light;
  }
}
* { box-sizing: border-box; }
html, body { margin: 0; background: var(--bg); color: var(--text); }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", "Liberation Sans", sans-serif; }
header { display: flex; align-items: center; gap: 20px; padding: 12px 24px; border-bottom: 1px solid var(--line); background: var(--panel); position: sticky; top: 0; z-index: 2; }
header h1 { font-size: 17px; margin: 0; font-weight: 600; letter-spacing: .02em; }
header h1 span { color: var(--muted); font-weight: 400; }
.summary { display: flex; gap: 18px; color: var(--muted); flex-wrap: wrap; }
.summary b { color: var(--text); font-weight: 600; font-variant-numeric: tabular-nums; }
.summary .crit b { color: var(--critical); }
.summary .warn b { color: var(--warning); }
.conn { margin-left: auto; display: flex; align-items: center; gap: 8px; color: var(--muted); font-size: 13px; }
.dot { width: 9px; height: 9px; border-radius: 50%; background: var(--faint); }
.conn.live .dot { background: var(--ok); }
.conn.down .dot { background: var(--critical); }
main { display: grid; grid-template-columns: minmax(0, 1.65fr) minmax(340px, 1fr); gap: 20px; padding: 20px 24px 40px; max-width: 1800px; margin: 0 auto; }
@media (max-width: 1100px) { main { grid-template-columns: minmax(0, 1fr); } }
.col { display: flex; flex-direction: column; gap: 20px; min-width: 0; }
section { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; min-width: 0; }
section > h2 { font-size: 13px; font-weight: 600; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); margin: 0; padding: 12px 16px; border-bottom: 1px solid var(--line); display: flex; align-items: baseline; gap: 10px; }
section > h2 .count { color: var(--text); font-variant-numeric: tabular-nums; text-transform: none; letter-spacing: 0; }
section > h2 .hint { margin-left: auto; text-transform: none; letter-spacing: 0; font-weight: 400; color: var(--faint); }
.body { padding: 4px 16px 12px; }
.empty { color: var(--muted); padding: 18px 0 10px; }
.empty.calm { color: var(--ok); }
.more-row { padding: 12px 0 4px; text-align: center; }
.alert { display: grid; grid-template-columns: 4px minmax(0, 1fr) auto; gap: 0 14px; padding: 12px 0; border-bottom: 1px solid var(--line); }
.alert:last-child { border-bottom: 0; }
.alert .bar { grid-column: 1; grid-row: 1 / span 2; border-radius: 2px; background: var(--info); }
.alert .main { grid-column: 2; grid-row: 1; min-width: 0; }
.alert.critical .bar { background: var(--critical); }
.alert.warning .bar { background: var(--warning); }
.alert.muted { opacity: .55; }
.alert .title { font-weight: 600; font-size: 15px; display: flex; gap: 8px; align-items: baseline; flex-wrap: wrap; }
.alert .what { color: var(--text); }
.alert .meta { color: var(--muted); font-size: 13px; display: flex; gap: 6px 14px; flex-wrap: wrap; margin-top: 2px; }
.alert .side { grid-column: 3; grid-row: 1; text-align: right; color: var(--muted); font-size: 13px; display: flex; flex-direction: column; align-items: flex-end; gap: 6px; }
.alert .sqlrow { grid-column: 2 / span 2; grid-row: 2; margin-top: 8px; min-width: 0; }
.sev { font-size: 11px; font-weight: 700; text-transform: uppercase; letter-spacing: .06em; padding: 1px 7px; border-radius: 10px; border: 1px solid currentColor; }
.sev.critical { color: var(--critical); background: var(--critical-bg); }
.sev.warning { color: var(--warning); background: var(--warning-bg); }
.sev.info { color: var(--info); background: var(--info-bg); }
.badge { font-size: 11px; padding: 1px 7px; border-radius: 10px; background: var(--panel2); border: 1px solid var(--line); color: var(--muted); font-weight: 500; }
.dur { font-variant-numeric: tabular-nums; color: var(--text); font-weight: 600; }
code, pre, .mono { font-family: var(--mono); font-size: 12.5px; }
.fp { color: var(--faint); }
.sql code, .sql pre { color: var(--text); }
.sql { background: var(--panel2); border: 1px solid var(--line); border-radius: 5px; padding: 6px 9px; overflow: hidden; }
.sql code { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; display: block; }
details.sql > summary { cursor: pointer; list-style: none; display: flex; gap: 10px; align-items: baseline; }
details.sql > summary::-webkit-details-marker { display: none; }
details.sql > summary code { flex: 1; min-width: 0; }
details.sql > summary .more { color: var(--link); font-size: 12px; white-space: nowrap; }
details.sql[open] > summary code { display: none; }
details.sql[open] > summary .more::before { content: "hide full statement"; }
details.sql:not([open]) > summary .more::before { content: "show all"; }
details.sql pre { margin: 6px 0 2px; white-space: pre-wrap; word-break: break-word; max-height: 420px; overflow: auto; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th { text-align: left; font-weight: 500; color: var(--muted); font-size: 12px; padding: 8px 8px 6px 0; border-bottom: 1px solid var(--line); white-space: nowrap; }
td { padding: 7px 8px 7px 0; border-bottom: 1px solid var(--line); vertical-align: top; }
tr:last-child td { border-bottom: 0; }
td.num, th.num { text-align: right; white-space: nowrap; }
td.wide { width: 100%; max-width: 0; }
td.wide .sql { padding: 3px 7px; }
.stale { color: var(--warning); }
.bad { color: var(--critical); }
.good { color: var(--ok); }
button { font: inherit; font-size: 13px; color: var(--text); background: var(--panel2); border: 1px solid var(--line); border-radius: 5px; padding: 4px 11px; cursor: pointer; }
button:hover { border-color: var(--faint); }
button.primary { background: var(--info); border-color: var(--info); color: #fff; }
button.danger { color: var(--critical); }
button.confirm { background: var(--critical); border-color: var(--critical); color: #fff; }
button:disabled { opacity: .5; cursor: default; }
form.silence { display: grid; grid-template-columns: 1fr 1fr; gap: 8px 10px; padding: 12px 0 4px; border-top: 1px solid var(--line); margin-top: 6px; }
form.silence label { display: flex; flex-direction: column; gap: 3px; color: var(--muted); font-size: 12px; }
form.silence label.full { grid-column: 1 / span 2; }
input, select { font: inherit; font-size: 13px; color: var(--text); background: var(--bg); border: 1px solid var(--line); border-radius: 5px; padding: 5px 8px; }
input.mono { font-family: var(--mono); font-size: 12.5px; }
input:focus, select:focus { outline: 2px solid var(--info); outline-offset: -1px; }
.formrow { grid-column: 1 / span 2; display: flex; gap: 10px; align-items: center; }
.formerr { color: var(--critical); font-size: 13px; }
.silence-item { padding: 10px 0; border-bottom: 1px solid var(--line); display: grid; grid-template-columns: minmax(0, 1fr) auto; gap: 4px 10px; }
.matchers { display: flex; flex-wrap: wrap; gap: 5px; }
.matcher { font-family: var(--mono); font-size: 12px; padding: 1px 7px; border-radius: 4px; background: var(--panel2); border: 1px solid var(--line); }
.silence-item .meta { color: var(--muted); font-size: 12.5px; grid-column: 1 / span 2; }
.chart svg { width: 100%; max-width: 760px; height: auto; display: block; margin: 0 auto; }
.chart .grid { stroke: var(--line); stroke-width: 1; }
.chart .axis { fill: var(--faint); font-size: 11px; font-family: inherit; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; margin-top: 6px; font-size: 13px; color: var(--muted); }
.legend i { display: inline-block; width: 10px; height: 3px; border-radius: 2px; margin-right: 6px; vertical-align: middle; }
.legend b { color: var(--text); font-weight: 600; font-variant-numeric: tabular-nums; }
.notes { list-style: none; margin: 0; padding: 0; font-size: 13px; }
.notes li { padding: 4px 0; color: var(--muted); display: flex; gap: 8px; }
.notes li .outcome { font-weight: 600; }
time, .nowrap { white-space: nowrap; }
a { color: var(--link); }
#class-page { grid-column: 1 / -1; }
#class-page[hidden] { display: none; }
.classhead { display: flex; flex-wrap: wrap; gap: 6px 18px; align-items: baseline; padding: 10px 0 6px; color: var(--muted); }
.classhead b { color: var(--text); font-variant-numeric: tabular-nums; }
.spark { display: inline-block; vertical-align: middle; }
.spark rect { fill: var(--info); }
.spark rect.p95 { fill: var(--warning); }
.trend { display: flex; gap: 24px; flex-wrap: wrap; padding: 8px 0; color: var(--muted); font-size: 12px; }
a.classlink { font-size: 12px; }
</style>
</head>
<body>
<header>
  <h1>slowq <span>slow-query alerts</span></h1>
  <div class="summary" id="summary"></div>
  <div class="conn" id="conn"><span class="dot"></span><span id="conn-text">connecting…</span></div>
</header>
<main>
  <section id="class-page" hidden><h2>Query class <span class="count" id="class-title"></span><span class="hint"><a href="#" id="class-close">close</a></span></h2><div class="body" id="class-body"></div></section>
  <div class="col">
    <section id="firing"><h2>Firing <span class="count" id="firing-count"></span><span class="hint">live</span></h2><div class="body" id="firing-body"><div class="empty">Loading…</div></div></section>
    <section id="resolved"><h2>Recently resolved <span class="count" id="resolved-count"></span></h2><div class="body" id="resolved-body"></div></section>
    <section id="classes"><h2>Query classes <span class="hint">last hour of each source, by total time; every execution, not only alerts</span></h2><div class="body" id="classes-body"></div></section>
    <section id="slowest"><h2>Slowest fingerprints <span class="hint">last hour, by longest duration</span></h2><div class="body" id="slowest-body"></div></section>
  </div>
  <div class="col">
    <section id="throughput"><h2>Throughput <span class="hint">records per second, by source</span></h2><div class="body chart" id="chart"></div></section>
    <section id="pipeline"><h2>Pipeline <span class="hint">rate and backlog per service</span></h2><div class="body" id="pipeline-body"></div></section>
    <section id="silences"><h2>Silences <span class="count" id="silences-count"></span></h2><div class="body">
      <div id="silences-body"></div>
      <form class="silence" id="silence-form" autocomplete="off">
        <label class="full">Matchers (comma-separated: name=value, name!=value, name=~regex)
          <input class="mono" name="matchers" id="f-matchers" placeholder="source=db-01, db=shop" required></label>
        <label>For
          <select name="duration" id="f-duration">
            <option value="1800000">30 minutes</option><option value="3600000">1 hour</option><option value="7200000" selected>2 hours</option>
            <option value="14400000">4 hours</option><option value="28800000">8 hours</option><option value="86400000">1 day</option><option value="604800000">7 days</option>
          </select></label>
        <label>By <input name="createdBy" id="f-by" placeholder="your name" required></label>
        <label class="full">Comment <input name="comment" id="f-comment" placeholder="why: ticket, maintenance window…" required></label>
        <div class="formrow"><button class="primary" type="submit" id="f-submit">Add silence</button><span class="formerr" id="f-error" role="alert"></span></div>
      </form>
    </div></section>
    <section id="notifications"><h2>Notifications</h2><div class="body" id="notifications-body"></div></section>
  </div>
</main>
<script>
(function () {
  'use strict';
  var token = new URLSearchParams(location.search).get('token');
  var COLORS = ['#5a9ef0', '#5fb36a', '#d9a53a', '#b48ef0', '#e0823d', '#3fc1cc', '#e276ad', '#9aa4b0'];
  var state = { alerts: null, silences: null, stats: null, notes: [] };
  var sourceColors = {};

  function withToken(path) {
    if (!token) return path;
    return path + (path.indexOf('?') < 0 ? '?' : '&') + 'token=' + encodeURIComponent(token);
  }
  function api(path, init) {
    return fetch(withToken(path), init).then(function (r) {
      return r.text().then(function (text) {
        var body = null;
        try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
        if (!r.ok) throw new Error((body && body.error) || ('HTTP ' + r.status));
        return body;
      });
    });
  }

  // Builds DOM nodes; text is always set as text, never parsed as HTML.
  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      var v = attrs[k];
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : v);
    }
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }
  function append(el, c) {
    if (c === undefined || c === null || c === false) return;
    if (Array.isArray(c)) { c.forEach(function (x) { append(el, x); }); return; }
    el.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
  function fill(id) {
    var el = document.getElementById(id);
    el.textContent = '';
    for (var i = 1; i < arguments.length; i++) append(el, arguments[i]);
  }

  function toMs(t) { return typeof t === 'number' ? t : Date.parse(t); }
  function rel(t) {
    var d = Date.now() - toMs(t), a = Math.abs(d), s;
    if (!isFinite(d)) return '';
    if (a < 10000) return d >= 0 ? 'just now' : 'in a few seconds';
    if (a < 60000) s = Math.round(a / 1000) + ' s';
    else if (a < 3600000) s = Math.round(a / 60000) + ' min';
    else if (a < 172800000) s = (a < 36000000 ? (Math.round(a / 360000) / 10) : Math.round(a / 3600000)) + ' h';
    else s = Math.round(a / 86400000) + ' d';
    return d >= 0 ? s + ' ago' : 'in ' + s;
  }
  function abs(t) { var d = new Date(toMs(t)); return d.toLocaleString() + '  (' + d.toISOString() + ')'; }
  function when(t) { return h('time', { 'data-t': String(toMs(t)), datetime: new Date(toMs(t)).toISOString(), title: abs(t), text: rel(t) }); }
  function refreshTimes() {
    var els = document.querySelectorAll('time[data-t]');
    for (var i = 0; i < els.length; i++) els[i].textContent = rel(Number(els[i].getAttribute('data-t')));
  }
  function dur(ms) {
    if (!(ms >= 0)) return '–';
    if (ms < 1000) return Math.round(ms) + ' ms';
    if (ms < 10000) return (ms / 1000).toFixed(2) + ' s';
    if (ms < 60000) return (ms / 1000).toFixed(1) + ' s';
    var m = Math.floor(ms / 60000), s = Math.round((ms % 60000) / 1000);
    if (m < 60) return m + ' min' + (s ? ' ' + s + ' s' : '');
    return Math.floor(m / 60) + ' h ' + (m % 60) + ' min';
  }
  function num(n) {
    if (!(n >= 0)) return '0';
    if (n >= 1e6) return (n / 1e6).toFixed(n >= 1e7 ? 0 : 1) + 'M';
    if (n >= 1e4) return (n / 1e3).toFixed(n >= 1e5 ? 0 : 1) + 'k';
    return n >= 100 || n === Math.round(n) ? String(Math.round(n)) : n.toFixed(1);
  }
  var SQL_SHORT = 160;
  function sqlBlock(sql) {
    sql = sql || '';
    var oneLine = sql.replace(/\s+/g, ' ').trim();
    if (oneLine.length <= SQL_SHORT && sql.indexOf('\n') < 0) return h('div', { class: 'sql' }, h('code', { text: oneLine }));
    return h('details', { class: 'sql' },
      h('summary', null, h('code', { text: oneLine.slice(0, SQL_SHORT) + '…' }), h('span', { class: 'more' })),
      h('pre', { text: sql }));
  }
  function sevOf(a) { var s = a.labels && a.labels.severity; return s === 'critical' || s === 'warning' ? s : 'info'; }
  function where(labels) { return (labels.source || '?') + (labels.db ? ' / ' + labels.db : ''); }

  // ---- alerts ----
  var FIRING_SHOWN = 50, showAllFiring = false;
  function isMuted(a) { return (a.silencedBy && a.silencedBy.length > 0) || (a.inhibitedBy && a.inhibitedBy.length > 0); }
  function renderAlerts() {
    var d = state.alerts; if (!d) return;
    var active = d.active || [];
    var loud = active.filter(function (a) { return !isMuted(a); });
    document.title = (loud.length ? '(' + loud.length + ') ' : '') + 'slowq';
    fill('firing-count', active.length ? String(active.length) : '');
    if (!active.length) fill('firing-body', h('div', { class: 'empty calm', text: 'All quiet: nothing is firing.' }));
    else {
      // Worst first, muted last; a flood is cut to the first FIRING_SHOWN cards until asked for all of them.
      var rank = { critical: 0, warning: 1, info: 2 };
      var sorted = active.map(function (a, i) { return { a: a, i: i, muted: isMuted(a) ? 1 : 0 }; }).sort(function (x, y) {
        return (x.muted - y.muted) || (rank[sevOf(x.a)] - rank[sevOf(y.a)]) || (x.i - y.i);
      }).map(function (x) { return x.a; });
      var shown = showAllFiring ? sorted : sorted.slice(0, FIRING_SHOWN);
      fill('firing-body', shown.map(alertRow), sorted.length > shown.length ? h('div', { class: 'more-row' },
        h('button', { type: 'button', id: 'show-all-firing', onclick: function () { showAllFiring = true; renderAlerts(); } }, 'Show all ' + sorted.length + ' (' + (sorted.length - shown.length) + ' more)')) : null);
    }
    var res = d.resolved || [];
    fill('resolved-count', res.length ? String(res.length) : '');
    if (!res.length) fill('resolved-body', h('div', { class: 'empty', text: 'Nothing resolved recently.' }));
    else fill('resolved-body', h('table', null,
      h('thead', null, h('tr', null, h('th', { text: 'Resolved' }), h('th', { text: 'Where' }), h('th', { class: 'num', text: 'Duration' }), h('th', { text: 'How' }), h('th', { text: 'Statement' }))),
      h('tbody', null, res.slice(0, 25).map(function (a) {
        var t = a.alert || {};
        return h('tr', null,
          h('td', null, when(a.endsAt || t.at)),
          h('td', { class: 'mono nowrap' }, where(a.labels), ' ', classLink(a.labels.source, t.fingerprintId)),
          h('td', { class: 'num dur', text: dur(t.durationMs) }),
          h('td', { text: t.type === 'stalled' ? 'stalled' : 'finished', class: t.type === 'stalled' ? 'stale' : 'good' }),
          h('td', { class: 'wide' }, sqlBlock(t.sql)));
      }))));
    renderSummary();
  }
  function alertRow(a) {
    var t = a.alert || {}, sev = sevOf(a), L = a.labels || {};
    var silenced = a.silencedBy && a.silencedBy.length, inhibited = a.inhibitedBy && a.inhibitedBy.length;
    var what = t.type === 'long_running' ? 'running for ' : t.type === 'slow_query' ? 'took ' : '';
    return h('div', { class: 'alert ' + sev + (silenced || inhibited ? ' muted' : ''), 'data-id': a.id, 'data-fingerprint': a.fingerprint },
      h('div', { class: 'bar' }),
      h('div', { class: 'main' },
        h('div', { class: 'title' }, h('span', { class: 'sev ' + sev, text: sev }), h('span', { text: L.alertname || t.type }),
          h('span', { class: 'what', text: where(L) }),
          silenced ? h('span', { class: 'badge', title: 'silence ' + a.silencedBy.join(', '), text: 'silenced' }) : null,
          inhibited ? h('span', { class: 'badge', text: 'inhibited' }) : null),
        h('div', { class: 'meta' },
          h('span', null, what, h('span', { class: 'dur', text: dur(t.durationMs) })),
          L.user ? h('span', { text: 'user ' + L.user }) : null,
          L.host ? h('span', { text: 'host ' + L.host }) : null,
          h('span', { class: 'mono fp', title: t.fingerprint || '', text: t.fingerprintId || '' }),
          classLink(L.source, t.fingerprintId),
          a.receivers && a.receivers.length ? h('span', { text: '→ ' + a.receivers.join(', ') }) : null)),
      h('div', { class: 'side' },
        h('span', null, 'started ', when(a.startsAt)),
        h('button', { type: 'button', title: 'Prefill a silence for this query', onclick: function () { prefillSilence(L); } }, 'Silence…')),
      h('div', { class: 'sqlrow' }, sqlBlock(t.sql)));
  }
  function prefillSilence(L) {
    var parts = [];
    ['source', 'db', 'fingerprintId'].forEach(function (k) { if (L[k]) parts.push(k + '=' + quote(L[k])); });
    document.getElementById('f-matchers').value = parts.join(', ');
    document.getElementById('f-comment').focus();
    document.getElementById('silences').scrollIntoView({ behavior: 'smooth', block: 'start' });
  }
  function quote(v) { return /^[A-Za-z0-9_.:\/@-]+$/.test(v) ? v : '"' + v.replace(/["\\]/g, '\\$&') + '"'; }

  // ---- stats: throughput chart, pipeline, slowest, notifications ----
  function renderStats() {
    var s = state.stats; if (!s) return;
    renderChart(s.throughput || [], s.now);
    renderPipeline(s.services || [], s.now);
    renderSlowest(s.slowest || []);
    renderClasses(s.classes || []);
    renderClassPage();
    renderNotifications();
    renderSummary();
  }
  function colorOf(src) {
    if (!sourceColors[src]) sourceColors[src] = COLORS[Object.keys(sourceColors).length % COLORS.length];
    return sourceColors[src];
  }
  function niceMax(v) {
    if (v <= 0) return 10;
    var p = Math.pow(10, Math.floor(Math.log10(v))), m = v / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }
  function svg(tag, attrs) {
    var el = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (var k in attrs) if (k === 'text') el.textContent = attrs[k]; else el.setAttribute(k, attrs[k]);
    for (var i = 2; i < arguments.length; i++) if (arguments[i]) el.appendChild(arguments[i]);
    return el;
  }
  function renderChart(points, now) {
    var sources = {};
    points.forEach(function (p) { for (var k in p.perSource) sources[k] = true; });
    var names = Object.keys(sources).sort();
    names.forEach(colorOf);
    var W = 600, H = 190, L = 46, R = 10, T = 10, B = 24;
    // the span of the history kept (up to 10 minutes), so a fresh server does not squeeze its points into a corner
    var t1 = now || Date.now(), t0 = points.length > 1 ? points[0].at : t1 - 60000;
    var max = 0;
    points.forEach(function (p) { for (var k in p.perSource) if (p.perSource[k] > max) max = p.perSource[k]; });
    max = niceMax(max * 1.1);
    var x = function (t) { return L + (W - L - R) * (t - t0) / Math.max(1, t1 - t0); };
    var y = function (v) { return T + (H - T - B) * (1 - v / max); };
    var root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': 'records per second by source' });
    for (var i = 0; i <= 4; i++) {
      var v = max * i / 4, yy = y(v);
      root.appendChild(svg('line', { class: 'grid', x1: L, x2: W - R, y1: yy, y2: yy }));
      root.appendChild(svg('text', { class: 'axis', x: L - 6, y: yy + 4, 'text-anchor': 'end', text: num(v) }));
    }
    [0, 0.5, 1].forEach(function (f) {
      var t = t0 + (t1 - t0) * f, ago = t1 - t;
      var label = f === 1 ? 'now' : t1 - t0 < 180000 ? '−' + Math.round(ago / 1000) + ' s' : '−' + Math.round(ago / 60000) + ' min';
      root.appendChild(svg('text', { class: 'axis', x: x(t), y: H - 6, 'text-anchor': f === 0 ? 'start' : f === 1 ? 'end' : 'middle', text: label }));
    });
    names.forEach(function (src) {
      var pts = points.map(function (p) { return x(p.at).toFixed(1) + ',' + y(p.perSource[src] || 0).toFixed(1); });
      if (pts.length === 1) pts.push((W - R) + ',' + pts[0].split(',')[1]);
      root.appendChild(svg('polyline', { points: pts.join(' '), fill: 'none', stroke: colorOf(src), 'stroke-width': '2', 'stroke-linejoin': 'round', 'data-source': src }));
    });
    if (!names.length) root.appendChild(svg('text', { class: 'axis', x: (L + W) / 2, y: H / 2, 'text-anchor': 'middle', text: 'no clients reporting yet' }));
    var last = points.length ? points[points.length - 1].perSource : {};
    fill('chart', root, h('div', { class: 'legend' }, names.map(function (src) {
      return h('span', null, h('i', { style: 'background:' + colorOf(src) }), src + ' ', h('b', { text: num(last[src] || 0) + '/s' }));
    })));
  }
  function renderPipeline(rows, now) {
    if (!rows.length) { fill('pipeline-body', h('div', { class: 'empty', text: 'No service has reported yet.' })); return; }
    var order = { client: 0, master: 1, consumer: 2, monitor: 3 };
    rows = rows.slice().sort(function (a, b) { return ((order[a.kind] ?? 9) - (order[b.kind] ?? 9)) || a.service.localeCompare(b.service); });
    fill('pipeline-body', h('table', null,
      h('thead', null, h('tr', null, h('th', { text: 'Service' }), h('th', { class: 'num', text: 'Rate' }), h('th', { class: 'num', text: 'Backlog' }), h('th', { class: 'num', text: 'Reported' }))),
      h('tbody', null, rows.map(function (r) {
        var rateText = r.rateOf ? num(r.rate) + '/s' : '–';
        var unit = { recordsAcked: 'records acked per second', records: 'records sent per second', applied: 'records applied per second', batches: 'batches routed per second' }[r.rateOf] || '';
        var backlog = '–', bt = '', cls = 'num';
        if (r.kind === 'client' && r.unacked !== undefined) { backlog = num(r.unacked) + ' unacked'; bt = 'records sent, not yet acked'; }
        else if (r.kind === 'client' && r.unackedBatches !== undefined) { backlog = num(r.unackedBatches) + ' batches unacked'; bt = 'batches sent, not yet acked'; }
        if (r.kind === 'consumer' && r.outbox !== undefined) { backlog = num(r.outbox) + ' in outbox'; bt = 'alerts not yet acked by the monitor; ' + num(r.openQueries || 0) + ' running queries tracked'; if (r.outbox > 0) cls += ' stale'; }
        if (r.kind === 'master' && r.counters.consumersAlive !== undefined) { backlog = num(r.counters.consumersAlive) + ' consumers'; bt = 'consumers alive'; }
        var age = (now || Date.now()) - r.at;
        return h('tr', null,
          h('td', null, h('span', { class: 'mono', text: r.service }), ' ', h('span', { class: 'badge', text: r.kind })),
          h('td', { class: 'num', title: unit, text: rateText }),
          h('td', { class: cls, title: bt, text: backlog }),
          h('td', { class: 'num' + (age > 15000 ? ' stale' : '') }, when(r.at)));
      }))));
  }
  // ---- query classes: the busiest of the last hour, and one class's page (#class=SOURCE/FINGERPRINT_ID) ----
  function classHref(source, fp) { return '#class=' + encodeURIComponent(source || '') + '/' + encodeURIComponent(fp || ''); }
  function classLink(source, fp) { return source && fp ? h('a', { class: 'classlink', href: classHref(source, fp), title: 'this query class: its trend, executions and alerts', text: 'class' }) : null; }
  function spark(values, cls, title) {
    var W = 96, H = 22, n = values.length || 1, max = 0;
    values.forEach(function (v) { if (v > max) max = v; });
    var el = svg('svg', { class: 'spark', width: String(W), height: String(H), viewBox: '0 0 ' + W + ' ' + H, role: 'img' }, svg('title', { text: title }));
    values.forEach(function (v, i) {
      var bh = max > 0 ? Math.max(v > 0 ? 1 : 0, Math.round((H - 1) * v / max)) : 0;
      el.appendChild(svg('rect', { class: cls, x: String(i * W / n + 0.5), y: String(H - bh), width: String(Math.max(1, W / n - 1.5)), height: String(bh) }));
    });
    return el;
  }
  function trendTitle(c, what, values, fmt) {
    return what + ' per 5 minutes over the hour to ' + new Date(c.until).toISOString() + ': ' + values.map(fmt).join(', ');
  }
  function renderClasses(list) {
    if (!list.length) { fill('classes-body', h('div', { class: 'empty', text: 'No executions in the last hour reported by the consumers yet.' })); return; }
    fill('classes-body', h('table', null,
      h('thead', null, h('tr', null, h('th', { class: 'num', text: 'Total' }), h('th', { class: 'num', text: 'Count' }), h('th', { class: 'num', text: 'p95' }), h('th', { text: 'Trend' }), h('th', { text: 'Class' }))),
      h('tbody', null, list.slice(0, 15).map(function (c) {
        return h('tr', { 'data-class': c.source + '/' + c.fingerprintId },
          h('td', { class: 'num dur', text: dur(c.totalMs) }),
          h('td', { class: 'num', text: num(c.count) }),
          h('td', { class: 'num dur', text: dur(c.p95Ms) }),
          h('td', null, spark(c.trendCount, 'count', trendTitle(c, 'executions', c.trendCount, num))),
          h('td', { class: 'wide' }, h('div', { class: 'meta fp mono', style: 'font-size:12px;margin-bottom:3px' },
            h('a', { href: classHref(c.source, c.fingerprintId), text: c.fingerprintId }), '  ·  ' + c.source + (c.db ? ' / ' + c.db : '')), sqlBlock(c.fingerprint)));
      }))));
  }
  function currentClass() {
    var m = /^#class=([^/]*)\/(.*)$/.exec(location.hash);
    if (!m) return null;
    try { return { source: decodeURIComponent(m[1]), fp: decodeURIComponent(m[2]) }; } catch (e) { return null; }
  }
  function renderClassPage() {
    var page = document.getElementById('class-page'), cur = currentClass();
    if (!cur) { page.hidden = true; return; }
    page.hidden = false;
    fill('class-title', cur.fp + '  ·  ' + cur.source);
    var c = ((state.stats && state.stats.classes) || []).filter(function (x) { return x.source === cur.source && x.fingerprintId === cur.fp; })[0];
    var mine = function (a) { var L = a.labels || {}; return L.source === cur.source && (a.alert || {}).fingerprintId === cur.fp; };
    var alerts = ((state.alerts && state.alerts.active) || []).filter(mine).concat(((state.alerts && state.alerts.resolved) || []).filter(mine));
    var plan = null;
    alerts.forEach(function (a) { var t = a.alert || {}; if (!plan && t.plan) plan = t.plan; });
    fill('class-body',
      c ? h('div', null,
        h('div', { class: 'classhead' },
          h('span', null, h('b', { text: num(c.count) }), ' executions'),
          h('span', null, h('b', { text: dur(c.totalMs) }), ' in all'),
          h('span', null, 'p95 ', h('b', { text: dur(c.p95Ms) })),
          h('span', null, 'longest ', h('b', { text: dur(c.maxMs) })),
          h('span', null, 'last ', when(c.lastTs)),
          c.db ? h('span', { text: 'db ' + c.db }) : null),
        h('div', { class: 'trend' },
          h('span', null, 'executions ', spark(c.trendCount, 'count', trendTitle(c, 'executions', c.trendCount, num))),
          h('span', null, 'p95 ', spark(c.trendP95Ms, 'p95', trendTitle(c, 'p95', c.trendP95Ms, dur)))),
        sqlBlock(c.fingerprint),
        h('div', { class: 'meta', style: 'margin:8px 0 2px', text: 'latest statement' }), sqlBlock(c.example),
        h('table', { id: 'class-recent' },
          h('thead', null, h('tr', null, h('th', { text: 'Finished' }), h('th', { class: 'num', text: 'Duration' }), h('th', { text: 'Query id' }))),
          h('tbody', null, c.recent.map(function (r) {
            return h('tr', null, h('td', null, when(r.ts)), h('td', { class: 'num dur', text: dur(r.durationMs) }), h('td', { class: 'mono', text: r.queryId }));
          }))))
        : h('div', { class: 'empty', text: 'No statistics for this class in the last hour (each consumer reports its 20 busiest classes).' }),
      plan ? h('details', { class: 'sql', open: '' }, h('summary', null, h('code', { text: 'plan' })), h('pre', { text: plan })) : null,
      h('h3', { style: 'font-size:13px;color:var(--muted);margin:14px 0 4px', text: 'Alerts of this class (' + alerts.length + ')' }),
      alerts.length ? h('div', { id: 'class-alerts' }, alerts.slice(0, 20).map(alertRow)) : h('div', { class: 'empty', text: 'No alerts of this class now or recently.' }));
  }
  window.addEventListener('hashchange', function () { renderClassPage(); if (currentClass()) document.getElementById('class-page').scrollIntoView({ block: 'start' }); });
  document.getElementById('class-close').addEventListener('click', function (ev) { ev.preventDefault(); history.replaceState(null, '', location.pathname + location.search); renderClassPage(); });
  function renderSlowest(list) {
    if (!list.length) { fill('slowest-body', h('div', { class: 'empty', text: 'No alerts in the last hour.' })); return; }
    fill('slowest-body', h('table', null,
      h('thead', null, h('tr', null, h('th', { class: 'num', text: 'Longest' }), h('th', { class: 'num', text: 'Alerts' }), h('th', { class: 'num', text: 'Total' }), h('th', { text: 'Fingerprint' }), h('th', { text: 'Last' }))),
      h('tbody', null, list.slice(0, 15).map(function (f) {
        return h('tr', null,
          h('td', { class: 'num dur', text: dur(f.maxMs) }),
          h('td', { class: 'num', text: num(f.count) }),
          h('td', { class: 'num', text: dur(f.totalMs) }),
          h('td', { class: 'wide' }, h('div', { class: 'meta fp mono', style: 'font-size:12px;margin-bottom:3px', text: f.fingerprintId + '  ·  ' + (f.sources || []).join(', ') }), sqlBlock(f.fingerprint), f.sampleSql ? h('details', { class: 'sql', style: 'margin-top:4px' }, h('summary', null, h('code', { text: 'sample: ' + f.sampleSql.replace(/\s+/g, ' ').slice(0, 100) + '…' }), h('span', { class: 'more' })), h('pre', { text: f.sampleSql })) : null),
          h('td', null, when(f.lastAt)));
      }))));
  }
  function renderNotifications() {
    var s = state.stats, recv = (s && s.counters && s.counters.receivers) || {};
    var names = Object.keys(recv).sort();
    var rows = names.map(function (n) {
      var r = recv[n];
      return h('tr', null, h('td', { class: 'mono', text: n }), h('td', { class: 'num good', text: num(r.sent) }),
        h('td', { class: 'num' + (r.failed ? ' bad' : ''), text: num(r.failed) }), h('td', { class: 'num' + (r.pending ? ' stale' : ''), text: num(r.pending) }),
        h('td', { class: 'num', text: num(r.retries) }), h('td', { class: 'num', text: num(r.heldBack) }));
    });
    fill('notifications-body',
      names.length ? h('table', null, h('thead', null, h('tr', null, h('th', { text: 'Receiver' }), h('th', { class: 'num', text: 'Sent' }), h('th', { class: 'num', text: 'Failed' }), h('th', { class: 'num', text: 'Pending' }), h('th', { class: 'num', text: 'Retries' }), h('th', { class: 'num', text: 'Held back' }))), h('tbody', null, rows))
        : h('div', { class: 'empty', text: 'No receivers reported yet.' }),
      state.notes.length ? h('ul', { class: 'notes' }, state.notes.slice(0, 8).map(function (n) {
        return h('li', null, when(n.at), h('span', { class: 'outcome ' + (n.outcome === 'sent' ? 'good' : n.outcome === 'failed' ? 'bad' : 'stale'), text: n.outcome }),
          h('span', { class: 'mono', text: n.receiver }), h('span', { text: (n.notification ? n.notification.alerts + ' alert(s), ' + n.notification.status : '') + (n.error ? ' — ' + n.error : '') }));
      })) : null);
  }
  function renderSummary() {
    var act = (state.alerts && state.alerts.active) || [];
    var crit = 0, warn = 0, info = 0;
    act.forEach(function (a) { var s = sevOf(a); if (s === 'critical') crit++; else if (s === 'warning') warn++; else info++; });
    var sil = (state.silences || []).filter(function (s) { return s.status === 'active'; }).length;
    var total = 0, last = state.stats && state.stats.throughput && state.stats.throughput[state.stats.throughput.length - 1];
    if (last) for (var k in last.perSource) total += last.perSource[k];
    var problems = (state.stats && state.stats.problems) || [];
    fill('summary',
      problems.length ? h('span', { class: 'crit', title: problems.join('\n') }, h('b', { text: String(problems.length) }), (problems.length === 1 ? ' problem: ' : ' problems: ') + problems[0]) : null,
      h('span', { class: crit ? 'crit' : '' }, h('b', { text: String(crit) }), ' critical'),
      h('span', { class: warn ? 'warn' : '' }, h('b', { text: String(warn) }), ' warning'),
      info ? h('span', null, h('b', { text: String(info) }), ' info') : null,
      h('span', null, h('b', { text: String(sil) }), sil === 1 ? ' silence' : ' silences'),
      h('span', null, h('b', { text: num(total) }), ' records/s'));
  }

  // ---- silences ----
  function renderSilences() {
    var list = (state.silences || []).filter(function (s) { return s.status !== 'expired'; });
    fill('silences-count', list.length ? String(list.length) : '');
    if (!list.length) { fill('silences-body', h('div', { class: 'empty', text: 'No silences.' })); renderSummary(); return; }
    fill('silences-body', list.map(function (s) {
      return h('div', { class: 'silence-item', 'data-id': s.id },
        h('div', { class: 'matchers' }, s.matchers.map(function (m) { return h('span', { class: 'matcher', text: m.name + m.op + quote(m.value) }); }),
          s.status === 'pending' ? h('span', { class: 'badge', text: 'starts ' + rel(s.startsAt) }) : null),
        h('div', null, expireButton(s.id)),
        h('div', { class: 'meta' }, 'ends ', when(s.endsAt), ' · by ' + s.createdBy + ' · ' + s.comment));
    }));
    renderSummary();
  }
  function expireButton(id) {
    var armed = false, timer = 0;
    var b = h('button', { type: 'button', class: 'danger', text: 'Expire', onclick: function () {
      if (!armed) { armed = true; b.className = 'confirm'; b.textContent = 'Really expire?'; timer = setTimeout(function () { armed = false; b.className = 'danger'; b.textContent = 'Expire'; }, 4000); return; }
      clearTimeout(timer); b.disabled = true;
      api('/api/silences/' + encodeURIComponent(id), { method: 'DELETE' }).then(loadSilences).then(loadAlerts).catch(function (e) { b.disabled = false; b.textContent = 'Failed: ' + e.message; });
    } });
    return b;
  }
  // "a=b, c=~"x,y"" → ["a=b", "c=~\"x,y\""]: commas inside quotes are part of the value.
  function splitMatchers(text) {
    var out = [], cur = '', q = false;
    text = text.trim().replace(/^\{/, '').replace(/\}$/, '');
    for (var i = 0; i < text.length; i++) {
      var c = text[i];
      if (c === '\\' && q) { cur += c + (text[i + 1] || ''); i++; continue; }
      if (c === '"') q = !q;
      if (c === ',' && !q) { if (cur.trim()) out.push(cur.trim()); cur = ''; continue; }
      cur += c;
    }
    if (cur.trim()) out.push(cur.trim());
    return out;
  }
  var byInput = document.getElementById('f-by');
  try { byInput.value = localStorage.getItem('slowq.createdBy') || ''; } catch (e) { /* storage off */ }
  document.getElementById('silence-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var err = document.getElementById('f-error'), btn = document.getElementById('f-submit');
    err.textContent = '';
    var body = {
      matchers: splitMatchers(document.getElementById('f-matchers').value),
      durationMs: Number(document.getElementById('f-duration').value),
      createdBy: byInput.value.trim(),
      comment: document.getElementById('f-comment').value.trim(),
    };
    try { localStorage.setItem('slowq.createdBy', body.createdBy); } catch (e) { /* storage off */ }
    btn.disabled = true;
    api('/api/silences', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      .then(function () { document.getElementById('f-matchers').value = ''; document.getElementById('f-comment').value = ''; return loadSilences(); })
      .then(loadAlerts)
      .catch(function (e) { err.textContent = e.message; })
      .then(function () { btn.disabled = false; });
  });

  // ---- loading and live updates ----
  function loadAlerts() { return api('/api/alerts').then(function (d) { state.alerts = d; renderAlerts(); renderClassPage(); }); }
  function loadSilences() { return api('/api/silences').then(function (d) { state.silences = d.silences; renderSilences(); }); }
  function loadStats() { return api('/api/stats').then(function (d) { state.stats = d; renderStats(); }); }
  function loadAll() { return Promise.all([loadAlerts(), loadSilences(), loadStats()]).catch(showError); }
  function showError(e) { setConn('down', 'error: ' + e.message); }
  var pendingAlerts = 0;
  function scheduleAlerts() {
    if (pendingAlerts) return;
    pendingAlerts = setTimeout(function () { pendingAlerts = 0; loadAlerts().catch(showError); }, 150);
  }
  function setConn(cls, text) {
    document.getElementById('conn').className = 'conn ' + cls;
    document.getElementById('conn-text').textContent = text;
  }
  var es = null, pollTimer = 0;
  function connect() {
    es = new EventSource(withToken('/events'));
    es.onopen = function () { setConn('live', 'live'); loadAll(); };
    es.onerror = function () { setConn('down', 'reconnecting…'); };
    es.addEventListener('alert', scheduleAlerts);
    es.addEventListener('silence', function () { loadSilences().then(loadAlerts).catch(showError); });
    es.addEventListener('notification', function (m) {
      try { state.notes.unshift(JSON.parse(m.data)); } catch (e) { return; }
      state.notes.length = Math.min(state.notes.length, 50);
      renderNotifications();
    });
    es.addEventListener('stats', function (m) { try { state.stats = JSON.parse(m.data); renderStats(); } catch (e) { /* ignore */ } });
  }
  loadAll();
  connect();
  setInterval(refreshTimes, 15000);
  // Point alerts stop firing after a while without an event: reload now and then; poll stats if the stream is down.
  setInterval(function () { loadAlerts().catch(showError); }, 30000);
  pollTimer = setInterval(function () { if (!es || es.readyState !== 1) loadStats().catch(showError); }, 10000);
})();
</script>
</body>
</html>
`;
