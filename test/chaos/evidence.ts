import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { LoggedRequest } from '@turnstream/claude-sim';
import type { DeliveredEvent } from '@turnstream/contracts';
import { createTurnStreams } from '@turnstream/streams';
import type { ChaosCluster } from './cluster.ts';
import { type GateLog, readGateLog } from './gate-log.ts';

export interface UserRow {
  id: string;
  conversation_id: string;
  seq: number;
  status: string;
  content: string;
}
export interface ReplyRow {
  id: string;
  reply_to: string;
  role: string;
  status: string;
  content: string;
  error_code: string | null;
}
export interface AttemptRow {
  message_id: string;
  conversation_id: string;
  attempt: number;
  worker_id: string;
  fence: number;
  assistant_session_id: string | null;
  /** ms since epoch (the database's clock). */
  started_at: number;
  ended_at: number | null;
  outcome: string | null;
  error_code: string | null;
}

/** Everything the checks read once the run is over: the database, the Redis logs, the simulator's journal. */
export interface Evidence {
  users: UserRow[];
  replies: ReplyRow[];
  attempts: AttemptRow[];
  /** Attempts that started with an assistant session id cleared before they started. */
  attemptsOnClearedIds: string[];
  /**
   * Sessions pointing at a cleared transcript: an active one, or one updated after the clear (a reset
   * ends the session and clears its transcript in one transaction: that one keeps its last id).
   */
  sessionsOnClearedIds: string[];
  /** The durable event log of each conversation (Redis Stream). */
  logs: Map<string, DeliveredEvent[]>;
  /** Every request the simulator received, in arrival order. */
  requests: LoggedRequest[];
  /** The rate gate as the workers logged it (who got each 429, when they closed the gate), and the kills. */
  gate: GateLog;
}

export async function gatherEvidence(cluster: ChaosCluster, conversationIds: string[]): Promise<Evidence> {
  const { sql } = cluster.sys.tdb;
  const users = await sql<UserRow[]>`
    select id, conversation_id, seq, status, content from messages where role = 'user' order by conversation_id, seq`;
  const replies = await sql<ReplyRow[]>`
    select id, reply_to, role, status, content, error_code from messages where reply_to is not null`;
  const attempts = await sql<AttemptRow[]>`
    select message_id, conversation_id, attempt, worker_id, fence::float8 as fence, assistant_session_id,
           (extract(epoch from started_at) * 1000)::float8 as started_at,
           (extract(epoch from ended_at) * 1000)::float8 as ended_at,
           outcome, error_code
    from turn_attempts order by conversation_id, started_at`;
  const onCleared = await sql<{ d: string }[]>`
    select concat(a.message_id, '#', a.attempt, ' on ', a.worker_id, ' started with ', t.id, ' (', t.cleared_reason,
                  ') ', round(extract(epoch from a.started_at - t.cleared_at) * 1000), ' ms after its clear') as d
    from turn_attempts a join assistant_transcripts t on t.id = a.assistant_session_id
    where t.status = 'cleared' and t.cleared_at < a.started_at`;
  const pointing = await sql<{ d: string }[]>`
    select concat('session ', s.id, ' (', s.status, coalesce(' ' || s.ended_reason, ''), ', version ', s.version,
                  ', fence ', s.fence, ') points at cleared ', t.id, ' (', t.cleared_reason, '); updated ',
                  round(extract(epoch from s.updated_at - t.cleared_at) * 1000), ' ms after the clear',
                  coalesce(', ended ' || round(extract(epoch from s.ended_at - t.cleared_at) * 1000) || ' ms after', '')) as d
    from sessions s join assistant_transcripts t on t.id = s.assistant_session_id
    where t.status = 'cleared' and (s.status = 'active' or s.updated_at > t.cleared_at)`;
  const streams = createTurnStreams({ redis: cluster.sys.redis, keyPrefix: cluster.sys.redisPrefix });
  const logs = new Map<string, DeliveredEvent[]>();
  for (const id of conversationIds) logs.set(id, await streams.read(id));
  const requests = readFileSync(cluster.journalPath, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as LoggedRequest)
    .sort((a, b) => a.time.localeCompare(b.time));
  return {
    users,
    replies,
    attempts,
    attemptsOnClearedIds: onCleared.map((r) => r.d),
    sessionsOnClearedIds: pointing.map((r) => r.d),
    logs,
    requests,
    gate: readGateLog(dirname(cluster.journalPath)),
  };
}
