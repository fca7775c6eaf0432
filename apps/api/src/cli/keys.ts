/**
 * Key and tenant-limit commands (run from the repository root):
 *
 *   pnpm key:create --tenant <tenantId> [--role client|viewer|admin] [--name <label>]
 *   pnpm key:list   --tenant <tenantId>
 *   pnpm key:revoke --key <keyId|prefix>
 *   pnpm key:rotate --key <keyId|prefix> [--grace 24h]
 *   pnpm tenant:limits --tenant <tenantId> [--messages-per-minute <n>|default] [--running-turns <n>|default]
 *                      [--retention-days <n>|default]
 *
 * Each prints one JSON object. A new key is shown once (only its hash is stored). `DATABASE_URL`,
 * `REDIS_URL` and `REDIS_PREFIX` select the deployment (revocations are announced to every API replica
 * over Redis; key use is read from there).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  connectionShape,
  createRedis,
  fleetSettingsShape,
  parseEnvWith,
  readEnvOrExit,
  redisTargetOf,
} from '@turnstream/config';
import { API_KEY_ROLES, type ApiKeyRole, createDb, setTenantLimits } from '@turnstream/db';
import { z } from 'zod';
import { addKey, type KeyAdminDeps, KeyAdminError, listKeys, revokeKey, rotateKey } from '../keys.ts';
import { UsageError } from './create-tenant.ts';

export const KEY_COMMANDS = ['create', 'list', 'revoke', 'rotate', 'limits'] as const;
export type KeyCommand = (typeof KEY_COMMANDS)[number];

const USAGE: Record<KeyCommand, string> = {
  create:
    'key:create --tenant <tenantId> [--role client|viewer|admin] [--name <label>] (default role: client)',
  list: 'key:list --tenant <tenantId>',
  revoke: 'key:revoke --key <keyId|prefix>',
  rotate: 'key:rotate --key <keyId|prefix> [--grace <duration: 24h, 90m, 30s, 0>] (default 24h)',
  limits:
    'tenant:limits --tenant <tenantId> [--messages-per-minute <n>|default] [--running-turns <n>|default] [--retention-days <n>|default]',
};

const OPTIONS = {
  tenant: { type: 'string' },
  role: { type: 'string' },
  name: { type: 'string' },
  key: { type: 'string' },
  grace: { type: 'string' },
  'messages-per-minute': { type: 'string' },
  'running-turns': { type: 'string' },
  'retention-days': { type: 'string' },
} as const;

/** `24h`, `90m`, `30s` or plain seconds, up to 30 days. */
export function parseGrace(value: string): number {
  const match = /^(\d{1,7})([smhd]?)$/.exec(value.trim());
  if (!match) throw new UsageError(`--grace must be a duration like 24h, 90m, 30s or 0, got "${value}"`);
  const seconds = Number(match[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[match[2] as '' | 's'];
  if (seconds > 30 * 86_400) throw new UsageError('--grace must be at most 30 days');
  return seconds;
}

/** A positive limit, or `default` (null: the deployment's default). */
function parseLimit(flag: string, value: string | undefined): number | null | undefined {
  if (value === undefined) return undefined;
  if (value === 'default') return null;
  if (!/^\d{1,9}$/.test(value) || Number(value) < 1) {
    throw new UsageError(`--${flag} must be a positive integer or "default", got "${value}"`);
  }
  return Number(value);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function required(values: Record<string, string | undefined>, flag: string, usage: string): string {
  const value = values[flag]?.trim();
  if (!value) throw new UsageError(`--${flag} is required\nusage: ${usage}`);
  if (flag === 'tenant' && !UUID.test(value)) throw new UsageError(`--tenant must be a tenant id (a UUID)`);
  return value;
}

/** Run one command; resolves with what to print. Throws `UsageError` or `KeyAdminError`. */
export async function runKeyCommand(command: string, argv: string[], deps: KeyAdminDeps): Promise<unknown> {
  if (!(KEY_COMMANDS as readonly string[]).includes(command)) {
    throw new UsageError(`unknown command "${command}"; one of: ${KEY_COMMANDS.join(', ')}`);
  }
  const usage = USAGE[command as KeyCommand];
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({ args: argv.filter((a) => a !== '--'), options: OPTIONS, strict: true }));
  } catch (err) {
    throw new UsageError(`${err instanceof Error ? err.message : String(err)}\nusage: ${usage}`);
  }
  switch (command as KeyCommand) {
    case 'create': {
      const role = (values.role ?? 'client') as ApiKeyRole;
      if (!API_KEY_ROLES.includes(role))
        throw new UsageError(`--role must be one of ${API_KEY_ROLES.join(', ')}`);
      const created = await addKey(deps.db, {
        tenantId: required(values, 'tenant', usage),
        role,
        ...(values.name ? { name: values.name } : {}),
      });
      return {
        keyId: created.id,
        tenantId: created.tenantId,
        apiKey: created.key,
        prefix: created.prefix,
        role,
      };
    }
    case 'list':
      return { keys: await listKeys(deps, required(values, 'tenant', usage)) };
    case 'revoke': {
      const { key, revokedAt } = await revokeKey(deps, required(values, 'key', usage));
      return { keyId: key.id, prefix: key.prefix, revokedAt };
    }
    case 'rotate': {
      const grace = parseGrace(values.grace ?? '24h');
      const { key, created, oldKeyExpiresAt } = await rotateKey(deps, required(values, 'key', usage), grace);
      return {
        keyId: created.id,
        tenantId: created.tenantId,
        apiKey: created.key,
        prefix: created.prefix,
        role: created.role,
        replaces: { keyId: key.id, prefix: key.prefix, expiresAt: oldKeyExpiresAt },
      };
    }
    case 'limits': {
      const tenantId = required(values, 'tenant', usage);
      const messagesPerMinute = parseLimit('messages-per-minute', values['messages-per-minute']);
      const maxRunningTurns = parseLimit('running-turns', values['running-turns']);
      const retentionDays = parseLimit('retention-days', values['retention-days']);
      const limits = await setTenantLimits(deps.db, tenantId, {
        ...(messagesPerMinute !== undefined ? { messagesPerMinute } : {}),
        ...(maxRunningTurns !== undefined ? { maxRunningTurns } : {}),
        ...(retentionDays !== undefined ? { retentionDays } : {}),
      });
      if (!limits) throw new KeyAdminError(`no tenant ${tenantId}`);
      return {
        tenantId,
        ...limits,
        note: 'null = the deployment default (TENANT_* and RETENTION_DAYS settings)',
      };
    }
  }
}

/** The key and tenant commands' environment: which deployment they act on. */
export const cliEnvSchema = z.object({
  ...connectionShape,
  REDIS_PREFIX: fleetSettingsShape.REDIS_PREFIX,
});

/** The command itself (also run by the production image: `tenant:create` / `key`). */
export async function main(): Promise<void> {
  const env = readEnvOrExit('keys', (source) => parseEnvWith(cliEnvSchema, source));
  const [command = '', ...argv] = process.argv.slice(2);
  const dbh = createDb({
    url: env.DATABASE_URL,
    max: 1,
    prepare: env.DB_PREPARE,
    applicationName: 'turnstream-cli',
  });
  const redis = createRedis(redisTargetOf(env), { maxRetriesPerRequest: 2, lazyConnect: true });
  try {
    const out = await runKeyCommand(command, argv, { db: dbh.db, redis, prefix: env.REDIS_PREFIX });
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } finally {
    await dbh.close();
    redis.disconnect();
  }
}

const invokedDirectly =
  process.argv[1] !== undefined && pathToFileURL(resolve(process.argv[1])).href === import.meta.url;
if (invokedDirectly) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(err instanceof UsageError || err instanceof KeyAdminError ? 2 : 1);
  });
}
