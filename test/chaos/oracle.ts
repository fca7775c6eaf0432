import { type RunningSimulator, startSimulator } from '@turnstream/claude-sim';

/**
 * The reply the simulator gives each message, asked from a second, fault-free simulator with the same
 * seed: its replies are a pure function of the seed and the last user message's text.
 */
export async function expectedReplies(contents: Map<string, string>): Promise<Map<string, string>> {
  const sim: RunningSimulator = await startSimulator({ tokenDelayMs: 0 });
  try {
    const out = new Map<string, string>();
    const entries = [...contents];
    const lane = async () => {
      for (let e = entries.shift(); e; e = entries.shift()) out.set(e[0], await replyTo(sim.url, e[1]));
    };
    await Promise.all(Array.from({ length: 8 }, lane));
    return out;
  } finally {
    await sim.close();
  }
}

async function replyTo(url: string, text: string): Promise<string> {
  const res = await fetch(`${url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'oracle', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({
      model: 'claude-sonnet-4-6',
      max_tokens: 4096,
      messages: [{ role: 'user', content: text }],
    }),
  });
  if (!res.ok) throw new Error(`oracle: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { content: Array<{ type: string; text?: string }> };
  return body.content
    .filter((b) => b.type === 'text')
    .map((b) => b.text)
    .join('');
}
