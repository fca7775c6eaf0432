import type { z } from 'zod';
import { ApiError } from './errors.ts';

/** Where a validated value came from (named in error details). */
export type InputLocation = 'body' | 'query' | 'params' | 'headers';

export interface ValidationIssue {
  location: InputLocation;
  /** Dotted path of the field (`thinking.budgetTokens`); empty for the whole input. */
  field: string;
  message: string;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function withArticle(noun: string): string {
  return /^[aeiou]/i.test(noun) ? `an ${noun}` : `a ${noun}`;
}

/** Messages that say what is wrong in words a client developer can act on (the input itself is never echoed). */
const errorMap: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type': {
      if (issue.input === undefined) return 'is required';
      const expected = issue.expected === 'int' ? 'an integer' : withArticle(issue.expected);
      if (typeof issue.input === 'number' && Number.isNaN(issue.input)) return `must be ${expected}`;
      return `must be ${expected}, got ${describe(issue.input)}`;
    }
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_format':
      return issue.format === 'uuid' ? 'must be a UUID' : `must be a valid ${issue.format}`;
    case 'too_small':
      if (issue.origin === 'string') {
        return Number(issue.minimum) <= 1
          ? 'must not be empty'
          : `must be at least ${issue.minimum} characters`;
      }
      if (issue.origin === 'number') return `must be ${issue.inclusive ? '>=' : '>'} ${issue.minimum}`;
      return undefined;
    case 'too_big':
      if (issue.origin === 'string') return `must be at most ${issue.maximum} characters`;
      if (issue.origin === 'number') return `must be ${issue.inclusive ? '<=' : '<'} ${issue.maximum}`;
      return undefined;
    default:
      return undefined;
  }
};

/** Build the `validation_failed` error: the message names each field and why, `details.issues` lists them. */
export function validationError(issues: ValidationIssue[]): ApiError {
  const text = issues
    .map((i) => `${i.field ? i.field : i.location === 'body' ? 'body' : i.location}: ${i.message}`)
    .join('; ');
  return new ApiError('validation_failed', { message: `Invalid request: ${text}`, details: { issues } });
}

/**
 * Validate `input` with `schema` or throw `validation_failed`. `name` names a single value (such as a
 * header) in the issues; fields of an object are named by their path.
 */
export function parseInput<S extends z.ZodType>(
  schema: S,
  input: unknown,
  location: InputLocation,
  name = '',
): z.infer<S> {
  const result = schema.safeParse(input, { error: errorMap });
  if (result.success) return result.data;
  const issues: ValidationIssue[] = [];
  for (const issue of result.error.issues) {
    const field = [name, ...issue.path.map(String)].filter((p) => p !== '').join('.');
    if (issue.code === 'unrecognized_keys') {
      // One issue per unknown field, named by its full path.
      for (const key of issue.keys) {
        issues.push({ location, field: field ? `${field}.${key}` : key, message: 'unknown field' });
      }
    } else {
      issues.push({ location, field, message: issue.message });
    }
  }
  throw validationError(issues);
}
