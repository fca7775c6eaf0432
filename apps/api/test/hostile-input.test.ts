import { databaseDigest } from '@turnstream/db/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { harnessFixture, tenantFixture } from './helpers.ts';

/**
 * Inputs a hostile client sends, each answered with a 4xx from the catalog that changes nothing:
 * text Postgres cannot store losslessly (NUL, unpaired surrogates), numbers out of range.
 */
const h = harnessFixture();
const t = tenantFixture(h);
let conv: string;

beforeAll(async () => {
  conv = (await h.request('POST', '/v1/conversations', { key: t.keys.client, body: { title: 'x' } })).body.id;
});

/** Send `send`, expect `status` with `code`, and no change at all in the database. */
async function rejectsWithoutWriting(
  send: () => Promise<{ status: number; body: { error?: { code: string; message: string } } }>,
  status: number,
  code: string,
): Promise<string> {
  const before = await databaseDigest(h.tdb);
  const res = await send();
  expect(res.status).toBe(status);
  expect(res.body.error?.code).toBe(code);
  expect(await databaseDigest(h.tdb)).toBe(before);
  return res.body.error!.message;
}

const BAD_TEXT: Array<[string, string]> = [
  ['NUL', 'a\u0000b'],
  ['a lone high surrogate', 'a\ud800b'],
  ['a lone low surrogate', 'a\udc00b'],
  ['a reversed surrogate pair', '\udc00\ud800'],
];

describe('text Postgres cannot store losslessly is rejected everywhere (one rule)', () => {
  const conversationFields = ['title', 'externalId', 'system', 'model'] as const;
  for (const [what, text] of BAD_TEXT) {
    for (const field of conversationFields) {
      it(`POST /v1/conversations: ${what} in ${field} is 400 validation_failed naming the field`, async () => {
        const message = await rejectsWithoutWriting(
          () => h.request('POST', '/v1/conversations', { key: t.keys.client, body: { [field]: text } }),
          400,
          'validation_failed',
        );
        expect(message).toContain(`${field}: must not contain NUL or unpaired surrogate characters`);
      });
    }

    it(`POST messages: ${what} in content is 400 validation_failed`, async () => {
      const message = await rejectsWithoutWriting(
        () =>
          h.request('POST', `/v1/conversations/${conv}/messages`, {
            key: t.keys.client,
            body: { content: text },
          }),
        400,
        'validation_failed',
      );
      expect(message).toContain('content: must not contain NUL');
    });
  }

  it('a JSON escape and a raw character are the same input', async () => {
    await rejectsWithoutWriting(
      () =>
        h.request('POST', '/v1/conversations', {
          key: t.keys.client,
          rawBody: '{"title":"a\\u0000b"}',
          headers: { 'content-type': 'application/json' },
        }),
      400,
      'validation_failed',
    );
  });

  it('?externalId=%00 is 400, not a database error', async () => {
    await rejectsWithoutWriting(
      () => h.request('GET', '/v1/conversations?externalId=%00', { key: t.keys.viewer }),
      400,
      'validation_failed',
    );
  });

  it('?externalId=%ED%A0%80 (an encoded lone surrogate) is 400', async () => {
    await rejectsWithoutWriting(
      () => h.request('GET', '/v1/conversations?externalId=%ED%A0%80', { key: t.keys.viewer }),
      400,
      'validation_failed',
    );
  });

  it('a body that is not UTF-8 is 400 invalid_json (never stored as U+FFFD)', async () => {
    const before = await databaseDigest(h.tdb);
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/conversations',
      headers: { authorization: `Bearer ${t.keys.client}`, 'content-type': 'application/json' },
      payload: Buffer.concat([Buffer.from('{"title":"a'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]),
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('invalid_json');
    expect(await databaseDigest(h.tdb)).toBe(before);
  });

  it('a malformed percent-escape in the query (?externalId=%zz) is 400 naming the parameter', async () => {
    const message = await rejectsWithoutWriting(
      () => h.request('GET', '/v1/conversations?externalId=%zz', { key: t.keys.viewer }),
      400,
      'validation_failed',
    );
    expect(message).toContain('externalId: is not valid percent-encoded UTF-8');
  });

  it('well-formed text outside the BMP and U+FFFD itself are stored as sent', async () => {
    const title = 'emoji 😀 and \ufffd and 𝄞';
    const res = await h.request('POST', '/v1/conversations', { key: t.keys.client, body: { title } });
    expect(res.status).toBe(201);
    expect(res.body.title).toBe(title);
    const again = await h.request('GET', `/v1/conversations/${res.body.id}`, { key: t.keys.viewer });
    expect(again.body.title).toBe(title);
  });
});

describe('numeric query parameters are range-checked', () => {
  const cases: Array<[string, string]> = [
    ['afterSeq above the integer range', 'afterSeq=2147483648'],
    ['afterSeq far above it', 'afterSeq=99999999999999999999999'],
    ['negative afterSeq', 'afterSeq=-1'],
    ['fractional afterSeq', 'afterSeq=1.5'],
    ['afterSeq in exponent form', 'afterSeq=1e3'],
    ['hexadecimal afterSeq', 'afterSeq=0x10'],
    ['empty afterSeq', 'afterSeq='],
    ['limit 0', 'limit=0'],
    ['limit above the maximum', 'limit=501'],
    ['limit with spaces', 'limit=%2010'],
    ['repeated limit', 'limit=1&limit=2'],
  ];
  for (const [name, query] of cases) {
    it(`GET messages?${query} (${name}) is 400 validation_failed`, async () => {
      await rejectsWithoutWriting(
        () => h.request('GET', `/v1/conversations/${conv}/messages?${query}`, { key: t.keys.viewer }),
        400,
        'validation_failed',
      );
    });
  }

  it('the largest valid afterSeq answers 200', async () => {
    const res = await h.request('GET', `/v1/conversations/${conv}/messages?afterSeq=2147483647`, {
      key: t.keys.viewer,
    });
    expect(res.status).toBe(200);
    expect(res.body.messages).toEqual([]);
  });

  for (const query of ['limit=0', 'limit=101', 'limit=1e1', 'limit=-5']) {
    it(`GET /v1/conversations?${query} is 400 validation_failed`, async () => {
      await rejectsWithoutWriting(
        () => h.request('GET', `/v1/conversations?${query}`, { key: t.keys.viewer }),
        400,
        'validation_failed',
      );
    });
  }
});
