/**
 * Which weight format is fastest for each linear layer, measured: every matrix shape of the
 * SmolLM2-135M shape (q/o, k/v, gate/up, down, the tied LM head) as ONNX Runtime runs it for
 * Steerer — float32 rows read in place (FusedMatMul transB, no prepacking), MatMulNBits 8 bits and
 * 4 bits (blocks of 32, int8 activations, prepacked) — at decode (1 row) and prefill (130 rows).
 * Weights are random external data, as the packed cache stores them. Prints a table and writes
 * results/matmul-formats.json.
 *
 * Usage: npx tsx matmul-formats.ts [--threads 2] [--calls 40]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import { RESULTS_DIR } from './lib/paths.js';
import { Rng } from './lib/random-model.js';
import { GraphBuilder, int } from './lib/steerer.js';
import { fmt, formatTable } from './lib/table.js';

type Format = 'f32' | 'nbits8' | 'nbits4';
const FORMATS: readonly Format[] = ['f32', 'nbits8', 'nbits4'];
/** SmolLM2-135M: hidden 576, 9 query / 3 key-value heads of 64, MLP 1536, vocabulary 49152. */
const LAYERS: readonly { name: string; K: number; N: number; perModel: number }[] = [
  { name: 'attn_q / attn_output', K: 576, N: 576, perModel: 60 },
  { name: 'attn_k / attn_v', K: 576, N: 192, perModel: 60 },
  { name: 'ffn_gate / ffn_up', K: 576, N: 1536, perModel: 60 },
  { name: 'ffn_down', K: 1536, N: 576, perModel: 30 },
  { name: 'output (LM head)', K: 576, N: 49152, perModel: 1 },
];

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
}

/** One matmul x [rows, K] · Wᵀ in `format`, its weights in `dir`/w.bin; returns the graph file. */
function writeGraph(dir: string, format: Format, K: number, N: number, rng: Rng): string {
  const g = new GraphBuilder('matmul');
  const x = g.input('x', 'float32', ['rows', K]);
  let y: string;
  const blocks = N * (K / 32);
  if (format === 'f32') {
    const w = Float32Array.from({ length: N * K }, () => 0.05 * rng.gauss());
    writeFileSync(join(dir, 'w.bin'), new Uint8Array(w.buffer));
    y = g.msNode('FusedMatMul', [x, g.externalInitializer('w', 'float32', [N, K], 'w.bin', 0, w.byteLength)], { transB: int(1) }, 'y');
  } else {
    const bits = format === 'nbits8' ? 8 : 4;
    const q = Uint8Array.from({ length: (blocks * 32 * bits) / 8 }, () => Math.floor(rng.nextFloat() * 256));
    const scales = Float32Array.from({ length: blocks }, () => 0.001 + 0.01 * rng.nextFloat());
    // Regions 64 KiB apart, as in the packed cache (ONNX Runtime maps page-aligned external data).
    const at = Math.ceil(q.byteLength / 65536) * 65536;
    const file = new Uint8Array(at + scales.byteLength);
    file.set(q, 0);
    file.set(new Uint8Array(scales.buffer), at);
    writeFileSync(join(dir, 'w.bin'), file);
    const qi = g.externalInitializer('w.q', 'uint8', [N, K / 32, (32 * bits) / 8], 'w.bin', 0, q.byteLength);
    const si = g.externalInitializer('w.scales', 'float32', [blocks], 'w.bin', at, scales.byteLength);
    y = g.msNode('MatMulNBits', [x, qi, si], { K: int(K), N: int(N), bits: int(bits), block_size: int(32), accuracy_level: int(4) }, 'y');
  }
  g.output(y, 'float32', ['rows', N]);
  const file = join(dir, 'graph.onnx');
  writeFileSync(file, g.toBytes());
  return file;
}

async function main(): Promise<void> {
  const threads = flag('threads', 2);
  const calls = flag('calls', 40);
  const rng = new Rng(3);
  const rows: string[][] = [];
  const results: Record<string, Record<string, { decodeMs: number; prefillMs: number }>> = {};
  for (const layer of LAYERS) {
    results[layer.name] = {};
    for (const format of FORMATS) {
      const dir = mkdtempSync(join(tmpdir(), 'steerer-matmul-'));
      try {
        const graph = writeGraph(dir, format, layer.K, layer.N, rng);
        const session = await ort.InferenceSession.create(graph, {
          intraOpNumThreads: threads,
          graphOptimizationLevel: 'all',
          extra: { session: { 'intra_op.allow_spinning': '0', ...(format === 'f32' ? { disable_prepacking: '1' } : {}) } },
        });
        const time = async (m: number): Promise<number> => {
          const x = new ort.Tensor('float32', Float32Array.from({ length: m * layer.K }, () => rng.gauss()), [m, layer.K]);
          for (let i = 0; i < 3; i++) await session.run({ x });
          const t: number[] = [];
          for (let i = 0; i < calls; i++) {
            const s = performance.now();
            await session.run({ x });
            t.push(performance.now() - s);
          }
          t.sort((a, b) => a - b);
          return t[Math.floor(t.length / 2)];
        };
        results[layer.name][format] = { decodeMs: await time(1), prefillMs: await time(130) };
        await session.release();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      console.error(`[matmul-formats] ${layer.name} ${format}: ${JSON.stringify(results[layer.name][format])}`);
    }
    const r = results[layer.name];
    const best = (k: 'decodeMs' | 'prefillMs'): Format => FORMATS.reduce((a, b) => (r[b][k] < r[a][k] ? b : a));
    rows.push([
      layer.name,
      `${layer.K}×${layer.N}`,
      ...FORMATS.map((f) => `${fmt(r[f].decodeMs, 3)} / ${fmt(r[f].prefillMs, 2)}`),
      best('decodeMs'),
      best('prefillMs'),
    ]);
  }
  console.log(`\nMedian ms per call, decode (1 row) / prefill (130 rows), ${threads} threads; ONNX Runtime as Steerer runs it`);
  console.log(formatTable(['layer', 'K×N', 'f32 in place', 'MatMulNBits 8-bit', 'MatMulNBits 4-bit', 'fastest decode', 'fastest prefill'], rows));
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, 'matmul-formats.json'), `${JSON.stringify({ createdAt: new Date().toISOString(), threads, calls, layers: LAYERS, results }, null, 1)}\n`);
}

await main();
