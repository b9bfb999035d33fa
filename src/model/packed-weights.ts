import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ModelFileError } from '../io/errors.js';
import { GgmlType, type GgufFile } from '../io/gguf.js';
import { NBITS_BLOCK, nbitsBlobBytes, nbitsLayout, unpackRow, type NBitsRows } from '../io/nbits-repack.js';
import { ggmlTypeInfo } from '../io/ggml-quants.js';
import { cacheDir } from '../util/cache-dir.js';
import {
  CHUNK_BYTES, checkMappedValues, planLayout, planMapped, writeWeights,
  type ByteRange, type MappedMatrix, type PackedMatrix, type PackPlanEntry,
} from './packed-layout.js';
import type { HostTensor } from './tensor.js';

export type { ByteRange, MappedMatrix, PackedMatrix, PackPlanEntry } from './packed-layout.js';

/**
 * Linear weights that ONNX Runtime reads from files itself, so that JavaScript holds none of them
 * (an embedding row is read from the file when a token needs it):
 * - block-quantized ones, repacked once from a GGUF file into MatMulNBits' layout
 *   (../io/nbits-repack.ts) and written to weights.bin in a cache directory;
 * - float32 ones, read in place from the GGUF file itself, hard-linked into that directory as
 *   source.gguf (ONNX Runtime only follows external data inside the graph's own directory and
 *   refuses symbolic links out of it). ONNX Runtime maps them, so a float32 model starts without
 *   copying, transposing or even reading its weights: the graph multiplies by the stored
 *   [out, in] rows (transB) and reorders RoPE rows after the product.
 * The graphs referencing them are written to the same directory. The cache is keyed by the
 * source file's path, size and mtime, so a second start skips the repacking.
 */

// 3: constant blocks of zero-point formats hold q = 8 (io/nbits-repack.ts).
// 4: a layer's q/k/v and gate/up matrices side by side (packed-layout.ts).
const FORMAT = 'steerer.packed-weights/4';

export class PackedWeights {
  private fd?: number;
  private sourceFd?: number;

  constructor(
    /** Directory holding weights.bin (and the graphs that reference it). */
    readonly dir: string,
    readonly matrices: ReadonlyMap<string, PackedMatrix>,
    /** Float32 matrices read in place from `sourceFile`. */
    readonly mapped: ReadonlyMap<string, MappedMatrix> = new Map(),
  ) {}

  get file(): string {
    return path.join(this.dir, WEIGHTS_FILE);
  }

  /** The hard link to the source file that mapped matrices are read from. */
  get sourceFile(): string {
    return path.join(this.dir, SOURCE_FILE);
  }

  get(name: string): PackedMatrix | undefined {
    return this.matrices.get(name);
  }

  /** Whether `name` is held here, packed or mapped. */
  has(name: string): boolean {
    return this.matrices.has(name) || this.mapped.has(name);
  }

  /** Bytes of packed data (what ONNX Runtime holds once per session; mapped matrices are shared). */
  get bytes(): number {
    let n = 0;
    for (const m of this.matrices.values()) n += m.q.length + m.scales.length + (m.zeroPoints?.length ?? 0);
    return n;
  }

  /** Row r (output feature r, `in` values) dequantized: an embedding row for a token. */
  row(name: string, r: number, out?: Float32Array): Float32Array {
    const f = this.mapped.get(name);
    const rows = f?.out ?? this.need(name).out;
    if (!Number.isInteger(r) || r < 0 || r >= rows) throw new RangeError(`row ${r} is outside ${name} with ${rows} rows`);
    if (f) return this.readMappedRow(f, r, out ?? new Float32Array(f.in));
    const m = this.need(name);
    return unpackRow(this.readRows(m, r, 1), m.bits, m.in, 0, out);
  }

  /**
   * The whole matrix as float32 in its canonical layout (for the logit lens and exports): [in, out]
   * for a linear weight, [vocab, D] (rows as stored) for the token embedding table.
   */
  dense(name: string): HostTensor {
    const f = this.mapped.get(name);
    const m = f ? undefined : this.need(name);
    const [inputs, outputs] = f ? [f.in, f.out] : [m!.in, m!.out];
    const byRows = name === 'token_embd';
    const data = new Float32Array(inputs * outputs);
    const row = new Float32Array(inputs);
    const put = (r: number): void => {
      if (byRows) data.set(row, r * inputs);
      else for (let k = 0; k < inputs; k++) data[k * outputs + r] = row[k];
    };
    if (f?.perm) {
      // q/k rows in RoPE order: a few thousand rows, read one by one.
      for (let r = 0; r < outputs; r++) {
        this.readMappedRow(f, r, row);
        put(r);
      }
    } else if (f) {
      // Stored rows in order: read a chunk at a time, not a read call per row.
      const step = Math.max(1, Math.floor(CHUNK_BYTES / (4 * inputs)));
      const chunk = new Float32Array(step * inputs);
      this.sourceFd ??= fs.openSync(this.sourceFile, 'r');
      for (let r0 = 0; r0 < outputs; r0 += step) {
        const n = Math.min(step, outputs - r0);
        const bytes = new Uint8Array(chunk.buffer, 0, n * inputs * 4);
        const got = fs.readSync(this.sourceFd, bytes, 0, bytes.length, f.offset + r0 * inputs * 4);
        if (got !== bytes.length) throw new ModelFileError(this.sourceFile, `file is truncated (read ${got} of ${bytes.length} bytes)`);
        for (let r = 0; r < n; r++) {
          row.set(chunk.subarray(r * inputs, (r + 1) * inputs));
          put(r0 + r);
        }
      }
    } else {
      const step = Math.max(1, Math.floor(CHUNK_BYTES / (m!.q.length / outputs)));
      for (let r0 = 0; r0 < outputs; r0 += step) {
        const n = Math.min(step, outputs - r0);
        const rows = this.readRows(m!, r0, n);
        for (let r = 0; r < n; r++) {
          unpackRow(rows, m!.bits, inputs, r, row);
          put(r0 + r);
        }
      }
    }
    return { data, shape: byRows ? [outputs, inputs] : [inputs, outputs] };
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    if (this.sourceFd !== undefined) fs.closeSync(this.sourceFd);
    this.fd = undefined;
    this.sourceFd = undefined;
  }

  private readMappedRow(f: MappedMatrix, r: number, out: Float32Array): Float32Array {
    this.sourceFd ??= fs.openSync(this.sourceFile, 'r');
    const bytes = new Uint8Array(out.buffer, out.byteOffset, f.in * 4);
    const got = fs.readSync(this.sourceFd, bytes, 0, bytes.length, f.offset + (f.perm?.[r] ?? r) * f.in * 4);
    if (got !== bytes.length) throw new ModelFileError(this.sourceFile, `file is truncated (read ${got} of ${bytes.length} bytes)`);
    return out;
  }

  private need(name: string): PackedMatrix {
    const m = this.matrices.get(name);
    if (!m) throw new Error(`no packed weight ${name}`);
    return m;
  }

  private readRows(m: PackedMatrix, r0: number, n: number): NBitsRows {
    this.fd ??= fs.openSync(this.file, 'r');
    const kb = m.in / NBITS_BLOCK;
    const blob = nbitsBlobBytes(m.bits);
    const read = (range: ByteRange, unit: number): Uint8Array => {
      const buf = new Uint8Array(n * kb * unit);
      const got = fs.readSync(this.fd!, buf, 0, buf.length, range.offset + r0 * kb * unit);
      if (got !== buf.length) throw new ModelFileError(this.file, `packed weights are truncated (read ${got} of ${buf.length} bytes)`);
      return buf;
    };
    const floats = (range: ByteRange): Float32Array => new Float32Array(read(range, 4).buffer);
    return { q: read(m.q, blob), scales: floats(m.scales), zeros: m.zeroPoints ? floats(m.zeroPoints) : undefined };
  }
}

const WEIGHTS_FILE = 'weights.bin';
const SOURCE_FILE = 'source.gguf';
const INDEX_FILE = 'index.json';

interface IndexFile {
  readonly format: string;
  readonly source: { readonly path: string; readonly size: number; readonly mtimeMs: number };
  readonly bytes: number;
  readonly matrices: Record<string, PackedMatrix>;
  readonly mapped: Record<string, MappedMatrix>;
}

/** Whether a GGUF tensor type is packed (quantized) rather than read as float32. */
export function packable(type: number): boolean {
  const info = ggmlTypeInfo(type);
  // Half-precision floats too (requantized to 8 bits: MatMulNBits has no 16-bit form, and float32
  // would double them); float32 ones are read in place instead.
  const compact = info !== undefined && (info.blockSize > 1 || type === GgmlType.F16 || type === GgmlType.BF16);
  return compact && nbitsLayout(type) !== undefined;
}

/**
 * Whether float32 weights of `file` can be read in place: a hard link to it can be made in the
 * cache (same filesystem, and the user may link it). Where it cannot, they are read into memory.
 */
export function canMapSource(file: string, opts: { root?: string } = {}): boolean {
  const root = opts.root ?? cacheDir('packed');
  const probe = path.join(root, `.link-probe.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    fs.mkdirSync(root, { recursive: true });
    fs.linkSync(fs.realpathSync(file), probe);
    fs.unlinkSync(probe);
    return true;
  } catch {
    return false;
  }
}

/**
 * Packs `plan`'s matrices from `gguf` into the cache (or finds them there from an earlier start)
 * and returns them. Writes go to a temporary directory renamed into place, so a crash or a
 * concurrent start never leaves a half-written cache entry that a later start would trust.
 */
export function packGgufWeights(gguf: GgufFile, file: string, plan: readonly PackPlanEntry[], opts: { root?: string } = {}): PackedWeights {
  const real = fs.realpathSync(file);
  const stat = fs.statSync(real);
  const layout = planLayout(gguf, file, plan.filter((p) => !p.mapped));
  const mapped = planMapped(gguf, file, plan.filter((p) => p.mapped));
  const key = createHash('sha256')
    .update(JSON.stringify({ FORMAT, real, size: stat.size, mtimeMs: stat.mtimeMs, plan: plan.map((p) => [p.name, p.tensor, p.rowStart, p.rows, p.cols, p.perm ? hashInts(p.perm) : null, !!p.mapped]) }))
    .digest('hex')
    .slice(0, 24);
  const root = opts.root ?? cacheDir('packed');
  const dir = path.join(root, `${path.basename(real).replace(/[^\w.-]/g, '_').slice(0, 80)}-${key}`);
  const found = readIndex(dir, layout.bytes, mapped.size ? stat.size : undefined);
  if (found) return new PackedWeights(dir, new Map(Object.entries(found.matrices)), new Map(Object.entries(found.mapped)));

  const tmp = `${dir}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    fs.mkdirSync(root, { recursive: true });
    pruneStaleEntries(root);
    fs.mkdirSync(tmp);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new ModelFileError(
      file,
      `cannot write its packed weights under ${root} (${code}): set STEERER_CACHE_DIR to a writable directory, or STEERER_WEIGHTS=f32 to expand the weights in memory instead`,
      { cause: e },
    );
  }
  try {
    writeWeights(gguf, file, path.join(tmp, WEIGHTS_FILE), plan.filter((p) => !p.mapped), layout);
    if (mapped.size) {
      // Checked once here, as a float32 load checks every weight: later starts never read them.
      for (const p of plan) if (p.mapped) checkMappedValues(gguf, file, p);
      fs.linkSync(real, path.join(tmp, SOURCE_FILE));
    }
    const index: IndexFile = {
      format: FORMAT,
      source: { path: real, size: stat.size, mtimeMs: stat.mtimeMs },
      bytes: layout.bytes,
      matrices: Object.fromEntries(layout.matrices),
      mapped: Object.fromEntries(mapped),
    };
    fs.writeFileSync(path.join(tmp, INDEX_FILE), `${JSON.stringify(index)}\n`);
    // A damaged entry (truncated, another format) is moved aside and removed, never trusted.
    if (fs.existsSync(dir)) {
      const stale = `${dir}.${process.pid}.${randomBytes(4).toString('hex')}.stale.tmp`;
      fs.renameSync(dir, stale);
      fs.rmSync(stale, { recursive: true, force: true });
    }
    try {
      fs.renameSync(tmp, dir);
    } catch (e) {
      // Another process packed the same file first: use theirs.
      if (!readIndex(dir, layout.bytes, mapped.size ? stat.size : undefined)) throw e;
    }
  } catch (e) {
    // A full disk or a vanished directory is the environment's problem, said as such; a bad file's own error passes through.
    const code = (e as NodeJS.ErrnoException).code;
    if (e instanceof ModelFileError || typeof code !== 'string') throw e;
    throw new ModelFileError(file, `cannot write its packed weights under ${root} (${code}): free space, set STEERER_CACHE_DIR to another directory, or STEERER_WEIGHTS=f32 to expand the weights in memory instead`, { cause: e });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return new PackedWeights(dir, layout.matrices, mapped);
}


/** Temporary directories older than this were left by a process that died while packing. */
const STALE_TMP_MS = 60 * 60 * 1000;

/**
 * Removes cache entries whose source file is gone or has changed (they can never be hit again),
 * and temporary directories of packings that died: keeps the cache from growing without bound.
 */
function pruneStaleEntries(root: string): void {
  for (const name of fs.readdirSync(root)) {
    const dir = path.join(root, name);
    try {
      if (name.endsWith('.tmp')) {
        if (Date.now() - fs.statSync(dir).mtimeMs > STALE_TMP_MS) fs.rmSync(dir, { recursive: true, force: true });
        continue;
      }
      const index = JSON.parse(fs.readFileSync(path.join(dir, INDEX_FILE), 'utf8')) as IndexFile;
      const src = fs.statSync(index.source.path, { throwIfNoEntry: false });
      if (!src || src.size !== index.source.size || src.mtimeMs !== index.source.mtimeMs) fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // Not ours or unreadable: leave it.
    }
  }
}

function hashInts(a: Int32Array): string {
  return createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex').slice(0, 16);
}


/** The entry's index when it is whole: its weights file, and the source link when `sourceSize` is given. */
function readIndex(dir: string, bytes: number, sourceSize?: number): IndexFile | undefined {
  try {
    const index = JSON.parse(fs.readFileSync(path.join(dir, INDEX_FILE), 'utf8')) as IndexFile;
    if (index.format !== FORMAT || index.bytes !== bytes) return undefined;
    if (fs.statSync(path.join(dir, WEIGHTS_FILE)).size !== bytes) return undefined;
    if (sourceSize !== undefined && fs.statSync(path.join(dir, SOURCE_FILE)).size !== sourceSize) return undefined;
    return index;
  } catch {
    return undefined;
  }
}
