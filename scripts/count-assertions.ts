// Counts type assertions (`x as T`, `<T>x`; `as const` excluded) and non-null assertions (`x!`)
// in TypeScript files, from the syntax tree (strings, comments and `!==` are never counted).
// Usage: npx tsx scripts/count-assertions.ts [dir=src] [--list]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

const args = process.argv.slice(2);
const list = args.includes('--list');
const root = args.find((a) => !a.startsWith('--')) ?? 'src';

function* files(dir: string): Generator<string> {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) yield path;
  }
}

function isAsConst(node: ts.AsExpression | ts.TypeAssertion): boolean {
  const t = node.type;
  return ts.isTypeReferenceNode(t) && ts.isIdentifier(t.typeName) && t.typeName.text === 'const';
}

let casts = 0;
let nonNull = 0;
const perFile: Array<[string, number, number]> = [];
for (const path of files(root)) {
  const source = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true);
  let c = 0;
  let n = 0;
  const visit = (node: ts.Node): void => {
    if ((ts.isAsExpression(node) || ts.isTypeAssertionExpression(node)) && !isAsConst(node)) {
      c += 1;
      if (list) print('as', node);
    } else if (ts.isNonNullExpression(node)) {
      n += 1;
      if (list) print('!', node);
    }
    ts.forEachChild(node, visit);
  };
  const print = (kind: string, node: ts.Node): void => {
    const { line } = source.getLineAndCharacterOfPosition(node.getStart());
    console.log(`${relative('.', path)}:${line + 1}\t${kind}\t${node.getText().replace(/\s+/g, ' ').slice(0, 120)}`);
  };
  visit(source);
  casts += c;
  nonNull += n;
  if (c + n > 0) perFile.push([relative('.', path), c, n]);
}
if (!list) for (const [path, c, n] of perFile) console.log(`${String(c).padStart(4)} ${String(n).padStart(4)}  ${path}`);
console.log(`total: ${casts} casts (as/<T>, excluding as const), ${nonNull} non-null assertions (!) in ${root}/`);
