import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ModelFileError } from '../io/errors.js';
import type { GgufFile } from '../io/gguf.js';
import { NBITS_BLOCK, nbitsBlobBytes, nbitsLayout, repackRows, unpackRow, type NBitsRows } from '../io/nbits-repack.js';
import { ggmlTypeInfo, ggmlTypeName } from '../io/ggml-quants.js';
import { cacheDir } from '../util/cache-dir.js';
import type { HostTensor } from './tensor.js';

/**
 * Linear weights kept block-quantized instead of expanded to float32: repacked once from a
 * GGUF file into ONNX Runtime's MatMulNBits layout (../io/nbits-repack.ts) and written to a cache
 * directory, where the graphs reference them as external data. ONNX Runtime then reads them
 * from that file itself; JavaScript holds none of them (an embedding row is read from the file
 * when a token needs it). The cache is keyed by the source file's path, size and mtime, so a
 * second start skips the repacking.
 */

interface ByteRange {
  readonly offset: number;
  readonly length: number;
}

/** A linear weight as MatMulNBits reads it: `out` rows (output features) of `in` weights. */
export interface PackedMatrix {
  readonly in: number;
  readonly out: number;
  readonly bits: 4 | 8;
  /** Float zero points stored (else the default 2^(bits−1)). */
  readonly zeros: boolean;
  /** The source's values are reproduced, not requantized. */
  readonly exact: boolean;
  /** ggml type of the source tensor. */
  readonly sourceType: string;
  /** [out, in/32, blob] */
  readonly q: ByteRange;
  /** [out × in/32] float32 */
  readonly scales: ByteRange;
  readonly zeroPoints?: ByteRange;
}

/** One matrix to pack: `rows` rows of `cols` weights of a GGUF tensor, from row `rowStart`. */
export interface PackPlanEntry {
  /** Canonical weight name (../model/spec.ts): blk.0.attn_q.weight, output.weight, token_embd. */
  readonly name: string;
  readonly tensor: string;
  readonly rowStart: number;
  readonly rows: number;
  readonly cols: number;
  /** Destination row i is source row perm[i] (relative to rowStart): RoPE layout changes. */
  readonly perm?: Int32Array;
}

const FORMAT = 'steerer.packed-weights/1';
/** Region alignment in the file: ONNX Runtime maps external data whose offset is page aligned. */
const ALIGN = 65536;
/** Source bytes repacked per step: bounds the memory packing takes. */
const CHUNK_BYTES = 16 << 20;

export class PackedWeights {
  private fd?: number;

  constructor(
    /** Directory holding weights.bin (and the graphs that reference it). */
    readonly dir: string,
    readonly matrices: ReadonlyMap<string, PackedMatrix>,
  ) {}

  get file(): string {
    return path.join(this.dir, WEIGHTS_FILE);
  }

  get(name: string): PackedMatrix | undefined {
    return this.matrices.get(name);
  }

  /** Bytes of packed data (what ONNX Runtime holds once per session). */
  get bytes(): number {
    let n = 0;
    for (const m of this.matrices.values()) n += m.q.length + m.scales.length + (m.zeroPoints?.length ?? 0);
    return n;
  }

  /** Row r (output feature r, `in` values) dequantized: an embedding row for a token. */
  row(name: string, r: number, out?: Float32Array): Float32Array {
    const m = this.need(name);
    if (!Number.isInteger(r) || r < 0 || r >= m.out) throw new RangeError(`row ${r} is outside ${name} with ${m.out} rows`);
    return unpackRow(this.readRows(m, r, 1), m.bits, m.in, 0, out);
  }

  /** The whole matrix dequantized in the canonical [in, out] layout (for the logit lens and exports). */
  dense(name: string): HostTensor {
    const m = this.need(name);
    const data = new Float32Array(m.in * m.out);
    const row = new Float32Array(m.in);
    const step = Math.max(1, Math.floor(CHUNK_BYTES / (m.q.length / m.out)));
    for (let r0 = 0; r0 < m.out; r0 += step) {
      const n = Math.min(step, m.out - r0);
      const rows = this.readRows(m, r0, n);
      for (let r = 0; r < n; r++) {
        unpackRow(rows, m.bits, m.in, r, row);
        for (let k = 0; k < m.in; k++) data[k * m.out + r0 + r] = row[k];
      }
    }
    return { data, shape: [m.in, m.out] };
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
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
const INDEX_FILE = 'index.json';

interface IndexFile {
  readonly format: string;
  readonly source: { readonly path: string; readonly size: number; readonly mtimeMs: number };
  readonly bytes: number;
  readonly matrices: Record<string, PackedMatrix>;
}

/** Whether a GGUF tensor type is packed (quantized) rather than read as float32. */
export function packable(type: number): boolean {
  const info = ggmlTypeInfo(type);
  return info !== undefined && info.blockSize > 1 && nbitsLayout(type) !== undefined;
}

/**
 * Packs `plan`'s matrices from `gguf` into the cache (or finds them there from an earlier start)
 * and returns them. Writes go to a temporary directory renamed into place, so a crash or a
 * concurrent start never leaves a half-written cache entry that a later start would trust.
 */
export function packGgufWeights(gguf: GgufFile, file: string, plan: readonly PackPlanEntry[], opts: { root?: string } = {}): PackedWeights {
  const real = fs.realpathSync(file);
  const stat = fs.statSync(real);
  const layout = planLayout(gguf, file, plan);
  const key = createHash('sha256')
    .update(JSON.stringify({ FORMAT, real, size: stat.size, mtimeMs: stat.mtimeMs, plan: plan.map((p) => [p.name, p.tensor, p.rowStart, p.rows, p.cols, p.perm ? hashInts(p.perm) : null]) }))
    .digest('hex')
    .slice(0, 24);
  const root = opts.root ?? cacheDir('packed');
  const dir = path.join(root, `${path.basename(real).replace(/[^\w.-]/g, '_').slice(0, 80)}-${key}`);
  const found = readIndex(dir, layout.bytes);
  if (found) return new PackedWeights(dir, new Map(Object.entries(found.matrices)));

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
    writeWeights(gguf, file, path.join(tmp, WEIGHTS_FILE), plan, layout);
    const index: IndexFile = { format: FORMAT, source: { path: real, size: stat.size, mtimeMs: stat.mtimeMs }, bytes: layout.bytes, matrices: Object.fromEntries(layout.matrices) };
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
      if (!readIndex(dir, layout.bytes)) throw e;
    }
  } catch (e) {
    // A full disk or a vanished directory is the environment's problem, said as such; a bad file's own error passes through.
    const code = (e as NodeJS.ErrnoException).code;
    if (e instanceof ModelFileError || typeof code !== 'string') throw e;
    throw new ModelFileError(file, `cannot write its packed weights under ${root} (${code}): free space, set STEERER_CACHE_DIR to another directory, or STEERER_WEIGHTS=f32 to expand the weights in memory instead`, { cause: e });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return new PackedWeights(dir, layout.matrices);
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

/** Where each matrix's regions go in the file. */
function planLayout(gguf: GgufFile, file: string, plan: readonly PackPlanEntry[]): { matrices: Map<string, PackedMatrix>; bytes: number } {
  const matrices = new Map<string, PackedMatrix>();
  let at = 0;
  const region = (length: number): ByteRange => {
    const r = { offset: at, length };
    at += Math.ceil(length / ALIGN) * ALIGN;
    return r;
  };
  for (const p of plan) {
    const t = gguf.tensors.get(p.tensor);
    if (!t) throw new ModelFileError(file, `tensor ${p.tensor} is missing`);
    const l = nbitsLayout(t.type);
    if (!l) throw new ModelFileError(file, `tensor ${p.tensor} has type ${ggmlTypeName(t.type)}, which steerer cannot read`);
    if (p.cols % NBITS_BLOCK !== 0) throw new ModelFileError(file, `tensor ${p.tensor} has rows of ${p.cols} weights, not whole blocks of ${NBITS_BLOCK}`);
    const blocks = p.rows * (p.cols / NBITS_BLOCK);
    matrices.set(p.name, {
      in: p.cols,
      out: p.rows,
      bits: l.bits,
      zeros: l.zeros,
      exact: l.exact,
      sourceType: ggmlTypeName(t.type),
      q: region(blocks * nbitsBlobBytes(l.bits)),
      scales: region(blocks * 4),
      ...(l.zeros ? { zeroPoints: region(blocks * 4) } : {}),
    });
  }
  return { matrices, bytes: at };
}

function readIndex(dir: string, bytes: number): IndexFile | undefined {
  try {
    const index = JSON.parse(fs.readFileSync(path.join(dir, INDEX_FILE), 'utf8')) as IndexFile;
    if (index.format !== FORMAT || index.bytes !== bytes) return undefined;
    if (fs.statSync(path.join(dir, WEIGHTS_FILE)).size !== bytes) return undefined;
    return index;
  } catch {
    return undefined;
  }
}

function writeWeights(gguf: GgufFile, file: string, target: string, plan: readonly PackPlanEntry[], layout: { matrices: Map<string, PackedMatrix>; bytes: number }): void {
  const fd = fs.openSync(target, 'wx');
  try {
    fs.ftruncateSync(fd, layout.bytes);
    const put = (bytes: Uint8Array, at: number): void => {
      let done = 0;
      while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done, at + done);
    };
    for (const p of plan) {
      const m = layout.matrices.get(p.name)!;
      const t = gguf.tensors.get(p.tensor)!;
      const kb = p.cols / NBITS_BLOCK;
      const blob = nbitsBlobBytes(m.bits);
      const srcRowBytes = t.byteLength / t.shape[0];
      // A permuted matrix (q/k of interleaved-RoPE files, a few MB) is read whole; others a chunk at a time.
      const step = p.perm ? p.rows : Math.max(1, Math.floor(CHUNK_BYTES / srcRowBytes));
      for (let r0 = 0; r0 < p.rows; r0 += step) {
        const n = Math.min(step, p.rows - r0);
        const rows: NBitsRows = { q: new Uint8Array(n * kb * blob), scales: new Float32Array(n * kb), zeros: m.zeros ? new Float32Array(n * kb) : undefined };
        if (p.perm) {
          const src = gguf.readRawRows(p.tensor, p.rowStart, p.rows);
          for (let r = 0; r < n; r++) {
            const s = p.perm[r0 + r];
            repackRows(t.type, src.subarray(s * srcRowBytes, (s + 1) * srcRowBytes), 1, p.cols, rows, r);
          }
        } else {
          repackRows(t.type, gguf.readRawRows(p.tensor, p.rowStart + r0, n), n, p.cols, rows, 0);
        }
        // A scale or zero point that is NaN or infinite would make every output of the matmul one too.
        for (const v of [rows.scales, rows.zeros]) {
          if (v && !v.every(Number.isFinite)) throw new ModelFileError(file, `tensor ${p.tensor} has non-finite block scales`);
        }
        put(rows.q, m.q.offset + r0 * kb * blob);
        put(new Uint8Array(rows.scales.buffer), m.scales.offset + r0 * kb * 4);
        if (rows.zeros && m.zeroPoints) put(new Uint8Array(rows.zeros.buffer), m.zeroPoints.offset + r0 * kb * 4);
      }
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
