import { describe, expect, it } from 'vitest';
import { parseEnv } from '../src/env.ts';

describe('parseEnv', () => {
  it('has defaults for everything', () => {
    expect(parseEnv({})).toEqual({
      SIM_PORT: 4100,
      SIM_HOST: '127.0.0.1',
      SIM_TOKEN_DELAY_MS: 5,
      SIM_REPLY_WORDS: 40,
      SIM_SEED: '1',
      SIM_CONTEXT_LIMIT: 200_000,
      SIM_MAX_OUTPUT_TOKENS: 128_000,
      SIM_MIN_CACHEABLE_TOKENS: 1024,
      LOG_LEVEL: 'info',
    });
  });

  it('coerces numbers and treats empty strings as unset', () => {
    const env = parseEnv({
      SIM_PORT: '0',
      SIM_TOKEN_DELAY_MS: '20',
      SIM_REPLY_WORDS: '',
      SIM_CONTEXT_LIMIT: '5000',
    });
    expect(env).toMatchObject({
      SIM_PORT: 0,
      SIM_TOKEN_DELAY_MS: 20,
      SIM_REPLY_WORDS: 40,
      SIM_CONTEXT_LIMIT: 5000,
    });
  });

  it('rejects invalid values', () => {
    expect(() => parseEnv({ SIM_PORT: 'eighty' })).toThrow();
    expect(() => parseEnv({ SIM_REPLY_WORDS: '0' })).toThrow();
    expect(() => parseEnv({ LOG_LEVEL: 'loud' })).toThrow();
  });
});
