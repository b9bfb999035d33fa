import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { f32ToF16 } from '../src/io/dtype.js';
import { GgmlType, dequantize, ggmlTypeInfo } from '../src/io/ggml-quants.js';
import { nbitsBlobBytes, nbitsLayout, repackRows, unpackRow, type NBitsRows } from '../src/io/nbits-repack.js';
import { createRng } from '../src/runtime/rng.js';

/** Byte offsets of each type's f16 scale fields within a block (ggml-common.h). */
const HALF_FIELDS: Partial<Record<GgmlType, readonly number[]>> = {
  [GgmlType.Q4_0]: [0],
  [GgmlType.Q4_1]: [0, 2],
  [GgmlType.Q5_0]: [0],
  [GgmlType.Q5_1]: [0, 2],
  [GgmlType.Q8_0]: [0],
  [GgmlType.Q2_K]: [80, 82],
  [GgmlType.Q3_K]: [108],
  [GgmlType.Q4_K]: [0, 2],
  [GgmlType.Q5_K]: [0, 2],
  [GgmlType.Q6_K]: [208],
};

/** Random blocks of `type` (random quants and scale bytes, finite f16 scales), `rows` rows of K weights. */
function randomRows(type: GgmlType, rows: number, K: number, seed: number): Uint8Array {
  const info = ggmlTypeInfo(type)!;
  const rng = createRng(seed);
  const nb = (rows * K) / info.blockSize;
  const bytes = new Uint8Array(nb * info.typeSize);
  if (type === GgmlType.F16 || type === GgmlType.BF16) {
    // Finite weights of either sign: f16 from f32ToF16, bf16 as the top half of a float32.
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < nb; i++) {
      const w = (rng.nextFloat() - 0.5) * 0.2;
      if (type === GgmlType.F16) view.setUint16(2 * i, f32ToF16(w), true);
      else view.setUint16(2 * i, new Uint32Array(Float32Array.of(w).buffer)[0] >>> 16, true);
    }
    return bytes;
  }
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rng.nextFloat() * 256);
  for (let b = 0; b < nb; b++) {
    for (const off of HALF_FIELDS[type] ?? []) {
      const sign = type === GgmlType.Q4_1 && off === 2 && rng.nextFloat() < 0.5 ? -1 : 1;
      const h = f32ToF16(sign * (0.001 + rng.nextFloat() * 0.1));
      bytes[b * info.typeSize + off] = h & 0xff;
      bytes[b * info.typeSize + off + 1] = h >> 8;
    }
  }
  return bytes;
}

function repackAndUnpack(type: GgmlType, src: Uint8Array, rows: number, K: number): Float32Array {
  const layout = nbitsLayout(type)!;
  const kb = K / 32;
  const packed: NBitsRows = { q: new Uint8Array(rows * kb * nbitsBlobBytes(layout.bits)), scales: new Float32Array(rows * kb), zeros: layout.zeros ? new Float32Array(rows * kb) : undefined };
  repackRows(type, src, rows, K, packed);
  const out = new Float32Array(rows * K);
  for (let r = 0; r < rows; r++) unpackRow(packed, layout.bits, K, r, out.subarray(r * K, (r + 1) * K));
  return out;
}

describe('ggml rows → MatMulNBits layout', () => {
  const rows = 3;
  const K = 512;
  for (const type of [GgmlType.Q4_0, GgmlType.Q8_0, GgmlType.Q4_1, GgmlType.Q4_K]) {
    test(`${ggmlTypeInfo(type)!.name} is rearranged exactly: unpacked values equal ggml's dequantization`, () => {
      const src = randomRows(type, rows, K, 11 + type);
      const want = dequantize(type, src, rows * K);
      const got = repackAndUnpack(type, src, rows, K);
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.max(1e-6, Math.abs(want[i])));
      // Q4_0/Q8_0 are the same numbers; zero points (Q4_1, Q4_K) add one float32 rounding of (q − m/d)·d.
      assert.ok(worst < (nbitsLayout(type)!.zeros ? 1e-4 : 1e-7), `worst relative error ${worst}`);
    });
  }

  for (const type of [GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.F16, GgmlType.BF16]) {
    test(`${ggmlTypeInfo(type)!.name} is requantized to 8 bits within half a step of each block's range`, () => {
      assert.deepEqual(nbitsLayout(type), { bits: 8, zeros: false, exact: false });
      const src = randomRows(type, rows, K, 23 + type);
      const want = dequantize(type, src, rows * K);
      const got = repackAndUnpack(type, src, rows, K);
      for (let b = 0; b < want.length / 32; b++) {
        let amax = 0;
        for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(want[b * 32 + j]));
        for (let j = 0; j < 32; j++) {
          const err = Math.abs(got[b * 32 + j] - want[b * 32 + j]);
          assert.ok(err <= (0.5 * amax) / 127 + 1e-6 * amax, `block ${b}: error ${err} > half a step of ${amax / 127}`);
        }
      }
    });
  }

  test('hand-worked Q4_0 block: ggml pairs (j, j+16) become MatMulNBits pairs (2i, 2i+1)', () => {
    // d = 0.5; byte j holds element j (low nibble) and element j+16 (high nibble).
    const block = new Uint8Array(18);
    const h = f32ToF16(0.5);
    block[0] = h & 0xff;
    block[1] = h >> 8;
    for (let j = 0; j < 16; j++) block[2 + j] = (j & 0xf) | ((15 - j) << 4);
    const packed: NBitsRows = { q: new Uint8Array(16), scales: new Float32Array(1) };
    repackRows(GgmlType.Q4_0, block, 1, 32, packed);
    assert.equal(packed.scales[0], 0.5);
    // Elements 0..15 are q = 0..15, elements 16..31 are q = 15..0.
    const q = Array.from({ length: 32 }, (_, e) => (packed.q[e >> 1] >> (e & 1 ? 4 : 0)) & 0xf);
    assert.deepEqual(q, [...Array.from({ length: 16 }, (_, j) => j), ...Array.from({ length: 16 }, (_, j) => 15 - j)]);
    // Default zero point 8: element 0 is (0 − 8)·0.5 = −4, element 31 is (0 − 8)·0.5 = −4, element 15 is 3.5.
    const w = unpackRow(packed, 4, 32, 0);
    assert.equal(w[0], -4);
    assert.equal(w[15], 3.5);
    assert.equal(w[16], 3.5);
    assert.equal(w[31], -4);
  });

  test('a Q4_1 block with d = 0 is its constant m, held with q = 8 so that the product without zero points is 0', () => {
    const block = new Uint8Array(20);
    const m = f32ToF16(0.75);
    block[2] = m & 0xff;
    block[3] = m >> 8;
    for (let i = 4; i < 20; i++) block[i] = (i * 37) & 0xff;
    const packed: NBitsRows = { q: new Uint8Array(16), scales: new Float32Array(1), zeros: new Float32Array(1) };
    repackRows(GgmlType.Q4_1, block, 1, 32, packed);
    assert.deepEqual([...packed.q], new Array(16).fill(0x88));
    // (q − 8)·scale, what MatMulNBits multiplies by, is 0; the zero point carries the value.
    assert.equal(packed.scales[0], 1);
    assert.deepEqual([...unpackRow(packed, 4, 32, 0)], new Array(32).fill(0.75));
  });

  test('rows that are not whole blocks are refused', () => {
    const packed: NBitsRows = { q: new Uint8Array(64), scales: new Float32Array(4) };
    assert.throws(() => repackRows(GgmlType.Q4_K, new Uint8Array(144), 1, 48, packed), /not whole/);
  });
});
