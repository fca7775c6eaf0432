import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IJob } from 'kubernetes-models/batch/v1/Job';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IService } from 'kubernetes-models/v1/Service';
import { describe, expect, it } from 'vitest';
import { IMAGE_COMMANDS } from '../image/src/commands.ts';
import type { Manifest } from './support/manifest.ts';
import { one, render } from './support/render.ts';

function container(deployment: { spec?: { template: { spec?: { containers: IContainer[] } } } }): IContainer {
  return deployment.spec!.template.spec!.containers[0]!;
}

function envNames(c: IContainer): string[] {
  return (c.env ?? []).map((e) => e.name);
}

function envValue(c: IContainer, name: string): string | undefined {
  return c.env?.find((e) => e.name === name)?.value;
}

function selects(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined) {
  return Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
}

describe('helm chart: processes', () => {
  it('runs migrations in a Job hooked before install and upgrade, and turns migrating at start off for API and workers', async () => {
    const manifests = await render();
    const job = one<IJob & Manifest>(manifests, 'Job', '-migrate');
    expect(job.metadata.annotations?.['helm.sh/hook']).toBe('pre-install,pre-upgrade');
    const migrate = job.spec!.template.spec!.containers[0]!;
    expect(migrate.args?.[0]).toMatch(/migrate/);
    expect(envNames(migrate)).toContain('DATABASE_URL');
    expect(job.spec!.template.spec!.restartPolicy).toBe('Never');

    const config = one<IConfigMap>(manifests, 'ConfigMap', '-config');
    expect(config.data?.MIGRATE_ON_START).toBe('false');
    for (const suffix of ['-api', '-worker']) {
      const deployment = one<IDeployment>(manifests, 'Deployment', suffix);
      expect(container(deployment).envFrom).toEqual([{ configMapRef: { name: 'ts-turnstream-config' } }]);
      expect(envNames(container(deployment))).not.toContain('MIGRATE_ON_START');
    }
  });

  it('can give the migration Job its own DATABASE_URL (past a transaction-mode pooler), the apps keep theirs', async () => {
    const manifests = await render({ secrets: { keys: { migrateDatabaseUrl: 'DIRECT_DATABASE_URL' } } });
    const ref = (c: IContainer) =>
      c.env?.find((e) => e.name === 'DATABASE_URL')?.valueFrom?.secretKeyRef?.key;
    expect(ref(one<IJob>(manifests, 'Job', '-migrate').spec!.template.spec!.containers[0]!)).toBe(
      'DIRECT_DATABASE_URL',
    );
    expect(ref(container(one<IDeployment>(manifests, 'Deployment', '-api')))).toBe('DATABASE_URL');
    expect(ref(container(one<IDeployment>(manifests, 'Deployment', '-worker')))).toBe('DATABASE_URL');
  });

  it('starts each process with a command of the image', async () => {
    // The image's entrypoint is its bundled program (infra/image); the args name the command.
    const manifests = await render();
    const commands = [
      container(one<IDeployment>(manifests, 'Deployment', '-api')).args,
      container(one<IDeployment>(manifests, 'Deployment', '-worker')).args,
      one<IJob>(manifests, 'Job', '-migrate').spec!.template.spec!.containers[0]!.args,
    ];
    expect(commands).toEqual([['api'], ['worker'], ['migrate']]);
    for (const args of commands) expect(Object.keys(IMAGE_COMMANDS)).toContain(args?.[0]);
  });

  it('gives workers longer to stop than the grace period of their running turns', async () => {
    for (const graceMs of [0, 20_000, 60_000, 90_500]) {
      const worker = one<IDeployment>(
        await render({ worker: { shutdownGraceMs: graceMs } }),
        'Deployment',
        '-worker',
      );
      expect(envValue(container(worker), 'SHUTDOWN_GRACE_MS')).toBe(String(graceMs));
      const kill = worker.spec!.template.spec!.terminationGracePeriodSeconds!;
      expect(kill * 1000).toBeGreaterThanOrEqual(graceMs + 10_000);
    }
  });

  it('probes the API on its HTTP port and the workers on METRICS_PORT (/healthz live, /readyz ready)', async () => {
    const manifests = await render({ worker: { metricsPort: 9555 }, api: { port: 3100 } });
    const api = container(one<IDeployment>(manifests, 'Deployment', '-api'));
    expect(api.ports).toEqual([
      { name: 'http', containerPort: 3100, protocol: 'TCP' },
      { name: 'metrics', containerPort: 9464, protocol: 'TCP' },
    ]);
    expect(envValue(api, 'METRICS_PORT')).toBe('9464');
    expect(envValue(api, 'PORT')).toBe('3100');
    expect(envValue(api, 'HOST')).toBe('0.0.0.0');
    expect(api.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(api.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });

    const worker = container(one<IDeployment>(manifests, 'Deployment', '-worker'));
    expect(worker.ports).toEqual([{ name: 'metrics', containerPort: 9555, protocol: 'TCP' }]);
    expect(envValue(worker, 'METRICS_PORT')).toBe('9555');
    expect(envValue(worker, 'METRICS_HOST')).toBe('0.0.0.0');
    expect(worker.startupProbe?.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(worker.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(worker.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
  });

  it('sets resource requests and limits on every container', async () => {
    const manifests = await render();
    const pods = [
      one<IDeployment>(manifests, 'Deployment', '-api').spec!.template,
      one<IDeployment>(manifests, 'Deployment', '-worker').spec!.template,
      one<IJob>(manifests, 'Job', '-migrate').spec!.template,
    ];
    for (const pod of pods) {
      for (const c of pod.spec!.containers) {
        expect(Object.keys(c.resources?.requests ?? {}).sort(), c.name).toEqual(['cpu', 'memory']);
        expect(Object.keys(c.resources?.limits ?? {}).sort(), c.name).toEqual(['cpu', 'memory']);
      }
    }
  });

  it('reads secrets from the Secret only: the ConfigMap holds none and the API never gets the Anthropic key', async () => {
    const manifests = await render();
    const config = one<IConfigMap>(manifests, 'ConfigMap', '-config');
    for (const secret of ['DATABASE_URL', 'REDIS_URL', 'ANTHROPIC_API_KEY']) {
      expect(Object.keys(config.data ?? {})).not.toContain(secret);
    }
    const fromSecret = (c: IContainer) =>
      (c.env ?? [])
        .filter((e) => e.valueFrom?.secretKeyRef?.name === 'turnstream-secrets')
        .map((e) => e.name);
    expect(fromSecret(container(one<IDeployment>(manifests, 'Deployment', '-api')))).toEqual([
      'DATABASE_URL',
      'REDIS_URL',
    ]);
    expect(fromSecret(container(one<IDeployment>(manifests, 'Deployment', '-worker')))).toEqual([
      'DATABASE_URL',
      'REDIS_URL',
      'ANTHROPIC_API_KEY',
    ]);
    expect(fromSecret(one<IJob>(manifests, 'Job', '-migrate').spec!.template.spec!.containers[0]!)).toEqual([
      'DATABASE_URL',
    ]);
  });

  it('gives API and workers the same fleet settings from one ConfigMap', async () => {
    const manifests = await render({
      fleet: {
        redisPrefix: 'chat',
        bullPrefix: '{chat-bull}',
        turnsQueueName: 'turns-eu',
        turnsIntakeQueueName: 'turns-eu-intake',
        redisShardedPubsub: true,
      },
    });
    expect(one<IConfigMap>(manifests, 'ConfigMap', '-config').data).toMatchObject({
      REDIS_PREFIX: 'chat',
      BULL_PREFIX: '{chat-bull}',
      TURNS_QUEUE_NAME: 'turns-eu',
      TURNS_INTAKE_QUEUE_NAME: 'turns-eu-intake',
      REDIS_SHARDED_PUBSUB: 'true',
    });
  });
});

describe('helm chart: monitoring', () => {
  it('scrapes the API and the workers on their metrics ports, under job names the alert rules match', async () => {
    const manifests = await render({ podMonitor: { enabled: true } });
    for (const component of ['api', 'worker']) {
      const monitor = one<Manifest & { spec: { selector: { matchLabels: Record<string, string> } } }>(
        manifests,
        'PodMonitor',
        `-${component}`,
      );
      const deployment = one<IDeployment>(manifests, 'Deployment', `-${component}`);
      expect(selects(monitor.spec.selector.matchLabels, deployment.spec!.template.metadata!.labels)).toBe(
        true,
      );
      expect(container(deployment).ports?.some((p) => p.name === 'metrics')).toBe(true);
    }
    // infra/observability/alerts.yml finds the workers' scrape job with job=~".*worker.*".
    expect(one<Manifest>(manifests, 'PodMonitor', '-worker').metadata.name).toMatch(/worker/);
  });
});

describe('helm chart: API', () => {
  it('serves through a Service, scales on CPU with an HPA and keeps a replica through disruptions', async () => {
    const manifests = await render();
    const deployment = one<IDeployment>(manifests, 'Deployment', '-api');
    const podLabels = deployment.spec!.template.metadata!.labels;
    expect(deployment.spec!.replicas).toBeUndefined(); // the HPA owns it

    const service = one<IService>(manifests, 'Service', '-api');
    expect(selects(service.spec!.selector, podLabels)).toBe(true);
    expect(service.spec!.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]);

    const hpa = one<IHorizontalPodAutoscaler>(manifests, 'HorizontalPodAutoscaler', '-api');
    expect(hpa.spec!.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'ts-turnstream-api',
    });
    expect(hpa.spec!.minReplicas).toBeGreaterThanOrEqual(2);
    expect(hpa.spec!.metrics?.[0]?.resource?.name).toBe('cpu');

    const pdb = one<IPodDisruptionBudget>(manifests, 'PodDisruptionBudget', '-api');
    expect(pdb.spec!.minAvailable).toBe(1);
    expect(selects(pdb.spec!.selector!.matchLabels, podLabels)).toBe(true);
  });

  it('keeps serving while load balancers forget a terminating pod, and drains within its grace period', async () => {
    const api = one<IDeployment>(await render({ api: { shutdownTimeoutMs: 30_000 } }), 'Deployment', '-api');
    const c = container(api);
    expect(c.lifecycle?.preStop?.exec?.command).toEqual(['sleep', '5']);
    expect(envValue(c, 'SHUTDOWN_TIMEOUT_MS')).toBe('30000');
    expect(api.spec!.template.spec!.terminationGracePeriodSeconds).toBeGreaterThan(5 + 30);
  });
});

describe('helm chart: workers', () => {
  it('drains workers one at a time and never runs fewer during a rollout', async () => {
    const manifests = await render();
    const worker = one<IDeployment>(manifests, 'Deployment', '-worker');
    expect(worker.spec!.strategy?.rollingUpdate?.maxUnavailable).toBe(0);
    const pdb = one<IPodDisruptionBudget>(manifests, 'PodDisruptionBudget', '-worker');
    expect(pdb.spec!.maxUnavailable).toBe(1);
    expect(selects(pdb.spec!.selector!.matchLabels, worker.spec!.template.metadata!.labels)).toBe(true);
  });

  it('names each worker after its pod and passes its concurrency', async () => {
    const worker = container(
      one<IDeployment>(await render({ worker: { concurrency: 40 } }), 'Deployment', '-worker'),
    );
    expect(worker.env?.find((e) => e.name === 'WORKER_ID')?.valueFrom?.fieldRef?.fieldPath).toBe(
      'metadata.name',
    );
    expect(envValue(worker, 'WORKER_CONCURRENCY')).toBe('40');
  });
});
