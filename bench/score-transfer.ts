/**
 * How much scoring ships out of ONNX Runtime, before and after the log-softmax and the gather of
 * target tokens moved into the graph (the 'targets' head, src/runtime/score.ts).
 *
 * A 500-item multiple-choice eval (ARC-Easy, evaluateMultipleChoice) runs twice on the same
 * model: as it runs now, and with every scoring forward turned back into the previous way (full
 * logits out of ONNX Runtime, log-softmax and gather in JavaScript) by wrapping the model's
 * forward. Same batches, same tokens: only where the log-softmax happens differs. Reported: bytes
 * of model output that left ONNX Runtime, wall time, and that the accuracies are identical.
 *
 * Usage: npx tsx score-transfer.ts [--items 500] [--threads 2] [--model smollm2-random|tinystories-656k]
 */
import { performance } from 'node:perf_hooks';
import { ensureSmolRandomModel } from './lib/random-model.js';
import { benchmarkPath, evaluateMultipleChoice, HookedModel, loadModel, logSoftmax, readMultipleChoice, sharedPath, type ForwardInput, type ForwardOutput } from './lib/steerer.js';
import { fmt, formatTable } from './lib/table.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1];
}

const items = Number(flag('items', '500'));
const threads = Number(flag('threads', '2'));
const which = flag('model', 'smollm2-random');
const dir = which === 'smollm2-random' ? ensureSmolRandomModel().dir : sharedPath('models', which);
const model = new HookedModel(loadModel(dir), { threads });
const V = model.spec.vocabSize;
const data = readMultipleChoice(benchmarkPath('arc_easy'), { limit: items, seed: 0 });

let bytesOut = 0;
const forward = model.forward.bind(model);
/** The previous way: full logits out, log-softmax and gather here. */
async function forwardBefore(input: ForwardInput): Promise<ForwardOutput> {
  if (input.logits !== 'targets') return counted(await forward(input));
  const out = counted(await forward({ ...input, logits: 'all', targets: undefined }));
  const logits = out.logits!;
  const picked = new Float32Array(out.batch * out.seq);
  const row = new Float32Array(V);
  input.targets!.forEach((targets, b) => {
    targets.forEach((t, i) => {
      const r = b * out.seq + out.pad[b] + i;
      logSoftmax(logits.subarray(r * V, (r + 1) * V), row);
      picked[r] = row[t];
    });
  });
  return { ...out, logits: undefined, targetLogprobs: picked };
}
function counted(out: ForwardOutput): ForwardOutput {
  bytesOut += (out.logits?.byteLength ?? 0) + (out.targetLogprobs?.byteLength ?? 0);
  return out;
}

const runs: { label: string; seconds: number; bytes: number; accuracy: number; accuracyNorm: number }[] = [];
for (const label of ['before (logits out, log-softmax in JS)', "after ('targets' head)"]) {
  model.forward = label.startsWith('before') ? forwardBefore : async (input) => counted(await forward(input));
  bytesOut = 0;
  const t = performance.now();
  const r = await evaluateMultipleChoice(model, data);
  runs.push({ label, seconds: (performance.now() - t) / 1000, bytes: bytesOut, accuracy: r.accuracy, accuracyNorm: r.accuracyNorm });
}
await model.dispose();

console.log(`\n${which} (vocabulary ${V}), ARC-Easy ${data.length} items, ${threads} threads`);
console.log(
  formatTable(
    ['scoring', 'MiB out of ONNX Runtime', 'seconds', 'accuracy', 'accuracy (length-normalized)'],
    runs.map((r) => [r.label, fmt(r.bytes / 2 ** 20, 1), fmt(r.seconds, 1), fmt(r.accuracy, 3), fmt(r.accuracyNorm, 3)]),
  ),
);
console.log(`data out: ${fmt(runs[0].bytes / runs[1].bytes, 0)}× less; time: ${fmt(runs[0].seconds / runs[1].seconds, 2)}× faster`);
if (runs[0].accuracy !== runs[1].accuracy) console.log('WARNING: accuracies differ');
