import { ensureTemplateDatabase, testServerUrl } from '@turnstream/db/testing';
import postgres from 'postgres';

/**
 * Runs once per `vitest run`: checks Postgres is reachable and builds the migrated template
 * database that every test file clones (see packages/db/src/testing/database.ts).
 */
export default async function setup(): Promise<void> {
  const url = testServerUrl();
  const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    await sql`select 1`;
  } catch (err) {
    throw new Error(`Postgres is not reachable at ${new URL(url).host}: ${String(err)}`);
  } finally {
    await sql.end({ timeout: 2 });
  }
  await ensureTemplateDatabase(url);
}
