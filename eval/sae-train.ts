/**
 * SAE acceptance run: train TopK SAEs on activation stores collected from a model's own
 * generations (`steerer sae collect --generate`), then report held-out FVU, L0, dead latents
 * and CE loss recovered on held-out documents.
 *
 *   npx tsx eval/sae-train.ts --model ../shared/models/tinystories-656k --store DIR --out FILE \
 *       [--width 2048] [--k 32] [--tokens N] [--batch 2048]
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { hookName } from '../src/graph/hook-points.js';
import { loadModel } from '../src/model/load.js';
import { HookedModel } from '../src/runtime/model.js';
import { ActivationStore } from '../src/sae/activation-store.js';
import { saveSae } from '../src/sae/sae-file.js';
import { trainSaeOnStore } from '../src/sae/train-on-store.js';
import { packageRoot } from '../src/util/shared-path.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    store: { type: 'string' },
    out: { type: 'string' },
    width: { type: 'string', default: '2048' },
    k: { type: 'string', default: '32' },
    tokens: { type: 'string' },
    batch: { type: 'string', default: '2048' },
    lr: { type: 'string' },
    name: { type: 'string', default: 'sae' },
  },
});
if (!values.model || !values.store || !values.out) throw new Error('--model, --store and --out are required');
const model = new HookedModel(loadModel(values.model));
const store = ActivationStore.open(values.store);
const t0 = performance.now();
const { sae, report } = await trainSaeOnStore(store, {
  dSae: Number(values.width),
  k: Number(values.k),
  batchSize: Number(values.batch),
  tokens: values.tokens ? Number(values.tokens) : undefined,
  lr: values.lr ? Number(values.lr) : undefined,
  model,
  evalContexts: 128,
  onStep: (m) => {
    if (m.step % 50 === 0) process.stderr.write(`step ${m.step} tokens ${m.tokens} FVU ${m.fvu.toFixed(4)} L0 ${m.l0.toFixed(1)} dead ${(m.deadFraction * 100).toFixed(1)}%\n`);
  },
});
saveSae(values.out, sae);
const e = report.modelEval!;
const row = {
  model: model.source.name,
  hook: hookName(sae.cfg.hook),
  width: sae.cfg.dSae,
  k: report.k,
  trainTokens: report.tokens,
  storeRows: store.rows,
  heldOutFvu: report.heldOut?.fvu,
  heldOutL0: report.heldOut?.l0,
  deadFraction: report.deadFraction,
  silentOnHeldOut: report.heldOut?.deadFraction,
  cleanLoss: e.cleanLoss,
  saeLoss: e.saeLoss,
  zeroLoss: e.zeroLoss,
  ceLossRecovered: e.ceLossRecovered,
  evalTokens: e.tokens,
  seconds: (performance.now() - t0) / 1000,
};
process.stdout.write(`${JSON.stringify(row, null, 2)}\n`);
const dir = path.join(packageRoot(), 'eval', 'results');
fs.mkdirSync(dir, { recursive: true });
fs.writeFileSync(path.join(dir, `${values.name}.json`), `${JSON.stringify({ ...row, history: report.history }, null, 2)}\n`);
await model.dispose();
