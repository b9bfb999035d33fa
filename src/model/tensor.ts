/** A host-side tensor. After loading, every weight is float32 in row-major order. */
export interface HostTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function tensor(data: Float32Array, shape: readonly number[]): HostTensor {
  if (data.length !== numel(shape)) {
    throw new Error(`tensor data has ${data.length} values but shape [${shape.join(', ')}] needs ${numel(shape)}`);
  }
  return { data, shape: [...shape] };
}

/** Transpose a 2-D row-major matrix [rows, cols] into [cols, rows]. */
export function transpose2d(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  transposeInto(src, rows, cols, out, rows, 0);
  return out;
}

/**
 * Writes src [rows, cols] transposed into out, whose rows are `stride` long, starting at column
 * `col0`: out[c * stride + col0 + r] = src[r * cols + c]. Tiled so that both sides stay in cache
 * (a plain column-order write is ~15× slower on a 576 × 49152 matrix).
 */
function transposeInto(src: Float32Array, rows: number, cols: number, out: Float32Array, stride: number, col0: number): void {
  const T = 32;
  for (let r0 = 0; r0 < rows; r0 += T) {
    const r1 = Math.min(rows, r0 + T);
    for (let c0 = 0; c0 < cols; c0 += T) {
      const c1 = Math.min(cols, c0 + T);
      for (let c = c0; c < c1; c++) {
        const o = c * stride + col0;
        for (let r = r0; r < r1; r++) out[o + r] = src[r * cols + c];
      }
    }
  }
}

/** Something that can read a 2-D tensor a block of rows at a time. */
interface RowReader {
  readF32Rows(name: string, start: number, count: number): Float32Array;
}

/**
 * Reads a [rows, cols] tensor transposed into [cols, rows], a block of rows at a time, so
 * loading a big matrix never holds a second full copy of it.
 */
export function readTransposed(reader: RowReader, name: string, rows: number, cols: number, blockBytes = 8 << 20): Float32Array {
  const out = new Float32Array(rows * cols);
  const block = Math.max(1, Math.floor(blockBytes / (4 * cols)));
  for (let r0 = 0; r0 < rows; r0 += block) {
    const n = Math.min(block, rows - r0);
    transposeInto(reader.readF32Rows(name, r0, n), n, cols, out, rows, r0);
  }
  return out;
}
