import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';

/** A kind the chart may render: its model (runtime JSON-schema validator) and its TypeScript type. */
export interface KindSchema {
  /** Validates against the OpenAPI-derived JSON schema; throws on the first violation. */
  validate(manifest: Record<string, unknown>): void;
  /** Module and interface declaring the kind's shape, for the strict (unknown field) check. */
  typeModule: string;
  typeName: string;
}

type Validatable = { validate(): void };

function kind(Model: new (data: never) => Validatable, typeModule: string, typeName: string): KindSchema {
  return {
    validate: (manifest) => new Model(manifest as never).validate(),
    typeModule,
    typeName,
  };
}

/**
 * Every kind the chart renders, keyed `apiVersion/kind`. Kubernetes models are those of the
 * `kubernetes-models` package (Kubernetes 1.27 OpenAPI), KEDA's of `@kubernetes-models/keda`,
 * prometheus-operator's of `@kubernetes-models/prometheus-operator`. A kind missing here fails the test:
 * nothing is rendered without a schema.
 */
export const SCHEMAS: Record<string, KindSchema> = {
  'v1/ConfigMap': kind(ConfigMap, 'kubernetes-models/v1/ConfigMap', 'IConfigMap'),
  'v1/Secret': kind(Secret, 'kubernetes-models/v1/Secret', 'ISecret'),
  'v1/Service': kind(Service, 'kubernetes-models/v1/Service', 'IService'),
  'v1/ServiceAccount': kind(ServiceAccount, 'kubernetes-models/v1/ServiceAccount', 'IServiceAccount'),
  'apps/v1/Deployment': kind(Deployment, 'kubernetes-models/apps/v1/Deployment', 'IDeployment'),
  'batch/v1/Job': kind(Job, 'kubernetes-models/batch/v1/Job', 'IJob'),
  'policy/v1/PodDisruptionBudget': kind(
    PodDisruptionBudget,
    'kubernetes-models/policy/v1/PodDisruptionBudget',
    'IPodDisruptionBudget',
  ),
  'autoscaling/v2/HorizontalPodAutoscaler': kind(
    HorizontalPodAutoscaler,
    'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler',
    'IHorizontalPodAutoscaler',
  ),
  'networking.k8s.io/v1/Ingress': kind(Ingress, 'kubernetes-models/networking.k8s.io/v1/Ingress', 'IIngress'),
  'keda.sh/v1alpha1/ScaledObject': kind(
    ScaledObject,
    '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject',
    'IScaledObject',
  ),
  'monitoring.coreos.com/v1/PodMonitor': kind(
    PodMonitor,
    '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor',
    'IPodMonitor',
  ),
};

export function schemaKey(manifest: { apiVersion?: unknown; kind?: unknown }): string {
  return `${String(manifest.apiVersion)}/${String(manifest.kind)}`;
}
