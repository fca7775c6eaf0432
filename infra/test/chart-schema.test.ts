import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { describe, expect, it } from 'vitest';
import { CHART_DIR, HelmError, helm, helmTemplate } from './support/helm.ts';
import { one, render } from './support/render.ts';
import { schemaErrors } from './support/validate.ts';

/** Value sets that together render every template and every branch of the chart. */
const SCENARIOS: Record<string, Record<string, unknown>> = {
  production: {},
  everything: {
    secrets: {
      existingSecret: '',
      create: true,
      values: {
        DATABASE_URL: 'postgres://u:p@db/turnstream',
        REDIS_URL: 'redis://r:6379',
        ANTHROPIC_API_KEY: 'k',
      },
    },
    ingress: { enabled: true, className: 'nginx', hosts: [{ host: 'chat.example.com' }] },
    podMonitor: { enabled: true, labels: { release: 'prom' } },
    api: { env: { DB_POOL_MAX: 20 }, podAnnotations: { team: 'chat' } },
    worker: { env: { MAX_TOKENS: 2048 }, tolerations: [{ key: 'spot', operator: 'Exists' }] },
  },
  prometheusTrigger: { keda: { trigger: 'prometheus' } },
  noAutoscaling: {
    keda: { enabled: false },
    api: { autoscaling: { enabled: false }, pdb: { enabled: false } },
    worker: { pdb: { enabled: false } },
    migrate: { enabled: false },
    topologySpread: { enabled: false },
    serviceAccount: { create: false },
  },
};

describe('helm chart schema', () => {
  // The in-memory type check of every manifest takes seconds; more on a loaded machine.
  it('renders manifests that match the Kubernetes, KEDA and prometheus-operator schemas, with no undeclared field', {
    timeout: 180_000,
  }, async () => {
    const rendered = await Promise.all(Object.values(SCENARIOS).map((values) => render(values)));
    const all = rendered.flat();
    expect(new Set(all.map((m) => m.kind))).toEqual(
      new Set([
        'ConfigMap',
        'Deployment',
        'HorizontalPodAutoscaler',
        'Ingress',
        'Job',
        'PodDisruptionBudget',
        'PodMonitor',
        'ScaledObject',
        'Secret',
        'Service',
        'ServiceAccount',
      ]),
    );
    expect(schemaErrors(all)).toEqual([]);
  });

  it('the validation catches a misspelled field, a mistyped value and a kind it has no schema for', {
    timeout: 180_000,
  }, async () => {
    const manifests = await render();
    const api = one<IDeployment>(manifests, 'Deployment', '-api');
    const container = api.spec!.template.spec!.containers[0]! as unknown as Record<string, unknown>;
    container.resource = container.resources; // misspelled: Kubernetes would drop it silently
    (api.spec as unknown as Record<string, unknown>).replicas = 'two';
    manifests.push({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } });

    const errors = schemaErrors(manifests);
    expect(errors).toContain(
      'Deployment/ts-turnstream-api: spec.template.spec.containers.0.resource is not a field of its kind',
    );
    expect(
      errors.some((e) => e.startsWith('Deployment/ts-turnstream-api: data/spec/replicas must be integer')),
    ).toBe(true);
    expect(errors).toContain('Widget/w: no schema for example.com/v1/Widget');
  });

  it('passes helm lint in strict mode', async () => {
    const { stdout } = await helm(['lint', '--strict', CHART_DIR, '--set', 'secrets.existingSecret=s']);
    expect(stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it('refuses values its schema forbids, naming the value', async () => {
    const refusals: Array<[Record<string, unknown>, RegExp]> = [
      [{ secrets: { existingSecret: 's' }, worker: { concurrency: 0 } }, /'\/worker\/concurrency': minimum/],
      [{ secrets: { existingSecret: 's' }, keda: { trigger: 'cpu' } }, /'\/keda\/trigger'/],
      [
        { secrets: { existingSecret: 's' }, keda: { targetUtilizationPercent: 150 } },
        /targetUtilizationPercent': maximum/,
      ],
      [
        { secrets: { existingSecret: 's' }, worker: { concurrencyy: 10 } },
        /additional properties 'concurrencyy'/,
      ],
      [{}, /secrets\.existingSecret/],
      [{ secrets: { create: true } }, /DATABASE_URL is required/],
    ];
    for (const [values, message] of refusals) {
      const error = await helmTemplate({ values }).then(
        () => null,
        (err: unknown) => err,
      );
      expect(error, JSON.stringify(values)).toBeInstanceOf(HelmError);
      expect((error as HelmError).stderr).toMatch(message);
    }
  });
});
