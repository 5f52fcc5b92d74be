import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { CatalogError, type CatalogProblem } from './problems.js';
import type { Catalog } from './schema.js';
import { canonicalJson } from './version.js';
import { checkCatalogFile, compareFileNames, validateCatalog, type CatalogInputFile } from './validate.js';

export interface LoadedCatalog {
  catalog: Catalog;
  /** SHA-256 hex of `canonical` (DESIGN 4) */
  version: string;
  /** the canonical JSON that was hashed: the content stored with the version in PostgreSQL */
  canonical: string;
  /** the files read, in merge order */
  files: string[];
}

const CATALOG_FILE = /\.ya?ml$/;

/**
 * Parses one YAML file. A syntax error is a problem of that file, with its line and column.
 * YAML 1.2 (the library default) keeps `2026-01-01` a string, and duplicate keys are errors.
 */
export function parseCatalogYaml(file: string, text: string): { content: unknown } | { problems: CatalogProblem[] } {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    return {
      problems: doc.errors.map((error) => {
        const reason = error.message.split(' at line ')[0] ?? error.message;
        const pos = error.linePos?.[0];
        const at = pos ? ` at line ${pos.line}, column ${pos.col}` : '';
        return { file, path: '', message: `YAML syntax error${at}: ${reason}` };
      }),
    };
  }
  try {
    return { content: doc.toJS() };
  } catch (error) {
    // e.g. too many alias expansions (the library's guard against a "billion laughs" file)
    return { problems: [{ file, path: '', message: `YAML error: ${(error instanceof Error ? error.message : String(error))}` }] };
  }
}

/** `*.yaml` and `*.yml` directly in `dir` (symlinks followed, as in a mounted ConfigMap), byte order. */
async function listCatalogFiles(dir: string): Promise<string[]> {
  const names = (await readdir(dir)).filter((name) => CATALOG_FILE.test(name));
  // A name that cannot be stat'ed (a dangling link) is kept: reading it reports the problem.
  const isFile = await Promise.all(names.map((name) => stat(join(dir, name)).then((s) => s.isFile(), () => true)));
  return names.filter((_, i) => isFile[i]).sort(compareFileNames);
}

/**
 * Reads, validates and merges the catalog folder (DESIGN 4). Throws one `CatalogError` listing every
 * problem by file and path; never returns a partly valid catalog.
 */
export async function loadCatalog(dir: string): Promise<LoadedCatalog> {
  let names: string[];
  try {
    names = await listCatalogFiles(dir);
  } catch (error) {
    const message = `cannot read the catalog folder: ${(error instanceof Error ? error.message : String(error))}`;
    throw new CatalogError([{ file: dir, path: '', message }]);
  }
  const files: CatalogInputFile[] = [];
  const readProblems: CatalogProblem[] = [];
  for (const name of names) {
    let text: string;
    try {
      text = await readFile(join(dir, name), 'utf8');
    } catch (error) {
      readProblems.push({ file: name, path: '', message: `cannot read: ${(error instanceof Error ? error.message : String(error))}` });
      continue;
    }
    const parsed = parseCatalogYaml(name, text);
    if ('problems' in parsed) readProblems.push(...parsed.problems);
    else files.push({ file: name, content: parsed.content });
  }
  if (readProblems.length > 0) {
    // Without every file, cross-file rules would only report echoes of the unreadable one
    // (a "missing" billing, unknown references); check the readable files on their own instead.
    const fileProblems = files.flatMap((f) => checkCatalogFile(f.file, f.content).problems);
    throw new CatalogError([...readProblems, ...fileProblems].sort((a, b) => compareFileNames(a.file, b.file)));
  }
  if (names.length === 0) {
    throw new CatalogError([{ file: dir, path: '', message: 'no catalog files (*.yaml, *.yml) in this folder' }]);
  }
  const result = validateCatalog(files);
  if (result.catalog === null) throw new CatalogError(result.problems);
  return { catalog: result.catalog, version: result.version, canonical: canonicalJson(result.catalog), files: names };
}
