/**
 * Perf: Steerer vs llama.cpp on the random SmolLM2-135M-shape model (F32 weights, same thread
 * count for both), measured in the same run, each engine in its own child process
 * (perf-worker.ts) so that peak RSS is per engine. Prints tables and writes results/perf.json.
 *
 * The machine may be shared: every worker's run is bracketed by /proc/stat readings, and the
 * CPU time that neither it nor this process used is reported as background load. Each engine
 * runs `--rounds` times (alternating order); the round with the least background load counts.
 *
 * Usage: npm run perf [-- --threads 2 --prefill 256 --reps 5 --decode 128 --decode-reps 3 --long 2048 --long-decode 32 --rounds 2]
 *        (--long 0 skips the long-context decode)
 */
import { fork } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { exportF32Gguf, upToDate } from './lib/gguf.js';
import { MiB } from './lib/mem.js';
import { BENCH_DIR, MODELS_DIR, RESULTS_DIR } from './lib/paths.js';
import type { DecodeResult, Engine, Mode, WorkerConfig, WorkerResult } from './lib/perf-types.js';
import { ensureSmolRandomModel } from './lib/random-model.js';
import { loadModel, sharedPath, tokenizerFromHfJson } from './lib/steerer.js';
import { fmt, formatTable } from './lib/table.js';

const log = (msg: string): void => console.error(`[perf] ${msg}`);

/** Background CPU load above this (fraction of all cores) marks a measurement as disturbed. */
const DISTURBED = 0.1;

function flag(name: string, fallback: number, min = 1): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name} needs an integer ≥ ${min}`);
  return v;
}

/** Aggregate CPU jiffies: [busy, total]. */
function cpuTimes(): [number, number] {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return [total - f[3] - f[4], total];
}

interface Run {
  readonly result: WorkerResult;
  readonly wallSeconds: number;
  /** Fraction of all cores busy with something other than this worker while it ran. */
  readonly backgroundLoad: number;
}

function runWorker(cfg: WorkerConfig): Promise<Run> {
  return new Promise((resolve, reject) => {
    const [busy0, total0] = cpuTimes();
    const t0 = performance.now();
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
      const wallSeconds = (performance.now() - t0) / 1000;
      const [busy1, total1] = cpuTimes();
      if (!result || code !== 0) {
        reject(new Error(`${cfg.engine} worker exited with ${signal ?? code} before reporting`));
        return;
      }
      const busyFraction = (busy1 - busy0) / (total1 - total0);
      const own = result.cpuSeconds / (wallSeconds * cpus().length);
      resolve({ result, wallSeconds, backgroundLoad: Math.max(0, busyFraction - own) });
    });
  });
}

/** The round with the least background load. */
function quietest(runs: readonly Run[]): Run {
  return runs.reduce((a, b) => (b.backgroundLoad < a.backgroundLoad ? b : a));
}

async function main(): Promise<void> {
  const threads = flag('threads', 2);
  const prefillTokens = flag('prefill', 256);
  const prefillReps = flag('reps', 5);
  const decodeTokens = flag('decode', 128);
  const longTokens = flag('long', 2048, 0);
  const longDecode = flag('long-decode', 32);
  const rounds = flag('rounds', 2);
  const decodeReps = flag('decode-reps', 3);

  const model = ensureSmolRandomModel(log);
  const gguf = join(MODELS_DIR, 'smollm2-random.f32.gguf');
  if (!upToDate(gguf, [join(model.dir, 'model.safetensors')])) {
    log(`writing ${gguf} with writeModelGguf`);
    exportF32Gguf(loadModel(model.dir), model.dir, gguf);
  }

  const config = JSON.parse(readFileSync(join(model.dir, 'config.json'), 'utf8')) as Record<string, number>;
  const layers = config.num_hidden_layers;
  const kvDim = (config.num_key_value_heads * config.hidden_size) / config.num_attention_heads;
  const kvBytesPerToken = 2 * layers * kvDim * 4;

  const tokenizer = tokenizerFromHfJson(JSON.parse(readFileSync(join(model.dir, 'tokenizer.json'), 'utf8')) as object);
  const textIds = tokenizer.encode(readFileSync(sharedPath('data', 'text', 'wikitext-2', 'test.txt'), 'utf8').slice(0, 60000));
  if (textIds.length < Math.max(prefillTokens, longTokens)) throw new Error('not enough text for the prompts');
  const prefillIds = textIds.slice(0, prefillTokens);
  const decodePromptIds = tokenizer.encode('Once upon a time, in a small village by the sea,');
  const contextSize = 512;
  if (prefillTokens > contextSize || decodePromptIds.length + decodeTokens + 1 > contextSize) {
    throw new Error(`prompt lengths exceed the ${contextSize}-token context`);
  }

  const cfg = (engine: Engine, mode: Mode = 'main'): WorkerConfig =>
    mode === 'main'
      ? { engine, mode, threads, modelDir: model.dir, gguf, prefillIds, prefillReps, decodePromptIds, decodeTokens, decodeReps, contextSize, batchSize: contextSize, kvBytesPerToken }
      : {
          engine,
          mode,
          threads,
          modelDir: model.dir,
          gguf,
          prefillIds: decodePromptIds, // warm-up only
          prefillReps: 0,
          decodePromptIds: textIds.slice(0, longTokens),
          decodeTokens: longDecode,
          decodeReps: 1,
          contextSize: Math.ceil((longTokens + longDecode + 1) / 256) * 256,
          batchSize: longTokens,
          kvBytesPerToken,
        };

  log(`load average before: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const baseline = await runWorker(cfg('baseline'));
  const runs: Record<'steerer' | 'llama', Run[]> = { steerer: [], llama: [] };
  for (let r = 0; r < rounds; r++) {
    const order: ('steerer' | 'llama')[] = r % 2 === 0 ? ['llama', 'steerer'] : ['steerer', 'llama'];
    for (const engine of order) {
      log(`round ${r + 1}/${rounds}: ${engine} (${prefillReps}× prefill ${prefillTokens}, decode ${decodeTokens}${engine === 'steerer' ? ', hooked variants, generate()' : ''})`);
      const run = await runWorker(cfg(engine));
      log(`  ${run.wallSeconds.toFixed(1)} s, background load ${(run.backgroundLoad * 100).toFixed(0)}%`);
      runs[engine].push(run);
    }
  }
  const longRuns: Record<'steerer' | 'llama', Run[]> = { steerer: [], llama: [] };
  for (let r = 0; longTokens > 0 && r < rounds; r++) {
    const order: ('steerer' | 'llama')[] = r % 2 === 0 ? ['llama', 'steerer'] : ['steerer', 'llama'];
    for (const engine of order) {
      log(`long context, round ${r + 1}/${rounds}: ${engine} (${longTokens}-token prompt, decode ${longDecode})`);
      const run = await runWorker(cfg(engine, 'long'));
      log(`  ${run.wallSeconds.toFixed(1)} s, background load ${(run.backgroundLoad * 100).toFixed(0)}%`);
      longRuns[engine].push(run);
    }
  }
  const long: Partial<Record<'steerer' | 'llama', Run>> =
    longTokens > 0 ? { steerer: quietest(longRuns.steerer), llama: quietest(longRuns.llama) } : {};

  const sRun = quietest(runs.steerer);
  const lRun = quietest(runs.llama);
  const steerer = sRun.result;
  const llama = lRun.result;
  const sPre = steerer.prefill!;
  const lPre = llama.prefill!;
  const sDec = steerer.decode!;
  const lDec = llama.decode!;
  const v = steerer.variants!;
  const mib = (b: number): string => (b / MiB).toFixed(1);
  const pct = (x: number): string => `${(x * 100).toFixed(0)}%`;
  const memRatio = (r: WorkerResult): number => r.memory.peakRssBytes / (r.memory.weightBytes + r.memory.kvBytes);
  const netRatio = (r: WorkerResult): number =>
    (r.memory.peakRssBytes - baseline.result.memory.peakRssBytes) / (r.memory.weightBytes + r.memory.kvBytes);
  const sameTokens = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((t, i) => t === b[i]);
  const greedyAgree = sameTokens(sDec.generated, lDec.generated);

  console.log(
    `\nSmolLM2-135M shape, random F32 weights (${(model.parameters / 1e6).toFixed(1)}M parameters), ${threads} threads each, ` +
      `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}`,
  );
  console.log(
    `llama.cpp ${String(llama.info.llamaCpp)} (${String(llama.info.binary)} binary), gpu ${String(llama.info.gpu)}, mmap ${String(llama.info.useMmap)}, ` +
      `context ${String(llama.info.contextSize)}, batch ${String(llama.info.batchSize)}, KV ${String(llama.info.kvCache)}, ` +
      `flash attention ${String(llama.info.flashAttention)}; Steerer: ORT ${String(steerer.info.threads)} intra-op threads, F32 KV`,
  );
  console.log(
    formatTable(
      ['metric', 'Steerer', 'llama.cpp', 'Steerer/llama.cpp'],
      [
        [`prefill tok/s (${prefillTokens}-token prompt, median of ${prefillReps})`, fmt(sPre.tokensPerSecond, 1), fmt(lPre.tokensPerSecond, 1), fmt(sPre.tokensPerSecond / lPre.tokensPerSecond)],
        [`decode tok/s (${decodeTokens} greedy tokens, best of ${decodeReps})`, fmt(sDec.tokensPerSecond, 2), fmt(lDec.tokensPerSecond, 2), fmt(sDec.tokensPerSecond / lDec.tokensPerSecond)],
        ['decode median step ms', fmt(sDec.medianStepMs, 1), fmt(lDec.medianStepMs, 1), fmt(sDec.medianStepMs / lDec.medianStepMs)],
        ['load s', fmt(steerer.loadSeconds, 2), fmt(llama.loadSeconds, 2), fmt(steerer.loadSeconds / llama.loadSeconds)],
        ['first forward s (session/graph setup incl.)', fmt(steerer.firstForwardSeconds, 2), fmt(llama.firstForwardSeconds, 2), fmt(steerer.firstForwardSeconds / llama.firstForwardSeconds)],
        ['peak RSS MiB', mib(steerer.memory.peakRssBytes), mib(llama.memory.peakRssBytes), fmt(steerer.memory.peakRssBytes / llama.memory.peakRssBytes)],
        ['peak RSS right after load MiB', mib(steerer.memory.peakRssAfterLoadBytes), mib(llama.memory.peakRssAfterLoadBytes), '—'],
        ['F32 weights MiB', mib(steerer.memory.weightBytes), mib(llama.memory.weightBytes), '—'],
        ['KV cache MiB (end of run)', mib(steerer.memory.kvBytes), mib(llama.memory.kvBytes), '—'],
        ['peak RSS / (weights + KV)', fmt(memRatio(steerer)), fmt(memRatio(llama)), '—'],
        ['(peak RSS − node/tsx baseline) / (weights + KV)', fmt(netRatio(steerer)), fmt(netRatio(llama)), '—'],
        ['background CPU load during the run', pct(sRun.backgroundLoad), pct(lRun.backgroundLoad), '—'],
      ],
    ),
  );
  console.log(
    `node + tsx baseline peak RSS ${mib(baseline.result.memory.peakRssBytes)} MiB (inside both peaks). ` +
      `Steerer's KV: the largest cache it held (${decodePromptIds.length}+${decodeTokens + 1} or ${prefillTokens} positions); llama.cpp's: allocated for its ${String(llama.info.contextSize)}-token context.`,
  );
  const ph = steerer.memory.phases;
  if (ph) {
    console.log(
      `Steerer peak RSS by phase, MiB: load ${mib(steerer.memory.peakRssAfterLoadBytes)}, first forwards ${mib(ph.afterWarmup)}, ` +
        `${prefillReps}× prefill ${mib(ph.afterPrefill)}, hook plans compiled ${mib(ph.afterHookWarmup)}, decode variants ${mib(steerer.memory.peakRssBytes)}`,
    );
  }
  console.log(`greedy decode tokens identical across engines: ${greedyAgree ? 'yes' : 'NO'} (${sDec.generated.length} tokens)`);

  const row = (label: string, d: DecodeResult): string[] => [label, fmt(d.tokensPerSecond, 2), fmt(d.medianStepMs, 1), fmt(d.tokensPerSecond / sDec.tokensPerSecond)];
  console.log(`\nSteerer decode with a hook at every layer (${layers} × blocks.{l}.hook_resid_post), same process, best of ${decodeReps}`);
  console.log(
    formatTable(
      ['Steerer decode', 'tok/s', 'median step ms', 'vs unhooked'],
      [
        row('no hooks', sDec),
        row('addVector, compiled into the graph', v.compiledAddVector),
        row(`JS edit fn (graph split into ${layers + 1} segments)`, v.jsEdit),
      ],
    ),
  );
  const hookAgree = sameTokens(v.compiledAddVector.generated, v.jsEdit.generated);
  console.log(`compiled addVector and the equivalent JS edit give identical greedy tokens: ${hookAgree ? 'yes' : 'NO'}`);
  // generate() times the whole call (prompt prefill + steps); compare with the bare loop's prefill + steps.
  const loopEndToEnd = (sDec.tokens + 1) / (sDec.promptSeconds + sDec.seconds);
  const generateOverLoop = v.generateApi.tokensPerSecond / loopEndToEnd;
  console.log(
    `generate() at temperature 0, end to end (${v.generateApi.tokens} tokens, ${decodePromptIds.length}-token prompt prefill incl.): ` +
      `${fmt(v.generateApi.tokensPerSecond, 2)} tok/s vs ${fmt(loopEndToEnd, 2)} for the bare forward loop (×${fmt(generateOverLoop)}); ` +
      `same tokens: ${sameTokens(v.generateApi.generated, sDec.generated) ? 'yes' : 'NO'}`,
  );

  let longSummary: Record<string, number | boolean> | undefined;
  if (long.steerer && long.llama) {
    const sl = long.steerer.result.decode!;
    const ll = long.llama.result.decode!;
    console.log(`\nDecode after a ${longTokens}-token prompt (${longDecode} greedy tokens; llama.cpp context ${String(long.llama.result.info.contextSize)})`);
    console.log(
      formatTable(
        ['metric', 'Steerer', 'llama.cpp', 'Steerer/llama.cpp'],
        [
          [`prefill tok/s (${longTokens} tokens, one pass)`, fmt(longTokens / sl.promptSeconds, 1), fmt(longTokens / ll.promptSeconds, 1), fmt(ll.promptSeconds / sl.promptSeconds)],
          [`decode tok/s at ${longTokens}+ context`, fmt(sl.tokensPerSecond, 2), fmt(ll.tokensPerSecond, 2), fmt(sl.tokensPerSecond / ll.tokensPerSecond)],
          ['decode median step ms', fmt(sl.medianStepMs, 1), fmt(ll.medianStepMs, 1), fmt(sl.medianStepMs / ll.medianStepMs)],
          [`step ms added vs the short-context decode`, fmt(sl.medianStepMs - sDec.medianStepMs, 1), fmt(ll.medianStepMs - lDec.medianStepMs, 1), '—'],
          ['peak RSS MiB', mib(long.steerer.result.memory.peakRssBytes), mib(long.llama.result.memory.peakRssBytes), '—'],
          ['background CPU load during the run', pct(long.steerer.backgroundLoad), pct(long.llama.backgroundLoad), '—'],
        ],
      ),
    );
    longSummary = {
      promptTokens: longTokens,
      decodeTokens: longDecode,
      prefillSteererOverLlama: ll.promptSeconds / sl.promptSeconds,
      decodeSteererOverLlama: sl.tokensPerSecond / ll.tokensPerSecond,
      steererMedianStepMs: sl.medianStepMs,
      llamaMedianStepMs: ll.medianStepMs,
      greedyTokensIdentical: sameTokens(sl.generated, ll.generated),
    };
  }

  const counted = [sRun, lRun, ...Object.values(long)];
  const all = [...runs.steerer, ...runs.llama, ...longRuns.steerer, ...longRuns.llama];
  if (counted.some((r) => r.backgroundLoad > DISTURBED)) {
    console.log(`\nWARNING: other processes used > ${pct(DISTURBED)} of the CPU during some counted runs (see the background rows); those timings are disturbed.`);
  } else if (all.some((r) => r.backgroundLoad > DISTURBED)) {
    console.log(`\n(${all.filter((r) => r.backgroundLoad > DISTURBED).length} run(s) saw > ${pct(DISTURBED)} background CPU load; the counted runs did not.)`);
  }

  mkdirSync(RESULTS_DIR, { recursive: true });
  const out = join(RESULTS_DIR, 'perf.json');
  const runInfo = (r: Run): object => ({ wallSeconds: r.wallSeconds, backgroundLoad: r.backgroundLoad, ...r.result });
  writeFileSync(
    out,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        machine: { cpu: cpus()[0]?.model, logicalCpus: cpus().length, node: process.version },
        model: { shape: 'SmolLM2-135M', weights: 'random F32', parameters: model.parameters, dir: 'bench/models/smollm2-random' },
        settings: { threads, prefillTokens, prefillReps, decodeTokens, decodeReps, decodePromptTokens: decodePromptIds.length, contextSize, rounds, longTokens, longDecode },
        ratios: {
          prefillSteererOverLlama: sPre.tokensPerSecond / lPre.tokensPerSecond,
          decodeSteererOverLlama: sDec.tokensPerSecond / lDec.tokensPerSecond,
          peakRssSteererOverLlama: steerer.memory.peakRssBytes / llama.memory.peakRssBytes,
          steererPeakRssOverWeightsPlusKv: memRatio(steerer),
          llamaPeakRssOverWeightsPlusKv: memRatio(llama),
          steererNetPeakRssOverWeightsPlusKv: netRatio(steerer),
          llamaNetPeakRssOverWeightsPlusKv: netRatio(llama),
          compiledHooksOverUnhooked: v.compiledAddVector.tokensPerSecond / sDec.tokensPerSecond,
          jsEditHooksOverUnhooked: v.jsEdit.tokensPerSecond / sDec.tokensPerSecond,
          generateApiOverForwardLoop: generateOverLoop,
        },
        longContext: longSummary,
        greedyTokensIdenticalAcrossEngines: greedyAgree,
        compiledAndJsEditTokensIdentical: hookAgree,
        counted: {
          steererRound: runs.steerer.indexOf(sRun) + 1,
          llamaRound: runs.llama.indexOf(lRun) + 1,
          longSteererRound: long.steerer ? longRuns.steerer.indexOf(long.steerer) + 1 : undefined,
          longLlamaRound: long.llama ? longRuns.llama.indexOf(long.llama) + 1 : undefined,
        },
        baseline: runInfo(baseline),
        rounds: { steerer: runs.steerer.map(runInfo), llama: runs.llama.map(runInfo) },
        long: { steerer: longRuns.steerer.map(runInfo), llama: longRuns.llama.map(runInfo) },
      },
      null,
      2,
    ) + '\n',
  );
  log(`wrote ${out}`);
}

await main();
