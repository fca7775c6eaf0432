import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

const ROOT = join(import.meta.dirname, '..', '..');
const OBS = join(ROOT, 'infra', 'observability');

/** PromQL syntax errors (the parser's error nodes), with their position. */
function promqlErrors(expr: string): string[] {
  const errors: string[] = [];
  parser.parse(expr).iterate({
    enter(node) {
      if (node.type.isError)
        errors.push(`at ${node.from}: ${JSON.stringify(expr.slice(node.from, node.from + 20))}`);
    },
  });
  return errors;
}

/** Every `turnstream_*` metric family a PromQL expression names (histogram suffixes stripped). */
function metricsIn(expr: string): string[] {
  return [...expr.matchAll(/\bturnstream_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ''));
}

/** Metric names the code defines (`name: 'turnstream_...'` in apps and packages sources). */
function definedMetrics(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      if (entry === 'node_modules' || entry === 'test' || entry === 'dist') continue;
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith('.ts')) {
        for (const m of readFileSync(path, 'utf8').matchAll(/name: '(turnstream_[a-z_]+)'/g))
          names.add(m[1]!);
      }
    }
  };
  walk(join(ROOT, 'apps'));
  walk(join(ROOT, 'packages'));
  return names;
}

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

describe('Prometheus alert rules', () => {
  const doc = parseYaml(readFileSync(join(OBS, 'alerts.yml'), 'utf8')) as {
    groups: { name: string; rules: Rule[] }[];
  };
  const rules = doc.groups.flatMap((g) => g.rules);

  it('has the structure Prometheus loads: named groups of alerts with expr, for, severity and docs', () => {
    expect(doc.groups.length).toBeGreaterThan(0);
    for (const g of doc.groups) {
      expect(g.name).toEqual(expect.any(String));
      expect(Object.keys(g).sort()).toEqual(['name', 'rules']);
    }
    for (const r of rules) {
      expect(
        Object.keys(r).every((k) => ['alert', 'expr', 'for', 'labels', 'annotations'].includes(k)),
        r.alert,
      ).toBe(true);
      expect(r.alert).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/);
      expect(r.for).toMatch(/^\d+[smh]$/);
      expect(['page', 'warning']).toContain(r.labels?.severity);
      expect(r.annotations?.summary).toEqual(expect.any(String));
      expect(r.annotations?.runbook).toMatch(/^docs\/operations\.md#/);
    }
    expect(rules.map((r) => r.alert)).toEqual(
      expect.arrayContaining([
        'TurnstreamFailureLoop',
        'TurnstreamStuckMessages',
        'TurnstreamQueueDepthGrowing',
        'TurnstreamRateLimitWaits',
        'TurnstreamWorkerNotReady',
      ]),
    );
  });

  it('parses every expression as PromQL', () => {
    for (const r of rules) expect(promqlErrors(r.expr), `${r.alert}: ${r.expr}`).toEqual([]);
    // The check itself catches broken PromQL.
    expect(promqlErrors('sum(rate(turnstream_turns_total[5m])')).not.toEqual([]);
    expect(promqlErrors('max by (queue turnstream_queue_jobs')).not.toEqual([]);
  });

  it('uses only metrics the code defines, and documents every alert', () => {
    const defined = definedMetrics();
    for (const r of rules)
      for (const m of metricsIn(r.expr)) expect(defined, `${r.alert} uses ${m}`).toContain(m);
    const ops = readFileSync(join(ROOT, 'docs', 'operations.md'), 'utf8');
    for (const r of rules) expect(ops, `docs/operations.md explains ${r.alert}`).toContain(`### ${r.alert}`);
  });
});

describe('Grafana dashboard', () => {
  const dash = JSON.parse(readFileSync(join(OBS, 'grafana-dashboard.json'), 'utf8'));
  const targets = dash.panels.flatMap((p: { targets?: { expr: string }[] }) => p.targets ?? []);

  it('is a dashboard whose every query is valid PromQL on metrics the code defines', () => {
    expect(dash.uid).toBe('turnstream');
    expect(targets.length).toBeGreaterThan(20);
    const defined = definedMetrics();
    const used = new Set<string>();
    for (const t of targets) {
      // Grafana's range variable is not PromQL: substitute a duration before parsing.
      const expr = t.expr.replaceAll('$__rate_interval', '1m');
      expect(promqlErrors(expr), expr).toEqual([]);
      for (const m of metricsIn(expr)) {
        expect(defined, `dashboard uses ${m}`).toContain(m);
        used.add(m);
      }
    }
    // Every metric the code defines is on the dashboard.
    for (const m of defined) expect(used, `${m} has a panel`).toContain(m);
  });
});
