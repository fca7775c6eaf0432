import { z } from 'zod';

/** A boolean env var: accepts 1/0, true/false, yes/no, on/off. */
export const envBoolean = z.union([z.boolean(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'boolean') return v;
  const s = v.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(s)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(s)) return false;
  ctx.addIssue({ code: 'custom', message: `expected a boolean, got "${v}"` });
  return z.NEVER;
});

/** Env var that is empty-string tolerant: '' counts as unset. */
export function optionalString() {
  return z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));
}

export class EnvError extends Error {
  override name = 'EnvError';
}

/**
 * Parse an env source with a schema; on failure throw one error naming every bad variable.
 * Apps call this once in `main.ts`; tests pass plain objects.
 */
export function parseEnvWith<S extends z.ZodType>(
  schema: S,
  source: Record<string, string | undefined>,
): z.infer<S> {
  const result = schema.safeParse(source);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new EnvError(`invalid environment:\n${lines.join('\n')}`);
  }
  return result.data;
}
