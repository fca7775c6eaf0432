import { getTableColumns, type SQL, sql } from 'drizzle-orm';
import type { PgTable } from 'drizzle-orm/pg-core';

/**
 * `alias.col as "prefix_col", ...` for every column of a table: a raw statement returning rows of
 * several tables side by side (mapped back with {@link rowOf}).
 */
export function columnsOf(table: PgTable, alias: string, prefix: string): SQL {
  const cols = Object.values(getTableColumns(table)).map((c) =>
    sql.raw(`${alias}."${c.name}" as "${prefix}${c.name}"`),
  );
  return sql.join(cols, sql`, `);
}

/** A row of `table` from the prefixed columns of a result row, decoded as Drizzle decodes it. */
export function rowOf<T>(table: PgTable, raw: Record<string, unknown>, prefix: string): T {
  const out: Record<string, unknown> = {};
  for (const [key, col] of Object.entries(getTableColumns(table))) {
    const value = raw[`${prefix}${col.name}`];
    out[key] = value === null || value === undefined ? null : col.mapFromDriverValue(value);
  }
  return out as T;
}
