import { findApiKey } from '@turnstream/db';
import { describe, expect, it } from 'vitest';
import { parseCreateTenantArgs } from '../src/cli/create-tenant.ts';
import { createTenantWithKey, DEV_TENANT_NAME, ensureDevTenant } from '../src/tenants.ts';
import { harnessFixture } from './helpers.ts';

const h = harnessFixture();

describe('tenant:create', () => {
  it('parses its arguments', () => {
    expect(parseCreateTenantArgs(['--name', 'acme'])).toEqual({
      name: 'acme',
      role: 'client',
      operator: false,
    });
    expect(parseCreateTenantArgs(['--', '--name', 'acme', '--role', 'viewer'])).toEqual({
      name: 'acme',
      role: 'viewer',
      operator: false,
    });
    expect(parseCreateTenantArgs(['--name', 'ops', '--operator'])).toEqual({
      name: 'ops',
      role: 'admin',
      operator: true,
    });
    expect(() => parseCreateTenantArgs([])).toThrow(/--name is required/);
    expect(() => parseCreateTenantArgs(['--name', 'a', '--role', 'root'])).toThrow(/--role must be one of/);
    expect(() => parseCreateTenantArgs(['--name', 'a', '--colour', 'x'])).toThrow(/usage/);
  });

  it('creates a tenant whose key works against the API', async () => {
    const created = await createTenantWithKey(h.tdb.db, { name: 'acme', role: 'client' });
    expect(created).toEqual({
      tenantId: expect.any(String),
      apiKey: expect.stringMatching(/^ts_/),
      role: 'client',
    });
    const res = await h.request('POST', '/v1/conversations', { key: created.apiKey, body: {} });
    expect(res.status).toBe(201);
  });
});

describe('ensureDevTenant', () => {
  it('reuses the development tenant and creates a new key each time without a fixed key', async () => {
    const a = await ensureDevTenant(h.tdb.db);
    const b = await ensureDevTenant(h.tdb.db);
    expect(a.created).toBe(true);
    expect(b.created).toBe(false);
    expect(b.tenantId).toBe(a.tenantId);
    expect(b.apiKey).not.toBe(a.apiKey);
    expect((await findApiKey(h.tdb.db, a.apiKey))?.role).toBe('admin');
    const tenants = await h.tdb.db.query.tenants.findMany({
      where: (t, { eq }) => eq(t.name, DEV_TENANT_NAME),
    });
    expect(tenants).toHaveLength(1);
  });

  it('registers a fixed key once and reuses it', async () => {
    const key = 'ts_devdevde_fixed-development-key-for-tests';
    const [a, b] = await Promise.all([
      ensureDevTenant(h.tdb.db, { key }),
      ensureDevTenant(h.tdb.db, { key }),
    ]);
    expect(a.apiKey).toBe(key);
    expect(b.apiKey).toBe(key);
    const again = await ensureDevTenant(h.tdb.db, { key });
    expect(again).toMatchObject({ apiKey: key, tenantId: a.tenantId, role: 'admin' });
    expect((await h.request('GET', '/v1/conversations', { key })).status).toBe(200);
  });
});
