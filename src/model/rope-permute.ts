/**
 * RoPE layout conversions. Steerer's graphs rotate q/k in the Hugging Face half-split layout
 * (pairs j, j + headDim/2); llama2.c checkpoints and llama.cpp's GGUF "llama" tensors use the
 * interleaved layout (pairs 2j, 2j+1). Permuting each head's output rows of W_q and W_k maps
 * one to the other without changing any attention score.
 */

/** Rows [heads*headDim, inDim] (row-major) from interleaved to half-split order. */
export function interleavedToHalfSplitRows(w: Float32Array, numHeads: number, headDim: number, inDim: number): Float32Array {
  return permuteRows(w, numHeads, headDim, inDim, (h, j, s) => [h * headDim + s * (headDim / 2) + j, h * headDim + 2 * j + s]);
}

/** The same permutation as row indices: destination row i is source row order[i]. */
export function interleavedToHalfSplitOrder(numHeads: number, headDim: number): Int32Array {
  if (headDim % 2 !== 0) throw new Error(`head dimension ${headDim} must be even for RoPE`);
  const order = new Int32Array(numHeads * headDim);
  for (let h = 0; h < numHeads; h++) {
    for (let j = 0; j < headDim / 2; j++) {
      for (let s = 0; s < 2; s++) order[h * headDim + s * (headDim / 2) + j] = h * headDim + 2 * j + s;
    }
  }
  return order;
}

/** Rows from half-split to interleaved order (what llama.cpp's converter writes). */
export function halfSplitToInterleavedRows(w: Float32Array, numHeads: number, headDim: number, inDim: number): Float32Array {
  return permuteRows(w, numHeads, headDim, inDim, (h, j, s) => [h * headDim + 2 * j + s, h * headDim + s * (headDim / 2) + j]);
}

/** `map(head, j, s)` gives [destination row, source row] for pair j, member s ∈ {0, 1}. */
function permuteRows(
  w: Float32Array,
  numHeads: number,
  headDim: number,
  inDim: number,
  map: (h: number, j: number, s: number) => [number, number],
): Float32Array {
  if (w.length !== numHeads * headDim * inDim) throw new Error(`expected ${numHeads * headDim * inDim} values, got ${w.length}`);
  if (headDim % 2 !== 0) throw new Error(`head dimension ${headDim} must be even for RoPE`);
  const out = new Float32Array(w.length);
  for (let h = 0; h < numHeads; h++) {
    for (let j = 0; j < headDim / 2; j++) {
      for (let s = 0; s < 2; s++) {
        const [dst, src] = map(h, j, s);
        out.set(w.subarray(src * inDim, (src + 1) * inDim), dst * inDim);
      }
    }
  }
  return out;
}
