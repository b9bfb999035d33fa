/**
 * Several files written as one step: every file goes to a temp file in the target folder first
 * (named like writeFileAtomic's, so a killed writer's leftovers are cleared by
 * clearStaleTempFiles), is fsynced, and only when all are on disk are they renamed into place.
 * A failure before the renames removes every temp file and leaves the folder as it was.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

interface StagedFile {
  /** Where the file will be once committed. */
  readonly path: string;
  /** Where its bytes are now. */
  readonly temp: string;
}

interface Staged {
  readonly files: readonly StagedFile[];
  /** Renames every file into place, in the order given (put the one that makes the set visible last). */
  commit(): void;
  /** Removes the temp files (after commit: nothing to remove). */
  discard(): void;
}

function writeTemp(path: string, bytes: Uint8Array): string {
  const temp = join(dirname(resolve(path)), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(temp, 'wx');
  let written = false;
  try {
    let done = 0;
    while (done < bytes.byteLength) done += writeSync(fd, bytes, done, bytes.byteLength - done);
    fsyncSync(fd);
    written = true;
  } finally {
    closeSync(fd);
    if (!written) rmSync(temp, { force: true });
  }
  return temp;
}

/** Writes each file's bytes to a temp file beside its path; nothing is in place until commit(). */
export function stageFiles(files: readonly { readonly path: string; readonly bytes: Uint8Array }[]): Staged {
  const staged: StagedFile[] = [];
  let committed = false;
  const discard = (): void => {
    if (committed) return;
    for (const f of staged) rmSync(f.temp, { force: true });
  };
  try {
    for (const f of files) staged.push({ path: f.path, temp: writeTemp(f.path, f.bytes) });
  } catch (e) {
    discard();
    throw e;
  }
  return {
    files: staged,
    commit() {
      for (const f of staged) renameSync(f.temp, f.path);
      committed = true;
      // Persist the renames; not possible on every platform, and the data is already safe.
      for (const dir of new Set(staged.map((f) => dirname(resolve(f.path))))) {
        try {
          const fd = openSync(dir, 'r');
          try {
            fsyncSync(fd);
          } finally {
            closeSync(fd);
          }
        } catch {
          // best effort
        }
      }
    },
    discard,
  };
}
