import fs from 'node:fs';
import { ModelFileError } from '../io/errors.js';
import { GgmlType, type GgufFile } from '../io/gguf.js';
import { NBITS_BLOCK, nbitsBlobBytes, nbitsLayout, repackRows, type NBitsRows } from '../io/nbits-repack.js';
import { ggmlTypeName } from '../io/ggml-quants.js';
import { checkWeightValues } from './weight-values.js';

/**
 * What a packed-weights cache entry holds and how it is laid out (../packed-weights.ts keeps the
 * entries): where each repacked matrix goes in weights.bin, where each float32 one lies in the
 * source file, and the writing of weights.bin.
 */

export interface ByteRange {
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

/**
 * A float32 linear weight read in place from the source file (source.gguf): `out` rows of `in`
 * weights at byte `offset`, row-major, as GGUF stores them.
 */
export interface MappedMatrix {
  readonly in: number;
  readonly out: number;
  readonly offset: number;
  readonly length: number;
  /** Output feature i is the product's feature perm[i] (RoPE layout changes), gathered in the graph. */
  readonly perm?: readonly number[];
}

/**
 * One matrix to pack: `rows` rows of `cols` weights of a GGUF tensor, from row `rowStart`;
 * `mapped` float32 ones are referenced in the source file instead of repacked.
 */
export interface PackPlanEntry {
  /** Canonical weight name (../model/spec.ts): blk.0.attn_q.weight, output.weight, token_embd. */
  readonly name: string;
  readonly tensor: string;
  readonly rowStart: number;
  readonly rows: number;
  readonly cols: number;
  /** Destination row i is source row perm[i] (relative to rowStart): RoPE layout changes. */
  readonly perm?: Int32Array;
  readonly mapped?: boolean;
}

/** Region alignment in the file: ONNX Runtime maps external data whose offset is page aligned. */
const ALIGN = 65536;
/** Source bytes repacked per step: bounds the memory packing takes. */
export const CHUNK_BYTES = 16 << 20;

/** Where each float32 matrix lies in the source file. */
export function planMapped(gguf: GgufFile, file: string, plan: readonly PackPlanEntry[]): Map<string, MappedMatrix> {
  const mapped = new Map<string, MappedMatrix>();
  for (const p of plan) {
    const t = gguf.tensors.get(p.tensor);
    if (!t) throw new ModelFileError(file, `tensor ${p.tensor} is missing`);
    if (t.type !== GgmlType.F32) throw new ModelFileError(file, `tensor ${p.tensor} has type ${ggmlTypeName(t.type)}; only F32 tensors are read in place`);
    const rowBytes = p.cols * 4;
    mapped.set(p.name, {
      in: p.cols,
      out: p.rows,
      offset: t.offset + p.rowStart * rowBytes,
      length: p.rows * rowBytes,
      ...(p.perm ? { perm: Array.from(p.perm) } : {}),
    });
  }
  return mapped;
}

/** A float32 matrix's values, checked a chunk of rows at a time as the float32 load checks them. */
export function checkMappedValues(gguf: GgufFile, file: string, p: PackPlanEntry): void {
  const step = Math.max(1, Math.floor(CHUNK_BYTES / (4 * p.cols)));
  for (let r0 = 0; r0 < p.rows; r0 += step) checkWeightValues(gguf.readF32Rows(p.tensor, p.rowStart + r0, Math.min(step, p.rows - r0)), file, p.tensor);
}

/**
 * Matrices of a layer that multiply the same input. When they are packed alike, the cache stores
 * them side by side, region by region (the rows of one after the other's), so that one
 * MatMulNBits computes them all and its output is split (../graph/segment.ts): a decode step then
 * runs 2 of these products a layer instead of 5, measured 1.2× faster on them.
 */
const SIDE_BY_SIDE: readonly (readonly string[])[] = [['attn_q', 'attn_k', 'attn_v'], ['ffn_gate', 'ffn_up']];

interface Described {
  readonly p: PackPlanEntry;
  readonly type: GgmlType;
  readonly bits: 4 | 8;
  readonly zeros: boolean;
  readonly exact: boolean;
  readonly blocks: number;
}

/** The group `name` belongs to, in storing order, when every member is planned and packed alike. */
function sideBySide(name: string, described: ReadonlyMap<string, Described>): readonly Described[] | undefined {
  const m = /^blk\.(\d+)\.(\w+)\.weight$/.exec(name);
  const group = m && SIDE_BY_SIDE.find((g) => g.includes(m[2]));
  if (!m || !group) return undefined;
  const members = group.map((w) => described.get(`blk.${m[1]}.${w}.weight`));
  const first = members[0];
  if (!first || members.some((d) => !d || d.bits !== first.bits || d.zeros !== first.zeros || d.p.cols !== first.p.cols)) return undefined;
  return members as Described[];
}

/** Where each matrix's regions go in the file. */
export function planLayout(gguf: GgufFile, file: string, plan: readonly PackPlanEntry[]): { matrices: Map<string, PackedMatrix>; bytes: number } {
  const described = new Map<string, Described>();
  for (const p of plan) {
    const t = gguf.tensors.get(p.tensor);
    if (!t) throw new ModelFileError(file, `tensor ${p.tensor} is missing`);
    const l = nbitsLayout(t.type);
    if (!l) throw new ModelFileError(file, `tensor ${p.tensor} has type ${ggmlTypeName(t.type)}, which steerer cannot read`);
    if (p.cols % NBITS_BLOCK !== 0) throw new ModelFileError(file, `tensor ${p.tensor} has rows of ${p.cols} weights, not whole blocks of ${NBITS_BLOCK}`);
    described.set(p.name, { p, type: t.type, bits: l.bits, zeros: l.zeros, exact: l.exact, blocks: p.rows * (p.cols / NBITS_BLOCK) });
  }
  const matrices = new Map<string, PackedMatrix>();
  let at = 0;
  const region = (length: number): ByteRange => {
    const r = { offset: at, length };
    at += Math.ceil(length / ALIGN) * ALIGN;
    return r;
  };
  for (const p of plan) {
    if (matrices.has(p.name)) continue;
    const members = sideBySide(p.name, described) ?? [described.get(p.name)!];
    const { bits, zeros } = members[0];
    const total = members.reduce((n, d) => n + d.blocks, 0);
    // One region each for all members' blobs, scales and zero points; each member a slice of it.
    const q = region(total * nbitsBlobBytes(bits));
    const scales = region(total * 4);
    const zeroPoints = zeros ? region(total * 4) : undefined;
    let before = 0;
    const slice = (r: ByteRange, bytesPerBlock: number, blocks: number): ByteRange => ({ offset: r.offset + before * bytesPerBlock, length: blocks * bytesPerBlock });
    for (const d of members) {
      matrices.set(d.p.name, {
        in: d.p.cols,
        out: d.p.rows,
        bits,
        zeros,
        exact: d.exact,
        sourceType: ggmlTypeName(d.type),
        q: slice(q, nbitsBlobBytes(bits), d.blocks),
        scales: slice(scales, 4, d.blocks),
        ...(zeroPoints ? { zeroPoints: slice(zeroPoints, 4, d.blocks) } : {}),
      });
      before += d.blocks;
    }
  }
  return { matrices, bytes: at };
}

export function writeWeights(gguf: GgufFile, file: string, target: string, plan: readonly PackPlanEntry[], layout: { matrices: Map<string, PackedMatrix>; bytes: number }): void {
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
