import type { SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import type { Db } from '../client.ts';

/**
 * Drizzle builds a query's SQL text and result mapping anew on every call; on the per-turn and
 * per-request paths that building cost more CPU than the round trip. A prepared query is built once
 * per database handle (with `sql.placeholder` for its inputs) and reused. Prepared queries must not
 * capture values at build time: use `sql\`now()\`` for timestamps, placeholders for everything else.
 *
 * Keyed by the handle: a transaction handle gets its own (short-lived) entries.
 */
const cache = new WeakMap<object, Map<string, unknown>>();

export function prepared<Q>(db: Db, name: string, build: (db: Db) => Q): Q {
  let queries = cache.get(db);
  if (!queries) {
    queries = new Map();
    cache.set(db, queries);
  }
  let query = queries.get(name) as Q | undefined;
  if (query === undefined) {
    query = build(db);
    queries.set(name, query);
  }
  return query;
}

const dialect = new PgDialect();

/** A prepared raw statement: rows as the driver returns them, keyed by column name. */
export interface PreparedSql<Row> {
  execute(values: Record<string, unknown>): Promise<Row[]>;
}

/**
 * A statement the query builder cannot express (several data-modifying CTEs), written as `sql` with
 * `sql.placeholder` inputs and prepared once per handle like {@link prepared}.
 */
export function preparedSql<Row>(db: Db, name: string, statement: SQL): PreparedSql<Row> {
  return prepared(
    db,
    name,
    (d) =>
      d._.session.prepareQuery(dialect.sqlToQuery(statement), undefined, name, false) as PreparedSql<Row>,
  );
}

/** A failed query's Postgres error code (drizzle wraps the driver's error as `cause`). */
export function pgErrorCode(err: unknown): string | undefined {
  const e = err as { code?: string; cause?: { code?: string } };
  return e?.cause?.code ?? e?.code;
}
