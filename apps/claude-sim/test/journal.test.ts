import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@turnstream/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LoggedRequest, type RunningSimulator, startSimulator } from '../src/index.ts';
import { parseSse, postMessages, request, textOf } from './support/http.ts';

// The request journal: every request, with its body and planned reply, one JSON line each, uncapped.
let sim: RunningSimulator;
let dir: string;
let path: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sim-journal-'));
  path = join(dir, 'requests.jsonl');
  sim = await startSimulator({ tokenDelayMs: 0, replyWords: 6, requestLogSize: 2, requestJournal: path });
});
afterAll(async () => {
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

function journal(): LoggedRequest[] {
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as LoggedRequest);
}

describe('request journal', () => {
  it('appends each request with its body, outcome and planned reply when its response ends, uncapped', async () => {
    const streamed = await postMessages(sim.url, request('first one', { stream: true }));
    const streamedText = textOf(parseSse(await streamed.text()));
    await fetch(`${sim.url}/__sim/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ rules: [{ fault: 'overloaded', times: 1 }] }),
    });
    expect((await postMessages(sim.url, request('second one'))).status).toBe(529);
    const json = (await (await postMessages(sim.url, request('third one'))).json()) as {
      content: Array<{ text: string }>;
    };

    const lines = await waitFor(() => (journal().length === 3 ? journal() : null));
    expect(lines.map((l) => [l.status, l.fault, l.stream])).toEqual([
      [200, null, true],
      [529, 'overloaded', false],
      [200, null, false],
    ]);
    expect(lines[0]!.reply).toBe(streamedText);
    expect(lines[1]!.reply).toBeUndefined();
    expect(lines[2]!.reply).toBe(json.content[0]!.text);
    expect(lines.map((l) => (l.body!.messages as Array<{ content: string }>)[0]!.content)).toEqual([
      'first one',
      'second one',
      'third one',
    ]);
    for (const l of lines) expect(Date.parse(l.endTime!)).toBeGreaterThanOrEqual(Date.parse(l.time));
    // The in-memory log is capped (2 here); the journal is not.
    const log = (await (await fetch(`${sim.url}/__sim/requests`)).json()) as { requests: unknown[] };
    expect(log.requests).toHaveLength(2);
  });
});
