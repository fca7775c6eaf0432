import { appendFileSync } from 'node:fs';
import type { LoggedRequest } from './request-log.ts';

/**
 * Every `POST /v1/messages` request as one JSON line (the request-log entry with its body), appended
 * to a file when its response ends. Unlike the in-memory log it is not capped: a test or a soak run
 * reads it afterwards to check what each request carried and what it was answered.
 */
export class RequestJournal {
  constructor(readonly path: string) {}

  write(entry: LoggedRequest, body: LoggedRequest['body']): void {
    appendFileSync(this.path, `${JSON.stringify({ ...entry, body })}\n`);
  }
}
