import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
import { loadModel, HookedModel } from '../src/index.js';
import { writeModelGguf } from '../src/model/export-gguf.js';
import { sharedPath } from '../src/util/shared-path.js';
import fs from 'node:fs';
const dir = sharedPath('models', 'tinystories-656k');
const loaded = loadModel(dir);
fs.mkdirSync('models', { recursive: true });
writeModelGguf('models/tinystories-656k.f32.gguf', loaded.spec, loaded.weights, { tokenizerJson: JSON.parse(fs.readFileSync(dir + '/tokenizer.json', 'utf8')) });
const m = new HookedModel(loaded, { threads: 2 });
const ids = m.encode('Once upon a time, there was a little');
console.log(ids);
const out = await m.forward({ tokens: [ids], logits: 'all' });
const V = m.spec.vocabSize;
const llama = await getLlama({ gpu: false, build: 'never', skipDownload: true, progressLogs: false, logLevel: LlamaLogLevel.warn });
console.log('gpu', llama.gpu, llama.buildType, llama.cpuMathCores, llama.systemInfo);
const model = await llama.loadModel({ modelPath: 'models/tinystories-656k.f32.gguf', useMmap: false, gpuLayers: 0 });
const ctx = await model.createContext({ contextSize: 512, batchSize: 512, threads: 2, flashAttention: false, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32', sequences: 1 });
const seq = ctx.getSequence();
const res = await seq.controlledEvaluate(ids.map((t) => [t, { generateNext: { logits: true, probabilities: true, token: true } }]));
for (let p = 0; p < ids.length; p++) {
  const r = res[p]!;
  const lg = r.next.logits!;
  let maxd = 0, maxa = 0, n = 0;
  for (const [tok, v] of lg) { const s = out.logits![p * V + tok]; maxd = Math.max(maxd, Math.abs(v - s)); maxa = Math.max(maxa, Math.abs(s)); n++; }
  const top = [...lg][0];
  const pr = [...r.next.probabilities!][0];
  console.log(p, n, lg.size, r.next.probabilities!.size, maxd, maxa, top, pr, r.next.token);
}
