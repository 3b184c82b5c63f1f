// The timeline page: draws the embedded data as SVG on one time axis, with
// zoom (wheel, buttons), pan (drag) and a tooltip. Everything it needs is
// in this file and the JSON blob beside it: it loads nothing.
(function () {
  'use strict';
  const started = performance.now();
  const data = JSON.parse(document.getElementById('timeline-data').textContent);
  const NS = 'http://www.w3.org/2000/svg';

  // Geometry, in px.
  const GUTTER = 190, RIGHT = 20, AXIS_H = 26, HEAD_H = 22, GAP = 10;
  const FAULT_ROW_H = 20, NODE_H = 26, CLIENT_H = 15, BOTTOM_H = 24;
  // A role bar, and under it, touching it, a partition side's stripe.
  const ROLE_H = 15, SIDE_H = 3;
  // The view may narrow to this share of the whole span, no further.
  const MAX_ZOOM = 20000;

  const ROLE_COLORS = {
    leader: '#1d4ed8', candidate: '#f59e0b', follower: '#cbd5e1', learner: '#a5b4fc',
    shutdown: '#94a3b8', down: 'url(#hatch-down)', paused: 'url(#hatch-paused)',
  };
  const FAULT_COLORS = {
    partition: '#0284c7', kill: '#dc2626', power: '#991b1b', pause: '#7c3aed',
    membership: '#0d9488', client: '#ea580c', disk: '#a16207', clock: '#4d7c0f', rpc: '#475569',
    links: '#db2777',
  };
  const FAULT_NAMES = {
    partition: 'partition', kill: 'kill / restart', power: 'power loss', pause: 'pause',
    membership: 'membership', client: 'client delay', disk: 'disk', clock: 'clock drift', rpc: 'RPC faults',
    links: 'link burst',
  };
  const OUTCOME_COLORS = {
    ok: '#22a559', fail: '#dc2626', info: 'url(#hatch-info)', pending: 'url(#hatch-pending)',
  };
  const SIDE_COLORS = ['#0ea5e9', '#f97316'];

  // ---------------------------------------------------------------- helpers

  function svg(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const key in attrs) node.setAttribute(key, attrs[key]);
    if (parent) parent.appendChild(node);
    return node;
  }
  function html(tag, className, text, parent) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }
  function fmtTime(t) {
    if (data.unit === 'line') return 'line ' + Math.round(t);
    const abs = Math.abs(t);
    if (abs < 1e-9) return '0';
    if (abs >= 1000) return (t / 1000).toFixed(abs >= 10000 ? 1 : 2) + ' s';
    if (abs >= 10) return t.toFixed(0) + ' ms';
    return t.toFixed(2) + ' ms';
  }
  function fmtSpan(from, to) {
    if (data.unit === 'line') return 'lines ' + Math.round(from) + '-' + Math.round(to);
    return fmtTime(from) + ' \u2192 ' + fmtTime(to) + ' (' + fmtTime(to - from) + ')';
  }
  function opName(op) {
    return op.f + (op.key ? ' ' + op.key : '') + (op.arg ? ' ' + op.arg : '');
  }

  // ----------------------------------------------------------- the header

  function buildHeader() {
    const head = document.getElementById('head');
    const row = html('div', 'title-row', null, head);
    html('h1', null, data.title, row);
    if (data.status) html('span', 'badge ' + data.status, data.status.toUpperCase(), row);
    if (data.subtitle) html('div', 'subtitle', data.subtitle, head);
    if (data.replay) {
      const replay = html('div', 'replay', 'replay: ', head);
      html('code', null, data.replay, replay);
    }
    const panels = html('div', 'panels', null, head);
    // With a core, the verdict panel shows the checker's report; the
    // other failed checks get a panel of their own.
    const isCheck = function (f) { return f.startsWith('linearizability'); };
    if (data.core) buildVerdict(panels, data.failures.filter(isCheck));
    const others = data.core ? data.failures.filter(function (f) { return !isCheck(f); }) : data.failures;
    if (others.length > 0) buildFailures(panels, others);
  }

  function buildVerdict(parent, reports) {
    const core = data.core;
    const panel = html('div', 'panel verdict', null, parent);
    panel.id = 'verdict';
    html('h2', null, 'Linearizability violation' + (core.key ? ' on key ' + core.key : ''), panel);
    html('div', 'reason', core.reason + (core.ops.length > 8 ? ' (scroll the list; click an operation to zoom to it)' : ' (click an operation to zoom to it)'), panel);
    const table = html('table', 'core', null, html('div', 'core-scroll', null, panel));
    const header = html('tr', null, null, table);
    ['', 'client', 'process', 'operation', 'result', 'invoked', 'completed'].forEach(function (h) { html('th', null, h, header); });
    core.ops.forEach(function (index) {
      const op = data.ops[index];
      // Reads say what was observed: they stand out in a long core.
      const tr = html('tr', 'core-row' + (op.f === 'read' || op.f === 'get' ? ' read' : ''), null, table);
      tr.dataset.op = index;
      html('span', 'num', String(op.core), html('td', null, null, tr));
      html('td', null, data.lanes[op.lane] ? data.lanes[op.lane].label : '', tr);
      html('td', 'mono', String(op.process), tr);
      html('td', 'mono', opName(op), tr);
      html('td', 'mono', op.result, tr);
      html('td', null, fmtTime(op.from), tr);
      html('td', null, op.outcome === 'ok' || op.outcome === 'fail' ? fmtTime(op.to) : op.outcome + ' at ' + fmtTime(op.to), tr);
      tr.addEventListener('click', function () { zoomTo(op.from, op.to, 4); });
    });
    reports.forEach(function (report) {
      const details = html('details', null, null, panel);
      html('summary', null, 'the checker\u2019s full report', details);
      html('pre', null, report, details);
    });
  }

  function buildFailures(parent, failures) {
    const panel = html('div', 'panel failures', null, parent);
    html('h2', null, failures.length === 1 ? 'Check that failed' : 'Checks that failed', panel);
    const list = html('ul', null, null, panel);
    failures.forEach(function (text) {
      const lines = text.split('\n');
      const item = html('li', null, lines[0], list);
      if (lines.length > 1) {
        const details = html('details', null, null, item);
        html('summary', null, 'full report', details);
        html('pre', null, text, details);
      }
    });
  }

  function buildLegend() {
    const legend = document.getElementById('legend');
    function group(title) {
      const g = html('div', 'group', null, legend);
      html('b', null, title, g);
      return g;
    }
    function swatch(parent, fill, label, stroke) {
      const item = html('span', 'item', null, parent);
      const s = svg('svg', { width: 18, height: 11 }, item);
      const defsUse = fill.startsWith('url(');
      if (defsUse) {
        // Patterns live in the chart's <defs>; a tiny copy keeps the
        // legend readable on its own.
        svg('rect', { x: 0.5, y: 0.5, width: 17, height: 10, fill: '#fff', stroke: '#94a3b8' }, s);
        for (let x = -10; x < 18; x += 4) svg('line', { x1: x, y1: 11, x2: x + 11, y2: 0, stroke: fill.includes('paused') ? '#7c3aed' : fill.includes('info') ? '#d97706' : '#64748b', 'stroke-width': 1.3 }, s);
      } else {
        svg('rect', { x: 0.5, y: 0.5, width: 17, height: 10, rx: 2, fill: fill, stroke: stroke || 'none', 'stroke-width': stroke ? 2 : 0 }, s);
      }
      html('span', null, label, item);
    }
    const ops = group('Operations');
    swatch(ops, OUTCOME_COLORS.ok, 'ok');
    swatch(ops, OUTCOME_COLORS.fail, 'fail');
    swatch(ops, OUTCOME_COLORS.info, 'info (indeterminate)');
    swatch(ops, OUTCOME_COLORS.pending, 'no reply');
    if (data.core) swatch(ops, '#fff', 'violating core', '#c026d3');
    if (data.nodes.length > 0) {
      const roles = group('Nodes');
      ['leader', 'follower', 'candidate', 'learner', 'down', 'paused'].forEach(function (r) { swatch(roles, ROLE_COLORS[r], r); });
    }
    const kinds = {};
    data.faults.forEach(function (f) { kinds[f.kind] = true; });
    const present = Object.keys(FAULT_NAMES).filter(function (k) { return kinds[k]; });
    if (present.length > 0) {
      const faults = group('Faults');
      present.forEach(function (k) { swatch(faults, FAULT_COLORS[k], FAULT_NAMES[k]); });
      if (data.lost.length > 0) {
        const item = html('span', 'item', null, faults);
        const s = svg('svg', { width: 12, height: 11 }, item);
        svg('path', { d: 'M1 1 L11 1 L6 10 Z', fill: '#dc2626' }, s);
        html('span', null, 'unsynced writes lost', item);
      }
      if (data.faults.some(function (f) { return f.sides; })) {
        swatch(faults, SIDE_COLORS[0], 'side A');
        swatch(faults, SIDE_COLORS[1], 'side B');
      }
    }
  }

  function buildNotes() {
    const notes = document.getElementById('notes');
    data.notes.forEach(function (note) { html('div', 'note', note, notes); });
  }

  // ------------------------------------------------------------ the chart

  const chart = document.getElementById('chart');
  // Set by buildChart from the chart's width (again when the window
  // resizes).
  let width = 0, plotW = 0;
  const view = { t0: data.start, t1: data.end };
  const items = [];     // every drawn thing: { from, to, node, kind, ... }
  const tips = [];      // tooltip content by index (data-tip)
  let layout = null;

  function sx(t) { return GUTTER + (t - view.t0) / (view.t1 - view.t0) * plotW; }

  function computeLayout() {
    const faultRows = data.faults.reduce(function (m, f) { return Math.max(m, f.row + 1); }, 0);
    let y = AXIS_H;
    const l = {};
    l.faultHead = y; y += HEAD_H;
    l.faultTop = y; y += Math.max(1, faultRows) * FAULT_ROW_H + GAP;
    l.nodeHead = y; y += HEAD_H;
    l.nodeTop = y; y += Math.max(1, data.nodes.length) * NODE_H + GAP;
    l.clientHead = y; y += HEAD_H;
    l.clientTop = y; y += Math.max(1, data.lanes.length) * CLIENT_H + 4;
    l.plotBottom = y;
    l.height = y + BOTTOM_H;
    l.faultRows = faultRows;
    return l;
  }

  function addTip(lines) {
    tips.push(lines);
    return tips.length - 1;
  }

  function buildChart() {
    chart.textContent = '';
    items.length = 0;
    tips.length = 0;
    width = Math.max(720, chart.clientWidth || 1200);
    plotW = width - GUTTER - RIGHT;
    layout = computeLayout();
    const root = svg('svg', { width: width, height: layout.height, id: 'timeline-svg', role: 'img' }, chart);
    const defs = svg('defs', {}, root);
    pattern(defs, 'hatch-down', '#e2e8f0', '#64748b');
    pattern(defs, 'hatch-paused', '#ede9fe', '#7c3aed');
    pattern(defs, 'hatch-info', '#fde68a', '#d97706');
    pattern(defs, 'hatch-pending', '#f1f5f9', '#94a3b8');
    const clip = svg('clipPath', { id: 'plot-clip' }, defs);
    svg('rect', { x: GUTTER, y: 0, width: plotW, height: layout.height }, clip);

    const back = svg('g', {}, root);
    laneBackgrounds(back);
    const grid = svg('g', { class: 'grid-layer' }, root);
    const plot = svg('g', { 'clip-path': 'url(#plot-clip)' }, root);
    const labels = svg('g', {}, root);
    sectionLabels(labels);

    const hover = svg('rect', { class: 'hover-band', y: AXIS_H, height: layout.plotBottom - AXIS_H, width: 0, x: 0, visibility: 'hidden' }, plot);
    if (data.core && data.core.ops.length > 0) coreBand(plot);
    drawFaults(plot);
    drawRoles(plot, labels);
    drawOps(plot);
    drawLost(plot);

    chart.__grid = grid;
    chart.__hover = hover;
    chart.__root = root;
    interact(root);
  }

  function pattern(defs, id, bg, fg) {
    const p = svg('pattern', { id: id, width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' }, defs);
    svg('rect', { width: 6, height: 6, fill: bg }, p);
    svg('line', { x1: 0, y1: 0, x2: 0, y2: 6, stroke: fg, 'stroke-width': 2.2 }, p);
  }

  function laneBackgrounds(g) {
    for (let r = 0; r < Math.max(1, layout.faultRows); r++) {
      svg('rect', { class: 'lane-bg ' + (r % 2 ? 'odd' : 'even'), x: 0, y: layout.faultTop + r * FAULT_ROW_H, width: width, height: FAULT_ROW_H }, g);
    }
    data.nodes.forEach(function (n, i) {
      svg('rect', { class: 'lane-bg node-lane ' + (i % 2 ? 'odd' : 'even'), 'data-node': n.id, x: 0, y: layout.nodeTop + i * NODE_H, width: width, height: NODE_H }, g);
    });
    data.lanes.forEach(function (lane, i) {
      svg('rect', { class: 'lane-bg client-lane ' + (i % 2 ? 'odd' : 'even'), x: 0, y: layout.clientTop + i * CLIENT_H, width: width, height: CLIENT_H }, g);
    });
    [layout.faultHead, layout.nodeHead, layout.clientHead].forEach(function (y) {
      svg('line', { x1: 0, x2: width, y1: y + 0.5, y2: y + 0.5, stroke: '#e2e8f0' }, g);
    });
    svg('line', { x1: GUTTER - 0.5, x2: GUTTER - 0.5, y1: AXIS_H, y2: layout.plotBottom, stroke: '#cbd5e1' }, g);
  }

  function sectionLabels(g) {
    function section(y, text, sub) {
      const t = svg('text', { class: 'section', x: 10, y: y + 15 }, g);
      t.textContent = text;
      if (sub) {
        const s = svg('tspan', { class: 'section-sub', dx: 8 }, t);
        s.textContent = sub;
      }
    }
    section(layout.faultHead, 'NEMESIS', data.faults.length + ' fault' + (data.faults.length === 1 ? '' : 's'));
    if (data.faults.length === 0) {
      const t = svg('text', { class: 'empty', x: GUTTER + 10, y: layout.faultTop + 14 }, g);
      t.textContent = data.status ? 'no faults in this run' : 'no artifact given: no faults to draw (raft-sim timeline FILE --artifact A)';
    }
    section(layout.nodeHead, 'NODES', data.nodes.length > 0 ? 'role over time' : '');
    data.nodes.forEach(function (n, i) {
      const t = svg('text', { class: 'lane-label node-label', 'data-node': n.id, x: 16, y: layout.nodeTop + i * NODE_H + 16 }, g);
      t.textContent = 'node ' + n.id;
    });
    if (data.nodes.length === 0) {
      const t = svg('text', { class: 'empty', x: GUTTER + 10, y: layout.nodeTop + 16 }, g);
      t.textContent = data.status ? 'no role samples in this artifact' : 'no artifact given: no node roles to draw';
    }
    section(layout.clientHead, 'CLIENTS', data.ops.length + ' of ' + data.total_ops + ' ops drawn');
    data.lanes.forEach(function (lane, i) {
      const t = svg('text', { class: 'lane-label', x: 16, y: layout.clientTop + i * CLIENT_H + 11.5 }, g);
      const more = lane.processes.length - 3 + lane.more_processes;
      const procs = more <= 0 ? lane.processes.join(', ') : lane.processes.slice(0, 3).join(', ') + ', +' + more;
      t.textContent = lane.label + '  (p ' + procs + ')';
    });
  }

  function coreBand(g) {
    const ops = data.core.ops.map(function (i) { return data.ops[i]; });
    const from = Math.min.apply(null, ops.map(function (o) { return o.from; }));
    const to = Math.max.apply(null, ops.map(function (o) { return o.to; }));
    const band = svg('rect', { class: 'core-band', y: layout.clientHead, height: layout.plotBottom - layout.clientHead, rx: 3 }, g);
    items.push({ el: band, from: from, to: to, pad: 6, kind: 'band' });
  }

  function drawFaults(g) {
    data.faults.forEach(function (f, i) {
      const color = FAULT_COLORS[f.kind] || '#475569';
      const y = layout.faultTop + f.row * FAULT_ROW_H + 2;
      const group = svg('g', { class: 'fault ' + f.status, 'data-tip': addTip(faultTip(f)), 'data-fault': i }, g);
      const rect = svg('rect', { y: y, height: FAULT_ROW_H - 4, rx: 3, fill: color, 'fill-opacity': 0.18, stroke: color, 'stroke-width': 1 }, group);
      const edge = svg('rect', { y: y, height: FAULT_ROW_H - 4, width: 3, fill: color }, group);
      const label = svg('text', { class: 'span-label', y: y + 12 }, group);
      const to = f.to === null || f.to === undefined ? data.end : f.to;
      items.push({ el: rect, from: f.from, to: to, min: 3, kind: 'rect' });
      items.push({ el: edge, from: f.from, to: f.from, kind: 'edge' });
      // A fault's label may run on past its span, up to the next span in
      // its row: most faults are short, and their words say what they did.
      const next = data.faults.filter(function (o) { return o.row === f.row && o.from > f.from; })
        .reduce(function (m, o) { return Math.min(m, o.from); }, data.end);
      items.push({ el: label, from: f.from, to: Math.max(to, next), text: f.title, kind: 'label' });
      if (f.sides) {
        f.sides.forEach(function (side, s) {
          side.forEach(function (node) {
            const lane = data.nodes.findIndex(function (n) { return n.id === node; });
            if (lane < 0) return;
            const stripe = svg('rect', { y: layout.nodeTop + lane * NODE_H + 3 + ROLE_H, height: SIDE_H, fill: SIDE_COLORS[s], 'data-tip': addTip([f.title, 'node ' + node + ' on side ' + (s ? 'B' : 'A') + ' of the partition', fmtSpan(f.from, to)]) }, g);
            items.push({ el: stripe, from: f.from, to: to, min: 2, kind: 'rect' });
          });
        });
      }
    });
  }

  function faultTip(f) {
    const lines = [f.title, fmtSpan(f.from, f.to === null || f.to === undefined ? data.end : f.to)];
    if (f.to === null || f.to === undefined) lines.push('in force until the nemesis stopped (after the workload)');
    if (f.nodes.length > 0) lines.push('nodes: ' + f.nodes.join(', '));
    return lines.concat(f.detail);
  }

  function drawRoles(g) {
    data.nodes.forEach(function (n, lane) {
      const y = layout.nodeTop + lane * NODE_H + 3;
      n.spans.forEach(function (s) {
        const rect = svg('rect', {
          class: 'role role-' + s.role, y: y, height: ROLE_H, fill: ROLE_COLORS[s.role] || '#e2e8f0',
          'data-tip': addTip(['node ' + n.id + ': ' + s.role + (s.term !== undefined ? ' in term ' + s.term : ''), fmtSpan(s.from, s.to)]),
        }, g);
        items.push({ el: rect, from: s.from, to: s.to, min: 1, kind: 'rect' });
        if (s.role === 'leader' || s.role === 'candidate' || s.role === 'down' || s.role === 'paused') {
          const text = s.role === 'leader' ? 'leader t' + s.term : s.role === 'candidate' ? 'cand. t' + s.term : s.role;
          const label = svg('text', { class: 'role-label', y: y + 11.5 }, g);
          if (s.role !== 'leader') label.style.fill = '#1e293b';
          items.push({ el: label, from: s.from, to: s.to, text: text, kind: 'label' });
        }
      });
    });
  }

  function drawOps(g) {
    const layer = svg('g', { class: 'ops' }, g);
    const coreLayer = svg('g', { class: 'core-ops' }, g);
    data.ops.forEach(function (op, i) {
      if (!data.lanes[op.lane]) return;
      const y = layout.clientTop + op.lane * CLIENT_H + 2.5;
      const isCore = op.core !== undefined && op.core !== null;
      const lines = [opName(op), op.result, fmtSpan(op.from, op.to), (data.lanes[op.lane].label) + ', process ' + op.process + ', history line ' + op.line];
      if (isCore) lines.unshift('#' + op.core + ' of the violating core');
      const rect = svg('rect', {
        class: 'op ' + op.outcome + (isCore ? ' core' : ''), y: y, height: CLIENT_H - 5, rx: 1.5,
        fill: OUTCOME_COLORS[op.outcome], 'data-tip': addTip(lines), 'data-op': i,
      }, isCore ? coreLayer : layer);
      items.push({ el: rect, from: op.from, to: op.to, min: 1.5, kind: 'rect' });
      if (isCore) {
        const badge = svg('g', { class: 'core-badge' }, coreLayer);
        svg('circle', { r: 6.5, cy: y - 1 }, badge);
        const t = svg('text', { y: y + 2.3 }, badge);
        t.textContent = String(op.core);
        items.push({ el: badge, from: op.from, to: op.from, kind: 'badge', lane: op.lane });
      }
    });
  }

  function drawLost(g) {
    data.lost.forEach(function (loss) {
      loss.nodes.forEach(function (node) {
        const lane = data.nodes.findIndex(function (n) { return n.id === node; });
        if (lane < 0) return;
        const y = layout.nodeTop + lane * NODE_H + 1;
        const mark = svg('path', {
          d: 'M-5 0 L5 0 L0 8 Z', fill: '#dc2626', stroke: '#fff', 'stroke-width': 1, 'data-y': y,
          'data-tip': addTip(['unsynced writes lost at a crash', loss.writes + ' write(s) lost' + (loss.nodes.length > 1 ? ' over nodes ' + loss.nodes.join(', ') : ' on node ' + node), 'at ' + fmtTime(loss.at)]),
        }, g);
        items.push({ el: mark, from: loss.at, to: loss.at, kind: 'mark', y: y });
      });
    });
  }

  // ------------------------------------------------------------ rendering

  function niceStep(span, pixels) {
    const target = span / Math.max(1, pixels / 110);
    const power = Math.pow(10, Math.floor(Math.log10(target)));
    for (const m of [1, 2, 5, 10]) if (power * m >= target) return power * m;
    return power * 10;
  }

  function renderGrid() {
    const grid = chart.__grid;
    while (grid.firstChild) grid.removeChild(grid.firstChild);
    const step = Math.max(data.unit === 'line' ? 1 : 1e-3, niceStep(view.t1 - view.t0, plotW));
    const first = Math.ceil(view.t0 / step) * step;
    for (let t = first, n = 0; t <= view.t1 && n < 60; t += step, n++) {
      const x = Math.round(sx(t)) + 0.5;
      svg('line', { class: 'grid', x1: x, x2: x, y1: AXIS_H - 4, y2: layout.plotBottom }, grid);
      const top = svg('text', { class: 'tick', x: x, y: AXIS_H - 8, 'text-anchor': 'middle' }, grid);
      top.textContent = fmtTime(t);
      const bottom = svg('text', { class: 'tick', x: x, y: layout.plotBottom + 15, 'text-anchor': 'middle' }, grid);
      bottom.textContent = fmtTime(t);
    }
  }

  function render() {
    renderGrid();
    // Core badges closer than this to the last one shown on their lane
    // hide, so an overview stays legible (zoom in to see them all).
    const BADGE_GAP = 15;
    const lastBadge = {};
    for (let i = 0; i < items.length; i++) {
      const it = items[i];
      const x0 = sx(it.from), x1 = sx(it.to);
      if (it.kind === 'rect') {
        it.el.setAttribute('x', x0.toFixed(1));
        it.el.setAttribute('width', Math.max(it.min || 1, x1 - x0).toFixed(1));
      } else if (it.kind === 'band') {
        it.el.setAttribute('x', (x0 - it.pad).toFixed(1));
        it.el.setAttribute('width', Math.max(4, x1 - x0 + 2 * it.pad).toFixed(1));
      } else if (it.kind === 'edge') {
        it.el.setAttribute('x', x0.toFixed(1));
      } else if (it.kind === 'label') {
        // Labels fit their span, cut with an ellipsis, or hide.
        const left = Math.max(x0, GUTTER) + 6;
        const room = Math.min(x1, GUTTER + plotW) - left - 4;
        const fits = Math.floor(room / 6.2);
        if (fits < 3) {
          it.el.textContent = '';
        } else {
          it.el.textContent = it.text.length <= fits ? it.text : it.text.slice(0, fits - 1) + '\u2026';
          it.el.setAttribute('x', left.toFixed(1));
        }
      } else if (it.kind === 'badge') {
        it.el.setAttribute('transform', 'translate(' + x0.toFixed(1) + ',0)');
        const last = lastBadge[it.lane];
        const crowded = last !== undefined && x0 - last < BADGE_GAP;
        it.el.setAttribute('visibility', crowded ? 'hidden' : 'visible');
        if (!crowded) lastBadge[it.lane] = x0;
      } else if (it.kind === 'mark') {
        it.el.setAttribute('transform', 'translate(' + x0.toFixed(1) + ',' + it.y + ')');
      }
    }
    const range = document.getElementById('range');
    if (range) range.textContent = 'showing ' + fmtTime(view.t0) + ' \u2013 ' + fmtTime(view.t1);
  }

  // One render per frame however many events came; the timeout covers
  // browsers that give a page no frames (headless ones, hidden tabs).
  let pending = false;
  function schedule() {
    if (pending) return;
    pending = true;
    const run = function () {
      if (!pending) return;
      pending = false;
      render();
    };
    requestAnimationFrame(run);
    setTimeout(run, 40);
  }

  function setView(t0, t1) {
    const full = data.end - data.start;
    const minSpan = full / MAX_ZOOM;
    let span = Math.min(full, Math.max(minSpan, t1 - t0));
    let start = Math.max(data.start, Math.min(t0, data.end - span));
    view.t0 = start;
    view.t1 = start + span;
    schedule();
  }

  function zoomAround(t, factor) {
    setView(t - (t - view.t0) * factor, t + (view.t1 - t) * factor);
  }

  function zoomTo(from, to, padFactor) {
    const span = Math.max(to - from, (data.end - data.start) / MAX_ZOOM);
    const pad = span * (padFactor || 0.5);
    setView(from - pad, to + pad);
  }

  function zoomToCore() {
    if (!data.core || data.core.ops.length === 0) return;
    const ops = data.core.ops.map(function (i) { return data.ops[i]; });
    zoomTo(Math.min.apply(null, ops.map(function (o) { return o.from; })), Math.max.apply(null, ops.map(function (o) { return o.to; })), 0.35);
  }

  // ---------------------------------------------------------- interaction

  // A drag in progress: where it started, and the view then. The window
  // follows it, so a drag may leave the chart.
  let drag = null;
  window.addEventListener('mousemove', function (e) {
    if (!drag) return;
    const dt = (e.clientX - drag.x) / plotW * (drag.t1 - drag.t0);
    setView(drag.t0 - dt, drag.t1 - dt);
  });
  window.addEventListener('mouseup', function () {
    drag = null;
    if (chart.__root) chart.__root.classList.remove('dragging');
  });
  // A resized window gets the chart drawn again at its new width.
  let resizing = null;
  window.addEventListener('resize', function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () {
      if (Math.max(720, chart.clientWidth) === width) return;
      buildChart();
      render();
    }, 150);
  });

  function interact(root) {
    const tip = document.getElementById('tip');
    root.addEventListener('wheel', function (e) {
      e.preventDefault();
      const rect = root.getBoundingClientRect();
      const x = Math.min(Math.max(e.clientX - rect.left, GUTTER), GUTTER + plotW);
      const t = view.t0 + (x - GUTTER) / plotW * (view.t1 - view.t0);
      zoomAround(t, Math.exp(e.deltaY * 0.0015));
    }, { passive: false });
    root.addEventListener('mousedown', function (e) {
      drag = { x: e.clientX, t0: view.t0, t1: view.t1 };
      root.classList.add('dragging');
      e.preventDefault();
    });
    root.addEventListener('mousemove', function (e) {
      const target = e.target.closest ? e.target.closest('[data-tip]') : null;
      if (!target || drag) { hideTip(); return; }
      showTip(tips[+target.getAttribute('data-tip')], e.clientX, e.clientY);
      const fault = target.getAttribute('data-fault');
      if (fault !== null) showFault(data.faults[+fault]); else hideFault();
    });
    root.addEventListener('mouseleave', function () { hideTip(); hideFault(); });

    function showTip(lines, x, y) {
      tip.textContent = '';
      lines.forEach(function (line, i) {
        const cls = i === 0 ? (line.indexOf('violating core') >= 0 ? 'tip-core' : 'tip-title') : 'tip-line';
        html('div', cls, line, tip);
      });
      tip.style.display = 'block';
      const w = tip.offsetWidth, h = tip.offsetHeight;
      tip.style.left = Math.min(x + 14, window.innerWidth - w - 8) + 'px';
      tip.style.top = (y + 16 + h > window.innerHeight ? y - h - 10 : y + 16) + 'px';
    }
    function hideTip() { tip.style.display = 'none'; }
  }

  function showFault(f) {
    const band = chart.__hover;
    const to = f.to === null || f.to === undefined ? data.end : f.to;
    band.setAttribute('x', sx(f.from).toFixed(1));
    band.setAttribute('width', Math.max(2, sx(to) - sx(f.from)).toFixed(1));
    band.setAttribute('visibility', 'visible');
    document.querySelectorAll('.node-label').forEach(function (label) {
      label.classList.toggle('hot', f.nodes.indexOf(+label.getAttribute('data-node')) >= 0);
    });
  }
  function hideFault() {
    chart.__hover.setAttribute('visibility', 'hidden');
    document.querySelectorAll('.node-label.hot').forEach(function (label) { label.classList.remove('hot'); });
  }

  function buildToolbar() {
    const bar = document.getElementById('toolbar');
    function button(text, title, action, cls) {
      const b = html('button', cls || null, text, bar);
      b.title = title;
      b.addEventListener('click', action);
      return b;
    }
    const mid = function () { return (view.t0 + view.t1) / 2; };
    button('\u2212', 'zoom out', function () { zoomAround(mid(), 1.6); });
    button('+', 'zoom in', function () { zoomAround(mid(), 1 / 1.6); });
    button('\u2190', 'pan left', function () { const d = (view.t1 - view.t0) * 0.3; setView(view.t0 - d, view.t1 - d); });
    button('\u2192', 'pan right', function () { const d = (view.t1 - view.t0) * 0.3; setView(view.t0 + d, view.t1 + d); });
    button('Fit', 'show the whole run', function () { setView(data.start, data.end); });
    if (data.core && data.core.ops.length > 0) button('Zoom to violation', 'zoom to the violating core', zoomToCore, 'accent');
    if (data.core && data.core.key) {
      const key = data.core.key;
      let only = false;
      const toggle = button('Key ' + key + ' only', 'fade the operations on other keys', function () {
        only = !only;
        toggle.classList.toggle('on', only);
        document.querySelectorAll('rect.op').forEach(function (rect) {
          const op = data.ops[+rect.getAttribute('data-op')];
          rect.style.opacity = only && op.key !== key ? '0.12' : '';
        });
      });
    }
    html('span', 'range', '', bar).id = 'range';
    html('span', 'hint', 'wheel: zoom \u00b7 drag: pan \u00b7 hover: details', bar);
  }

  buildHeader();
  buildToolbar();
  buildLegend();
  buildChart();
  buildNotes();
  // A link to NAME.html#violation opens on the violating core.
  if (location.hash === '#violation') zoomToCore();
  render();
  document.body.setAttribute('data-render-ms', (performance.now() - started).toFixed(1));
  document.body.setAttribute('data-ready-ms', performance.now().toFixed(1));
  document.body.setAttribute('data-ready', '1');
})();
