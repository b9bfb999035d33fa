/**
 * Quantized weights: Steerer vs llama.cpp on the same GGUF files, whole process, measured in the
 * same run. For each weight type (F32, Q8_0, Q4_0 by default) the random-initialised
 * SmolLM2-135M-shape model is written as a GGUF with Steerer's writer; each engine then opens the
 * file in its own child process (quantized-worker.ts), prefills a 130-token prompt and generates
 * 1 or 128 greedy tokens. Reported: time to the last token, decode tokens/s (timed from the first
 * new token to the last), load, first token, peak RSS, whether the greedy tokens agree, and
 * Steerer's steered decode (a vector at every layer) against its unsteered one, as single runs and
 * alternating in one process.
 *
 * Both workers are plain node processes on JavaScript (lib/plain-worker.ts): Steerer runs from
 * its build, dist/, which is rebuilt from the working tree first; llama.cpp from node-llama-cpp.
 *
 * Steerer repacks quantized weights once into its cache (STEERER_CACHE_DIR, here
 * bench/models/cache); the first, cold start is reported apart and the rounds run warm.
 *
 * `--shape` picks a published shape instead (bench/lib/shapes.ts: qwen2.5-0.5b, llama-3.2-1b,
 * llama-3.1-8b), written as a random GGUF one tensor at a time; these can also be Q4_K (`--types
 * q4_k`, for shapes whose rows are whole 256-value super-blocks).
 *
 * Usage: npm run quantized [-- --threads 2 --rounds 2 --types f32,q8_0,q4_0 --shape smollm2-random --prompt 130 --new 128
 *        --long 2048 --long-new 32]   (--long 0 skips decoding after a long prompt)
 */
import { fork } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ggufHiddenSize, upToDate } from './lib/gguf.js';
import { MiB } from './lib/mem.js';
import { BENCH_DIR, MODELS_DIR, RESULTS_DIR } from './lib/paths.js';
import { buildSteerer, transpileWorker } from './lib/plain-worker.js';
import { ensureSmolRandomModel, Rng } from './lib/random-model.js';
import { ensureShapeGguf, SHAPES } from './lib/shapes.js';
import { GgmlType, loadModel, sharedPath, tokenizerFromHfJson, writeModelGguf } from './lib/steerer.js';
import { fmt, formatTable } from './lib/table.js';
import type { QuantWorkerConfig, QuantWorkerResult } from './quantized-worker.js';

const log = (msg: string): void => console.error(`[quantized] ${msg}`);
const TYPES: Record<string, GgmlType> = { f32: GgmlType.F32, f16: GgmlType.F16, q8_0: GgmlType.Q8_0, q4_0: GgmlType.Q4_0, q4_k: GgmlType.Q4_K };

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1];
}

const CACHE = join(MODELS_DIR, 'cache');

/** A worker's job; the URL of Steerer's build is added when it runs. */
type WorkerJob = Omit<QuantWorkerConfig, 'steererModule'>;

/** The worker as plain JavaScript, and Steerer's build: made once, before the first run. */
let workerJs: { readonly file: string; readonly steererModule: string } | undefined;

function runWorker(job: WorkerJob): Promise<QuantWorkerResult & { wallSeconds: number }> {
  if (!workerJs) {
    log('building Steerer (dist/) and the worker (.build/)');
    workerJs = { steererModule: buildSteerer(), file: transpileWorker('quantized-worker.ts') };
  }
  const cfg: QuantWorkerConfig = { ...job, steererModule: workerJs.steererModule };
  const file = workerJs.file;
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = fork(file, [], {
      cwd: BENCH_DIR,
      execArgv: [],
      env: { ...process.env, STEERER_CACHE_DIR: CACHE },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: QuantWorkerResult | undefined;
    child.send(cfg);
    child.on('message', (m) => (result = m as QuantWorkerResult));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (!result || code !== 0) reject(new Error(`${cfg.engine} worker exited with ${signal ?? code} before reporting`));
      else resolve({ ...result, wallSeconds: (performance.now() - t0) / 1000 });
    });
  });
}

/** The faster of several runs of the same job (other load only ever slows a run down). */
async function best(cfg: WorkerJob, rounds: number): Promise<QuantWorkerResult> {
  const runs: QuantWorkerResult[] = [];
  for (let r = 0; r < rounds; r++) runs.push(await runWorker(cfg));
  return runs.reduce((a, b) => (b.totalSeconds < a.totalSeconds ? b : a));
}

interface TypeResult {
  readonly type: string;
  readonly fileBytes: number;
  readonly coldStart: { readonly loadSeconds: number; readonly firstTokenSeconds: number };
  readonly steerer: { readonly one: QuantWorkerResult; readonly full: QuantWorkerResult; readonly steered: QuantWorkerResult };
  readonly llama: { readonly one: QuantWorkerResult; readonly full: QuantWorkerResult };
  /** Decoding after a long prompt (--long tokens), when asked for. */
  readonly long?: { readonly steerer: QuantWorkerResult; readonly llama: QuantWorkerResult };
}

async function main(): Promise<void> {
  const threads = Number(flag('threads', '2'));
  const rounds = Number(flag('rounds', '2'));
  const types = flag('types', 'f32,q8_0,q4_0').split(',');
  for (const t of types) if (!(t in TYPES)) throw new Error(`unknown type ${t} (known: ${Object.keys(TYPES).join(', ')})`);
  const shapeKey = flag('shape', 'smollm2-random');
  // Steerer's GGUF writer quantizes to Q8_0 and Q4_0; K-quant files are random blocks of a --shape.
  if (shapeKey === 'smollm2-random' && types.includes('q4_k')) throw new Error('q4_k files are written for a --shape with rows of whole 256-value blocks (llama-3.2-1b, llama-3.1-8b)');
  if (shapeKey !== 'smollm2-random' && !SHAPES[shapeKey]) throw new Error(`unknown shape ${shapeKey} (known: smollm2-random, ${Object.keys(SHAPES).join(', ')})`);
  const PROMPT_TOKENS = Number(flag('prompt', '130'));
  const NEW_TOKENS = Number(flag('new', '128'));
  if (!Number.isInteger(PROMPT_TOKENS) || PROMPT_TOKENS < 1 || !Number.isInteger(NEW_TOKENS) || NEW_TOKENS < 2) throw new Error('--prompt ≥ 1 and --new ≥ 2 tokens');
  const LONG_TOKENS = Number(flag('long', '2048'));
  const LONG_NEW = Number(flag('long-new', '32'));
  if (!Number.isInteger(LONG_TOKENS) || LONG_TOKENS < 0 || !Number.isInteger(LONG_NEW) || LONG_NEW < 2) throw new Error('--long ≥ 0 (0 skips) and --long-new ≥ 2 tokens');

  const model = ensureSmolRandomModel(log);
  const tokenizerJson = JSON.parse(readFileSync(join(model.dir, 'tokenizer.json'), 'utf8')) as object;
  const tokenizer = tokenizerFromHfJson(tokenizerJson);
  const text = tokenizer.encode(readFileSync(sharedPath('data', 'text', 'wikitext-2', 'test.txt'), 'utf8').slice(0, 8 * Math.max(PROMPT_TOKENS, LONG_TOKENS) + 4000));
  if (text.length < LONG_TOKENS) throw new Error(`the text gives only ${text.length} tokens for a --long prompt of ${LONG_TOKENS}`);
  const promptIds = text.slice(0, PROMPT_TOKENS);
  const results: TypeResult[] = [];
  let hf: ReturnType<typeof loadModel> | undefined;
  for (const type of types) {
    const gguf = shapeKey === 'smollm2-random' ? join(MODELS_DIR, `smollm2-random.${type}.gguf`) : ensureShapeGguf(shapeKey, TYPES[type], log);
    if (shapeKey === 'smollm2-random' && !upToDate(gguf, [join(model.dir, 'model.safetensors')])) {
      log(`writing ${gguf}`);
      hf ??= loadModel(model.dir);
      writeModelGguf(`${gguf}.tmp`, hf.spec, hf.weights, { type: TYPES[type], name: 'smollm2-random', tokenizerJson, allowMissingByteTokens: true });
      renameSync(`${gguf}.tmp`, gguf);
    }
    const fileBytes = statSync(gguf).size;
    const rng = new Rng(7);
    const steerVector = Array.from({ length: ggufHiddenSize(gguf) }, () => 0.1 * rng.gauss());
    const job = (engine: 'steerer' | 'llama', newTokens: number, steered = false): WorkerJob => ({
      engine, gguf, threads, promptIds, newTokens, ...(steered ? { steerVector } : {}),
    });
    // Cold start: an empty cache, so Steerer repacks the file.
    rmSync(CACHE, { recursive: true, force: true });
    log(`${type}: Steerer cold start`);
    const cold = await runWorker(job('steerer', 1));
    log(`${type}: ${rounds} rounds of each job`);
    const steerer = { one: await best(job('steerer', 1), rounds), full: await best(job('steerer', NEW_TOKENS), rounds), steered: await best(job('steerer', NEW_TOKENS, true), rounds) };
    const llama = { one: await best(job('llama', 1), rounds), full: await best(job('llama', NEW_TOKENS), rounds) };
    let long: TypeResult['long'];
    if (LONG_TOKENS > 0) {
      log(`${type}: decoding after a ${LONG_TOKENS}-token prompt`);
      const longJob = (engine: 'steerer' | 'llama'): WorkerJob => ({ ...job(engine, LONG_NEW), promptIds: text.slice(0, LONG_TOKENS) });
      long = { steerer: await best(longJob('steerer'), rounds), llama: await best(longJob('llama'), rounds) };
    }
    const r: TypeResult = { type, fileBytes, coldStart: { loadSeconds: cold.loadSeconds, firstTokenSeconds: cold.firstTokenSeconds }, steerer, llama, ...(long ? { long } : {}) };
    results.push(r);
  }

  const decodeTps = (r: QuantWorkerResult): number => (NEW_TOKENS - 1) / r.decodeSeconds;
  const agree = (a: readonly number[], b: readonly number[]): number => {
    let n = 0;
    while (n < a.length && n < b.length && a[n] === b[n]) n++;
    return n;
  };
  const rows = results.map((r) => {
    const sDec = decodeTps(r.steerer.full);
    const lDec = decodeTps(r.llama.full);
    const steeredDec = decodeTps(r.steerer.steered);
    return [
      r.type.toUpperCase(),
      `${fmt(r.steerer.one.totalSeconds, 2)} / ${fmt(r.llama.one.totalSeconds, 2)}`,
      `${fmt(r.steerer.full.totalSeconds, 2)} / ${fmt(r.llama.full.totalSeconds, 2)}`,
      fmt(r.llama.full.totalSeconds / r.steerer.full.totalSeconds, 2),
      `${fmt(sDec, 1)} / ${fmt(lDec, 1)}`,
      fmt(sDec / lDec, 2),
      // By median step too: a stall of this shared machine, or an engine's periodic slow step, moves the mean.
      fmt(r.llama.full.medianStepSeconds / r.steerer.full.medianStepSeconds, 2),
      `${fmt(steeredDec / sDec, 2)} (${fmt(r.steerer.steered.interleavedSteeredRatio ?? NaN, 2)})`,
      `${fmt(r.steerer.full.peakRssBytes / MiB, 0)} / ${fmt(r.llama.full.peakRssBytes / MiB, 0)}`,
      fmt(r.steerer.full.peakRssBytes / r.llama.full.peakRssBytes, 2),
      `${fmt(r.steerer.one.loadSeconds, 2)} (cold ${fmt(r.coldStart.loadSeconds, 2)}) / ${fmt(r.llama.one.loadSeconds, 2)}`,
      `${fmt(r.steerer.one.firstTokenSeconds, 2)} / ${fmt(r.llama.one.firstTokenSeconds, 2)}`,
      fmt(PROMPT_TOKENS / r.steerer.full.warmPrefillSeconds / (PROMPT_TOKENS / r.llama.full.warmPrefillSeconds), 2),
      `${agree(r.steerer.full.tokens, r.llama.full.tokens)}/${NEW_TOKENS}`,
    ];
  });
  const header = [
    'weights',
    '1 token s (S / L)',
    `${NEW_TOKENS} tokens s (S / L)`,
    'speed L÷S',
    'decode tok/s (S / L)',
    'decode S÷L',
    'by median step',
    'steered ÷ unsteered (interleaved)',
    'peak RSS MiB (S / L)',
    'RSS S÷L',
    'load s (S / L)',
    'prompt → 1st token s (S / L)',
    'warm prefill S÷L',
    'same greedy tokens',
  ];
  const shapeLabel = shapeKey === 'smollm2-random' ? 'SmolLM2-135M' : SHAPES[shapeKey].label;
  console.log(`\n${shapeLabel} shape, random weights, ${PROMPT_TOKENS}-token prompt, greedy, ${threads} threads, ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}; S = Steerer, L = llama.cpp (node-llama-cpp, mmap, F16 KV)`);
  console.log(formatTable(header, rows));
  const longHeader = ['weights', 'prompt → 1st token s (S / L)', 'warm prefill tok/s (S / L)', 'prefill S÷L', `decode tok/s after ${LONG_TOKENS} (S / L)`, 'decode S÷L', 'median step ms (S / L)', 'median S÷L'];
  const longRows = results.flatMap((r) => {
    if (!r.long) return [];
    const tps = (x: QuantWorkerResult): number => (LONG_NEW - 1) / x.decodeSeconds;
    const { steerer: s, llama: l } = r.long;
    const pre = (x: QuantWorkerResult): number => LONG_TOKENS / x.warmPrefillSeconds;
    const ms = (x: QuantWorkerResult): string => fmt(x.medianStepSeconds * 1000, 1);
    return [[
      r.type.toUpperCase(), `${fmt(s.firstTokenSeconds, 2)} / ${fmt(l.firstTokenSeconds, 2)}`, `${fmt(pre(s), 0)} / ${fmt(pre(l), 0)}`, fmt(pre(s) / pre(l), 2),
      `${fmt(tps(s), 1)} / ${fmt(tps(l), 1)}`, fmt(tps(s) / tps(l), 2), `${ms(s)} / ${ms(l)}`, fmt(l.medianStepSeconds / s.medianStepSeconds, 2),
    ]];
  });
  if (longRows.length) {
    console.log(`\nAfter a ${LONG_TOKENS}-token prompt, ${LONG_NEW} greedy tokens (prompt → 1st token includes session creation)`);
    console.log(formatTable(longHeader, longRows));
  }
  mkdirSync(RESULTS_DIR, { recursive: true });
  // One file per shape and set of types, so that a run of one type keeps another's results.
  const out = join(RESULTS_DIR, `quantized.${shapeKey}.${types.join('-')}.json`);
  writeFileSync(out, `${JSON.stringify({ createdAt: new Date().toISOString(), shape: shapeKey, threads, rounds, promptTokens: PROMPT_TOKENS, newTokens: NEW_TOKENS, longTokens: LONG_TOKENS, longNewTokens: LONG_NEW, cpu: cpus()[0]?.model, header, rows, longHeader, longRows, results }, null, 1)}\n`);
  log(`wrote ${out}`);
}

await main();
