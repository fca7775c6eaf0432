/**
 * Redis Stream entry ids: `<milliseconds>-<sequence>`, both unsigned 64-bit decimal integers.
 * They are compared numerically (never as strings: `"9-0" > "10-0"` as strings).
 */

const STREAM_ID = /^(\d{1,20})(?:-(\d{1,20}))?$/;
/** Largest value of each part of an id (unsigned 64-bit). */
const MAX_PART = '18446744073709551615';

/**
 * true when `value` is a Redis Stream id (`ms-seq`, or a bare `ms` meaning `ms-0`) whose parts fit
 * in 64 bits (Redis refuses larger ones with an error).
 */
export function isStreamId(value: string): boolean {
  const match = STREAM_ID.exec(value);
  if (!match) return false;
  return (
    compareDecimal(stripZeros(match[1]!), MAX_PART) <= 0 &&
    compareDecimal(stripZeros(match[2] ?? '0'), MAX_PART) <= 0
  );
}

/** The millisecond part of a stream id, as a decimal string without leading zeros. */
export function streamIdMs(id: string): string {
  return parts(id)[0];
}

function parts(id: string): [string, string] {
  const match = STREAM_ID.exec(id);
  if (!match) throw new TypeError(`not a Redis Stream id: ${JSON.stringify(id)}`);
  return [stripZeros(match[1]!), stripZeros(match[2] ?? '0')];
}

function stripZeros(digits: string): string {
  const stripped = digits.replace(/^0+/, '');
  return stripped === '' ? '0' : stripped;
}

/** Compares two unsigned decimal integers of any size given as strings without leading zeros. */
function compareDecimal(a: string, b: string): number {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

/**
 * Orders two Redis Stream ids numerically (milliseconds first, then sequence).
 * Returns a negative number when `a` is older than `b`, 0 when equal, positive when newer.
 * Throws a `TypeError` when either is not a stream id.
 */
export function compareStreamIds(a: string, b: string): number {
  const [aMs, aSeq] = parts(a);
  const [bMs, bSeq] = parts(b);
  return compareDecimal(aMs, bMs) || compareDecimal(aSeq, bSeq);
}
