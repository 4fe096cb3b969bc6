import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { HISTOGRAM_NAMES, METRIC_NAMES, NoisefloorMetrics } from '../../src/daemon/metrics.js';

const root = join(import.meta.dirname, '../../deploy');

/** Every string value under a key named `expr` or `query`, anywhere in a JSON/YAML tree. */
function exprs(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const v of node) exprs(v, out);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if ((k === 'expr' || k === 'query' || k === 'definition') && typeof v === 'string') out.push(v);
      else exprs(v, out);
    }
  }
  return out;
}

/** noisefloor_* metric names referenced by PromQL, with histogram suffixes stripped. */
function referencedMetrics(promql: string[]): Set<string> {
  const names = new Set<string>();
  for (const q of promql) {
    // Drop string literals so label values like "noisefloor_x" are not taken for metrics.
    const code = q.replace(/"(?:[^"\\]|\\.)*"/g, '""');
    for (const m of code.matchAll(/\bnoisefloor_[a-zA-Z0-9_]+/g)) {
      let name = m[0];
      const base = name.replace(/_(bucket|sum|count)$/, '');
      if (base !== name && (HISTOGRAM_NAMES as readonly string[]).includes(base)) name = base;
      names.add(name);
    }
  }
  return names;
}

const dashboard = JSON.parse(readFileSync(join(root, 'grafana/dashboards/noisefloor.json'), 'utf8')) as {
  uid: string;
  panels: { title: string; type: string; targets?: { expr: string }[] }[];
};
const rules = parse(readFileSync(join(root, 'prometheus/rules.yml'), 'utf8'));
const exported = new Set<string>(METRIC_NAMES);

describe('dashboard and rules reference only exported metrics', () => {
  it('the extraction finds names and strips histogram suffixes', () => {
    expect([...referencedMetrics(['rate(noisefloor_scoring_latency_seconds_bucket[5m])', 'noisefloor_foo_count{x="noisefloor_bar"}'])]).toEqual([
      'noisefloor_scoring_latency_seconds',
      'noisefloor_foo_count',
    ]);
  });

  it('every metric in the Grafana dashboard is exported by metrics.ts', () => {
    const used = referencedMetrics(exprs(dashboard));
    expect(used.size).toBeGreaterThan(10);
    for (const name of used) expect(exported, `dashboard uses ${name}`).toContain(name);
  });

  it('every metric in the alerting rules is exported by metrics.ts', () => {
    const used = referencedMetrics(exprs(rules));
    expect(used.size).toBeGreaterThanOrEqual(5);
    for (const name of used) expect(exported, `rules use ${name}`).toContain(name);
  });

  it('the names the dashboard expects really appear in the exposition', async () => {
    const m = new NoisefloorMetrics({ defaultMetrics: false });
    const text = await m.metrics();
    for (const name of referencedMetrics(exprs(dashboard))) expect(text, name).toContain(`# TYPE ${name} `);
  });

  it('has the panels the issue asks for', () => {
    const all = exprs(dashboard).join('\n');
    for (const needle of [
      'noisefloor_stream_score',
      'noisefloor_stream_threshold',
      'noisefloor_alerts_firing',
      'noisefloor_windows_scored_total',
      'noisefloor_scoring_latency_seconds_bucket',
      'noisefloor_consumer_lag_messages',
      'noisefloor_model_info',
    ]) {
      expect(all).toContain(needle);
    }
    const ids = dashboard.panels.map((p) => (p as { id?: number }).id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
