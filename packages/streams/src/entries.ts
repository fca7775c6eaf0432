import type { DeliveredEvent, TurnEvent } from '@turnstream/contracts';

/** A log entry or live message that is not an event this package wrote. */
export class MalformedEntryError extends Error {
  override name = 'MalformedEntryError';
  constructor(
    message: string,
    readonly id: string | null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Field of a log entry holding the event body as JSON. */
export const EVENT_FIELD = 'e';

/** Decodes XRANGE/XREVRANGE replies. Bodies are trusted (written by the publish script only). */
export function decodeEntries(entries: [id: string, fields: string[]][]): DeliveredEvent[] {
  return entries.map(([id, fields]) => {
    const index = fields.indexOf(EVENT_FIELD);
    const body = index >= 0 && index % 2 === 0 ? fields[index + 1] : undefined;
    if (body === undefined) throw new MalformedEntryError(`log entry ${id} has no event field`, id);
    try {
      return { id, event: JSON.parse(body) as TurnEvent };
    } catch (cause) {
      throw new MalformedEntryError(`log entry ${id} is not JSON`, id, { cause });
    }
  });
}

/** Decodes one live pub/sub message: a JSON array of `{ id, event }` in log order. */
export function decodeLiveMessage(message: string): DeliveredEvent[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch (cause) {
    throw new MalformedEntryError('live message is not JSON', null, { cause });
  }
  if (!Array.isArray(parsed)) throw new MalformedEntryError('live message is not an array', null);
  return parsed as DeliveredEvent[];
}
