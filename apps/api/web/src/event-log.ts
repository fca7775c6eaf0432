import { byId, el } from './dom.ts';
import type { StreamEvent } from './types.ts';

const MAX_LINES = 2000;
const MAX_DATA_CHARS = 400;

/** The raw event log: every event of the followed conversation as it arrives (id, type, data). */
export class EventLog {
  private readonly list = byId<HTMLOListElement>('event-log');
  /** Follow the newest line unless the user scrolled up to read. */
  private stuck = true;

  constructor() {
    const hideChunks = byId<HTMLInputElement>('hide-chunks');
    hideChunks.addEventListener('change', () => {
      this.list.classList.toggle('hide-chunks', hideChunks.checked);
      this.follow();
    });
    const l = this.list;
    l.addEventListener('scroll', () => {
      this.stuck = l.scrollHeight - l.scrollTop - l.clientHeight < 32;
    });
    // The session panel above grows and shrinks: stay at the end while following.
    new ResizeObserver(() => this.follow()).observe(l);
  }

  clear(): void {
    this.list.replaceChildren();
    this.stuck = true;
  }

  append(event: StreamEvent): void {
    const data = JSON.stringify(event.data);
    this.add(
      el(
        'li',
        { attrs: { 'data-type': event.type } },
        el('span', { class: 'type', text: event.type }),
        el('span', { class: 'id', text: event.id || '(rebuilt from the database)' }),
        el('span', {
          class: 'data',
          text: data.length > MAX_DATA_CHARS ? `${data.slice(0, MAX_DATA_CHARS)}…` : data,
        }),
      ),
    );
  }

  /** A line of the page's own (stream connected, reconnecting…). */
  note(text: string): void {
    this.add(el('li', { class: 'local', attrs: { 'data-type': 'local' } }, el('span', { text })));
  }

  private add(line: HTMLLIElement): void {
    const l = this.list;
    l.append(line);
    while (l.childElementCount > MAX_LINES) l.firstElementChild?.remove();
    this.follow();
  }

  private follow(): void {
    if (this.stuck) this.list.scrollTop = this.list.scrollHeight;
  }
}
