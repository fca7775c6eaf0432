import type { IScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IService } from 'kubernetes-models/v1/Service';
import { describe, expect, it } from 'vitest';
import { one, render } from './support/render.ts';

type Trigger = IScaledObject['spec']['triggers'][number];

function demandTrigger(so: IScaledObject): Trigger {
  expect(so.spec.triggers).toHaveLength(1);
  return so.spec.triggers[0]!;
}

describe('helm chart: KEDA scales workers on the turns that need a slot', () => {
  it('reads turnstream_queue_demand_turns of its queue from the workers and targets concurrency x utilization per worker', async () => {
    const manifests = await render({
      worker: { concurrency: 50, metricsPort: 9500 },
      fleet: { turnsQueueName: 'turns-eu' },
      keda: { targetUtilizationPercent: 80, minReplicas: 3, maxReplicas: 30 },
    });
    const so = one<IScaledObject>(manifests, 'ScaledObject', '-worker');
    expect(so.spec.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'ts-turnstream-worker',
    });
    expect(so.spec.minReplicaCount).toBe(3);
    expect(so.spec.maxReplicaCount).toBe(30);

    const trigger = demandTrigger(so);
    expect(trigger.type).toBe('metrics-api');
    expect(trigger.metricType).toBe('AverageValue');
    expect(trigger.metadata).toEqual({
      url: 'http://ts-turnstream-worker-metrics.chat.svc:9500/metrics',
      format: 'prometheus',
      valueLocation: 'turnstream_queue_demand_turns{queue="turns-eu"}',
      targetValue: '40',
    });

    // The URL reaches the workers' metrics port through the metrics Service.
    const service = one<IService>(manifests, 'Service', '-worker-metrics');
    const worker = one<IDeployment>(manifests, 'Deployment', '-worker');
    expect(service.spec!.ports).toEqual([
      { name: 'metrics', port: 9500, targetPort: 'metrics', protocol: 'TCP' },
    ]);
    expect(service.spec!.selector).toEqual(worker.spec!.selector.matchLabels);
    // KEDA owns the replica count.
    expect(worker.spec!.replicas).toBeUndefined();
  });

  it('can query Prometheus instead, taking the max over workers (each reports the same queue-wide value)', async () => {
    const so = one<IScaledObject>(
      await render({
        keda: { trigger: 'prometheus', prometheus: { serverAddress: 'http://prom:9090' } },
        worker: { concurrency: 200 },
      }),
      'ScaledObject',
      '-worker',
    );
    const trigger = demandTrigger(so);
    expect(trigger.type).toBe('prometheus');
    expect(trigger.metricType).toBe('AverageValue');
    expect(trigger.metadata).toEqual({
      serverAddress: 'http://prom:9090',
      query: 'max(turnstream_queue_demand_turns{queue="turns"})',
      threshold: '160',
    });
  });

  it('holds the fallback replicas when the metric cannot be read and scales in one worker per minute', async () => {
    const so = one<IScaledObject>(await render(), 'ScaledObject', '-worker');
    expect(so.spec.fallback).toEqual({ failureThreshold: 3, replicas: 4 });
    const behavior = so.spec.advanced?.horizontalPodAutoscalerConfig?.behavior;
    expect(behavior?.scaleDown?.policies).toEqual([{ type: 'Pods', value: 1, periodSeconds: 60 }]);
    expect(behavior?.scaleDown?.stabilizationWindowSeconds).toBe(300);
  });

  it('renders no ScaledObject and a fixed replica count when KEDA is off', async () => {
    const manifests = await render({ keda: { enabled: false }, worker: { replicas: 5 } });
    expect(manifests.filter((m) => m.kind === 'ScaledObject')).toEqual([]);
    expect(one<IDeployment>(manifests, 'Deployment', '-worker').spec!.replicas).toBe(5);
  });
});
