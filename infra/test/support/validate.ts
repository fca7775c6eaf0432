import { describe, type Manifest } from './manifest.ts';
import { SCHEMAS, schemaKey } from './schemas.ts';
import { typeErrors } from './type-check.ts';

/**
 * Schema errors of every manifest: a kind without a known schema, a violation of the kind's JSON schema
 * (types, required fields, enums, formats), or a field the kind does not declare (a misspelled or
 * misplaced key: the JSON schemas allow those, so they are checked against the kinds' TypeScript
 * declarations, whose excess-property check rejects them).
 */
export function schemaErrors(manifests: Manifest[]): string[] {
  const errors: string[] = [];
  for (const manifest of manifests) {
    const schema = SCHEMAS[schemaKey(manifest)];
    if (!schema) {
      errors.push(`${describe(manifest)}: no schema for ${schemaKey(manifest)}`);
      continue;
    }
    try {
      schema.validate(manifest);
    } catch (err) {
      errors.push(`${describe(manifest)}: ${(err as Error).message}`);
    }
  }
  errors.push(...typeErrors(manifests.filter((m) => SCHEMAS[schemaKey(m)])));
  return errors;
}
