import fs from 'node:fs';
import { sharedDir } from '../../src/util/shared-path.js';

/**
 * For a test's or suite's `skip` option when it reads files from ../shared (the models and data
 * beside the repository, or $STEERER_SHARED): false when they are all there.
 *
 * A missing file fails: this throws, naming the files and the folder, so a checkout without
 * ../shared (or a CI run that lost it) cannot pass by skipping. STEERER_SKIP_SHARED=1 is the
 * explicit opt-out for a machine without the shared folder: those tests are then skipped, and
 * the reason says which file was missing.
 */
export function skipUnlessShared(...files: string[]): false | string {
  const missing = files.filter((f) => !fs.existsSync(f));
  if (missing.length === 0) return false;
  if (process.env.STEERER_SKIP_SHARED === '1') return `shared test files missing (STEERER_SKIP_SHARED=1): ${missing.join(', ')}`;
  throw new Error(
    `shared test files missing: ${missing.join(', ')}. The tests read models and data from ${sharedDir()} ` +
      '(../shared beside the repository; set STEERER_SHARED to point elsewhere, or STEERER_SKIP_SHARED=1 to skip the tests that need it)',
  );
}
