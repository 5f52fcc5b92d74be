import type { z } from 'zod';

/** One thing wrong with the catalog, located by file and by path inside that file. */
export interface CatalogProblem {
  /** file name inside the catalog folder (or the folder itself, or `(all files)`) */
  file: string;
  /** like `apps[2].cidrs[0]`, indexes relative to `file`; '' for the whole file */
  path: string;
  message: string;
}

/** Used as `file` for problems of the merged catalog that no single file owns (a missing section). */
export const ALL_FILES = '(all files)';

export function formatProblem(problem: CatalogProblem): string {
  return problem.path === ''
    ? `${problem.file}: ${problem.message}`
    : `${problem.file}: ${problem.path}: ${problem.message}`;
}

/** An invalid catalog stops startup with every problem listed by file and path (DESIGN 4). */
export class CatalogError extends Error {
  readonly code = 'CATALOG_INVALID';
  readonly problems: readonly CatalogProblem[];

  constructor(problems: readonly CatalogProblem[]) {
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    super(`invalid catalog, ${count}:\n${problems.map(formatProblem).join('\n')}`);
    this.name = 'CatalogError';
    this.problems = Object.freeze([...problems]);
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const key of path) {
    if (typeof key === 'number') text += `[${key}]`;
    else text += text === '' ? String(key) : `.${String(key)}`;
  }
  return text;
}

/** Turns zod issues into problems of `file`, `prefix` being where the parsed value sits in it. */
export function issuesToProblems(
  file: string,
  issues: readonly z.core.$ZodIssue[],
  prefix: readonly PropertyKey[] = [],
): CatalogProblem[] {
  return issues.flatMap((issue): CatalogProblem[] => {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ file, path: formatPath([...path, key]), message: 'unknown key' }));
    }
    if (issue.code === 'invalid_union') {
      // Report the alternative that has the right shape (mapping vs list), not every alternative.
      const branch = issue.errors.find(
        (errors) => !errors.some((inner) => inner.path.length === 0 && inner.code === 'invalid_type'),
      );
      if (branch) return issuesToProblems(file, branch, path);
    }
    return [{ file, path: formatPath(path), message: issue.message }];
  });
}
