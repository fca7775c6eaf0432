import { el, shortId, timeOf } from './dom.ts';
import type { ConversationJson } from './types.ts';

/** The tenant's conversations, newest first; one is selected. */
export class ConversationList {
  private items: ConversationJson[] = [];
  private selected: string | null = null;

  constructor(
    private readonly list: HTMLUListElement,
    private readonly onSelect: (conversation: ConversationJson) => void,
  ) {}

  set(items: ConversationJson[]): void {
    this.items = items;
    this.render();
  }

  append(items: ConversationJson[]): void {
    const known = new Set(this.items.map((c) => c.id));
    this.items.push(...items.filter((c) => !known.has(c.id)));
    this.render();
  }

  prepend(item: ConversationJson): void {
    this.items = [item, ...this.items.filter((c) => c.id !== item.id)];
    this.render();
  }

  select(id: string | null): void {
    this.selected = id;
    for (const li of this.list.children) {
      const node = li as HTMLLIElement;
      node.classList.toggle('selected', node.dataset.id === id);
      node.firstElementChild?.setAttribute('aria-current', String(node.dataset.id === id));
    }
  }

  private render(): void {
    this.list.replaceChildren(
      ...this.items.map((c) => {
        const button = el(
          'button',
          { attrs: { type: 'button' }, title: c.id },
          el('span', { class: 'title', text: c.title ?? '(untitled)' }),
          el('span', { class: 'muted', text: `${shortId(c.id)} · ${c.mode} · ${timeOf(c.createdAt)}` }),
        );
        button.addEventListener('click', () => this.onSelect(c));
        return el('li', { attrs: { 'data-id': c.id } }, button);
      }),
    );
    this.select(this.selected);
  }
}
