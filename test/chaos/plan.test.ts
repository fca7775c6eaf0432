import { seededRandom } from '@turnstream/testkit';
import { describe, expect, it } from 'vitest';
import { planLoad } from './plan.ts';
import { PROFILES } from './profile.ts';

// The chaos load plan is a pure function of the seed: a failing run is replayed with its seed.
const profile = PROFILES.bounded!;

describe('chaos load plan', () => {
  it('is the same for the same seed and differs for another', () => {
    expect(planLoad(seededRandom(5), profile)).toEqual(planLoad(seededRandom(5), profile));
    expect(planLoad(seededRandom(6), profile)).not.toEqual(planLoad(seededRandom(5), profile));
  });

  it('plans every message once, uniquely tagged, with the profile mix of channels, faults, cancels and resets', () => {
    const plans = planLoad(seededRandom(11), PROFILES.soak!);
    const messages = plans.flatMap((c) => c.messages);
    expect(messages).toHaveLength(PROFILES.soak!.conversations * PROFILES.soak!.messagesPerConversation);
    expect(new Set(messages.map((m) => m.tag)).size).toBe(messages.length);
    for (const m of messages) expect(m.content).toContain(m.tag);
    // No tag is a prefix of another (the simulator matches faults by substring).
    expect(messages.filter((m) => messages.some((o) => o !== m && o.tag.includes(m.tag)))).toEqual([]);
    const share = (n: number) => n / messages.length;
    expect(share(messages.filter((m) => m.fault?.kind === 'transient').length)).toBeCloseTo(0.2, 1);
    const fatal = messages.filter((m) => m.fault?.kind === 'fatal');
    expect(fatal.length).toBeGreaterThan(0);
    // A fatal fault strikes every request of its message (a takeover's retry fails the same way).
    for (const m of fatal) expect(m.fault?.times).toBeUndefined();
    expect(plans.some((c) => c.channel === 'direct')).toBe(true);
    expect(plans.some((c) => c.thinking)).toBe(true);
    expect(plans.filter((c) => c.messages.some((m) => m.resetWhileStreaming)).length).toBeGreaterThan(0);
  });

  it('keeps cancelled and reset messages free of faults, and queues a queued cancel behind a burst', () => {
    const plans = planLoad(seededRandom(3), PROFILES.soak!);
    for (const c of plans) {
      c.messages.forEach((m, i) => {
        if (m.cancel || m.resetWhileStreaming) expect(m.fault).toBeUndefined();
        if (m.cancel === 'queued') {
          expect(c.channel).toBe('api');
          expect(c.messages[i - 1]!.burst).toBe(true);
        }
        if (m.resetWhileStreaming) expect(m.burst).toBe(false);
      });
      expect(c.messages.at(-1)!.burst).toBe(false);
      if (c.channel === 'direct') expect(c.messages.every((m) => !m.burst)).toBe(true);
    }
    const cancels = plans.flatMap((c) => c.messages.filter((m) => m.cancel));
    expect(new Set(cancels.map((m) => m.cancel))).toEqual(new Set(['queued', 'streaming']));
  });
});
