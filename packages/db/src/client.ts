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
}

/** Open a postgres.js pool wrapped in Drizzle. */
export function createDb(opts: CreateDbOptions): DbHandle {
  const sql = postgres(opts.url, {
    max: opts.max ?? 10,
    onnotice: () => {},
    connection: { application_name: opts.applicationName ?? 'turnstream' },
  });
  const db = drizzle(sql, { schema });
  return { db, sql, close: () => sql.end({ timeout: 5 }) };
}
