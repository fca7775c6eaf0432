import { DEFAULT_DATABASE_URL } from '@turnstream/config';
import { runMigrations } from './migrate.ts';

// The migration command: `DATABASE_URL` only (docs/configuration.md).
const url = process.env.DATABASE_URL?.trim() || DEFAULT_DATABASE_URL;
runMigrations(url).then(
  () => {
    console.log(JSON.stringify({ event: 'db.migrate_completed', database: new URL(url).pathname.slice(1) }));
  },
  (err: unknown) => {
    console.error(JSON.stringify({ event: 'db.migrate_failed', error: String(err) }));
    process.exit(1);
  },
);
