/**
 * Whole-file I/O every format shares: positioned reads that loop over short reads, opening a
 * file with errors that say what is wrong, and atomic writes (a temporary file renamed into
 * place, removed on any failure, so a crash never leaves a half-written file).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ModelFileError } from './errors.js';

/** fs.readSync takes at most ~2 GiB per call; stay well below. */
const IO_CHUNK = 1 << 30;

/**
 * Fill `target` from `fd` starting at absolute `position`, looping over short reads.
 * A file that ends early (truncated, or changed since it was validated) is a ModelFileError.
 */
export function readFully(fd: number, target: Uint8Array, position: number, file: string): void {
  let done = 0;
  while (done < target.byteLength) {
    const want = Math.min(IO_CHUNK, target.byteLength - done);
    let got: number;
    try {
      got = readSync(fd, target, done, want, position + done);
    } catch (err) {
      throw new ModelFileError(file, `read failed at byte ${position + done}: ${(err as Error).message}`, { cause: err });
    }
    if (got === 0) throw new ModelFileError(file, `unexpected end of file at byte ${position + done} (file truncated or modified while open)`);
    done += got;
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.byteLength) {
    done += writeSync(fd, bytes, done, Math.min(IO_CHUNK, bytes.byteLength - done));
  }
}

/**
 * Write `path` atomically: `body` streams bytes into a temp file in the same directory
 * (same filesystem, so rename is atomic), which is fsynced and renamed over `path`.
 * On any failure the temp file is removed and `path` is left untouched.
 */
export function writeFileAtomic(path: string, body: (write: (bytes: Uint8Array) => void) => void): void {
  const dir = dirname(resolve(path));
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx');
  let open = true;
  let renamed = false;
  try {
    body((bytes) => writeAll(fd, bytes));
    fsyncSync(fd);
    closeSync(fd);
    open = false;
    renameSync(tmp, path);
    renamed = true;
  } finally {
    if (open) {
      try { closeSync(fd); } catch { /* already failing; keep the original error */ }
    }
    if (!renamed) {
      try { unlinkSync(tmp); } catch { /* nothing to remove */ }
    }
  }
  // Persist the rename itself; not possible on every platform, and the data is already safe.
  try {
    const dfd = openSync(dir, 'r');
    try { fsyncSync(dfd); } finally { closeSync(dfd); }
  } catch { /* best effort */ }
}

export function openForReading(path: string): { fd: number; size: number } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const problem = code === 'ENOENT' ? 'file not found' : code === 'EACCES' ? 'permission denied' : `cannot open: ${(err as Error).message}`;
    throw new ModelFileError(path, problem, { cause: err });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ModelFileError(path, 'not a regular file');
    return { fd, size: st.size };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}
