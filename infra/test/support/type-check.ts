import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, type Manifest } from './manifest.ts';
import { SCHEMAS, schemaKey } from './schemas.ts';

/** Where the generated check module lives: inside infra/, so its imports resolve from infra's node_modules. */
const CHECK_FILE = fileURLToPath(new URL('../__manifest_check__.ts', import.meta.url));

/**
 * Checks manifests against their kinds' TypeScript declarations: every field the kind does not declare
 * (the JSON schemas accept those) and type mismatches. The manifests become typed constants of a
 * generated module, type-checked in memory.
 */
export function typeErrors(manifests: Manifest[]): string[] {
  const aliases = new Map<string, string>();
  for (const manifest of manifests) {
    const module = SCHEMAS[schemaKey(manifest)]!.typeModule;
    if (!aliases.has(module)) aliases.set(module, `T${aliases.size}`);
  }
  const lines = [...aliases].map(([module, alias]) => `import type * as ${alias} from '${module}';`);
  /** First line (1-based) of each manifest's declaration. */
  const starts: number[] = [];
  manifests.forEach((manifest, i) => {
    const schema = SCHEMAS[schemaKey(manifest)]!;
    starts.push(lines.length + 1);
    const body = JSON.stringify(manifest, null, 2).split('\n');
    body[0] = `export const m${i}: ${aliases.get(schema.typeModule)}.${schema.typeName} = ${body[0]}`;
    body[body.length - 1] += ';';
    lines.push(...body);
  });
  const source = lines.join('\n');

  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.fileExists = (
    (exists) => (name: string) =>
      name === CHECK_FILE || exists(name)
  )(host.fileExists);
  host.readFile = (name) => (name === CHECK_FILE ? source : readFile(name));
  host.getSourceFile = (name, version, onError, create) =>
    name === CHECK_FILE
      ? ts.createSourceFile(name, source, version)
      : getSourceFile(name, version, onError, create);
  const program = ts.createProgram([CHECK_FILE], options, host);
  const file = program.getSourceFile(CHECK_FILE)!;
  const ownerOf = (position: number) => {
    const line = file.getLineAndCharacterOfPosition(position).line + 1;
    const index = starts.findLastIndex((start) => start <= line);
    return index >= 0 ? describe(manifests[index]!) : 'generated check';
  };
  const errors = undeclaredProperties(file, program.getTypeChecker()).map(
    ({ node, path }) => `${ownerOf(node.getStart(file))}: ${path} is not a field of its kind`,
  );
  // Type mismatches (TypeScript reports the first one of each object literal).
  for (const d of ts.getPreEmitDiagnostics(program, file)) {
    errors.push(`${ownerOf(d.start ?? 0)}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`);
  }
  return [...new Set(errors)];
}

/**
 * Every property of an object literal that its contextual type does not declare (TypeScript's own
 * excess-property check stops at the first one), with its JSON path.
 */
function undeclaredProperties(
  file: ts.SourceFile,
  checker: ts.TypeChecker,
): Array<{ node: ts.Node; path: string }> {
  const found: Array<{ node: ts.Node; path: string }> = [];
  const visit = (node: ts.Node): void => {
    if (ts.isObjectLiteralExpression(node)) {
      const type = checker.getContextualType(node);
      if (type && !acceptsAnyKey(type, checker)) {
        for (const property of node.properties) {
          if (!ts.isPropertyAssignment(property)) continue;
          const name = ts.isStringLiteral(property.name) ? property.name.text : property.name.getText(file);
          if (!declares(type, name, checker)) found.push({ node: property, path: jsonPath(property, file) });
        }
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

function constituents(type: ts.Type, checker: ts.TypeChecker): ts.Type[] {
  const nonNull = checker.getNonNullableType(type);
  return nonNull.isUnion() ? nonNull.types : [nonNull];
}

function acceptsAnyKey(type: ts.Type, checker: ts.TypeChecker): boolean {
  return constituents(type, checker).some(
    (t) =>
      (t.flags & ts.TypeFlags.Any) !== 0 || checker.getIndexInfoOfType(t, ts.IndexKind.String) !== undefined,
  );
}

function declares(type: ts.Type, name: string, checker: ts.TypeChecker): boolean {
  return constituents(type, checker).some((t) => checker.getPropertyOfType(t, name) !== undefined);
}

function jsonPath(node: ts.Node, file: ts.SourceFile): string {
  const parts: string[] = [];
  let current: ts.Node = node;
  while (!ts.isVariableDeclaration(current)) {
    const parent: ts.Node = current.parent;
    if (ts.isPropertyAssignment(current)) {
      parts.unshift(ts.isStringLiteral(current.name) ? current.name.text : current.name.getText(file));
    } else if (ts.isArrayLiteralExpression(parent)) {
      parts.unshift(String(parent.elements.indexOf(current as ts.Expression)));
    }
    current = parent;
  }
  return parts.join('.');
}
