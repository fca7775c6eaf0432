// A small service that talks to Turnstream through its Redis only, with the packed client:
// it enqueues a few turns for several conversations, prints the replies as they stream, cancels one,
// and enqueues one message twice (one reply). Prints one JSON line per outcome, then a summary.
import { randomUUID } from 'node:crypto';
import { TurnsClient } from '@turnstream/contracts';

const env = process.env;
const tenantId = env.TENANT_ID;
if (!tenantId) throw new Error('TENANT_ID is required (pnpm tenant:create prints it)');
const redisUrl = new URL(env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const run = env.RUN_ID ?? randomUUID().slice(0, 8);

const turns = new TurnsClient({
  connection: { host: redisUrl.hostname, port: Number(redisUrl.port || 6379) },
  prefix: env.BULL_PREFIX ?? 'bull',
  keyPrefix: env.REDIS_PREFIX ?? 'ts',
});

const print = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);

/** Follow one message's events, printing text as it streams; resolves with its terminal event. */
async function follow(label, messageId, onFirstChunk) {
  let first = true;
  for await (const { event } of turns.events({ messageId })) {
    if (event.type === 'chunk') {
      print({ event: 'chunk', label, text: event.text });
      if (first) onFirstChunk?.();
      first = false;
    }
    if (event.type === 'turn.reset') print({ event: 'reset', label });
  }
}

async function ask(label, content, extra = {}) {
  const sent = await turns.enqueue({
    tenantId,
    externalConversationId: `${run}-${label}`,
    content,
    ...extra,
  });
  print({ event: 'enqueued', label, ...sent });
  return sent;
}

try {
  const questions = [
    ['billing', env.PROMPT_A ?? 'Why was I charged twice?'],
    ['shipping', env.PROMPT_B ?? 'Where is my parcel?'],
    ['returns', env.PROMPT_C ?? 'How do I send this back?'],
  ];
  const longOne = ['story', env.LONG_PROMPT ?? 'Tell me a very long story.'];

  // The same message twice (a retry of the producer): one message, one reply.
  const duplicateId = randomUUID();
  const [first, again] = await Promise.all([
    ask(questions[0][0], questions[0][1], { messageId: duplicateId }),
    ask(questions[0][0], questions[0][1], { messageId: duplicateId }),
  ]);
  const sent = [first, ...(await Promise.all(questions.slice(1).map(([l, c]) => ask(l, c))))];
  const long = await ask(...longOne);

  const labels = ['billing', 'shipping', 'returns'];
  const cancelAtFirstChunk = () => {
    turns.cancel(long.messageId).then(() => print({ event: 'cancel_requested', label: 'story' }));
  };
  await Promise.all([
    ...sent.map((s, i) => follow(labels[i], s.messageId)),
    follow('story', long.messageId, cancelAtFirstChunk),
  ]);

  const results = [];
  for (const [i, s] of [...sent, long].entries()) {
    const outcome = await turns.waitForReply(s.messageId, { timeoutMs: 60_000 });
    const label = labels[i] ?? 'story';
    print({ event: 'outcome', label, conversationId: s.conversationId, ...outcome });
    results.push({ label, conversationId: s.conversationId, messageId: s.messageId, status: outcome.status });
  }
  print({ event: 'done', duplicateSameMessage: first.messageId === again.messageId, results });
} finally {
  await turns.close();
}
