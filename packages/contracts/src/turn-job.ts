import { z } from 'zod';
import { storableText } from './text.ts';

/** How a turn publishes its reply: `stream` sends chunks as they come, `batch` only the final message. */
export const turnModeSchema = z.enum(['stream', 'batch']);
/** How a turn publishes its reply (see {@link turnModeSchema}). */
export type TurnMode = z.infer<typeof turnModeSchema>;

/** Longest user message, in UTF-16 code units (the same limit as the HTTP API). */
export const MAX_CONTENT_CHARS = 100_000;
/** Most keys of a message's `metadata`. */
export const MAX_METADATA_KEYS = 32;
/** Longest `metadata` key. */
export const MAX_METADATA_KEY_CHARS = 64;
/** Longest `metadata` value. */
export const MAX_METADATA_VALUE_CHARS = 1000;

/**
 * A message's metadata: up to 32 string values under keys of 1-64 characters, stored with the message
 * and returned with it (`GET .../messages`).
 */
export const messageMetadataSchema = z
  .record(storableText().min(1).max(MAX_METADATA_KEY_CHARS), storableText().max(MAX_METADATA_VALUE_CHARS))
  .refine((m) => Object.keys(m).length <= MAX_METADATA_KEYS, {
    error: `must have at most ${MAX_METADATA_KEYS} keys`,
  });

/** Longest `callbackUrl` (the same limit as a webhook endpoint's URL). */
export const MAX_CALLBACK_URL_CHARS = 2000;
/** Longest `externalConversationId` (the same limit as the HTTP API's `externalId`). */
export const MAX_EXTERNAL_ID_CHARS = 200;
/** The job schema version producers write today; the worker also accepts {@link PREVIOUS_JOB_VERSION}. */
export const CURRENT_JOB_VERSION = 2;
/** The previous job schema version, still accepted by workers. */
export const PREVIOUS_JOB_VERSION = 1;

const uuid = z.uuid();
const content = storableText()
  .min(1)
  .max(MAX_CONTENT_CHARS)
  .refine((s) => s.trim().length > 0, { error: 'must not be whitespace only' });

/**
 * Payload of a `turns` job, version 1 (the previous version, still accepted). Nothing about the
 * assistant session travels in a job: every attempt reads the session from the database when it starts.
 */
export const turnJobV1Schema = z.object({
  v: z.literal(1),
  tenantId: uuid,
  conversationId: uuid,
  messageId: uuid,
  /** The user message, when it is not stored yet (the worker stores it idempotently by `messageId`). */
  content: storableText().min(1).max(MAX_CONTENT_CHARS).optional(),
  /** Default `stream`. */
  mode: turnModeSchema.default('stream'),
  /** ms since epoch when the message was accepted (for queue-latency metrics). */
  acceptedAt: z.number().int().nonnegative().optional(),
});

/**
 * Payload of a `turns` (or `turns-intake`) job, version 2 (current). Differences from version 1: the
 * conversation may be named by the tenant's own id for it (`externalConversationId`, created on first
 * use), and `mode` may be left out (the conversation's default mode).
 */
export const turnJobV2Schema = z
  .object({
    v: z.literal(2),
    tenantId: uuid,
    /** The conversation (Turnstream's id). Exactly one of `conversationId` and `externalConversationId`. */
    conversationId: uuid.optional(),
    /**
     * The tenant's own id for the conversation (unique per tenant): the conversation is created on first
     * use with the deployment's default model. Needs `content`.
     */
    externalConversationId: storableText().min(1).max(MAX_EXTERNAL_ID_CHARS).optional(),
    /** The user message's id, chosen by the producer: the same id again is the same message. */
    messageId: uuid,
    /** The user message, when it is not stored yet (the worker stores it idempotently by `messageId`). */
    content: content.optional(),
    /** Default: the conversation's default mode. */
    mode: turnModeSchema.optional(),
    /** ms since epoch when the message was accepted (for queue-latency metrics). */
    acceptedAt: z.number().int().nonnegative().optional(),
    /**
     * Where this message's outcome is also delivered as a signed webhook: an http(s) URL on the origin of
     * one of the tenant's webhook endpoints (whose secret signs it). Needs `content`.
     */
    callbackUrl: storableText().min(1).max(MAX_CALLBACK_URL_CHARS).optional(),
    /** The producer's own data about the message, stored and returned with it. Needs `content`. */
    metadata: messageMetadataSchema.optional(),
  })
  .superRefine((job, ctx) => {
    if ((job.conversationId === undefined) === (job.externalConversationId === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['conversationId'],
        message: 'exactly one of conversationId and externalConversationId is required',
      });
    }
    if (job.metadata !== undefined && job.content === undefined) {
      ctx.addIssue({ code: 'custom', path: ['content'], message: 'required with metadata' });
    }
    if (job.callbackUrl !== undefined && job.content === undefined) {
      ctx.addIssue({ code: 'custom', path: ['content'], message: 'required with callbackUrl' });
    }
    if (job.externalConversationId !== undefined && job.content === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['content'],
        message: 'required with externalConversationId',
      });
    }
  });

/** Every job version a worker accepts, told apart by `v`. */
export const turnJobSchema = z.discriminatedUnion('v', [turnJobV1Schema, turnJobV2Schema]);
/** A validated turn job (either version). */
export type TurnJob = z.infer<typeof turnJobSchema>;
/** A turn job as a producer writes it (either version; defaults not applied). */
export type TurnJobInput = z.input<typeof turnJobSchema>;
/** A current-version job as a producer writes it. */
export type TurnJobV2Input = z.input<typeof turnJobV2Schema>;

/**
 * Why a job was refused, naming each field: `path: message; path: message`. Worker rejections carry
 * it as `invalid_job: <reason>`.
 */
export function describeJobIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/** A turn job that names its conversation by Turnstream's id: what the `turns` queue runs. */
export type ConversationTurnJob = TurnJob & {
  /** The conversation (Turnstream's id). */
  conversationId: string;
};

/** Outcome of {@link parseTurnJob}. */
export type ParsedTurnJob<T extends TurnJob> =
  | {
      /** Valid. */
      ok: true;
      /** The job, validated and with its defaults. */
      job: T;
    }
  | {
      /** Refused. */
      ok: false;
      /** Each refused field with why ({@link describeJobIssues}). */
      reason: string;
    };

/**
 * Validate a job read from the `turns` queue: either version, and the conversation named by its id
 * (`externalConversationId` is resolved by the intake queue only).
 */
export function parseTurnJob(data: unknown): ParsedTurnJob<ConversationTurnJob> {
  const parsed = turnJobSchema.safeParse(data);
  if (!parsed.success) return { ok: false, reason: describeJobIssues(parsed.error) };
  const job = parsed.data;
  if (job.conversationId === undefined) {
    return {
      ok: false,
      reason: 'externalConversationId: accepted on the intake queue only; name the conversationId here',
    };
  }
  return { ok: true, job: job as ConversationTurnJob };
}

/** Validate a job read from the intake queue: either version, with its `content`. */
export function parseIntakeJob(data: unknown): ParsedTurnJob<TurnJob & { content: string }> {
  const parsed = turnJobSchema.safeParse(data);
  if (!parsed.success) return { ok: false, reason: describeJobIssues(parsed.error) };
  if (parsed.data.content === undefined)
    return { ok: false, reason: 'content: required on the intake queue' };
  return { ok: true, job: parsed.data as TurnJob & { content: string } };
}
