import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '../src/index.ts';
import { tenants } from '../src/schema/index.ts';
import { createTestDatabase, type TestDatabase } from '../src/testing/index.ts';

// DB_PREPARE=false (PgBouncer in transaction mode): no statement is prepared on the server, not even
// the ones the repositories prepare by name; the default prepares them.
let tdb: TestDatabase;
beforeAll(async () => {
  tdb = await createTestDatabase();
});
afterAll(async () => {
  await tdb?.drop();
});

async function preparedOnServer(prepare: boolean | undefined): Promise<number> {
  const dbh = createDb({ url: tdb.url, max: 1, ...(prepare === undefined ? {} : { prepare }) });
  try {
    // Prepared by name, as the repositories' per-turn statements are.
    const named = dbh.db.select().from(tenants).limit(1).prepare('tenants_first');
    for (let i = 0; i < 3; i++) {
      await dbh.db.execute(sql`select ${i}::int as i`);
      await dbh.db.query.tenants.findMany({ limit: 1 });
      await named.execute();
    }
    const rows = await dbh.sql`select count(*)::int as n from pg_prepared_statements`;
    return rows[0]!.n as number;
  } finally {
    await dbh.close();
  }
}

describe('createDb prepare', () => {
  it('prepares statements by default', async () => {
    expect(await preparedOnServer(undefined)).toBeGreaterThan(0);
  });

  it('prepares none with prepare: false', async () => {
    expect(await preparedOnServer(false)).toBe(0);
  });
});
