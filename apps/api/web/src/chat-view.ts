import { el } from './dom.ts';
import type { Turn } from './turns.ts';

interface TurnNode {
  root: HTMLLIElement;
  userText: HTMLParagraphElement;
  userMeta: HTMLDivElement;
  thinking: HTMLDetailsElement;
  thinkingText: HTMLPreElement;
  reply: HTMLParagraphElement;
  error: HTMLParagraphElement;
  status: HTMLSpanElement;
  note: HTMLSpanElement;
  usage: HTMLSpanElement;
  cancel: HTMLButtonElement;
}

const RUNNING = new Set(['pending', 'streaming']);

/** The open conversation's turns: each user message with its reply, kept in step with {@link Turn}s. */
export class ChatView {
  private readonly nodes = new Map<string, TurnNode>();

  constructor(
    private readonly list: HTMLOListElement,
    private readonly onCancel: (messageId: string) => void,
  ) {}

  clear(): void {
    this.nodes.clear();
    this.list.replaceChildren();
  }

  /** Show exactly these turns, in this order. */
  sync(turns: Turn[]): void {
    const stick = this.atBottom();
    this.list.replaceChildren(...turns.map((t) => this.fill(t)));
    if (stick) this.scrollToEnd();
  }

  /** Redraw one turn; false when it is not shown yet (call {@link sync}). */
  update(turn: Turn): boolean {
    if (!this.nodes.has(turn.messageId)) return false;
    const stick = this.atBottom();
    this.fill(turn);
    if (stick) this.scrollToEnd();
    return true;
  }

  private fill(turn: Turn): HTMLLIElement {
    const n = this.nodes.get(turn.messageId) ?? this.create(turn.messageId);
    n.root.dataset.status = turn.status;
    n.userText.textContent = turn.content ?? '…';
    n.userMeta.textContent = [turn.seq === null ? null : `#${turn.seq}`, turn.mode]
      .filter(Boolean)
      .join(' · ');
    n.thinking.hidden = turn.thinking === '';
    n.thinkingText.textContent = turn.thinking;
    n.reply.textContent = turn.reply || placeholder(turn);
    n.reply.classList.toggle('placeholder', turn.reply === '');
    n.error.textContent = turn.error ?? '';
    n.error.hidden = turn.error === null;
    n.status.textContent = turn.status;
    n.status.dataset.status = turn.status;
    n.note.textContent = turn.note ?? '';
    n.usage.textContent = [
      turn.stopReason,
      turn.usage ? `${turn.usage.inputTokens} in / ${turn.usage.outputTokens} out tokens` : null,
    ]
      .filter(Boolean)
      .join(' · ');
    n.cancel.hidden = !RUNNING.has(turn.status);
    return n.root;
  }

  private create(messageId: string): TurnNode {
    const userText = el('p', { class: 'text' });
    const userMeta = el('div', { class: 'meta' });
    const thinkingText = el('pre');
    const thinking = el('details', { class: 'thinking' }, el('summary', { text: 'thinking' }), thinkingText);
    const reply = el('p', { class: 'reply-text' });
    const error = el('p', { class: 'error-text' });
    const status = el('span', { class: 'badge' });
    const note = el('span', { class: 'note' });
    const usage = el('span', { class: 'usage' });
    const cancel = el('button', { class: 'cancel danger small', text: 'Cancel', attrs: { type: 'button' } });
    cancel.addEventListener('click', () => this.onCancel(messageId));
    const root = el(
      'li',
      { class: 'turn', attrs: { 'data-message-id': messageId } },
      el('div', { class: 'bubble user' }, userText, userMeta),
      el(
        'div',
        { class: 'bubble assistant' },
        thinking,
        reply,
        error,
        el('div', { class: 'meta' }, status, note, usage, cancel),
      ),
    );
    const node = {
      root,
      userText,
      userMeta,
      thinking,
      thinkingText,
      reply,
      error,
      status,
      note,
      usage,
      cancel,
    };
    this.nodes.set(messageId, node);
    return node;
  }

  private atBottom(): boolean {
    const l = this.list;
    return l.scrollHeight - l.scrollTop - l.clientHeight < 48;
  }

  private scrollToEnd(): void {
    this.list.scrollTop = this.list.scrollHeight;
  }
}

function placeholder(turn: Turn): string {
  switch (turn.status) {
    case 'pending':
      return 'queued…';
    case 'streaming':
      return turn.mode === 'batch' ? 'working (batch mode: the reply arrives whole)…' : 'thinking…';
    case 'cancelled':
      return '(cancelled before any text)';
    default:
      return '';
  }
}
