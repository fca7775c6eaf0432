import { helmTemplate } from './helm.ts';
import { type Manifest, parseManifests } from './manifest.ts';

/** The values a production install passes at least: the Secret it created beforehand. */
export const BASE_VALUES = { secrets: { existingSecret: 'turnstream-secrets' } };

type Values = Record<string, unknown>;

function isPlainObject(value: unknown): value is Values {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `override` over `base`, objects merged key by key (arrays and scalars replaced), as Helm merges values. */
export function mergeValues(base: Values, override: Values): Values {
  const merged: Values = { ...base };
  for (const [key, value] of Object.entries(override)) {
    const current = merged[key];
    merged[key] = isPlainObject(current) && isPlainObject(value) ? mergeValues(current, value) : value;
  }
  return merged;
}

/** Renders the chart with `values` over {@link BASE_VALUES} and parses the manifests. */
export async function render(values: Values = {}, release = 'ts'): Promise<Manifest[]> {
  return parseManifests(await helmTemplate({ values: mergeValues(BASE_VALUES, values), release }));
}

/** The one manifest of `kind` whose name ends with `suffix` (throws when there is not exactly one). */
export function one<T>(manifests: Manifest[], kind: string, suffix = ''): T {
  const found = manifests.filter((m) => m.kind === kind && m.metadata.name.endsWith(suffix));
  if (found.length !== 1) {
    throw new Error(`expected one ${kind} named *${suffix}, found ${found.length}`);
  }
  return found[0] as T;
}

export function kindsOf(manifests: Manifest[]): string[] {
  return [...new Set(manifests.map((m) => m.kind))].sort();
}
