import { byId, el, shortId, timeOf } from './dom.ts';
import type { SessionHistoryJson, SessionJson } from './types.ts';

/** The session panel: the active session (ids, version), the conversation's sessions and clears. */
export class SessionView {
  private readonly id = byId('session-id');
  private readonly assistantId = byId('session-assistant-id');
  private readonly version = byId('session-version');
  private readonly history = byId<HTMLOListElement>('session-history');

  clear(): void {
    for (const dd of [this.id, this.assistantId, this.version]) dd.textContent = '–';
    this.history.replaceChildren();
  }

  render(session: SessionJson | null, history: SessionHistoryJson): void {
    this.id.textContent = session?.id ?? '–';
    this.assistantId.textContent = session
      ? (session.assistantSessionId ?? 'none (next turn starts one)')
      : '–';
    this.assistantId.classList.toggle('muted', !session?.assistantSessionId);
    this.version.textContent = session ? String(session.version) : '–';
    this.history.replaceChildren(...historyItems(history));
  }
}

/** Newest first: sessions (started, ended with a reason) and cleared assistant sessions (with a reason). */
function historyItems(history: SessionHistoryJson): HTMLLIElement[] {
  const items: Array<{ at: string; node: HTMLLIElement }> = [];
  for (const s of history.sessions) {
    const state = s.status === 'active' ? 'active' : `ended: ${s.endedReason ?? 'unknown'}`;
    items.push({
      at: s.endedAt ?? s.createdAt,
      node: el(
        'li',
        { attrs: { 'data-kind': 'session', 'data-status': s.status }, title: s.id },
        el('span', { class: 'kind', text: 'session' }),
        el('code', { text: shortId(s.id) }),
        el('span', { class: s.status === 'active' ? 'badge ok' : 'badge', text: state }),
        el('span', { class: 'muted', text: `v${s.version} · ${timeOf(s.createdAt)}` }),
      ),
    });
  }
  for (const c of history.clears) {
    items.push({
      at: c.clearedAt,
      node: el(
        'li',
        { attrs: { 'data-kind': 'clear' }, title: c.assistantSessionId },
        el('span', { class: 'kind', text: 'cleared' }),
        el('code', { text: c.assistantSessionId }),
        el('span', { class: 'badge warn', text: c.reason ?? 'unknown' }),
        el('span', { class: 'muted', text: timeOf(c.clearedAt) }),
      ),
    });
  }
  return items.sort((a, b) => b.at.localeCompare(a.at)).map((i) => i.node);
}
