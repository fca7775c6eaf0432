/** One line of the chaos table. `ok: null` is information (a count of faults), not a check. */
export interface Row {
  check: string;
  value: number | string;
  expected: number | string;
  ok: boolean | null;
  /** What failed, for the report (a few examples). */
  details?: string[];
}

export function row(check: string, value: number, expected: number, details: string[] = []): Row {
  return { check, value, expected, ok: value === expected, details: details.slice(0, 8) };
}

export function info(check: string, value: number | string): Row {
  return { check, value, expected: '', ok: null };
}

/** The table as Markdown (printed after the run, pasted into docs/reliability.md). */
export function formatTable(title: string, rows: Row[]): string {
  const cells = rows.map((r) => [
    r.check,
    String(r.value),
    String(r.expected),
    r.ok === null ? '' : r.ok ? 'ok' : 'FAIL',
  ]);
  const head = ['check', 'result', 'expected', ''];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  const out = [
    title,
    '',
    line(head),
    `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`,
    ...cells.map(line),
  ];
  for (const r of rows) {
    if (r.ok === false && r.details?.length) out.push('', `${r.check}:`, ...r.details.map((d) => `  - ${d}`));
  }
  return out.join('\n');
}
