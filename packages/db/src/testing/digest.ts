import type { TestDatabase } from './database.ts';

const digestQueries = new WeakMap<TestDatabase, Promise<string>>();

/** One query digesting every row of every table (table names come from the catalog, quoted). */
async function digestQuery(tdb: TestDatabase): Promise<string> {
  const tables = await tdb.sql<{ name: string }[]>`
    select table_name as name from information_schema.tables
    where table_schema = 'public' and table_type = 'BASE TABLE' order by table_name`;
  return tables
    .map(({ name }) => {
      const quoted = `"${name.replaceAll('"', '""')}"`;
      // Order-free: a count and a sum of 64-bit row hashes (no sort), cheap enough to run per request.
      return `select '${name.replaceAll("'", "''")}' as t, count(*)::text || ':' || coalesce(sum(hashtextextended(x::text, 0)), 0)::text as d from ${quoted} x`;
    })
    .join(' union all ');
}

/**
 * A digest of every row of every table of a test database: equal digests mean nothing was inserted,
 * updated or deleted in between. Used to prove that rejected requests change nothing.
 */
export async function databaseDigest(tdb: TestDatabase): Promise<string> {
  let query = digestQueries.get(tdb);
  if (!query) {
    query = digestQuery(tdb);
    digestQueries.set(tdb, query);
  }
  const rows = await tdb.sql.unsafe<{ t: string; d: string }[]>(await query);
  return rows.map((r) => `${r.t}:${r.d}`).join(',');
}
