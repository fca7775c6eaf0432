import type { TestSystem } from './system.ts';

/** Append fault rules to the simulator (`POST /__sim/faults`). */
export async function addFaults(sys: TestSystem, rules: unknown[]): Promise<void> {
  const res = await sys.sim_('/__sim/faults', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ rules }),
  });
  if (!res.ok) throw new Error(`sim faults: ${res.status} ${await res.text()}`);
}

/** Remove every fault rule from the simulator. */
export async function clearFaults(sys: TestSystem): Promise<void> {
  const res = await sys.sim_('/__sim/faults', { method: 'DELETE' });
  if (!res.ok) throw new Error(`sim faults: ${res.status} ${await res.text()}`);
}

/** Replace the simulator's fault rules with `rules`. */
export async function setFaults(sys: TestSystem, rules: unknown[]): Promise<void> {
  await clearFaults(sys);
  await addFaults(sys, rules);
}
