import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

// Everything the package exports is documented (TSDoc), members of exported interfaces and classes too.
const entry = fileURLToPath(new URL('../src/index.ts', import.meta.url));

function hasDoc(node: ts.Node): boolean {
  const target = ts.isVariableDeclaration(node) ? node.parent.parent : node;
  return ts.getJSDocCommentsAndTags(target).some((d) => ts.isJSDoc(d) && (d.comment || d.tags?.length));
}

function membersOf(node: ts.Node): ts.NamedDeclaration[] {
  if (ts.isInterfaceDeclaration(node) || ts.isClassDeclaration(node)) return [...node.members];
  if (ts.isTypeAliasDeclaration(node)) {
    const literals: ts.NamedDeclaration[] = [];
    const visit = (n: ts.Node) => {
      if (ts.isTypeLiteralNode(n)) literals.push(...n.members);
      else if (ts.isUnionTypeNode(n) || ts.isIntersectionTypeNode(n)) n.types.forEach(visit);
    };
    visit(node.type);
    return literals;
  }
  return [];
}

function isPublic(member: ts.NamedDeclaration): boolean {
  if (ts.isConstructorDeclaration(member) || ts.isClassStaticBlockDeclaration(member)) return true;
  const flags = ts.getCombinedModifierFlags(member as ts.Declaration);
  if (flags & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) return false;
  if (flags & ts.ModifierFlags.Override) return false; // documented on the base class
  return !(member.name && ts.isPrivateIdentifier(member.name));
}

function undocumented(): string[] {
  const program = ts.createProgram([entry], {
    allowImportingTsExtensions: true,
    noEmit: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
  });
  const checker = program.getTypeChecker();
  const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(entry)!)!;
  const missing: string[] = [];
  for (const exported of checker.getExportsOfModule(moduleSymbol)) {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    for (const decl of symbol.declarations ?? []) {
      if (!hasDoc(decl)) missing.push(exported.name);
      for (const member of membersOf(decl)) {
        if (!isPublic(member) || hasDoc(member)) continue;
        const name = ts.isConstructorDeclaration(member) ? 'constructor' : member.name?.getText();
        missing.push(`${exported.name}.${name}`);
      }
    }
  }
  return [...new Set(missing)].sort();
}

describe('@turnstream/contracts public API', () => {
  it('has TSDoc on every export and every public member', () => {
    expect(undocumented()).toEqual([]);
  });
});
