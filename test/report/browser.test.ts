import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderReport } from '../../src/report/index.js';
import { syntheticReport } from './synthetic.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

interface ChartState {
  title: string;
  min: number;
  max: number;
}
type Win = Window & {
  __reportReady?: boolean;
  __nfReport: { groups: { x0: number; x1: number; charts: { scales: { x: { min: number; max: number } }; root: HTMLElement }[] }[] };
};

/** x scale of every chart of chart group `g` (stream 0 is group 0). */
function scales(page: Page, g: number): Promise<ChartState[]> {
  return page.evaluate((gi) => {
    const grp = (window as unknown as Win).__nfReport.groups[gi];
    return grp.charts.map((u) => ({ title: u.root.querySelector('.u-title')?.textContent ?? '', min: u.scales.x.min, max: u.scales.x.max }));
  }, g);
}

function expectLinked(states: ChartState[]): void {
  for (const s of states) {
    expect(s.min).toBeCloseTo(states[0].min, 3);
    expect(s.max).toBeCloseTo(states[0].max, 3);
  }
}

describe('report in a real browser', () => {
  let browser: Browser;
  let page: Page;
  let dir: string;
  const errors: string[] = [];
  const requests: string[] = [];
  const input = syntheticReport({ rows: 50_000, channels: 4, timestamps: true, clips: 1 });
  const alert = input.streams![0].alerts[0];
  const t0 = Date.UTC(2024, 0, 1);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nf-report-'));
    const file = join(dir, 'report.html');
    writeFileSync(file, renderReport(input));
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(`console.${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(file).href);
    await page.waitForFunction(() => (window as unknown as Win).__reportReady === true, null, { timeout: 60_000 });
  });

  afterAll(async () => {
    await browser?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('loads without console errors, page errors or network requests', () => {
    expect(errors).toEqual([]);
    expect(requests.filter((u) => !u.startsWith('file:'))).toEqual([]);
  });

  it('draws every chart: each canvas has data pixels inside its plot area', async () => {
    const charts = await page.evaluate(() => {
      return Array.from(document.querySelectorAll('.uplot')).map((el) => {
        const canvas = el.querySelector('canvas') as HTMLCanvasElement;
        const over = el.querySelector('.u-over') as HTMLElement;
        const cr = canvas.getBoundingClientRect();
        const or = over.getBoundingClientRect();
        const k = canvas.width / cr.width;
        // plot area in canvas pixels, minus the 5 px edges where the range bands sit
        const x = Math.round((or.left - cr.left) * k);
        const y = Math.round((or.top - cr.top) * k) + 5;
        const w = Math.round(or.width * k);
        const h = Math.round(or.height * k) - 10;
        const px = canvas.getContext('2d')!.getImageData(x, y, w, h).data;
        let ink = 0;
        for (let i = 0; i < px.length; i += 4) {
          const [r, g, b, a] = [px[i], px[i + 1], px[i + 2], px[i + 3]];
          if (a < 100) continue; // transparent, or a translucent range fill
          const sat = Math.max(r, g, b) - Math.min(r, g, b);
          if (sat > 50 || r + g + b < 240) ink++; // not a light-grey grid line
        }
        return { title: el.querySelector('.u-title')?.textContent ?? '', ink, w, h };
      });
    });
    // stream: channels, calibrated, raw, heat map; clip: spectrogram, frame score
    expect(charts.length).toBe(6);
    for (const c of charts) {
      expect(c.w, c.title).toBeGreaterThan(300);
      // a line across the plot alone gives about one pixel per column
      expect(c.ink, c.title).toBeGreaterThan(c.w / 2);
    }
    expect(await page.locator('canvas').count()).toBe(6);
  });

  it('shows the summary, the alert with its channel bars and the clip ranking', async () => {
    const text = await page.locator('#stream-0').innerText();
    expect(text).toContain('Longest flagged run');
    expect(text).toContain('Alert 1');
    expect(await page.locator('#stream-0 .nf-alert .nf-bar').count()).toBe(4);
    // the top channel's bar is the longest and highlighted
    const first = page.locator('#stream-0 .nf-alert .nf-bar').first();
    expect(await first.getAttribute('class')).toContain('nf-top');
    expect(await first.locator('.nf-bar-name').innerText()).toBe(alert.topChannels[0]);
    expect(await page.locator('.nf-rank tbody tr').count()).toBe(1);
  });

  it('links zoom and pan across the stream panels', async () => {
    const g0 = await scales(page, 0);
    expect(g0.length).toBe(4);
    expectLinked(g0);
    const full = g0[0].max - g0[0].min;

    // drag-select on the channels panel zooms every panel of the stream
    await page.locator('#stream-0 [data-chart=channels]').scrollIntoViewIfNeeded();
    let box = (await page.locator('#stream-0 [data-chart=channels] .u-over').boundingBox())!;
    expect(box.y + box.height).toBeLessThan(900);
    await page.mouse.move(box.x + box.width * 0.2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 4 });
    await page.mouse.up();
    const zoomed = await scales(page, 0);
    expectLinked(zoomed);
    expect(zoomed[0].max - zoomed[0].min).toBeLessThan(full * 0.5);

    // shift-drag on the raw score panel pans all panels, keeping the span
    await page.locator('#stream-0 [data-chart=raw]').scrollIntoViewIfNeeded();
    const raw = (await page.locator('#stream-0 [data-chart=raw] .u-over').boundingBox())!;
    await page.keyboard.down('Shift');
    await page.mouse.move(raw.x + raw.width * 0.5, raw.y + raw.height / 2);
    await page.mouse.down();
    await page.mouse.move(raw.x + raw.width * 0.3, raw.y + raw.height / 2, { steps: 4 });
    await page.mouse.up();
    await page.keyboard.up('Shift');
    const panned = await scales(page, 0);
    expectLinked(panned);
    expect(panned[0].min).toBeGreaterThan(zoomed[0].min);
    expect(panned[0].max - panned[0].min).toBeCloseTo(zoomed[0].max - zoomed[0].min, -1);

    // ctrl+wheel zooms in further
    await page.locator('#stream-0 [data-chart=channels]').scrollIntoViewIfNeeded();
    box = (await page.locator('#stream-0 [data-chart=channels] .u-over').boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.keyboard.down('Control');
    await page.mouse.wheel(0, -100);
    await page.keyboard.up('Control');
    const wheeled = await scales(page, 0);
    expectLinked(wheeled);
    expect(wheeled[0].max - wheeled[0].min).toBeLessThan(panned[0].max - panned[0].min);

    // double-click resets all panels to the whole stream
    await page.mouse.dblclick(box.x + box.width / 2, box.y + box.height / 2);
    const reset = await scales(page, 0);
    expectLinked(reset);
    expect(reset[0].max - reset[0].min).toBeCloseTo(full, -1);

    // "Zoom to alert" frames the alert's time range
    await page.locator('#stream-0 [data-zoom]').first().click();
    const at = await scales(page, 0);
    expectLinked(at);
    expect(at[0].min).toBeLessThanOrEqual(t0 + alert.start * 1000);
    expect(at[0].max).toBeGreaterThanOrEqual(t0 + alert.end * 1000);
    expect(at[0].max - at[0].min).toBeLessThan(full / 10);
    expect(errors).toEqual([]);
  });

  it('saves a screenshot', async () => {
    await page.locator('#stream-0 [data-action=reset]').click();
    const out = resolve('test-artifacts/report.png');
    mkdirSync(resolve('test-artifacts'), { recursive: true });
    const png = await page.screenshot({ path: out, fullPage: true });
    expect(png.length).toBeGreaterThan(50_000);
  });
});
