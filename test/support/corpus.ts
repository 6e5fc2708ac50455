import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

// The shared corpus of real slow logs lives beside the repository (../shared/corpus), in development and
// in CI alike; SLOWQ_CORPUS points elsewhere. Compiled, this file is dist/test/support/corpus.js.
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export const CORPUS_DIR = process.env.SLOWQ_CORPUS ?? join(REPO_ROOT, '..', 'shared', 'corpus');
