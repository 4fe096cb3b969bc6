import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { findBinary, promtoolBinary, runCommand } from '../support/prom/index.js';

const dir = join(import.meta.dirname, '../../deploy/prometheus');

interface RuleFile {
  groups: { name: string; rules: { alert?: string; record?: string; expr: string }[] }[];
}
interface RuleTests {
  tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
}

describe('deploy/prometheus with promtool', () => {
  it('promtool check config', async () => {
    const r = await runCommand(promtoolBinary(), ['check', 'config', 'prometheus.yml'], dir);
    expect(r.output).toContain('SUCCESS');
    expect(r.code, r.output).toBe(0);
  });

  it('promtool check rules', async () => {
    const r = await runCommand(promtoolBinary(), ['check', 'rules', 'rules.yml'], dir);
    expect(r.code, r.output).toBe(0);
  });

  it('promtool test rules', async () => {
    const r = await runCommand(promtoolBinary(), ['test', 'rules', 'rules.test.yml'], dir);
    expect(r.output).toContain('SUCCESS');
    expect(r.code, r.output).toBe(0);
  });

  it('every alerting rule has a unit test that expects it to fire and one that expects silence', () => {
    const rules = parse(readFileSync(join(dir, 'rules.yml'), 'utf8')) as RuleFile;
    const tests = parse(readFileSync(join(dir, 'rules.test.yml'), 'utf8')) as RuleTests;
    const alerts = rules.groups.flatMap((g) => g.rules.map((r) => r.alert).filter((a): a is string => !!a));
    expect(alerts.length).toBeGreaterThanOrEqual(5);
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const a of alerts) {
      expect(cases.some((c) => c.alertname === a && c.exp_alerts.length > 0), `${a} fires in a test`).toBe(true);
      expect(cases.some((c) => c.alertname === a && c.exp_alerts.length === 0), `${a} stays silent in a test`).toBe(true);
    }
    for (const c of cases) expect(alerts, `test for unknown alert ${c.alertname}`).toContain(c.alertname);
  });
});

describe('deploy/alertmanager', () => {
  it('amtool check-config (when amtool is installed with Alertmanager)', async () => {
    const amtool = findBinary('amtool');
    // Debian's prometheus-alertmanager ships amtool; without it, still parse the YAML.
    const file = join(import.meta.dirname, '../../deploy/alertmanager/alertmanager.yml');
    const cfg = parse(readFileSync(file, 'utf8')) as { route: { receiver: string }; receivers: { name: string }[] };
    expect(cfg.receivers.map((r) => r.name)).toContain(cfg.route.receiver);
    if (amtool) {
      const r = await runCommand(amtool, ['check-config', file]);
      expect(r.code, r.output).toBe(0);
    }
  });
});
