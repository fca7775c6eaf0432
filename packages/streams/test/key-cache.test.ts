import { describe, expect, it } from 'vitest';
import { KeyCache } from '../src/key-cache.ts';
import { conversationKeys } from '../src/keys.ts';

describe('KeyCache', () => {
  it("returns a conversation's key names, the same frozen object again, and forgets the oldest beyond its size", () => {
    const cache = new KeyCache('ts', 2);
    const a = cache.get('a');
    expect(a).toEqual(conversationKeys('ts', 'a'));
    expect(Object.isFrozen(a)).toBe(true);
    expect(cache.get('a')).toBe(a);
    const b = cache.get('b');
    cache.get('c'); // 'a' is dropped
    expect(cache.get('b')).toBe(b);
    const again = cache.get('a');
    expect(again).not.toBe(a);
    expect(again).toEqual(a);
  });
});
