/**
 * `pnpm tenant:create --name acme [--role client|viewer|admin]`: migrate, create a tenant and an API
 * key (role `client` unless asked otherwise; `admin` for an `--operator` tenant), print `{ tenantId, apiKey, role }` as JSON. The key is shown this once (only its hash is stored).
 * `DATABASE_URL` selects the database (default: the local one).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_DATABASE_URL } from '@turnstream/config';
import { type ApiKeyRole, createDb, runMigrations } from '@turnstream/db';
import { createTenantWithKey } from '../tenants.ts';

export { createTenantWithKey, ensureDevTenant } from '../tenants.ts';

const ROLES: readonly ApiKeyRole[] = ['client', 'viewer', 'admin'];

export class UsageError extends Error {
  override name = 'UsageError';
}

/** Parse the command line; throws `UsageError` with the usage text when it is wrong. */
export function parseCreateTenantArgs(argv: string[]): { name: string; role: ApiKeyRole; operator: boolean } {
  const usage =
    'usage: tenant:create --name <name> [--role client|viewer|admin] [--operator] (default role: client, admin with --operator; --operator: the tenant that runs the deployment, whose admin/viewer keys see every tenant on /admin)';
  let values: { name?: string; role?: string; operator?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv.filter((a) => a !== '--'),
      options: { name: { type: 'string' }, role: { type: 'string' }, operator: { type: 'boolean' } },
      strict: true,
    }));
  } catch (err) {
    throw new UsageError(`${err instanceof Error ? err.message : String(err)}\n${usage}`);
  }
  const name = values.name?.trim();
  if (!name) throw new UsageError(`--name is required\n${usage}`);
  const role = (values.role ?? (values.operator ? 'admin' : 'client')) as ApiKeyRole;
  if (!ROLES.includes(role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}\n${usage}`);
  return { name, role, operator: values.operator ?? false };
}

/** The command itself (also run by the production image: `tenant:create` / `key`). */
export async function main(): Promise<void> {
  const args = parseCreateTenantArgs(process.argv.slice(2));
  const url = process.env.DATABASE_URL?.trim() || DEFAULT_DATABASE_URL;
  await runMigrations(url);
  const dbh = createDb({ url, max: 1, applicationName: 'turnstream-cli' });
  try {
    const created = await createTenantWithKey(dbh.db, args);
    process.stdout.write(`${JSON.stringify(created)}\n`);
  } finally {
    await dbh.close();
  }
}

const invokedDirectly =
  process.argv[1] !== undefined && pathToFileURL(resolve(process.argv[1])).href === import.meta.url;
if (invokedDirectly) {
  main().catch((err: unknown) => {
    process.stderr.write(`tenant:create failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(err instanceof UsageError ? 2 : 1);
  });
}
