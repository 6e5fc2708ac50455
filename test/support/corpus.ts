import { readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

// The corpus of real slow logs the parser and digest tests read: test/corpus/ in the repository (see its
// README for where each file comes from); SLOWQ_CORPUS points the tests at another copy. Compiled, this
// file is dist/test/support/corpus.js, three folders below the repository root.
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The repository's own copy of the corpus. */
export const REPOSITORY_CORPUS_DIR = join(REPO_ROOT, 'test', 'corpus');

export const CORPUS_DIR = process.env.SLOWQ_CORPUS || REPOSITORY_CORPUS_DIR;

/**
 * The sorted names of the files in one corpus folder. A folder that is missing or holds no file throws,
 * naming it: a test that loops over the list must fail then, never pass having compared nothing.
 */
export function corpusFiles(folder: string, root: string = CORPUS_DIR): string[] {
  const dir = join(root, folder);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw new Error(`corpus folder ${dir} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}): the tests need the files of test/corpus/`);
  }
  const files = names.filter((n) => statSync(join(dir, n)).isFile()).sort();
  if (files.length === 0) throw new Error(`corpus folder ${dir} holds no file: the tests need the files of test/corpus/`);
  return files;
}

/** The path of one corpus file, which must be there (a missing one throws, naming it). */
export function corpusFile(folder: string, name: string, root: string = CORPUS_DIR): string {
  const path = join(root, folder, name);
  let isFile = false;
  try {
    isFile = statSync(path).isFile();
  } catch {
    // reported below
  }
  if (!isFile) throw new Error(`corpus file ${path} is missing: the tests need the files of test/corpus/`);
  return path;
}
