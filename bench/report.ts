/**
 * Report benchmark: render a report for a long multichannel stream, then open it in headless
 * chromium and time first paint and charts-ready (window.__reportReady, set after drawing).
 *
 *   npx tsx bench/report.ts [--rows 1000000] [--channels 3] [--out test-artifacts/bench-report.html]
 *
 * Needs /usr/bin/chromium (or CHROMIUM=/path). Prints one line per figure.
 */
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { renderReport } from '../src/report/index.js';
import { syntheticReport } from '../test/report/synthetic.js';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    channels: { type: 'string', default: '3' },
    out: { type: 'string', default: 'test-artifacts/bench-report.html' },
    runs: { type: 'string', default: '3' },
  },
});
const rows = Number(args.rows);
const channels = Number(args.channels);
const runs = Math.max(1, Number(args.runs));
const out = resolve(args.out!);
const LIMIT = 10 * 1024 * 1024;

const t0 = performance.now();
const input = syntheticReport({ rows, channels, timestamps: true, clips: 1 });
const t1 = performance.now();
const html = renderReport(input);
const t2 = performance.now();
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, html);
const size = statSync(out).size;
const windows = input.streams![0].windows.start.length;

console.log(`input            ${rows.toLocaleString('en-US')} rows × ${channels} channels, ${windows.toLocaleString('en-US')} windows, 1 clip`);
console.log(`generate input   ${(t1 - t0).toFixed(0)} ms`);
console.log(`renderReport     ${(t2 - t1).toFixed(0)} ms`);
console.log(`file size        ${(size / 1024 / 1024).toFixed(2)} MiB (${size.toLocaleString('en-US')} bytes; limit 10 MiB: ${size < LIMIT ? 'ok' : 'OVER'})`);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const fp: number[] = [];
  const ready: number[] = [];
  const dcl: number[] = [];
  for (let r = 0; r < runs; r++) {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(pathToFileURL(out).href);
    await page.waitForFunction(() => (window as unknown as { __reportReady?: boolean }).__reportReady === true, null, { timeout: 120_000 });
    const t = await page.evaluate(() => {
      const paint = performance.getEntriesByName('first-contentful-paint')[0] ?? performance.getEntriesByName('first-paint')[0];
      const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined;
      return {
        firstPaint: paint ? paint.startTime : NaN,
        dcl: nav ? nav.domContentLoadedEventEnd : NaN,
        ready: (window as unknown as { __reportReadyAt: number }).__reportReadyAt,
      };
    });
    if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
    fp.push(t.firstPaint);
    ready.push(t.ready);
    dcl.push(t.dcl);
    await page.close();
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const list = (a: number[]) => a.map((v) => v.toFixed(0)).join(', ');
  console.log(`first paint      ${med(fp).toFixed(0)} ms median (runs: ${list(fp)})`);
  console.log(`DOMContentLoaded ${med(dcl).toFixed(0)} ms median (runs: ${list(dcl)})`);
  console.log(`charts ready     ${med(ready).toFixed(0)} ms median (runs: ${list(ready)}), from navigation start`);
} finally {
  await browser.close();
}
if (size >= LIMIT) process.exitCode = 1;
