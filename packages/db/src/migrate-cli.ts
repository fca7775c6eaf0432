import { runMigrations } from './migrate.ts';

const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/turnstream';
runMigrations(url).then(
  () => {
    console.log(JSON.stringify({ event: 'db.migrate_completed', database: new URL(url).pathname.slice(1) }));
  },
  (err: unknown) => {
    console.error(JSON.stringify({ event: 'db.migrate_failed', error: String(err) }));
    process.exit(1);
  },
);
