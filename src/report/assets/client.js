// The report's browser script (plain ES2017 script, no modules), inlined after uPlot by
// render.ts: reads the JSON payload from #nf-data, decodes the base64 arrays, draws the charts.
// A real file so ESLint checks it; `npm run build` copies it to dist/src/report/assets/.
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('nf-data').textContent);
  var AXIS_W = 64; // set per stream / clip so stacked panels line up
  var PALETTE = ['#2563eb', '#ea580c', '#059669', '#9333ea', '#db2777', '#0891b2', '#ca8a04', '#4b5563',
    '#dc2626', '#65a30d', '#7c3aed', '#0d9488'];
  var FLAG_FILL = 'rgba(220, 38, 38, 0.14)', FLAG_BAND = 'rgba(220, 38, 38, 0.85)';
  var LABEL_FILL = 'rgba(37, 99, 235, 0.10)', LABEL_BAND = 'rgba(37, 99, 235, 0.85)';
  var FONT = '12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
  var BOLD = 'bold 12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';

  function b64(s, T) {
    var bin = atob(s), n = bin.length, u8 = new Uint8Array(n);
    for (var i = 0; i < n; i++) u8[i] = bin.charCodeAt(i);
    return T === Uint8Array ? u8 : new T(u8.buffer);
  }
  function gaps(ta) {
    var a = new Array(ta.length);
    for (var i = 0; i < ta.length; i++) { var v = ta[i]; a[i] = v === v ? v : null; }
    return a;
  }
  function fill(n, v) { var a = new Array(n); for (var i = 0; i < n; i++) a[i] = v; return a; }
  function fmt(v) {
    if (v == null || v !== v) return '–';
    var a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
    return +v.toPrecision(4) + '';
  }
  function utc(ts) { return uPlot.tzDate(new Date(ts), 'Etc/UTC'); }
  var TIME_FMTS = {};
  // 24-hour UTC tick labels whose precision follows the tick spacing.
  function timeValues(u, splits, ai, space, incr) {
    var f = incr >= 864e5 ? '{YYYY}-{MM}-{DD}' : incr >= 6e4 ? '{MM}-{DD} {HH}:{mm}' : incr >= 1e3 ? '{HH}:{mm}:{ss}' : '{HH}:{mm}:{ss}.{fff}';
    var fm = TIME_FMTS[f] || (TIME_FMTS[f] = uPlot.fmtDate(f));
    return splits.map(function (v) { return v == null ? '' : fm(utc(v)); });
  }

  // Colour maps: piecewise-linear through a few control points, as 256-entry RGB tables.
  function lut(stops) {
    var t = new Uint8Array(256 * 3);
    for (var i = 0; i < 256; i++) {
      var p = i / 255 * (stops.length - 1), k = Math.min(stops.length - 2, Math.floor(p)), f = p - k;
      for (var j = 0; j < 3; j++) t[i * 3 + j] = Math.round(stops[k][j] + (stops[k + 1][j] - stops[k][j]) * f);
    }
    return t;
  }
  var VIRIDIS = lut([[68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142], [31, 158, 137],
    [53, 183, 121], [109, 205, 89], [180, 222, 44], [253, 231, 37]]);
  var HEAT = lut([[255, 255, 255], [254, 224, 144], [253, 174, 97], [244, 109, 67], [215, 48, 39], [120, 0, 30]]);

  // Offscreen canvas (cols × rows) from row-major Uint8 levels; row 0 drawn at the bottom.
  function imageCanvas(levels, rows, cols, map) {
    var c = document.createElement('canvas');
    c.width = cols; c.height = rows;
    var g = c.getContext('2d'), img = g.createImageData(cols, rows), px = img.data;
    for (var r = 0; r < rows; r++) {
      var yy = rows - 1 - r;
      for (var x = 0; x < cols; x++) {
        var v = levels[r * cols + x], o = (yy * cols + x) * 4;
        if (v === 0 && map === HEAT) { px[o] = 248; px[o + 1] = 250; px[o + 2] = 252; px[o + 3] = 255; continue; }
        px[o] = map[v * 3]; px[o + 1] = map[v * 3 + 1]; px[o + 2] = map[v * 3 + 2]; px[o + 3] = 255;
      }
    }
    g.putImageData(img, 0, 0);
    return c;
  }

  // A set of charts whose x scales move together (zoom, pan, reset).
  function Group(x0, x1) { this.charts = []; this.lock = false; this.x0 = x0; this.x1 = x1; }
  Group.prototype.setX = function (mn, mx) {
    if (!(mx > mn)) return;
    for (var i = 0; i < this.charts.length; i++) this.charts[i].setScale('x', { min: mn, max: mx });
  };
  Group.prototype.reset = function () { this.setX(this.x0, this.x1); };
  Group.prototype.hook = function () {
    var g = this;
    return function (u, key) {
      if (key !== 'x' || g.lock) return;
      g.lock = true;
      var mn = u.scales.x.min, mx = u.scales.x.max;
      try {
        for (var i = 0; i < g.charts.length; i++) {
          var o = g.charts[i];
          if (o !== u && (o.scales.x.min !== mn || o.scales.x.max !== mx)) o.setScale('x', { min: mn, max: mx });
        }
      } finally { g.lock = false; }
    };
  };

  // Ctrl/⌘ + wheel zooms around the cursor; Shift + drag pans; double-click resets.
  function interactions(u, g) {
    u.over.addEventListener('wheel', function (e) {
      if (!(e.ctrlKey || e.metaKey)) return;
      e.preventDefault();
      var rect = u.over.getBoundingClientRect(), f = e.deltaY < 0 ? 0.75 : 1 / 0.75;
      var mn = u.scales.x.min, mx = u.scales.x.max;
      var at = mn + (mx - mn) * ((e.clientX - rect.left) / rect.width);
      var nmn = at - (at - mn) * f, nmx = at + (mx - at) * f;
      var span = g.x1 - g.x0;
      if (nmx - nmn >= span) { g.reset(); return; }
      if (nmn < g.x0) { nmx += g.x0 - nmn; nmn = g.x0; }
      if (nmx > g.x1) { nmn -= nmx - g.x1; nmx = g.x1; }
      g.setX(nmn, nmx);
    }, { passive: false });
    u.root.addEventListener('mousedown', function (e) {
      if (!e.shiftKey || e.button !== 0 || e.target !== u.over) return;
      e.stopPropagation(); e.preventDefault();
      var sx = e.clientX, mn = u.scales.x.min, mx = u.scales.x.max, w = u.over.clientWidth || 1;
      function move(ev) {
        var d = (ev.clientX - sx) / w * (mx - mn);
        d = Math.max(g.x0 - mn, Math.min(g.x1 - mx, -d));
        g.setX(mn + d, mx + d);
      }
      function up() { document.removeEventListener('mousemove', move); document.removeEventListener('mouseup', up); }
      document.addEventListener('mousemove', move);
      document.addEventListener('mouseup', up);
    }, true);
  }

  // Shaded x ranges ([x0, x1] pairs) under the series, plus a thin band to tell them apart.
  function shade(u, ranges, fillStyle, bandStyle, bandAtTop) {
    if (!ranges || !ranges.length) return;
    var c = u.ctx, b = u.bbox, px = Math.max(2, devicePixelRatio * 2), band = Math.round(4 * devicePixelRatio);
    c.save();
    c.beginPath(); c.rect(b.left, b.top, b.width, b.height); c.clip();
    var mn = u.scales.x.min, mx = u.scales.x.max;
    for (var i = 0; i < ranges.length; i++) {
      var r = ranges[i];
      if (r[1] < mn || r[0] > mx) continue;
      var a = u.valToPos(r[0], 'x', true), z = u.valToPos(r[1], 'x', true), w = Math.max(px, z - a);
      c.fillStyle = fillStyle; c.fillRect(a, b.top, w, b.height);
      c.fillStyle = bandStyle; c.fillRect(a, bandAtTop ? b.top : b.top + b.height - band, w, band);
    }
    c.restore();
  }

  function baseOpts(g, title, width, height, time, extra) {
    var o = {
      title: title, width: width, height: height, ms: 1, tzDate: utc,
      cursor: { sync: { key: g.key }, drag: { x: true, y: false, setScale: true },
        bind: { dblclick: function () { return function () { g.reset(); return null; }; } } },
      scales: { x: { time: time } },
      legend: { live: true },
      hooks: { setScale: [g.hook()] },
      axes: [{ font: FONT, labelFont: BOLD, stroke: '#334155', grid: { stroke: '#e2e8f0' }, ticks: { stroke: '#cbd5e1' } },
        { font: FONT, labelFont: BOLD, stroke: '#334155', size: AXIS_W, grid: { stroke: '#e2e8f0' }, ticks: { stroke: '#cbd5e1' } }]
    };
    if (time) { o.axes[0].values = timeValues; o.axes[0].space = 100; }
    for (var k in extra) o[k] = extra[k];
    return o;
  }

  function mount(g, el, opts, data) {
    var u = new uPlot(opts, data, el);
    g.charts.push(u);
    interactions(u, g);
    return u;
  }

  function panelWidth(el) { return Math.max(320, el.clientWidth || 900); }

  var groups = [];
  var groupCount = 0;
  function newGroup(x0, x1) { var g = new Group(x0, x1); g.key = 'nf' + (groupCount++); uPlot.sync(g.key); groups.push(g); return g; }

  function drawStream(s, si) {
    var root = document.getElementById('stream-' + si);
    var time = !!s.time, xs = b64(s.x, Float64Array);
    var g = newGroup(s.extent[0], s.extent[1]);
    AXIS_W = s.axisW || 64;
    var xLabel = time ? 'time (UTC)' : 'row';
    function shadeAll(u) {
      shade(u, s.labels, LABEL_FILL, LABEL_BAND, false);
      shade(u, s.flagged, FLAG_FILL, FLAG_BAND, true);
    }
    // Channels
    var el = root.querySelector('[data-chart=channels]');
    var data = [gaps(xs)], series = [{ label: xLabel, value: time ? '{YYYY}-{MM}-{DD} {HH}:{mm}:{ss}' : null }];
    if (!time) series[0].value = function (u, v) { return v == null ? '–' : Math.round(v) + ''; };
    for (var c = 0; c < s.channels.length; c++) {
      data.push(gaps(b64(s.ys[c], Float32Array)));
      series.push({ label: s.channels[c], show: !s.visible || s.visible.indexOf(c) >= 0, stroke: PALETTE[c % PALETTE.length], width: 1, value: function (u, v) { return fmt(v); } });
    }
    var w = panelWidth(el);
    var o = baseOpts(g, 'Input channels', w, 260, time, { series: series });
    o.axes[0].label = xLabel; o.axes[1].label = 'value';
    o.hooks.drawClear = [shadeAll];
    mount(g, el, o, data);

    // Scores
    var sx = b64(s.sx, Float64Array), n = sx.length;
    var cal = gaps(b64(s.cal, Float32Array)), raw = gaps(b64(s.raw, Float32Array));
    el = root.querySelector('[data-chart=score]');
    o = baseOpts(g, 'Calibrated score', w, 200, time, {
      series: [series[0], { label: 'calibrated score', stroke: '#0f172a', width: 1, value: function (u, v) { return fmt(v); } },
        { label: 'threshold ' + fmt(s.threshold), stroke: '#dc2626', width: 1.5, dash: [6, 4], points: { show: false }, value: function () { return fmt(s.threshold); } }]
    });
    o.scales.y = { range: [0, 1.0001] };
    o.axes[0].label = xLabel; o.axes[1].label = 'score';
    o.hooks.drawClear = [shadeAll];
    mount(g, el, o, [gaps(sx), cal, fill(n, s.threshold)]);

    el = root.querySelector('[data-chart=raw]');
    o = baseOpts(g, 'Raw score', w, 200, time, {
      series: [series[0], { label: 'raw score', stroke: '#7c3aed', width: 1, value: function (u, v) { return fmt(v); } }]
    });
    o.axes[0].label = xLabel; o.axes[1].label = 'raw';
    o.axes[1].values = function (u, vals) { return vals.map(fmt); };
    o.hooks.drawClear = [shadeAll];
    mount(g, el, o, [gaps(sx), raw]);

    // Channel error heat map
    el = root.querySelector('[data-chart=heat]');
    if (el && s.heat) {
      var h = s.heat, C = s.channels.length;
      var img = imageCanvas(b64(h.levels, Uint8Array), C, h.cols, HEAT);
      var hh = Math.max(150, Math.min(520, C * 22 + 110));
      o = baseOpts(g, 'Per-channel error (max per bucket; colour √(error / max), max ' + fmt(h.scale) + ')', w, hh, time, {
        series: [series[0], { label: 'channel error', show: false }], legend: { show: false }
      });
      o.scales.y = { range: [0, C] };
      o.axes[0].label = xLabel; o.axes[1].label = 'channel';
      o.axes[1].splits = function () { var a = []; for (var i = 0; i < C; i++) a.push(i + 0.5); return a; };
      o.axes[1].values = function (u, vals) {
        var step = Math.max(1, Math.ceil(12 / (u.bbox.height / devicePixelRatio / C)));
        return vals.map(function (v, i) { return i % step === 0 ? s.channels[Math.floor(v)] : ''; });
      };
      o.axes[1].grid = { show: false };
      o.axes[1].size = AXIS_W;
      o.hooks.draw = [function (u) {
        var c = u.ctx, b = u.bbox;
        c.save(); c.beginPath(); c.rect(b.left, b.top, b.width, b.height); c.clip();
        c.imageSmoothingEnabled = false;
        var a = u.valToPos(h.x0, 'x', true), z = u.valToPos(h.x1, 'x', true);
        c.drawImage(img, a, b.top, Math.max(1, z - a), b.height);
        c.restore();
        shadeAll(u);
      }];
      mount(g, el, o, [[h.x0, h.x1], [null, null]]);
    }

    // Buttons
    var reset = root.querySelector('[data-action=reset]');
    if (reset) reset.addEventListener('click', function () { g.reset(); });
    var zb = root.querySelectorAll('[data-zoom]');
    for (var i = 0; i < zb.length; i++) {
      zb[i].addEventListener('click', function (e) {
        var r = e.currentTarget.getAttribute('data-zoom').split(',').map(Number);
        var pad = Math.max((r[1] - r[0]) * 0.5, (g.x1 - g.x0) * 0.002);
        g.setX(Math.max(g.x0, r[0] - pad), Math.min(g.x1, r[1] + pad));
        root.querySelector('[data-chart=channels]').scrollIntoView({ behavior: 'smooth', block: 'start' });
      });
    }
    return g;
  }

  function drawClip(c, ci) {
    var root = document.getElementById('clip-' + ci);
    var fx = b64(c.fx, Float64Array), n = fx.length;
    var g = newGroup(c.extent[0], c.extent[1]);
    AXIS_W = 64;
    var img = imageCanvas(b64(c.levels, Uint8Array), c.mels, c.cols, VIRIDIS);
    var el = root.querySelector('[data-chart=spec]'), w = panelWidth(el);
    var xser = { label: c.seconds ? 'time (s)' : 'frame', value: function (u, v) { return fmt(v); } };
    var o = baseOpts(g, 'Log-mel spectrogram (' + c.mels + ' bands, colour ' + fmt(c.lo) + ' … ' + fmt(c.hi) + ')', w, 220, false, {
      series: [xser, { label: 'spectrogram', show: false }], legend: { show: false }
    });
    o.scales.y = { range: [0, c.mels] };
    o.axes[0].label = xser.label; o.axes[1].label = 'mel band';
    o.axes[0].values = function (u, vals) { return vals.map(fmt); };
    o.hooks.draw = [function (u) {
      var ctx = u.ctx, b = u.bbox;
      ctx.save(); ctx.beginPath(); ctx.rect(b.left, b.top, b.width, b.height); ctx.clip();
      var a = u.valToPos(c.extent[0], 'x', true), z = u.valToPos(c.extent[1], 'x', true);
      ctx.drawImage(img, a, b.top, Math.max(1, z - a), b.height);
      ctx.restore();
    }];
    mount(g, el, o, [[c.extent[0], c.extent[1]], [null, null]]);

    el = root.querySelector('[data-chart=frames]');
    var ser = [xser, { label: 'frame score', stroke: '#0f172a', width: 1, fill: 'rgba(15, 23, 42, 0.08)', value: function (u, v) { return fmt(v); } }];
    var d = [gaps(fx), gaps(b64(c.fs, Float32Array))];
    if (c.threshold != null) {
      ser.push({ label: 'threshold ' + fmt(c.threshold), stroke: '#dc2626', width: 1.5, dash: [6, 4], points: { show: false }, value: function () { return fmt(c.threshold); } });
      d.push(fill(n, c.threshold));
    }
    o = baseOpts(g, 'Per-frame score', w, 190, false, { series: ser });
    o.axes[0].label = xser.label; o.axes[1].label = 'score';
    o.axes[0].values = function (u, vals) { return vals.map(fmt); };
    o.axes[1].values = function (u, vals) { return vals.map(fmt); };
    mount(g, el, o, d);
    return g;
  }

  function fail(where, err) {
    console.error('noisefloor report: ' + where + ': ' + (err && err.stack || err));
    var el = document.getElementById(where);
    if (el) {
      var p = document.createElement('p'); p.className = 'nf-error';
      p.textContent = 'Could not draw this section: ' + (err && err.message || err);
      el.appendChild(p);
    }
  }

  (D.streams || []).forEach(function (s, i) { try { drawStream(s, i); } catch (e) { fail('stream-' + i, e); } });
  (D.clips || []).forEach(function (c, i) { try { drawClip(c, i); } catch (e) { fail('clip-' + i, e); } });
  groups.forEach(function (g) { g.reset(); });

  // Keep charts as wide as their panels.
  if (typeof ResizeObserver !== 'undefined') {
    var pending = false;
    new ResizeObserver(function () {
      if (pending) return;
      pending = true;
      requestAnimationFrame(function () {
        pending = false;
        groups.forEach(function (g) {
          g.charts.forEach(function (u) {
            var w = panelWidth(u.root.parentNode);
            if (Math.abs(w - u.width) > 2) u.setSize({ width: w, height: u.height });
          });
        });
      });
    }).observe(document.querySelector('main'));
  }

  requestAnimationFrame(function () {
    requestAnimationFrame(function () {
      // For tests and debugging: the chart groups (one per stream / clip) and their uPlot charts.
      window.__nfReport = { groups: groups };
      window.__reportReadyAt = performance.now();
      window.__reportReady = true;
      document.documentElement.setAttribute('data-ready', '1');
    });
  });
})();
