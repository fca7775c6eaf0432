import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMigrations } from '../src/index.ts';
import { testServerUrl } from '../src/testing/index.ts';

/**
 * A managed-Postgres-like setup on the test server: an application role without CREATEDB that owns
 * its (empty) database. A maintenance database that does not exist stands for a provider where the
 * application cannot reach `postgres`.
 */
const suffix = randomBytes(5).toString('hex');
const role = `turnstream_app_${suffix}`;
const database = `turnstream_m_${suffix}`;
const missing = `turnstream_missing_${suffix}`;
const admin = postgres(testServerUrl(), { max: 1, onnotice: () => {} });

function urlAs(user: string, name: string): string {
  const url = new URL(testServerUrl());
  url.username = user;
  url.password = '';
  url.pathname = `/${name}`;
  return url.toString();
}

beforeAll(async () => {
  await admin.unsafe(`create role "${role}" login nocreatedb`);
  await admin.unsafe(`create database "${database}" owner "${role}"`);
});

afterAll(async () => {
  for (const name of [database, missing])
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
  await admin.unsafe(`drop role if exists "${role}"`);
  await admin.end({ timeout: 5 });
});

describe('runMigrations on a database the application may not create', () => {
  it('migrates an existing database without CREATE DATABASE rights or the maintenance database', async () => {
    const url = urlAs(role, database);
    await runMigrations(url, { maintenanceDatabase: `no_such_maintenance_${suffix}` });
    await runMigrations(url, { maintenanceDatabase: `no_such_maintenance_${suffix}` }); // idempotent

    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const [row] = await sql<[{ owner: string }]>`
        select tableowner as owner from pg_tables where schemaname = 'public' and tablename = 'conversations'`;
      expect(row?.owner).toBe(role);
    } finally {
      await sql.end({ timeout: 5 });
    }
  });

  it('fails readably when the database is missing and the role cannot create it', async () => {
    await expect(runMigrations(urlAs(role, missing))).rejects.toMatchObject({ code: '42501' });
  });

  it('still creates a missing database when the role may', async () => {
    const url = new URL(testServerUrl());
    url.pathname = `/${missing}`;
    await runMigrations(url.toString());
    const [row] = await admin`select 1 as found from pg_database where datname = ${missing}`;
    expect(row?.found).toBe(1);
  });
});
