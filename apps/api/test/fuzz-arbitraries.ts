import { DEFAULT_MODELS } from '@turnstream/contracts';
import fc from 'fast-check';

/**
 * Generators of hostile input for the API fuzz suite: text Postgres cannot store, numbers out of
 * every range, malformed percent-encoding, JSON of any shape, stream ids of every size.
 */

/** Single UTF-16 code units, surrogate halves and NUL included. */
const anyCodeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));

/** Pieces that break naive handling: NUL, surrogate halves, escapes, separators, injections. */
const nasty = fc.constantFrom(
  '\u0000',
  '\ud800',
  '\udfff',
  '\udc00\ud800',
  '\ufffd',
  '\ufeff',
  '\u202e',
  '\u2028',
  '\u0085',
  '\r\n',
  '\t',
  ' ',
  '"',
  "'",
  '\\',
  '%',
  '%00',
  '%zz',
  '%ED%A0%80',
  '😀',
  '𝄞',
  '../',
  '$' + '{x}',
  '<script>',
  '-1',
  '1e309',
  'NaN',
  'null',
  '[]',
  '{}',
);

/** Strings a hostile client sends in a text field. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: anyCodeUnit, maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.array(nasty, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('')),
  fc.constantFrom('', '   ', 'x'.repeat(100_001), 'é'.repeat(600), 'a'.repeat(201)),
);

/** Numbers at and beyond every boundary. */
export const hostileNumber: fc.Arbitrary<number> = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -0, 1, -1, 1023, 1024, 2_147_483_647, 2_147_483_648, 2 ** 53, -(2 ** 53), 1e308, 0.5),
);

/** Any JSON value, with hostile strings and numbers inside. */
export const hostileJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    hostileString,
    hostileNumber,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(
      fc.oneof(hostileString, fc.constantFrom('content', 'title', 'mode', '__proto__', 'constructor')),
      tie('value'),
      {
        maxKeys: 4,
      },
    ),
  ),
})).value;

const mode = fc.constantFrom('stream', 'batch');

/** A valid value for each known field of a route's body. */
const validFields = {
  createConversation: {
    title: fc.string({ minLength: 1, maxLength: 20 }).filter((v) => v.trim() !== ''),
    externalId: fc.uuid().map((u) => `ext-${u}`),
    system: fc.string({ maxLength: 40 }),
    model: fc.constantFrom(...DEFAULT_MODELS.filter((m) => m.thinkingBudget).map((m) => m.id)),
    thinking: fc.oneof(
      fc.constant(null),
      fc.record({ budgetTokens: fc.integer({ min: 1024, max: 60_000 }) }),
    ),
    mode,
  },
  postMessage: {
    content: fc.string({ minLength: 1, maxLength: 40 }).filter((v) => v.trim() !== ''),
    mode,
    idempotencyKey: fc.uuid(),
  },
} as const;

/**
 * A valid body with one change: a field replaced by a hostile value (a string with NUL or a surrogate
 * half, a number out of range, a value of another type), a field dropped, or an unknown field added.
 * What reaches the database is always one bad value away from a valid request.
 */
function mutatedBody(fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<Record<string, unknown>> {
  const names = Object.keys(fields);
  const hostileValue = fc.oneof(
    { weight: 3, arbitrary: hostileString },
    { weight: 1, arbitrary: hostileJson },
  );
  return fc
    .tuple(
      fc.record(fields, { requiredKeys: [] }),
      fc.constantFrom(...names, '(unknown)'),
      hostileValue,
      fc.constantFrom('replace', 'nest', 'drop'),
    )
    .map(([body, name, value, how]) => {
      const out: Record<string, unknown> = { ...body };
      if (name === '(unknown)') out[typeof value === 'string' && value ? value : 'unknown'] = value;
      else if (how === 'drop') delete out[name];
      else if (how === 'nest' && name === 'thinking') out.thinking = { budgetTokens: value };
      else out[name] = value;
      return out;
    });
}

/** Bodies for each POST route: valid ones, valid ones with one hostile change, and anything at all. */
export const routeBodies = {
  createConversation: fc.oneof(
    { weight: 1, arbitrary: fc.record(validFields.createConversation, { requiredKeys: [] }) },
    { weight: 4, arbitrary: mutatedBody(validFields.createConversation) },
  ),
  postMessage: fc.oneof(
    { weight: 1, arbitrary: fc.record(validFields.postMessage, { requiredKeys: ['content'] }) },
    { weight: 4, arbitrary: mutatedBody(validFields.postMessage) },
  ),
  empty: fc.oneof(fc.constant({}), fc.dictionary(hostileString, hostileJson, { minKeys: 1, maxKeys: 2 })),
};

/** Printable header-safe text (what Node lets through), hostile within that. */
export const headerText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 60 }),
  fc.string({ unit: fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: 8 }),
  fc.constantFrom('', ' ', 'Bearer', 'Bearer ', 'Basic abc', 'bearer ts_x', '%00', '\t'),
);

/** Raw query-string pieces: percent escapes of arbitrary bytes (invalid UTF-8 included), stray `%`. */
export const queryText: fc.Arbitrary<string> = fc.oneof(
  fc
    .uint8Array({ maxLength: 8 })
    .map((bytes) => [...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')),
  fc.string({ unit: fc.constantFrom(...'azAZ09-_.~%+=&;,/:@!*()$'), maxLength: 20 }),
  fc.integer().map(String),
  fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }).map(String),
  fc.constantFrom(
    '',
    '1e3',
    '0x10',
    '%2010',
    '1.5',
    '-0',
    '00',
    '2147483648',
    'true',
    '%00',
    '%ED%A0%80',
    '%zz',
  ),
);

/** Strings in the shape of stream ids (`ms-seq`), at every size, and near misses. */
export const resumeId: fc.Arbitrary<string> = fc.oneof(
  fc
    .tuple(fc.bigInt({ min: 0n, max: 2n ** 70n }), fc.bigInt({ min: 0n, max: 2n ** 70n }))
    .map(([ms, seq]) => `${ms}-${seq}`),
  fc
    .tuple(fc.integer({ min: 0, max: 4_102_444_800_000 }), fc.integer({ min: 0, max: 1000 }))
    .map(([ms, seq]) => `${ms}-${seq}`),
  fc.constantFrom(
    '0-0',
    '0',
    '1-',
    '-1',
    '$',
    '+',
    '-',
    '*',
    '>',
    ' 1-0',
    '1-0 ',
    '01-00',
    '1-0-0',
    '18446744073709551615-18446744073709551615',
    '18446744073709551616-0',
    '99999999999999999999-0',
    '9999999999999-0',
    '١٢٣-٠',
  ),
  headerText,
);

/** Path segments in place of an id: encoded or raw, long, empty, traversal. */
export const pathSegment: fc.Arbitrary<string> = fc.oneof(
  fc.uuid(),
  queryText,
  fc.string({ unit: fc.constantFrom(...'abcXYZ0189-_.~%:@'), maxLength: 130 }),
  fc.constantFrom('', '.', '..', '%2e%2e', '%2F', 'a'.repeat(101), '00000000-0000-0000-0000-000000000000'),
);
