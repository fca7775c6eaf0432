/** Base class of every error `TurnsClient` throws on purpose. */
export class TurnsClientError extends Error {
  override name = 'TurnsClientError';
}

/**
 * The input of `TurnsClient.enqueue` is invalid: nothing was sent. `reason` names each field
 * (`path: message; ...`).
 */
export class InvalidTurnInputError extends TurnsClientError {
  override name = 'InvalidTurnInputError';
  /** @param reason each refused field with why. */
  constructor(
    /** Each refused field with why (`content: Too big: ...; mode: Invalid option ...`). */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`invalid turn input: ${reason}`, options);
  }
}

/**
 * A worker refused the message for good and stored nothing. `code` is the stable reason
 * (`invalid_job`, `conversation_not_found`, `conversation_deleted`, `id_conflict`, ...; `removed` when
 * the message left the intake queue before a worker took it), `reason` the worker's text (it names the
 * field for `invalid_job`).
 */
export class TurnRejectedError extends TurnsClientError {
  override name = 'TurnRejectedError';
  /** @param code stable code; @param reason the worker's full reason. */
  constructor(
    /** Stable code: the worker's reason up to the first colon. */
    readonly code: string,
    /** The worker's full reason. */
    readonly reason: string,
  ) {
    super(`turn rejected: ${reason}`);
  }
}

/** No turn of this message is known to the queue (never enqueued, or its job was removed long ago). */
export class MessageNotFoundError extends TurnsClientError {
  override name = 'MessageNotFoundError';
  /** @param messageId the message asked about. */
  constructor(
    /** The message asked about. */
    readonly messageId: string,
  ) {
    super(`no turn is known for message ${messageId}`);
  }
}

/** `waitForReply` (or `enqueue` waiting for the intake) gave up after `timeoutMs`. */
export class TurnTimeoutError extends TurnsClientError {
  override name = 'TurnTimeoutError';
  /** @param messageId the message waited for; @param timeoutMs how long. */
  constructor(
    /** The message waited for. */
    readonly messageId: string,
    /** How long it waited. */
    readonly timeoutMs: number,
  ) {
    super(`no outcome for message ${messageId} within ${timeoutMs} ms`);
  }
}

/** The caller's `AbortSignal` ended the wait or the event iteration. */
export class TurnsClientAbortedError extends TurnsClientError {
  override name = 'AbortError';
  /** @param options `cause`: the signal's reason. */
  constructor(options?: { cause?: unknown }) {
    super('aborted', options);
  }
}
