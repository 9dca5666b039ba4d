// postured dashboard: reads the status API of the same origin and redraws itself.
// No external requests, no libraries: every element is built with the DOM API (no HTML
// strings), so data from the API can never become markup.
'use strict';
(function () {
  const params = new URLSearchParams(location.search);
  const token = params.get('access_token');
  const refreshS = Math.max(2, parseInt(params.get('refresh') || '10', 10) || 10);
  const PAGE = 25;
  const SVGNS = 'http://www.w3.org/2000/svg';
  const state = { goal: null, userPicked: false, offset: 0, total: 0, resource: params.get('resource') };

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === 'class') e.className = v; else e.setAttribute(k, v);
    }
    for (const c of kids) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }
  function svg(tag, attrs) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    return e;
  }
  async function api(path) {
    const headers = token ? { Authorization: 'Bearer ' + token } : {};
    const r = await fetch(path, { headers, cache: 'no-store' });
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    if (!r.ok && r.status !== 503) throw new Error(path + ': HTTP ' + r.status + (body && body.error ? ' ' + body.error : ''));
    return { status: r.status, body };
  }
  function isPct(g) { return g.unit === '%' || (g.unit === undefined && /%/.test(g.target || '')); }
  // Formatting the tests rely on: percentages with one decimal and "%", counts as integers.
  function fmtValue(g, v) {
    if (typeof v !== 'number') return '\u2013';
    return isPct(g) ? v.toFixed(1) + '%' : String(Math.round(v * 100) / 100);
  }
  function fmtTime(t) {
    if (!t) return '';
    const d = new Date(t);
    return isNaN(d) ? String(t) : d.toISOString().replace('T', ' ').slice(0, 16) + 'Z';
  }

  function bar(g) {
    const b = el('div', { class: 'bar', title: fmtValue(g, g.value) + ' vs ' + (g.target || '') });
    // Sizes go through the CSSOM: the page's CSP forbids inline style attributes.
    if (isPct(g) && typeof g.value === 'number') {
      const fill = el('div', { class: 'fill' + (g.met ? '' : ' bad') });
      fill.style.width = Math.max(0, Math.min(100, g.value)) + '%';
      b.append(fill);
      if (typeof g.threshold === 'number') {
        const t = el('div', { class: 'target' });
        t.style.left = Math.max(0, Math.min(100, g.threshold)) + '%';
        b.append(t);
      }
    }
    return b;
  }

  // 7-day trend: a polyline scaled to the points and the target, with the target dashed.
  function sparkline(g) {
    const W = 160, H = 36, P = 3;
    const s = svg('svg', { class: 'spark', width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, role: 'img' });
    const pts = (g.trend || []).filter(p => typeof p.v === 'number');
    s.setAttribute('data-points', String(pts.length));
    if (!pts.length) return s;
    const vals = pts.map(p => p.v);
    if (typeof g.threshold === 'number') vals.push(g.threshold);
    let lo = Math.min(...vals), hi = Math.max(...vals);
    if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
    const x = i => P + (pts.length === 1 ? (W - 2 * P) / 2 : i * (W - 2 * P) / (pts.length - 1));
    const y = v => H - P - (v - lo) * (H - 2 * P) / (hi - lo);
    if (typeof g.threshold === 'number')
      s.append(svg('line', { class: 'target', x1: P, x2: W - P, y1: y(g.threshold).toFixed(1), y2: y(g.threshold).toFixed(1) }));
    s.append(svg('polyline', { points: pts.map((p, i) => x(i).toFixed(1) + ',' + y(p.v).toFixed(1)).join(' ') }));
    const last = pts[pts.length - 1];
    s.append(svg('circle', { cx: x(pts.length - 1).toFixed(1), cy: y(last.v).toFixed(1), r: 2.5 }));
    const title = svg('title', {});
    title.textContent = pts.length + ' points, ' + fmtTime(pts[0].t) + ' .. ' + fmtTime(last.t);
    s.prepend(title);
    return s;
  }

  function renderGoals(doc) {
    const tb = document.querySelector('#goals tbody');
    const goals = (doc && doc.goals) || [];
    tb.replaceChildren();
    if (!goals.length) tb.append(el('tr', {}, el('td', { colspan: 7, class: 'empty' }, 'no goals loaded')));
    let met = 0;
    for (const g of goals) {
      if (g.met) met++;
      const tr = el('tr', { class: 'goal' + (state.goal === g.id ? ' selected' : ''), 'data-goal-id': g.id, 'data-met': String(!!g.met) },
        el('td', {}, el('div', { class: 'title' }, g.title || g.id), el('div', { class: 'id' }, g.id)),
        el('td', { class: 'value' }, fmtValue(g, g.value)),
        el('td', { class: 'target' }, g.target || ''),
        el('td', {}, bar(g)),
        el('td', { class: 'trend' }, sparkline(g)),
        el('td', { class: 'violating' }, String(g.violating ?? '')),
        el('td', {}, el('span', { class: 'pill ' + (g.met ? 'met' : 'breached') }, g.met ? 'met' : 'not met')));
      tr.addEventListener('click', () => { state.goal = g.id; state.userPicked = true; state.offset = 0; refresh(); });
      tb.append(tr);
    }
    document.getElementById('goals-summary').textContent = goals.length ? met + ' of ' + goals.length + ' met' : '';
    // Without a choice by the user, show the first goal that is not met (else the first).
    if (!state.userPicked || !goals.some(g => g.id === state.goal)) {
      const pick = goals.find(g => !g.met) || goals[0];
      state.goal = pick ? pick.id : null;
      for (const tr of tb.querySelectorAll('tr.goal')) tr.classList.toggle('selected', tr.dataset.goalId === state.goal);
    }
  }

  function renderViolators(doc) {
    const tb = document.querySelector('#violators tbody');
    tb.replaceChildren();
    const v = (doc && doc.violators) || { items: [], total: 0 };
    const g = (doc && doc.goal) || {};
    document.getElementById('violators-goal').textContent = g.title ? '\u2013 ' + g.title : '';
    state.total = v.total || 0;
    if (!v.items || !v.items.length) tb.append(el('tr', {}, el('td', { colspan: 5, class: 'empty' }, 'none')));
    for (const r of v.items || []) {
      const tr = el('tr', { class: 'violator', 'data-resource-id': r.id },
        el('td', {}, el('div', { class: 'title' }, r.name || r.id), el('div', { class: 'id' }, r.id)),
        el('td', {}, r.cloud || ''), el('td', {}, r.account || ''),
        el('td', {}, fmtTime(r.since)), el('td', {}, r.reason || ''));
      tr.addEventListener('click', () => { state.resource = r.id; refresh(); });
      tb.append(tr);
    }
    const from = state.total ? state.offset + 1 : 0, to = Math.min(state.offset + PAGE, state.total);
    document.getElementById('page').textContent = from + '\u2013' + to + ' of ' + state.total;
    document.getElementById('prev').disabled = state.offset === 0;
    document.getElementById('next').disabled = state.offset + PAGE >= state.total;
  }

  function renderSignals(doc) {
    const ol = document.getElementById('signals');
    ol.replaceChildren();
    const sigs = (doc && doc.signals) || [];
    if (!sigs.length) ol.append(el('li', { class: 'empty' }, 'no signals yet'));
    for (const s of sigs) {
      const subject = s.goal ? s.goal.title || s.goal.id : s.rule ? s.rule.title || s.rule.id : s.control ? s.control.name || s.control.key : '';
      const res = s.resource ? [s.resource] : s.resources || [];
      const names = res.map(r => r.name || r.id).join(', ');
      ol.append(el('li', { class: 'signal ' + (s.signal || ''), 'data-signal-id': s.id },
        el('span', { class: 'pill ' + (s.signal || '') }, s.signal || 'signal'), ' ',
        el('strong', { class: 'type' }, s.type || ''),
        el('span', { class: 'sev ' + (s.severity || '') }, s.severity || ''),
        el('span', { class: 'when' }, fmtTime(s.time)),
        el('div', { class: 'subject' }, subject + (names ? ' \u2014 ' + names : ''))));
    }
  }

  // One resource's posture: the goals it violates, its open findings and recent alerts.
  function renderResource(doc) {
    const card = document.getElementById('resource');
    card.hidden = !doc;
    if (!doc) return;
    card.setAttribute('data-resource-id', doc.id || '');
    document.getElementById('resource-name').textContent = doc.name || doc.id || '';
    document.getElementById('resource-id').textContent = [doc.id, doc.cloud, doc.type].filter(Boolean).join(' \u00b7 ');
    const fill = (id, items, text) => {
      const ul = document.getElementById(id);
      ul.replaceChildren();
      if (!items || !items.length) ul.append(el('li', { class: 'empty' }, 'none'));
      for (const it of items || []) ul.append(el('li', {}, text(it)));
    };
    fill('resource-goals', doc.goals, g => g.title || g.id);
    fill('resource-findings', doc.open_findings, f => [f.name || f.control, f.severity].filter(Boolean).join(' \u2013 '));
    fill('resource-alerts', doc.recent_alerts, a => [a.type || a.id, a.severity, fmtTime(a.time)].filter(Boolean).join(' \u2013 '));
  }

  function showError(msg) {
    const b = document.getElementById('error');
    b.textContent = msg || '';
    b.hidden = !msg;
  }

  let busy = false;
  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const [ready, goals, signals] = await Promise.all([api('/readyz'), api('/v1/goals'), api('/v1/signals?limit=30')]);
      const rp = document.getElementById('ready');
      rp.className = 'pill ' + (ready.status === 200 ? 'ready' : 'notready');
      rp.textContent = ready.status === 200 ? 'ready' : 'not ready';
      renderGoals(goals.body);
      renderSignals(signals.body);
      if (state.goal) {
        const g = await api('/v1/goals/' + encodeURIComponent(state.goal) + '?offset=' + state.offset + '&limit=' + PAGE);
        renderViolators(g.body);
      } else {
        renderViolators(null);
      }
      if (state.resource) {
        const r = await api('/v1/resources/' + encodeURIComponent(state.resource)).catch(() => null);
        renderResource(r && r.status === 200 ? r.body : null);
      } else {
        renderResource(null);
      }
      document.getElementById('updated').textContent = 'updated ' + fmtTime(new Date().toISOString());
      showError('');
      document.body.setAttribute('data-loaded', 'true');
    } catch (e) {
      showError(String(e.message || e));
    } finally {
      busy = false;
    }
  }

  document.getElementById('resource-close').addEventListener('click', () => { state.resource = null; renderResource(null); });
  document.getElementById('prev').addEventListener('click', () => { state.offset = Math.max(0, state.offset - PAGE); refresh(); });
  document.getElementById('next').addEventListener('click', () => { state.offset += PAGE; refresh(); });
  document.getElementById('refresh').textContent = 'every ' + refreshS + ' s';
  refresh();
  setInterval(refresh, refreshS * 1000);
})();
