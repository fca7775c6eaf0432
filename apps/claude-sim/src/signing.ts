import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Issues and verifies thinking-block signatures: base64 HMAC-SHA256 of the thinking text under a
 * signing key. Rotating the key makes every signature issued before stop verifying, which is what a
 * provider-side key change does to stored transcripts.
 */
export class ThinkingSigner {
  #key: Buffer;

  constructor(key?: string) {
    this.#key = key ? Buffer.from(key, 'utf8') : randomBytes(32);
  }

  sign(thinking: string): string {
    return createHmac('sha256', this.#key).update(thinking, 'utf8').digest('base64');
  }

  verify(thinking: string, signature: unknown): boolean {
    if (typeof signature !== 'string' || signature.length === 0) return false;
    const expected = Buffer.from(this.sign(thinking), 'utf8');
    const given = Buffer.from(signature, 'utf8');
    return expected.length === given.length && timingSafeEqual(expected, given);
  }

  /** Replaces the key with a fresh random one (or the given one). */
  rotate(key?: string): void {
    this.#key = key ? Buffer.from(key, 'utf8') : randomBytes(32);
  }
}
