import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse } from 'yaml';
import { DEFAULT_HTTP_PORT } from '../../src/daemon/http.js';

const root = join(import.meta.dirname, '../../deploy');

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function k8s(): Obj[] {
  const dir = join(root, 'k8s');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => d.toJS() as Obj));
}

describe('deploy manifests', () => {
  it('Kubernetes: deployment with probes, resources, non-root; service, monitor, PDB, KEDA', () => {
    const docs = k8s();
    const kinds = docs.map((d) => d.kind).sort();
    expect(kinds).toEqual(['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'ScaledObject', 'Service', 'ServiceMonitor']);
    const dep = docs.find((d) => d.kind === 'Deployment')!;
    const c = dep.spec.template.spec.containers[0];
    expect(c.ports[0].containerPort).toBe(DEFAULT_HTTP_PORT);
    expect(c.livenessProbe.httpGet.path).toBe('/healthz');
    expect(c.readinessProbe.httpGet.path).toBe('/readyz');
    expect(c.resources.requests.cpu).toBeDefined();
    expect(c.resources.limits.memory).toBeDefined();
    expect(dep.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
    const sel = dep.spec.selector.matchLabels;
    for (const kind of ['Service', 'PodDisruptionBudget']) {
      const d = docs.find((x) => x.kind === kind)!;
      expect(d.spec.selector.matchLabels ?? d.spec.selector).toEqual(sel);
    }
    const so = docs.find((d) => d.kind === 'ScaledObject')!;
    expect(so.spec.scaleTargetRef.name).toBe(dep.metadata.name);
    expect(so.spec.triggers[0].type).toBe('kafka');
    const kust = parse(readFileSync(join(root, 'k8s/kustomization.yaml'), 'utf8')) as Obj;
    expect([...kust.resources].sort()).toEqual(readdirSync(join(root, 'k8s')).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort());
  });

  it('docker-compose: the five services, with provisioned Grafana and mounted configs', () => {
    const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as Obj;
    expect(Object.keys(compose.services).sort()).toEqual(['alertmanager', 'grafana', 'kafka', 'noisefloor', 'prometheus']);
    expect(compose.services.kafka.image).toMatch(/^apache\/kafka:/);
    expect(compose.services.kafka.environment.KAFKA_PROCESS_ROLES).toBe('broker,controller');
    expect(compose.services.noisefloor.build.dockerfile).toBe('deploy/Dockerfile');
    const grafanaMounts: string[] = compose.services.grafana.volumes;
    expect(grafanaMounts.some((v) => v.startsWith('./grafana/provisioning:'))).toBe(true);
    expect(grafanaMounts.some((v) => v.startsWith('./grafana/dashboards:/var/lib/grafana/dashboards'))).toBe(true);
    const provider = parse(readFileSync(join(root, 'grafana/provisioning/dashboards/noisefloor.yml'), 'utf8')) as Obj;
    expect(provider.providers[0].options.path).toBe('/var/lib/grafana/dashboards');
    const prom = parse(readFileSync(join(root, 'prometheus/prometheus.yml'), 'utf8')) as Obj;
    expect(prom.scrape_configs[0].static_configs[0].targets).toEqual([`noisefloor:${DEFAULT_HTTP_PORT}`]);
  });

  it('Dockerfile: multi-stage node:24-slim, npm ci with .npmrc, non-root, serve entry', () => {
    const df = readFileSync(join(root, 'Dockerfile'), 'utf8');
    expect(df.match(/^FROM node:24-slim/gm)).toHaveLength(2);
    expect(df).toMatch(/COPY package\.json package-lock\.json \.npmrc/);
    expect(df).toMatch(/RUN npm ci/);
    expect(df).toMatch(/^USER node$/m);
    expect(df).toContain('ENTRYPOINT ["node", "dist/src/cli/main.js"]');
    expect(df).toContain('CMD ["serve", "--config", "/etc/noisefloor/config.yaml"]');
  });

  it('systemd unit runs serve as an unprivileged user', () => {
    const unit = readFileSync(join(root, 'systemd/noisefloor.service'), 'utf8');
    expect(unit).toMatch(/^User=noisefloor$/m);
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/node \S+\/dist\/src\/cli\/main\.js serve --config \/etc\/noisefloor\/config\.yaml$/m);
    expect(unit).toMatch(/^\[Install\]$/m);
  });
});
