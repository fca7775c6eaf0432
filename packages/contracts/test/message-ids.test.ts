import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { intakeJobId, scopedMessageId, uuidV5 } from '../src/message-ids.ts';

describe('tenant-scoped message ids', () => {
  it('uuidV5 is RFC 9562 version 5 (the DNS namespace example)', () => {
    expect(uuidV5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe(
      '2ed6657d-e927-568b-95e1-2665a8aea6a2',
    );
  });

  it('the same id under two tenants is two ids; under one tenant always the same', () => {
    const id = randomUUID();
    const a = randomUUID();
    const b = randomUUID();
    expect(scopedMessageId(a, id)).toBe(scopedMessageId(a, id));
    expect(scopedMessageId(a, id.toUpperCase())).toBe(scopedMessageId(a, id));
    expect(scopedMessageId(a, id)).not.toBe(scopedMessageId(b, id));
    expect(scopedMessageId(a, id)).not.toBe(id);
    expect(scopedMessageId(a, id)).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(intakeJobId(a, id)).not.toBe(intakeJobId(b, id));
  });
});
