import { sql as sqlTag } from 'drizzle-orm';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import * as schema from './schema/index.ts';

export type Schema = typeof schema;
/** The Drizzle database every repository function takes. A transaction handle is accepted too. */
export type Db = PostgresJsDatabase<Schema>;

export interface DbHandle {
  db: Db;
  sql: postgres.Sql;
  close(): Promise<void>;
}

export interface CreateDbOptions {
  /** postgres:// connection string. */
  url: string;
  /** Pool size. Default 10. */
  max?: number;
  /** Application name reported to Postgres (pg_stat_activity). */
  applicationName?: string;
  /**
   * Use prepared statements (postgres.js `prepare`, default true). False for PgBouncer in transaction
   * mode before 1.21 (`DB_PREPARE=false`).
   */
  prepare?: boolean;
}

/** Open a postgres.js pool wrapped in Drizzle. */
export function createDb(opts: CreateDbOptions): DbHandle {
  const sql = postgres(opts.url, {
    max: opts.max ?? 10,
    prepare: opts.prepare ?? true,
    onnotice: () => {},
    connection: { application_name: opts.applicationName ?? 'turnstream' },
  });
  const db = drizzle(sql, { schema });
  return { db, sql, close: () => sql.end({ timeout: 5 }) };
}

/**
 * What every process of one deployment shares: the Postgres cluster (its system identifier) and the
 * database. Names the fleet's settings marker in Redis. Falls back to the database name alone where
 * `pg_control_system()` is not granted.
 */
export async function databaseIdentity(db: Db): Promise<string> {
  try {
    const rows = (await db.execute(
      sqlTag`select current_database() as name, (select system_identifier::text from pg_control_system()) as system`,
    )) as unknown as Array<{ name: string; system: string }>;
    return `${rows[0]!.system}/${rows[0]!.name}`;
  } catch (err) {
    if ((err as { code?: string }).code !== '42501') throw err;
    const rows = (await db.execute(sqlTag`select current_database() as name`)) as unknown as Array<{
      name: string;
    }>;
    return `database/${rows[0]!.name}`;
  }
}
