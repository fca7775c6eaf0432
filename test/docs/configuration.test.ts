import { readFileSync } from 'node:fs';
import { apiEnvSchema } from '@turnstream/api';
import { FLEET_DEFAULTS, fleetSettingsSchema } from '@turnstream/config';
import { TURNS_QUEUE } from '@turnstream/contracts';
import { workerEnvSchema } from '@turnstream/worker';
import { describe, expect, it } from 'vitest';
import { CONFIGURATION_DOC, renderConfigurationDoc } from '../../scripts/config-docs.ts';

describe('docs/configuration.md', () => {
  it('is what `pnpm docs:config` renders from the schemas (run it and commit the page when this fails)', () => {
    expect(readFileSync(CONFIGURATION_DOC, 'utf8')).toBe(renderConfigurationDoc());
  });

  it('lists every variable of the API and the worker, each with a meaning', () => {
    const page = renderConfigurationDoc();
    for (const schema of [apiEnvSchema, workerEnvSchema]) {
      for (const name of Object.keys(schema.shape)) {
        expect(page, name).toMatch(new RegExp(`^\\| \`${name}\` +\\| [^|]+ \\| \\S`, 'm'));
      }
    }
  });
});

describe('fleet settings', () => {
  it('have one set of defaults, used by the API, the worker and TurnsClient', () => {
    const names = Object.keys(fleetSettingsSchema.shape) as Array<keyof typeof FLEET_DEFAULTS>;
    const api = apiEnvSchema.parse({});
    const worker = workerEnvSchema.parse({});
    for (const name of names) {
      expect(api[name], name).toBe(FLEET_DEFAULTS[name]);
      expect(worker[name], name).toBe(FLEET_DEFAULTS[name]);
    }
    expect(TURNS_QUEUE).toBe(FLEET_DEFAULTS.TURNS_QUEUE_NAME);
  });
});
