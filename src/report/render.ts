import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { clientScript } from './client.js';
import { bucketBounds, maxPoolColumns, minMaxDownsample } from './downsample.js';
import { flaggedRuns, mergeRanges, summariseStream, validateClip, validateStream, type StreamSummary } from './summary.js';
import type { RenderOptions, ReportAlert, ReportClip, ReportInput, ReportStream } from './types.js';

const DEFAULTS: Required<RenderOptions> = {
  maxBuckets: 4000,
  maxSpectrogramFrames: 1500,
  maxClipDetails: 40,
  maxHeatmapBuckets: 1000,
};
/** Alert cards drawn per stream; the rest are counted in a note. */
const MAX_ALERT_CARDS = 100;
/** Bars per alert error chart. */
const MAX_ALERT_BARS = 12;

let uplotAssets: { js: string; css: string } | undefined;
/** uPlot's browser build and stylesheet, read once from node_modules/uplot/dist. */
function uplot(): { js: string; css: string } {
  if (!uplotAssets) {
    const req = createRequire(import.meta.url);
    const js = readFileSync(req.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
    const css = readFileSync(req.resolve('uplot/dist/uPlot.min.css'), 'utf8');
    uplotAssets = { js: js.replace(/<\/script/gi, '<\\/script'), css: css.replace(/<\/style/gi, '<\\/style') };
  }
  return uplotAssets;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);
}

/** A number for people: 4 significant digits, exponent for very large / small magnitudes. */
export function formatNumber(v: number | string | undefined | null): string {
  if (typeof v === 'string') return v;
  if (v === undefined || v === null || Number.isNaN(v)) return '–';
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '−∞';
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  return String(+v.toPrecision(4));
}

function formatTime(ms: number): string {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return String(ms);
  return d.toISOString().replace('T', ' ').replace(/\.000Z$/, ' UTC').replace(/Z$/, ' UTC');
}

function b64(a: Float32Array | Float64Array | Uint8Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}

const pct = (n: number, d: number) => (d ? `${((100 * n) / d).toFixed(n && (100 * n) / d < 0.1 ? 2 : 1)}%` : '–');

interface StreamPayload {
  name: string;
  channels: string[];
  time: boolean;
  extent: [number, number];
  x: string;
  ys: string[];
  sx: string;
  cal: string;
  raw: string;
  threshold: number;
  /** Channels drawn at first (the rest start hidden; the legend toggles them). */
  visible: number[];
  /** Width of the y axes in CSS px, wide enough for the channel names of the heat map. */
  axisW: number;
  flagged: [number, number][];
  labels: [number, number][];
  heat?: { cols: number; x0: number; x1: number; scale: number; levels: string };
}

interface ClipPayload {
  mels: number;
  cols: number;
  levels: string;
  lo: number;
  hi: number;
  seconds: boolean;
  extent: [number, number];
  fx: string;
  fs: string;
  threshold?: number;
}

/** The value of quantile q (0..1) of the finite values of `a` (sampled when large). */
function quantile(a: ArrayLike<number>, q: number, filter: (v: number) => boolean = Number.isFinite): number {
  const step = Math.max(1, Math.floor(a.length / 200_000));
  const vals: number[] = [];
  for (let i = 0; i < a.length; i += step) if (filter(a[i])) vals.push(a[i]);
  if (!vals.length) return NaN;
  vals.sort((x, y) => x - y);
  return vals[Math.min(vals.length - 1, Math.max(0, Math.round(q * (vals.length - 1))))];
}

/** At most this many channels are drawn at first; the legend shows the others on click. */
const MAX_VISIBLE_CHANNELS = 8;

/** Channels to draw at first: all when few, else the most telling ones (top in flagged windows, then in alerts). */
export function initiallyVisibleChannels(s: ReportStream, sm: StreamSummary = summariseStream(s)): number[] {
  const C = s.channels.length;
  if (C <= MAX_VISIBLE_CHANNELS) return s.channels.map((_, c) => c);
  const index = new Map(s.channels.map((n, c) => [n, c]));
  const pick = new Set<number>();
  const add = (name: string) => {
    const c = index.get(name);
    if (c !== undefined && pick.size < MAX_VISIBLE_CHANNELS) pick.add(c);
  };
  sm.topChannels.forEach((t) => add(t.name));
  [...s.alerts].sort((a, b) => b.peakScore - a.peakScore).forEach((a) => a.topChannels.forEach(add));
  for (let c = 0; pick.size < Math.min(3, C); c++) pick.add(c);
  return [...pick].sort((a, b) => a - b);
}

function streamPayload(s: ReportStream, opts: Required<RenderOptions>, sm: StreamSummary): StreamPayload {
  const R = s.values[0]?.length ?? 0;
  const ts = s.timestamps;
  const rowX = (r: number) => {
    const i = Math.min(Math.max(0, Math.round(r)), Math.max(0, R - 1));
    return ts && R ? ts[i] : i;
  };
  const B = opts.maxBuckets;
  const ds = minMaxDownsample(ts ?? null, s.values, B);
  const w = s.windows;
  const N = w.start.length;
  const centres = new Float64Array(N);
  for (let i = 0; i < N; i++) centres[i] = rowX((w.start[i] + w.end[i]) / 2);
  const sd = minMaxDownsample(centres, [w.score, w.raw], B);
  const gap = Math.max(1, Math.floor(R / B));
  const toX = (r: { start: number; end: number }): [number, number] => [rowX(r.start), rowX(r.end)];
  const flagged = mergeRanges(flaggedRuns(s), gap).map(toX);
  const labels = mergeRanges(s.labels ?? [], gap).map(toX);
  let x0 = R ? rowX(0) : 0;
  let x1 = R ? rowX(R - 1) : 1;
  if (N) {
    x0 = Math.min(x0, rowX(w.start[0]));
    x1 = Math.max(x1, rowX(w.end[N - 1]));
  }
  if (!(x1 > x0)) x1 = x0 + 1;
  const p: StreamPayload = {
    name: s.name,
    channels: s.channels,
    time: !!ts,
    extent: [x0, x1],
    x: b64(ds.x),
    ys: ds.ys.map(b64),
    sx: b64(sd.x),
    cal: b64(sd.ys[0]),
    raw: b64(sd.ys[1]),
    threshold: s.threshold,
    axisW: 64,
    visible: initiallyVisibleChannels(s, sm),
    flagged,
    labels,
  };
  const ce = w.channelErrors;
  const C = s.channels.length;
  if (ce && N && C) {
    const cols = Math.min(N, opts.maxHeatmapBuckets);
    const pooled = new Float32Array(C * cols).fill(NaN);
    for (let b = 0; b < cols; b++) {
      const [lo, hi] = bucketBounds(N, cols, b);
      for (let c = 0; c < C; c++) {
        let m = -Infinity;
        for (let i = lo; i < hi; i++) {
          const v = ce[i * C + c];
          if (v > m) m = v;
        }
        if (m > -Infinity) pooled[c * cols + b] = m;
      }
    }
    let scale = 0;
    for (let i = 0; i < pooled.length; i++) if (pooled[i] > scale) scale = pooled[i];
    if (!(scale > 0)) scale = 1;
    const levels = new Uint8Array(C * cols);
    for (let i = 0; i < levels.length; i++) {
      const v = pooled[i];
      levels[i] = v > 0 ? Math.max(1, Math.round(Math.sqrt(Math.min(1, v / scale)) * 255)) : 0;
    }
    const longest = Math.max(...s.channels.map((n) => n.length));
    p.axisW = Math.min(170, Math.max(64, Math.round(longest * 7.2 + 18)));
    p.heat = { cols, x0: rowX(w.start[0]), x1: rowX(w.end[N - 1]), scale, levels: b64(levels) };
  }
  return p;
}

function clipPayload(c: ReportClip, opts: Required<RenderOptions>): ClipPayload {
  const pooled = maxPoolColumns(c.logMel, c.mels, c.frames, opts.maxSpectrogramFrames);
  const hi = quantile(pooled.data, 1);
  let lo = quantile(pooled.data, 0.02);
  if (!(hi > lo)) lo = hi - 1;
  const levels = new Uint8Array(pooled.data.length);
  for (let i = 0; i < levels.length; i++) {
    const v = pooled.data[i];
    levels[i] = Number.isFinite(v) ? Math.round(Math.min(1, Math.max(0, (v - lo) / (hi - lo))) * 255) : 0;
  }
  const unit = c.frameSeconds && c.frameSeconds > 0 ? c.frameSeconds : 1;
  const fx = new Float64Array(c.frames);
  for (let f = 0; f < c.frames; f++) fx[f] = (f + 0.5) * unit;
  const fd = minMaxDownsample(fx, [c.frameScores], Math.min(opts.maxBuckets, 2000));
  return {
    mels: c.mels,
    cols: pooled.cols,
    levels: b64(levels),
    lo: Number.isFinite(lo) ? lo : 0,
    hi: Number.isFinite(hi) ? hi : 1,
    seconds: unit !== 1 || !!c.frameSeconds,
    extent: [0, c.frames * unit],
    fx: b64(fd.x),
    fs: b64(fd.ys[0]),
    threshold: c.threshold,
  };
}

function rowsText(s: ReportStream, start: number, end: number): string {
  const rows = `rows ${formatNumber(start)} – ${formatNumber(end)}`;
  if (!s.timestamps) return rows;
  const R = s.timestamps.length;
  const t = (r: number) => formatTime(s.timestamps![Math.min(Math.max(0, r), R - 1)]);
  return `${t(start)} → ${t(end)} · ${rows}`;
}

function summaryHtml(s: ReportStream, sm: StreamSummary): string {
  const lr = sm.longestRun;
  const rows: [string, string][] = [
    ['Rows × channels', `${formatNumber(sm.rows)} × ${sm.channels}`],
    ['Windows scored', formatNumber(sm.windows)],
    ['Flagged windows', `${formatNumber(sm.flagged)} (${pct(sm.flagged, sm.windows)})`],
    ['Flagged runs', formatNumber(sm.runs)],
    ['Longest flagged run', lr ? `${formatNumber(lr.lastWindow - lr.firstWindow + 1)} windows · ${escapeHtml(rowsText(s, lr.start, lr.end))}` : '–'],
    ['Alerts', formatNumber(sm.alerts)],
    ['Top channels (flagged windows)', sm.topChannels.length ? sm.topChannels.map((t) => `<span class="nf-chip">${escapeHtml(t.name)} <b>${pct(t.count, sm.flagged)}</b></span>`).join(' ') : '–'],
    ['Threshold (calibrated)', formatNumber(s.threshold)],
    ['Max score / max raw', `${formatNumber(sm.maxScore)} / ${formatNumber(sm.maxRaw)}`],
  ];
  if (s.labels?.length) rows.push(['Labelled anomaly ranges', formatNumber(s.labels.length)]);
  if (sm.missing) rows.push(['Missing values', formatNumber(sm.missing)]);
  return `<table class="nf-kv">${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${v}</td></tr>`).join('')}</table>`;
}

function alertHtml(s: ReportStream, a: ReportAlert, i: number, x: [number, number]): string {
  const errs = s.channels.map((name, c) => ({ name, v: Number(a.channelErrors[c]) }));
  const sorted = errs.filter((e) => Number.isFinite(e.v)).sort((p, q) => q.v - p.v);
  const shown = sorted.slice(0, MAX_ALERT_BARS);
  const max = Math.max(...shown.map((e) => e.v), 0) || 1;
  const top = new Set(a.topChannels);
  const bars = shown
    .map(
      (e) =>
        `<div class="nf-bar${top.has(e.name) ? ' nf-top' : ''}"><span class="nf-bar-name" title="${escapeHtml(e.name)}">${escapeHtml(e.name)}</span>` +
        `<span class="nf-bar-track"><span class="nf-bar-fill" style="width:${Math.max(0.5, (100 * Math.max(0, e.v)) / max).toFixed(1)}%"></span></span>` +
        `<span class="nf-bar-val">${formatNumber(e.v)}</span></div>`,
    )
    .join('');
  const more = sorted.length > shown.length ? `<p class="nf-note">+ ${sorted.length - shown.length} more channels with smaller error</p>` : '';
  const facts = [`peak score <b>${formatNumber(a.peakScore)}</b>`];
  if (a.peakRaw !== undefined) facts.push(`peak raw <b>${formatNumber(a.peakRaw)}</b>`);
  if (a.windows !== undefined) facts.push(`<b>${formatNumber(a.windows)}</b> windows`);
  facts.push(`<b>${formatNumber(a.end - a.start + 1)}</b> rows`);
  return `<article class="nf-alert">
<header><h4>Alert ${i + 1}</h4><button type="button" data-zoom="${x[0]},${x[1]}">Zoom to alert</button></header>
<p class="nf-range">${escapeHtml(rowsText(s, a.start, a.end))}</p>
<p class="nf-facts">${facts.join(' · ')}</p>
<p class="nf-topch">Top channels: ${a.topChannels.map((t) => `<span class="nf-chip">${escapeHtml(t)}</span>`).join(' ') || '–'}</p>
<div class="nf-bars" role="img" aria-label="Error per channel">${bars}</div>${more}
</article>`;
}

function streamHtml(s: ReportStream, i: number, sm: StreamSummary): string {
  const R = s.values[0]?.length ?? 0;
  const rowX = (r: number) => (s.timestamps && R ? s.timestamps[Math.min(Math.max(0, r), R - 1)] : r);
  const alerts = s.alerts.slice(0, MAX_ALERT_CARDS);
  const alertCards = alerts.map((a, k) => alertHtml(s, a, k, [rowX(a.start), rowX(a.end)])).join('\n');
  const shown = initiallyVisibleChannels(s, sm).length;
  const hiddenNote =
    shown < s.channels.length
      ? `<p class="nf-note">Drawing ${shown} of ${s.channels.length} channels at first (those most often top in flagged windows and alerts); click a name in the legend below the chart to show or hide it.</p>\n`
      : '';
  const alertNote = s.alerts.length > alerts.length ? `<p class="nf-note">Showing the first ${alerts.length} of ${s.alerts.length} alerts.</p>` : '';
  return `<section class="nf-stream" id="stream-${i}">
<h2>${escapeHtml(s.name)}</h2>
${summaryHtml(s, sm)}
<div class="nf-toolbar">
<span class="nf-key"><i class="nf-sw nf-sw-flag"></i>flagged windows</span>
${s.labels?.length ? '<span class="nf-key"><i class="nf-sw nf-sw-label"></i>labelled anomaly</span>' : ''}
<span class="nf-help">Drag to zoom · Ctrl/⌘ + wheel to zoom · Shift + drag to pan · double-click to reset · all panels move together</span>
<button type="button" data-action="reset">Reset zoom</button>
</div>
${hiddenNote}<div class="nf-chart" data-chart="channels"></div>
<div class="nf-chart" data-chart="score"></div>
<div class="nf-chart" data-chart="raw"></div>
${s.windows.channelErrors ? '<div class="nf-chart" data-chart="heat"></div>' : ''}
<h3>Alerts (${s.alerts.length})</h3>
${alerts.length ? `<div class="nf-alerts">${alertCards}</div>${alertNote}` : '<p class="nf-note">No alerts.</p>'}
</section>`;
}

function clipsHtml(clips: ReportClip[], detailed: Map<ReportClip, number>): string {
  const ranked = clips.map((c, idx) => ({ c, idx })).sort((a, b) => b.c.score - a.c.score || a.idx - b.idx);
  const max = Math.max(...clips.map((c) => c.score).filter(Number.isFinite), 0) || 1;
  const min = Math.min(...clips.map((c) => c.score).filter(Number.isFinite), 0);
  const rows = ranked
    .map(({ c }, r) => {
      const d = detailed.get(c);
      const name = d !== undefined ? `<a href="#clip-${d}">${escapeHtml(c.name)}</a>` : escapeHtml(c.name);
      const label = c.label ? `<span class="nf-badge nf-${c.label}">${c.label}</span>` : '<span class="nf-note">unknown</span>';
      const w = max > min ? (100 * (c.score - min)) / (max - min) : 100;
      return `<tr><td class="nf-num">${r + 1}</td><td>${name}</td><td>${label}</td><td class="nf-num">${formatNumber(c.score)}</td><td class="nf-scorebar"><span style="width:${Math.max(0.5, w).toFixed(1)}%"></span></td></tr>`;
    })
    .join('');
  const labelled = clips.filter((c) => c.label);
  const abn = labelled.filter((c) => c.label === 'abnormal').length;
  const note = labelled.length ? `<p class="nf-note">${labelled.length} of ${clips.length} clips labelled (${abn} abnormal).</p>` : '';
  const details = [...detailed.entries()]
    .sort((a, b) => a[1] - b[1])
    .map(
      ([c, d]) => `<article class="nf-clip" id="clip-${d}">
<h3>${escapeHtml(c.name)} ${c.label ? `<span class="nf-badge nf-${c.label}">${c.label}</span>` : ''} <span class="nf-clipscore">score ${formatNumber(c.score)}</span></h3>
<div class="nf-chart" data-chart="spec"></div>
<div class="nf-chart" data-chart="frames"></div>
</article>`,
    )
    .join('\n');
  const shownNote = detailed.size < clips.length ? `<p class="nf-note">Drawing the ${detailed.size} highest-scoring of ${clips.length} clips.</p>` : '';
  return `<section class="nf-audio" id="audio">
<h2>Audio clips (${clips.length})</h2>
${note}
<table class="nf-rank"><thead><tr><th>#</th><th>Clip</th><th>Label</th><th>Score</th><th></th></tr></thead><tbody>${rows}</tbody></table>
${shownNote}
${details}
</section>`;
}

const CSS = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #0f172a; background: #f8fafc; }
.nf-wrap { max-width: 1280px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 21px; margin: 0 0 14px; }
h3 { font-size: 16px; margin: 22px 0 10px; }
h4 { font-size: 14px; margin: 0; }
.nf-sub { color: #475569; margin: 0 0 18px; }
.nf-cards { display: flex; flex-wrap: wrap; gap: 16px; margin-bottom: 18px; }
.nf-card, .nf-stream, .nf-audio { background: #fff; border: 1px solid #e2e8f0; border-radius: 10px; padding: 16px 20px; }
.nf-card { flex: 1 1 320px; }
.nf-card h2 { font-size: 15px; text-transform: uppercase; letter-spacing: .04em; color: #475569; margin-bottom: 8px; }
.nf-stream, .nf-audio { margin: 22px 0; }
table { border-collapse: collapse; }
.nf-kv th, .nf-kv td, .nf-rank th, .nf-rank td, .nf-metrics th, .nf-metrics td { text-align: left; padding: 4px 14px 4px 0; border-bottom: 1px solid #f1f5f9; vertical-align: top; }
.nf-kv th, .nf-metrics th { font-weight: 600; color: #334155; white-space: nowrap; }
.nf-metrics td, .nf-num { font-variant-numeric: tabular-nums; }
.nf-num { text-align: right !important; }
nav ul { margin: 0; padding-left: 18px; }
.nf-chip { display: inline-block; background: #f1f5f9; border: 1px solid #e2e8f0; border-radius: 999px; padding: 0 8px; margin: 1px 2px; font-size: 13px; }
.nf-toolbar { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 18px; margin: 16px 0 6px; font-size: 13px; color: #334155; }
.nf-help { color: #64748b; flex: 1 1 auto; }
.nf-key { white-space: nowrap; }
.nf-sw { display: inline-block; width: 14px; height: 12px; margin-right: 6px; vertical-align: -1px; border-radius: 2px; }
.nf-sw-flag { background: rgba(220, 38, 38, .25); border-top: 3px solid rgba(220, 38, 38, .85); }
.nf-sw-label { background: rgba(37, 99, 235, .2); border-bottom: 3px solid rgba(37, 99, 235, .85); }
button { font: inherit; font-size: 13px; padding: 3px 10px; border: 1px solid #cbd5e1; background: #fff; border-radius: 6px; cursor: pointer; color: #0f172a; }
button:hover { background: #f1f5f9; }
.nf-chart { margin: 8px 0 4px; min-height: 60px; }
.uplot { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
.uplot .u-title { font-size: 14px; font-weight: 600; text-align: left; padding-left: 8px; color: #1e293b; }
.uplot .u-legend { font-size: 12.5px; text-align: left; padding-left: 8px; }
.uplot .u-legend .u-marker { width: 12px; height: 3px; }
.nf-alerts { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 14px; }
.nf-alert { border: 1px solid #e2e8f0; border-left: 4px solid #dc2626; border-radius: 8px; padding: 10px 14px; background: #fff; }
.nf-alert header { display: flex; justify-content: space-between; align-items: center; }
.nf-alert p { margin: 4px 0; font-size: 13px; }
.nf-range { color: #334155; font-variant-numeric: tabular-nums; }
.nf-bars { margin-top: 8px; }
.nf-bar { display: grid; grid-template-columns: 120px 1fr 64px; gap: 8px; align-items: center; font-size: 12.5px; margin: 2px 0; }
.nf-bar-name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.nf-bar-track { height: 12px; background: #f1f5f9; border-radius: 3px; overflow: hidden; }
.nf-bar-fill { display: block; height: 100%; background: #94a3b8; }
.nf-top .nf-bar-fill { background: #dc2626; }
.nf-top .nf-bar-name { font-weight: 600; }
.nf-bar-val { text-align: right; font-variant-numeric: tabular-nums; color: #334155; }
.nf-note { color: #64748b; font-size: 13px; }
.nf-error { color: #b91c1c; font-weight: 600; }
.nf-badge { display: inline-block; font-size: 12px; font-weight: 600; padding: 0 8px; border-radius: 999px; vertical-align: 2px; }
.nf-normal { background: #dcfce7; color: #166534; }
.nf-abnormal { background: #fee2e2; color: #991b1b; }
.nf-rank { width: 100%; max-width: 900px; }
.nf-scorebar { width: 40%; }
.nf-scorebar span { display: block; height: 10px; background: #6366f1; border-radius: 3px; }
.nf-clip { border-top: 1px solid #e2e8f0; margin-top: 18px; padding-top: 4px; }
.nf-clipscore { font-weight: 400; color: #475569; font-size: 14px; margin-left: 8px; }
`;

function headerHtml(input: ReportInput, streams: ReportStream[], clips: ReportClip[]): string {
  const m = input.model;
  const modelRows: [string, string][] = [
    ['Version', escapeHtml(m.version)],
    ['Window / hop', `${formatNumber(m.window)} / ${formatNumber(m.hop)}`],
    ['Scoring mode', escapeHtml(m.scoringMode)],
    ['Threshold', formatNumber(m.threshold)],
    ...Object.entries(m.extra ?? {}).map(([k, v]): [string, string] => [escapeHtml(k), escapeHtml(formatNumber(v))]),
  ];
  const cards = [`<div class="nf-card"><h2>Model</h2><table class="nf-kv">${modelRows.map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join('')}</table></div>`];
  const metrics = Object.entries(input.metrics ?? {});
  if (metrics.length) {
    cards.push(
      `<div class="nf-card"><h2>Metrics</h2><table class="nf-metrics">${metrics.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(formatNumber(v))}</td></tr>`).join('')}</table></div>`,
    );
  }
  const toc: string[] = streams.map((s, i) => `<li><a href="#stream-${i}">${escapeHtml(s.name)}</a> <span class="nf-note">${s.alerts.length} alerts</span></li>`);
  if (clips.length) toc.push(`<li><a href="#audio">Audio clips</a> <span class="nf-note">${clips.length} clips</span></li>`);
  if (toc.length > 1) cards.push(`<div class="nf-card"><h2>Contents</h2><nav><ul>${toc.join('')}</ul></nav></div>`);
  const gen = input.generatedAt instanceof Date ? input.generatedAt.getTime() : input.generatedAt;
  const genText = typeof gen === 'number' ? formatTime(gen) : Number.isNaN(Date.parse(gen)) ? gen : formatTime(Date.parse(gen));
  return `<header><h1>${escapeHtml(input.title)}</h1><p class="nf-sub">noisefloor report · generated ${escapeHtml(genText)}</p>
<div class="nf-cards">${cards.join('\n')}</div></header>`;
}

/**
 * Render the report as one self-contained HTML document (uPlot and the data inlined; the
 * page makes no network requests and opens from disk).
 *
 * Series longer than 2 × `maxBuckets` points are reduced with a min/max downsampler before
 * embedding, so the file size and drawing cost do not grow with the input length. Zooming in
 * shows the same downsampled points (no re-fetch of full resolution): spikes remain visible,
 * but detail finer than one bucket (rows / maxBuckets rows) is not recoverable from the page.
 */
export function renderReport(input: ReportInput, options: RenderOptions = {}): string {
  const opts: Required<RenderOptions> = { ...DEFAULTS, ...options };
  const streams = input.streams ?? [];
  const clips = input.clips ?? [];
  streams.forEach(validateStream);
  clips.forEach(validateClip);
  const detailed = new Map<ReportClip, number>();
  [...clips]
    .sort((a, b) => b.score - a.score)
    .slice(0, opts.maxClipDetails)
    .forEach((c, i) => detailed.set(c, i));
  const clipOrder = [...detailed.entries()].sort((a, b) => a[1] - b[1]).map(([c]) => c);
  const summaries = streams.map((s) => summariseStream(s));
  const payload = {
    streams: streams.map((s, i) => streamPayload(s, opts, summaries[i])),
    clips: clipOrder.map((c) => clipPayload(c, opts)),
  };
  const json = JSON.stringify(payload).replace(/</g, '\\u003c');
  const u = uplot();
  const body = [
    headerHtml(input, streams, clips),
    '<main>',
    ...streams.map((s, i) => streamHtml(s, i, summaries[i])),
    clips.length ? clipsHtml(clips, detailed) : '',
    '</main>',
  ].join('\n');
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">`,
    '<meta name="generator" content="noisefloor">',
    `<title>${escapeHtml(input.title)}</title>`,
    '<style>',
    u.css,
    CSS,
    '</style></head><body><div class="nf-wrap">',
    body,
    '</div>',
    '<script type="application/json" id="nf-data">',
    json,
    '</script>',
    '<script>',
    u.js,
    '</script>',
    '<script>',
    clientScript(),
    '</script>',
    '</body></html>',
    '',
  ].join('\n');
}
