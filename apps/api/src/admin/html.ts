import type { AdminIdentity } from './identity.ts';

/** Escape text for HTML element content and attribute values. */
export function esc(value: unknown): string {
  return String(value ?? '')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** A trusted HTML fragment (built only from escaped values and literals). */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** Tagged template: interpolated values are escaped unless they are {@link Html} (or arrays of it). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += render(v) + (strings[i + 1] ?? '');
  });
  return new Html(out);
}

function render(v: unknown): string {
  if (v instanceof Html) return v.value;
  if (Array.isArray(v)) return v.map(render).join('');
  if (v === null || v === undefined || v === false) return '';
  if (v instanceof Date) return esc(v.toISOString());
  return esc(v);
}

const STYLE = `
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.2rem;align-items:center}
header a{color:#cfe0ff;text-decoration:none}header .who{margin-left:auto;font-size:12px;opacity:.8}
main{padding:1rem 1.2rem;max-width:1400px}
table{border-collapse:collapse;width:100%;background:#fff;margin:.4rem 0 1.2rem}
th,td{border:1px solid #dde1e8;padding:.3rem .5rem;text-align:left;vertical-align:top;font-size:13px}
th{background:#eef1f5}code{font-size:12px}
.bad{color:#a4161a;font-weight:600}.ok{color:#1b7f3b}.muted{color:#6b7280}
form.inline{display:inline}button{cursor:pointer}
.card{background:#fff;border:1px solid #dde1e8;padding:.6rem .9rem;margin:.6rem 0}
`;

/** The page frame: navigation, who is signed in, sign-out. */
export function page(title: string, who: AdminIdentity | null, body: Html): string {
  const nav = who
    ? html`<a href="/admin/trouble">Trouble</a><a href="/admin/usage">Usage</a>
        <a href="/admin/audit">Audit</a>${who.operator ? html`<a href="/admin/queues">Queues</a>` : ''}
        <span class="who">${who.prefix}… (${who.role}${who.operator ? ', operator' : ''})</span>
        <form class="inline" method="post" action="/admin/logout"><button>Sign out</button></form>`
    : html``;
  return html`<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>${title} · Turnstream admin</title>
<style>${new Html(STYLE)}</style></head><body><header><strong>Turnstream</strong>${nav}</header>
<main><h1>${title}</h1>${body}</main></body></html>`.value;
}
