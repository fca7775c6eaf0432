import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { ManagedProcess, stopAll, waitFor } from '../src/index.ts';

// A tiny program that logs JSON lines: a tick every 10 ms, and a clean exit on SIGTERM.
const PROGRAM = `
let n = 0;
const log = (o) => console.log(JSON.stringify(o));
process.on('SIGTERM', () => { log({ event: 'demo.stop_completed' }); process.exit(0); });
setInterval(() => log({ event: 'demo.tick', n: ++n }), 10);
log({ event: 'demo.start_completed' });
console.log('not json');
`;

function demo(): ManagedProcess {
  return new ManagedProcess({ name: 'demo', command: process.execPath, args: ['-e', PROGRAM] });
}

function state(pid: number): string {
  return execFileSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' }).trim();
}

afterAll(() => stopAll());

describe('ManagedProcess', () => {
  it('collects JSON and raw lines and waits for logged events', async () => {
    const p = demo();
    const started = await p.waitForEvent('demo.start_completed', 10_000);
    expect(started.event).toBe('demo.start_completed');
    await p.waitForLog((l) => l.raw === true && l.msg === 'not json');
    await p.waitForLog((l) => l.event === 'demo.tick' && Number(l.n) >= 3);
    expect(p.eventsNamed('demo.tick').length).toBeGreaterThanOrEqual(3);
    await p.kill();
  });

  it('pauses (SIGSTOP) and resumes (SIGCONT)', async () => {
    const p = demo();
    await p.waitForEvent('demo.tick', 10_000);
    p.pause();
    await waitFor(() => state(p.pid!).startsWith('T'), { message: 'process stopped' });
    expect(p.paused).toBe(true);
    const ticks = p.eventsNamed('demo.tick').length;
    p.resume();
    await p.waitForLog((l) => l.event === 'demo.tick' && Number(l.n) > ticks + 2);
    expect(state(p.pid!)).not.toMatch(/^T/);
    await p.kill();
  });

  it('stop() is a SIGTERM its program can handle; kill() is a SIGKILL it cannot', async () => {
    const graceful = demo();
    await graceful.waitForEvent('demo.start_completed', 10_000);
    graceful.pause();
    expect(await graceful.stop()).toEqual({ code: 0, signal: null });
    expect(graceful.eventsNamed('demo.stop_completed')).toHaveLength(1);

    const crashed = demo();
    await crashed.waitForEvent('demo.start_completed', 10_000);
    expect(await crashed.kill()).toEqual({ code: null, signal: 'SIGKILL' });
    expect(crashed.running).toBe(false);
  });

  it('rejects a wait readably when the process exits first', async () => {
    const p = new ManagedProcess({
      name: 'short',
      command: process.execPath,
      args: ['-e', 'console.log("bye")'],
    });
    await expect(p.waitForEvent('never.logged', 10_000)).rejects.toThrow(/short exited \(code 0.*bye/s);
  });

  it('tells an exit nobody asked for (a crash) from a stop or a kill', async () => {
    const crashing = new ManagedProcess({
      name: 'crashing',
      command: process.execPath,
      args: ['-e', 'Promise.reject(new Error("boom"))'],
    });
    expect(crashing.unexpectedExit).toBeNull();
    await crashing.exited;
    expect(crashing.unexpectedExit).toEqual({ code: 1, signal: null });
    expect(crashing.tail(20)).toContain('boom');

    const killed = demo();
    await killed.waitForEvent('demo.start_completed', 10_000);
    await killed.kill();
    expect(killed.unexpectedExit).toBeNull();
    const stopped = demo();
    await stopped.waitForEvent('demo.start_completed', 10_000);
    await stopped.stop();
    expect(stopped.unexpectedExit).toBeNull();
  });
});
