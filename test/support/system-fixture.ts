import { afterAll, beforeAll } from 'vitest';
import { type SystemOptions, TestSystem } from './system.ts';

/**
 * The system of a test file (or of the describe block it is called in): started in beforeAll, stopped in
 * afterAll. Its processes and connections exist once the hook ran: in tests, and in hooks registered
 * after this call.
 */
export function systemFixture(opts: SystemOptions = {}, hookTimeoutMs?: number): TestSystem {
  const sys = new TestSystem(opts);
  beforeAll(async () => {
    await sys.start();
  }, hookTimeoutMs);
  afterAll(async () => {
    await sys.stop();
  }, hookTimeoutMs);
  return sys;
}
