import { z } from 'zod';

/** One row of docs/configuration.md. */
export interface EnvDocRow {
  name: string;
  /** As shown: `` `value` ``, "unset" or "required". */
  default: string;
  description: string;
}

/** Metadata an env var may carry for the docs: a default shown instead of the computed one. */
export interface EnvDocMeta {
  description?: string;
  docDefault?: string;
}

function metaOf(schema: z.ZodType): EnvDocMeta {
  return (z.globalRegistry.get(schema) as EnvDocMeta | undefined) ?? {};
}

function formatDefault(field: z.ZodType): string {
  const shown = metaOf(field).docDefault;
  if (shown !== undefined) return shown;
  const parsed = field.safeParse(undefined);
  if (!parsed.success) return 'required';
  if (parsed.data === undefined) return 'unset';
  const text = typeof parsed.data === 'string' ? parsed.data : JSON.stringify(parsed.data);
  return text === '' ? 'empty' : `\`${text}\``;
}

/** The documented variables of an object schema, in declaration order. */
export function envDocRows(schema: z.ZodObject, opts: { omit?: readonly string[] } = {}): EnvDocRow[] {
  const omit = new Set(opts.omit ?? []);
  return Object.entries(schema.shape as Record<string, z.ZodType>)
    .filter(([name]) => !omit.has(name))
    .map(([name, field]) => ({
      name,
      default: formatDefault(field),
      description: metaOf(field).description ?? field.description ?? '',
    }));
}

/** A markdown table of {@link envDocRows}; columns padded so the file reads well as text too. */
export function envDocTable(rows: readonly EnvDocRow[]): string {
  const cells = rows.map((r) => [`\`${r.name}\``, r.default, r.description.replaceAll('|', '\\|')]);
  const header = ['variable', 'default', 'meaning'];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((v, i) => v.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}
