/**
 * Perf: Steerer vs llama.cpp on the random SmolLM2-135M-shape model (F32 weights, 2 threads
 * each), measured in the same run, each engine in its own child process (perf-worker.ts) so
 * that peak RSS is per engine. Prints a table and writes results/perf.json.
 *
 * Usage: npm run perf [-- --decode 128 --prefill 256 --reps 5 --threads 2]
 */
import { fork } from 'node:child_process';
import { cpus } from 'node:os';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportF32Gguf, upToDate } from './lib/gguf.js';
import { MiB } from './lib/mem.js';
import { BENCH_DIR, MODELS_DIR, RESULTS_DIR } from './lib/paths.js';
import type { DecodeResult, Engine, WorkerConfig, WorkerResult } from './lib/perf-types.js';
import { ensureSmolRandomModel } from './lib/random-model.js';
import { loadModel, sharedPath, tokenizerFromHfJson } from './lib/steerer.js';
import { fmt, formatTable } from './lib/table.js';

const log = (msg: string): void => console.error(`[perf] ${msg}`);

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} needs a positive integer`);
  return v;
}

function runWorker(cfg: WorkerConfig): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    const child = fork(join(BENCH_DIR, 'perf-worker.ts'), [JSON.stringify(cfg)], {
      cwd: BENCH_DIR,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: WorkerResult | undefined;
    child.on('message', (m) => {
      result = m as WorkerResult;
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (result && code === 0) resolve(result);
      else reject(new Error(`${cfg.engine} worker exited with ${signal ?? code} before reporting`));
    });
  });
}

async function main(): Promise<void> {
  const threads = flag('threads', 2);
  const prefillTokens = flag('prefill', 256);
  const decodeTokens = flag('decode', 128);
  const prefillReps = flag('reps', 5);

  const model = ensureSmolRandomModel(log);
  const gguf = join(MODELS_DIR, 'smollm2-random.f32.gguf');
  const safetensors = join(model.dir, 'model.safetensors');
  if (!upToDate(gguf, [safetensors])) {
    log(`writing ${gguf} with writeModelGguf`);
    exportF32Gguf(loadModel(model.dir), model.dir, gguf);
  }

  const config = JSON.parse(readFileSync(join(model.dir, 'config.json'), 'utf8')) as Record<string, number>;
  const kvDim = (config.num_key_value_heads * config.hidden_size) / config.num_attention_heads;
  const kvBytesPerToken = 2 * config.num_hidden_layers * kvDim * 4;

  const tokenizer = tokenizerFromHfJson(JSON.parse(readFileSync(join(model.dir, 'tokenizer.json'), 'utf8')) as object);
  const text = readFileSync(sharedPath('data', 'text', 'wikitext-2', 'test.txt'), 'utf8').slice(0, 20000);
  const prefillIds = tokenizer.encode(text).slice(0, prefillTokens);
  if (prefillIds.length < prefillTokens) throw new Error('not enough text for the prefill prompt');
  const decodePromptIds = tokenizer.encode('Once upon a time, in a small village by the sea,').slice(0, 16);
  const contextSize = 512;
  if (prefillTokens > contextSize || decodePromptIds.length + decodeTokens + 1 > contextSize) {
    throw new Error(`prompt lengths exceed the ${contextSize}-token context`);
  }

  const cfg = (engine: Engine): WorkerConfig => ({
    engine,
    threads,
    modelDir: model.dir,
    gguf,
    prefillIds,
    prefillReps,
    decodePromptIds,
    decodeTokens,
    contextSize,
    batchSize: contextSize,
    kvBytesPerToken,
  });
  log(`baseline (node + tsx)`);
  const baseline = await runWorker(cfg('baseline'));
  log(`llama.cpp: ${prefillReps}× prefill ${prefillTokens}, decode ${decodeTokens}`);
  const llama = await runWorker(cfg('llama'));
  log(`Steerer: ${prefillReps}× prefill ${prefillTokens}, decode ${decodeTokens} (no hooks, compiled hooks, JS edits, generate())`);
  const steerer = await runWorker(cfg('steerer'));

  const sPre = steerer.prefill!;
  const lPre = llama.prefill!;
  const sDec = steerer.decode!;
  const lDec = llama.decode!;
  const v = steerer.variants!;
  const mib = (b: number): string => (b / MiB).toFixed(1);
  const memRatio = (r: WorkerResult): number => r.memory.peakRssBytes / (r.memory.weightBytes + r.memory.kvBytes);
  const netRatio = (r: WorkerResult): number =>
    (r.memory.peakRssBytes - baseline.memory.peakRssBytes) / (r.memory.weightBytes + r.memory.kvBytes);
  const sameTokens = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((t, i) => t === b[i]);
  const greedyAgree = sameTokens(sDec.generated, lDec.generated);

  console.log(
    `\nSmolLM2-135M shape, random F32 weights (${(model.parameters / 1e6).toFixed(1)}M parameters), ${threads} threads each, ` +
      `${cpus()[0]?.model ?? 'unknown CPU'}`,
  );
  console.log(
    `llama.cpp ${String(llama.info.llamaCpp)} (${String(llama.info.binary)}), gpu ${String(llama.info.gpu)}, mmap ${String(llama.info.useMmap)}, ` +
      `context ${String(llama.info.contextSize)}, batch ${String(llama.info.batchSize)}, KV ${String(llama.info.kvCache)}, flash attention ${String(llama.info.flashAttention)}`,
  );
  console.log(
    formatTable(
      ['metric', 'Steerer', 'llama.cpp', 'Steerer/llama.cpp'],
      [
        [`prefill tok/s (${prefillTokens}-token prompt, median of ${prefillReps})`, fmt(sPre.tokensPerSecond, 1), fmt(lPre.tokensPerSecond, 1), fmt(sPre.tokensPerSecond / lPre.tokensPerSecond)],
        [`decode tok/s (${decodeTokens} greedy tokens)`, fmt(sDec.tokensPerSecond, 2), fmt(lDec.tokensPerSecond, 2), fmt(sDec.tokensPerSecond / lDec.tokensPerSecond)],
        ['decode median step ms', fmt(sDec.medianStepMs, 1), fmt(lDec.medianStepMs, 1), fmt(sDec.medianStepMs / lDec.medianStepMs)],
        ['load s', fmt(steerer.loadSeconds, 2), fmt(llama.loadSeconds, 2), fmt(steerer.loadSeconds / llama.loadSeconds)],
        ['first forward s (incl. graph/session setup)', fmt(steerer.firstForwardSeconds, 2), fmt(llama.firstForwardSeconds, 2), fmt(steerer.firstForwardSeconds / llama.firstForwardSeconds)],
        ['peak RSS MiB', mib(steerer.memory.peakRssBytes), mib(llama.memory.peakRssBytes), fmt(steerer.memory.peakRssBytes / llama.memory.peakRssBytes)],
        ['peak RSS after load MiB', mib(steerer.memory.peakRssAfterLoadBytes), mib(llama.memory.peakRssAfterLoadBytes), '—'],
        ['RSS after load MiB', mib(steerer.memory.rssAfterLoadBytes), mib(llama.memory.rssAfterLoadBytes), '—'],
        ['F32 weights MiB', mib(steerer.memory.weightBytes), mib(llama.memory.weightBytes), '—'],
        ['KV cache MiB (end of run)', mib(steerer.memory.kvBytes), mib(llama.memory.kvBytes), '—'],
        ['peak RSS / (weights + KV)', fmt(memRatio(steerer)), fmt(memRatio(llama)), '—'],
        ['(peak RSS − node/tsx baseline) / (weights + KV)', fmt(netRatio(steerer)), fmt(netRatio(llama)), '—'],
      ],
    ),
  );
  console.log(`node + tsx baseline peak RSS: ${mib(baseline.memory.peakRssBytes)} MiB (included in both peaks)`);
  console.log(`greedy decode tokens identical across engines: ${greedyAgree ? 'yes' : 'NO'} (${sDec.generated.length} tokens)`);

  const row = (label: string, d: DecodeResult): string[] => [label, fmt(d.tokensPerSecond, 2), fmt(d.medianStepMs, 1), fmt(d.tokensPerSecond / sDec.tokensPerSecond)];
  console.log(`\nSteerer decode with hooks at every layer (${config.num_hidden_layers} × blocks.{l}.hook_resid_post)`);
  console.log(
    formatTable(
      ['Steerer decode', 'tok/s', 'median step ms', 'vs unhooked'],
      [
        row('no hooks', sDec),
        row('addVector, compiled into the graph', v.compiledAddVector),
        row(`JS edit (graph split into ${config.num_hidden_layers + 1} segments)`, v.jsEdit),
      ],
    ),
  );
  // generate() times the whole call (prompt prefill + steps); compare it with the raw loop's
  // prefill + steps, which produce the same tokens.
  const loopEndToEnd = (sDec.tokens + 1) / (sDec.promptSeconds + sDec.seconds);
  const generateOverLoop = v.generateApi.tokensPerSecond / loopEndToEnd;
  console.log(
    `generate() end to end (${v.generateApi.tokens} tokens incl. the ${decodePromptIds.length}-token prompt's prefill): ` +
      `${fmt(v.generateApi.tokensPerSecond, 2)} tok/s vs ${fmt(loopEndToEnd, 2)} for the bare forward loop (ratio ${fmt(generateOverLoop)}); ` +
      `same tokens: ${sameTokens(v.generateApi.generated, sDec.generated) ? 'yes' : 'NO'}`,
  );
  const hookAgree = sameTokens(v.compiledAddVector.generated, v.jsEdit.generated);
  console.log(`compiled addVector and JS edit produce identical greedy tokens: ${hookAgree ? 'yes' : 'NO'}`);

  mkdirSync(RESULTS_DIR, { recursive: true });
  const out = join(RESULTS_DIR, 'perf.json');
  writeFileSync(
    out,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        machine: { cpu: cpus()[0]?.model, logicalCpus: cpus().length, node: process.version },
        model: { shape: 'SmolLM2-135M', weights: 'random F32', parameters: model.parameters, dir: 'bench/models/smollm2-random' },
        settings: { threads, prefillTokens, prefillReps, decodeTokens, decodePromptTokens: decodePromptIds.length, contextSize },
        ratios: {
          prefillSteererOverLlama: sPre.tokensPerSecond / lPre.tokensPerSecond,
          decodeSteererOverLlama: sDec.tokensPerSecond / lDec.tokensPerSecond,
          peakRssSteererOverLlama: steerer.memory.peakRssBytes / llama.memory.peakRssBytes,
          steererPeakRssOverWeightsPlusKv: memRatio(steerer),
          llamaPeakRssOverWeightsPlusKv: memRatio(llama),
          steererNetPeakRssOverWeightsPlusKv: netRatio(steerer),
          llamaNetPeakRssOverWeightsPlusKv: netRatio(llama),
          generateApiOverForwardLoop: generateOverLoop,
          compiledHooksOverUnhooked: v.compiledAddVector.tokensPerSecond / sDec.tokensPerSecond,
          jsEditHooksOverUnhooked: v.jsEdit.tokensPerSecond / sDec.tokensPerSecond,
        },
        greedyTokensIdenticalAcrossEngines: greedyAgree,
        compiledAndJsEditTokensIdentical: hookAgree,
        baseline: baseline,
        steerer: steerer,
        llama: llama,
      },
      null,
      2,
    ) + '\n',
  );
  log(`wrote ${out}`);
}

await main();
