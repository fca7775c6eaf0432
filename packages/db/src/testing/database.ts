import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { createDb, type DbHandle } from '../client.ts';
import { MIGRATIONS_FOLDER, runMigrations } from '../migrate.ts';

/** Server the test databases live on. `TEST_DATABASE_URL` > `DATABASE_URL` > local default. */
export function testServerUrl(): string {
  return (
    process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
  );
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Template name derived from the migrations' content: a schema change gets a new template. */
function templateName(): string {
  const hash = createHash('sha256');
  for (const file of readdirSync(MIGRATIONS_FOLDER).sort()) {
    if (file.endsWith('.sql')) hash.update(readFileSync(join(MIGRATIONS_FOLDER, file)));
  }
  return `turnstream_tpl_${hash.digest('hex').slice(0, 12)}`;
}

let templatePromise: Promise<string> | undefined;

/** Create (once, under an advisory lock) a migrated template database. Returns its name. */
export function ensureTemplateDatabase(serverUrl = testServerUrl()): Promise<string> {
  templatePromise ??= (async () => {
    const name = templateName();
    const admin = postgres(withDatabase(serverUrl, 'postgres'), { max: 1, onnotice: () => {} });
    try {
      await admin`select pg_advisory_lock(7301151)`;
      const exists = await admin`select 1 from pg_database where datname = ${name}`;
      if (exists.length === 0) {
        const building = `${name}_building`;
        await admin.unsafe(`drop database if exists "${building}" with (force)`);
        await admin.unsafe(`create database "${building}"`);
        await runMigrations(withDatabase(serverUrl, building), { createDatabase: false });
        await admin.unsafe(`alter database "${building}" rename to "${name}"`);
      }
      await admin`select pg_advisory_unlock(7301151)`;
    } finally {
      await admin.end({ timeout: 5 });
    }
    return name;
  })();
  return templatePromise;
}

export interface TestDatabase extends DbHandle {
  /** Connection string of this test's own database. */
  url: string;
  name: string;
  /** Close the pool and drop the database. */
  drop(): Promise<void>;
}

/**
 * A fresh migrated database for one test file, cloned from the template
 * (`CREATE DATABASE ... TEMPLATE`), dropped by `drop()`.
 */
export async function createTestDatabase(
  opts: { serverUrl?: string; max?: number } = {},
): Promise<TestDatabase> {
  const serverUrl = opts.serverUrl ?? testServerUrl();
  const template = await ensureTemplateDatabase(serverUrl);
  const name = `turnstream_t_${randomBytes(6).toString('hex')}`;
  const admin = postgres(withDatabase(serverUrl, 'postgres'), { max: 1, onnotice: () => {} });
  try {
    for (let tries = 0; ; tries++) {
      try {
        await admin.unsafe(`create database "${name}" template "${template}"`);
        break;
      } catch (err) {
        // 55006: the template is briefly in use by a concurrent clone; try again.
        if ((err as { code?: string }).code !== '55006' || tries > 50) throw err;
        await new Promise((r) => setTimeout(r, 20 + Math.random() * 50));
      }
    }
  } finally {
    await admin.end({ timeout: 5 });
  }
  const url = withDatabase(serverUrl, name);
  const handle = createDb({ url, max: opts.max ?? 5, applicationName: 'turnstream-test' });
  return {
    ...handle,
    url,
    name,
    async drop() {
      await handle.close();
      const a = postgres(withDatabase(serverUrl, 'postgres'), { max: 1, onnotice: () => {} });
      try {
        await a.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await a.end({ timeout: 5 });
      }
    },
  };
}
