import type { ConversationView } from './conversation-view.ts';
import { type Html, html } from './html.ts';
import type { AdminIdentity } from './identity.ts';
import type { TroubleReport } from './trouble.ts';

const convLink = (id: string) => html`<a href="/admin/conversations/${id}"><code>${id}</code></a>`;
const age = (msValue: number) =>
  msValue >= 3_600_000 ? `${(msValue / 3_600_000).toFixed(1)} h` : `${Math.round(msValue / 60_000)} min`;

export function troublePage(r: TroubleReport, tenants: { id: string; name: string }[]): Html {
  const options = tenants.map(
    (t) => html`<option value="${t.id}" ${t.id === r.tenantId ? html`selected` : ''}>${t.name}</option>`,
  );
  return html`
<form method="get" action="/admin/trouble">Tenant <select name="tenant"><option value="">all</option>${options}</select>
 <button>Filter</button> <a href="/admin/api/trouble${r.tenantId ? `?tenant=${r.tenantId}` : ''}">JSON</a></form>
<div class="card">Queue <code>${r.queue.name}</code>: ${Object.entries(r.queue.counts).map(([k, v]) => html`${k} <strong>${v}</strong> · `)}
 rate limit ${r.queue.rateLimitTtlMs > 0 ? html`<span class="bad">active, ${Math.ceil(r.queue.rateLimitTtlMs / 1000)} s left</span>` : 'none'}</div>
<h2>Failure loops <span class="muted">(≥ ${r.settings.failureLoopMin} failed attempts in ${age(r.settings.failureWindowMs)})</span></h2>
<table id="failure-loops"><tr><th>conversation</th><th>tenant</th><th>failures</th><th>last error</th><th>last failure</th></tr>
${r.failureLoops.map((l) => html`<tr><td>${convLink(l.conversationId)}</td><td>${l.tenantName}</td><td class="bad">${l.failures}</td><td><code>${l.lastErrorCode}</code></td><td>${l.lastFailureAt}</td></tr>`)}
</table>${r.failureLoops.length === 0 ? html`<p class="ok">None.</p>` : ''}
<h2>Stuck messages <span class="muted">(pending over ${age(r.settings.stuckAfterMs)}, no live job)</span></h2>
<table id="stuck"><tr><th>conversation</th><th>message</th><th>tenant</th><th>pending for</th><th>job</th><th>last attempt</th></tr>
${r.stuck.map((s) => html`<tr><td>${convLink(s.conversationId)}</td><td><code>${s.messageId}</code></td><td>${s.tenantName}</td><td>${age(s.pendingForMs)}</td><td class="bad">${s.jobState}</td><td>${s.lastOutcome ?? 'none'}</td></tr>`)}
</table>${r.stuck.length === 0 ? html`<p class="ok">None.</p>` : ''}
<h2>Waiting on a rate limit</h2>
<table id="rate-limited"><tr><th>conversation</th><th>message</th><th>tenant</th><th>pending for</th><th>attempts</th></tr>
${r.rateLimited.map((s) => html`<tr><td>${convLink(s.conversationId)}</td><td><code>${s.messageId}</code></td><td>${s.tenantName}</td><td>${age(s.pendingForMs)}</td><td>${s.attempts}</td></tr>`)}
</table>${r.rateLimited.length === 0 ? html`<p class="ok">None.</p>` : ''}
<form method="get" action="/admin/conversations">Open a conversation by id <input name="id" size="40"> <button>Open</button></form>`;
}

function action(path: string, label: string, who: AdminIdentity): Html {
  if (who.role !== 'admin') return html``;
  return html`<form class="inline" method="post" action="${path}"><button>${label}</button></form>`;
}

export function conversationPage(v: ConversationView, who: AdminIdentity): Html {
  const c = v.conversation;
  const base = `/admin/conversations/${c.id}`;
  return html`
<div class="card"><code>${c.id}</code> · tenant ${c.tenantName} · model <code>${c.model}</code>
 ${c.title ? html`· “${c.title}”` : ''} · <a href="/admin/api/conversations/${c.id}">JSON</a>
 ${action(`${base}/reset`, 'Reset session', who)}</div>
<h2>Sessions</h2>
<table id="sessions"><tr><th>session</th><th>status</th><th>assistant session</th><th>version</th><th>fence</th><th>ended reason</th><th>created</th><th>ended</th></tr>
${v.sessions.map((s) => html`<tr><td><code>${s.id}</code></td><td>${s.status}</td><td><code>${s.assistantSessionId ?? 'NULL'}</code></td><td>${s.version}</td><td>${s.fence}</td><td>${s.endedReason}</td><td>${s.createdAt}</td><td>${s.endedAt}</td></tr>`)}
</table>
<h2>Assistant sessions (transcripts)</h2>
<table id="assistant-sessions"><tr><th>id</th><th>status</th><th>cleared reason</th><th>cleared</th><th>rebuilt</th><th>turns</th><th>created</th></tr>
${v.assistantSessions.map((t) => html`<tr><td><code>${t.id}</code></td><td class="${t.status === 'cleared' ? 'bad' : 'ok'}">${t.status === 'cleared' ? 'tombstoned' : 'live'}</td><td>${t.clearedReason}</td><td>${t.clearedAt}</td><td>${t.rebuilt ? 'yes' : 'no'}</td><td>${t.turns}</td><td>${t.createdAt}</td></tr>`)}
</table>
<h2>Messages</h2>
<table id="messages"><tr><th>seq</th><th>id</th><th>role</th><th>status</th><th>error</th><th>job</th><th>chars</th><th>tokens in/out/cache r/w</th><th></th></tr>
${v.messages.map((m) => {
  const u = m.usage;
  const actions =
    m.role === 'user' && m.status === 'failed'
      ? action(`${base}/messages/${m.id}/retry`, 'Retry', who)
      : m.role === 'user' && m.status === 'pending'
        ? action(`${base}/messages/${m.id}/cancel`, 'Cancel', who)
        : '';
  return html`<tr><td>${m.seq}</td><td><code>${m.id}</code></td><td>${m.role}</td><td class="${m.status === 'failed' ? 'bad' : ''}">${m.status}</td><td><code>${m.errorCode}</code></td><td>${m.jobState}</td><td>${m.contentChars}</td><td>${u ? `${u.inputTokens}/${u.outputTokens}/${u.cacheReadInputTokens}/${u.cacheCreationInputTokens}` : ''}</td><td>${actions}</td></tr>`;
})}
</table>
<h2>Attempts</h2>
<table id="attempts"><tr><th>message</th><th>#</th><th>worker</th><th>fence</th><th>started on assistant session</th><th>outcome</th><th>error</th><th>tokens in/out</th><th>duration</th><th>started</th></tr>
${v.attempts.map((a) => {
  const u = a.usage as { inputTokens?: number; outputTokens?: number } | null;
  return html`<tr><td><code>${a.messageId.slice(0, 8)}</code></td><td>${a.attempt}</td><td>${a.workerId}</td><td>${a.fence}</td><td><code>${a.assistantSessionId ?? 'none'}</code></td><td class="${a.outcome === 'completed' ? 'ok' : 'bad'}">${a.outcome ?? 'running'}</td><td><code>${a.errorCode}</code> ${a.errorMessage ? html`<span class="muted">${a.errorMessage.slice(0, 200)}</span>` : ''}</td><td>${u ? `${u.inputTokens ?? 0}/${u.outputTokens ?? 0}` : ''}</td><td>${a.durationMs === null ? '' : `${a.durationMs} ms`}</td><td>${a.startedAt}</td></tr>`;
})}
</table>
<h2>Audit</h2>
<table id="audit"><tr><th>when</th><th>action</th><th>who</th><th>message</th><th>detail</th></tr>
${v.audit.map((e) => html`<tr><td>${e.at}</td><td>${e.action}</td><td>${e.actor.keyPrefix}… (${e.actor.role})</td><td><code>${e.messageId}</code></td><td><code>${JSON.stringify(e.detail)}</code></td></tr>`)}
</table>`;
}
