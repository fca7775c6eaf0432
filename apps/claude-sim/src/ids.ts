import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function base62(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const byte of bytes) out += ALPHABET[byte % ALPHABET.length];
  return out;
}

/** A request id shaped like the real API's (`req_011C...`). */
export function newRequestId(): string {
  return `req_011C${base62(20)}`;
}

/** A message id shaped like the real API's (`msg_01...`). */
export function newMessageId(): string {
  return `msg_01${base62(22)}`;
}
