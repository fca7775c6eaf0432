import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOG } from '../src/errors.ts';

/** docs/errors.md documents exactly the catalog: every code, with its HTTP status, and nothing else. */
describe('docs/errors.md', () => {
  const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
  const rows = [...doc.matchAll(/^\|\s*`([a-z_]+)`\s*\|\s*(\d{3})\s*\|\s*([^|]*?)\s*\|/gm)].map((m) => ({
    code: m[1]!,
    status: Number(m[2]),
    meaning: m[3]!,
  }));

  it('lists every catalog code with its status, once, and no other code', () => {
    const documented = rows.map((r) => [r.code, r.status]);
    const catalog = Object.entries(ERROR_CATALOG).map(([code, { status }]) => [code, status]);
    expect(new Set(rows.map((r) => r.code)).size).toBe(rows.length);
    expect(documented.sort()).toEqual(catalog.sort());
  });

  it('says what each code means', () => {
    for (const row of rows) expect(row.meaning.length, row.code).toBeGreaterThan(10);
  });

  it('every catalog status is a client (4xx) or server (5xx) error', () => {
    for (const [code, { status }] of Object.entries(ERROR_CATALOG)) {
      expect(status >= 400 && status < 600, code).toBe(true);
    }
  });
});
