import type { ApiClient } from './api.ts';
import type { ChatView } from './chat-view.ts';
import type { EventLog } from './event-log.ts';
import { ConversationStream, type StreamState } from './event-stream.ts';
import type { SessionView } from './session-view.ts';
import { TurnList } from './turns.ts';
import type { ConversationJson, StreamEvent, TurnMode } from './types.ts';

export interface ConversationViews {
  chat: ChatView;
  session: SessionView;
  log: EventLog;
  streamState(state: StreamState): void;
}

const RELOAD_DELAY_MS = 250;

/**
 * The conversation the page shows: its stored history merged with its live events (one EventSource for
 * the whole conversation), its session panel, and the actions on it.
 */
export class OpenConversation {
  private readonly turns = new TurnList();
  private stream: ConversationStream | null = null;
  private closed = false;
  private sessionRead = 0;
  private reloadTimer: ReturnType<typeof setTimeout> | null = null;
  private fullReload = false;

  constructor(
    private readonly api: ApiClient,
    readonly conversation: ConversationJson,
    private readonly views: ConversationViews,
  ) {}

  get id(): string {
    return this.conversation.id;
  }

  /** History first, then the stream: it replays what its log holds, so nothing in between is lost. */
  async open(): Promise<void> {
    const { chat, session, log } = this.views;
    chat.clear();
    session.clear();
    log.clear();
    const messages = await this.api.listMessages(this.id);
    if (this.closed) return;
    this.turns.mergeHistory(messages);
    chat.sync(this.turns.list());
    void this.refreshSession().catch(() => undefined);
    this.stream = new ConversationStream(this.api, this.id, {
      onEvent: (event) => this.onEvent(event),
      onState: (state) => {
        if (this.closed && state !== 'closed') return;
        this.views.streamState(state);
        if (state !== 'closed') log.note(`stream ${state}`);
      },
      onServerError: (code) => {
        if (!this.closed) log.note(`stream ended by the server (${code}); resuming`);
      },
    });
    await this.stream.open();
  }

  close(): void {
    this.closed = true;
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    this.stream?.close();
  }

  async send(content: string, mode: TurnMode): Promise<void> {
    const { messageId } = await this.api.postMessage(this.id, content, mode);
    if (this.closed) return;
    this.show(this.turns.addPosted(messageId, content, mode).messageId);
  }

  /** `cancelled` (it had not started) or `cancelling` (a worker stops it); the stream shows the end. */
  async cancel(messageId: string): Promise<string> {
    return (await this.api.cancel(this.id, messageId)).status;
  }

  async reset(): Promise<void> {
    await this.api.reset(this.id);
    this.views.log.note('session reset');
    await this.refreshSession();
  }

  /** Read the active session and the session history; only the latest read is shown. */
  async refreshSession(): Promise<void> {
    const read = ++this.sessionRead;
    const [conversation, history] = await Promise.all([
      this.api.getConversation(this.id),
      this.api.sessionHistory(this.id),
    ]);
    if (this.closed || read !== this.sessionRead) return;
    this.views.session.render(conversation.session ?? null, history);
  }

  private onEvent(event: StreamEvent): void {
    if (this.closed) return;
    this.views.log.append(event);
    const result = this.turns.apply(event);
    if (result.turn) this.show(result.turn.messageId);
    if (event.type === 'stream.gap') this.fullReload = true;
    if (result.reload) this.scheduleReload();
    if (result.sessionChanged) void this.refreshSession().catch(() => undefined);
    if (result.terminal && result.turn) void this.refreshTurn(result.turn.messageId).catch(() => undefined);
  }

  private show(messageId: string): void {
    const turn = this.turns.get(messageId);
    if (turn && !this.views.chat.update(turn)) this.views.chat.sync(this.turns.list());
  }

  /** The stored state of an ended turn (its usage and stop reason are not in the events). */
  private async refreshTurn(messageId: string): Promise<void> {
    const { message, reply } = await this.api.getMessage(this.id, messageId);
    if (this.closed) return;
    this.turns.mergeHistory(reply ? [message, reply] : [message]);
    this.show(messageId);
  }

  /** Events named a message the page does not know, or the log skipped some: read the history again. */
  private scheduleReload(): void {
    if (this.reloadTimer) return;
    this.reloadTimer = setTimeout(() => {
      this.reloadTimer = null;
      if (!this.fullReload && !this.turns.hasUnknownContent()) return;
      this.fullReload = false;
      void this.api
        .listMessages(this.id)
        .then((messages) => {
          if (this.closed) return;
          this.turns.mergeHistory(messages);
          this.views.chat.sync(this.turns.list());
        })
        .catch(() => undefined);
    }, RELOAD_DELAY_MS);
  }
}
