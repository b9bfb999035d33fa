/**
 * Load test of `steerer serve`, on loopback only and bounded in count and time: N concurrent
 * clients send a fixed number of chat completions with mixed steering specs (none, two
 * registry vectors at different layers and signs, an inline vector; half of them streamed).
 *
 * Prints requests/s, tokens/s, p50/p99 latency and errors, and checks that nothing leaks
 * between specs: every response must equal the text the same request gave when it ran alone.
 * Peers measured in the same run: the same server with batching off (--max-batch 1), and the
 * library's generate() called directly, one request after another, with no server at all.
 * Last, the cost of one generateBatch decode step by batch size: what batching can gain here.
 *
 * Usage (from the repository root, no bench/ install needed):
 *   npx tsx bench/serve-load.ts [--clients 8] [--requests 96] [--max-tokens 48] [--threads 2] [--model DIR|smollm2-random]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { RESULTS_DIR } from './lib/paths.js';
import { ensureSmolRandomModel } from './lib/random-model.js';
import { generate, HookedModel, loadModel, sharedPath } from './lib/steerer.js';
import { compileSteeringSpec, parseSteeringSpec, type SpecResolver } from '../src/steering/spec.js';
import { generateBatch } from '../src/decoding/generate.js';
import { createRng } from '../src/runtime/rng.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1];
}
const clients = Number(flag('clients', '8'));
const total = Number(flag('requests', '96'));
const maxTokens = Number(flag('max-tokens', '48'));
const threads = flag('threads', '2');
// "smollm2-random": the SmolLM2-135M-shape model with random weights the other benchmarks use.
const modelFlag = flag('model', sharedPath('models', 'tinystories-656k'));
const modelDir = modelFlag === 'smollm2-random' ? ensureSmolRandomModel((m) => console.error(`[load] ${m}`)).dir : modelFlag;
const REQUEST_TIMEOUT_MS = 120_000;
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

interface Server {
  readonly url: string;
  readonly child: ChildProcess;
  readonly dataDir: string;
}

async function startServer(extra: string[]): Promise<Server> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'steerer-load-'));
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), path.join(ROOT, 'src/cli/main.ts'), 'serve', '--model', modelDir, '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--threads', threads, ...extra], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${err}`)), 60_000);
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /at (http:\/\/127\.0\.0\.1:\d+)/.exec(err);
      if (m) (clearTimeout(timer), resolve(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`server exited (${code}): ${err}`)));
  });
  return { url, child, dataDir };
}

async function stopServer(s: Server): Promise<void> {
  const exited = s.child.exitCode !== null ? Promise.resolve() : new Promise<void>((r) => s.child.once('exit', () => r()));
  s.child.kill('SIGTERM');
  await exited;
  fs.rmSync(s.dataDir, { recursive: true, force: true });
}

// Vectors: seeded random unit directions, large enough to change the text.
const D = loadModel(modelDir).spec.hiddenSize;
const rng = createRng(5);
const unit = (): number[] => {
  const v = Array.from({ length: D }, () => rng.nextFloat() - 0.5);
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};
const vectors = { alpha: unit(), beta: unit(), gamma: unit() };
const specs: (Record<string, unknown> | null)[] = [
  null,
  { interventions: [{ vector: 'alpha', layers: [1], coefficient: 6 }] },
  { interventions: [{ vector: 'beta', layers: [0], coefficient: -4 }] },
  { interventions: [{ vector: { inline: vectors.gamma }, layers: [1], coefficient: 3 }] },
];
const prompts = ['Once upon a time, there was a little girl', 'Tom had a big red ball', 'The sun was shining and', 'One day, a cat'];

interface Req {
  readonly prompt: string;
  readonly seed: number;
  readonly spec: number;
  readonly stream: boolean;
}
const requests: Req[] = Array.from({ length: total }, (_, i) => ({ prompt: prompts[i % prompts.length], seed: i % 5, spec: (i * 3 + (i >> 2)) % specs.length, stream: i % 2 === 1 }));
const keyOf = (r: Req) => `${r.prompt}|${r.seed}|${r.spec}`;

async function register(base: string): Promise<void> {
  for (const [name, v] of Object.entries(vectors)) {
    const layer = name === 'beta' ? '0' : '1';
    const res = await fetch(`${base}/v1/vectors`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, directions: { [layer]: v } }) });
    if (res.status !== 201) throw new Error(`registering ${name}: ${res.status} ${await res.text()}`);
  }
}

/** One chat completion; returns the text (streamed or not) and completion tokens. */
async function send(base: string, r: Req): Promise<{ text: string; tokens: number }> {
  const body = { messages: [{ role: 'user', content: r.prompt }], max_tokens: maxTokens, seed: r.seed, temperature: 1, stream: r.stream, ...(r.stream ? { stream_options: { include_usage: true } } : {}), ...(specs[r.spec] ? { steering: specs[r.spec] } : {}) };
  const res = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`);
  if (!r.stream) {
    const json = (await res.json()) as { choices: { message: { content: string } }[]; usage: { completion_tokens: number } };
    return { text: json.choices[0].message.content, tokens: json.usage.completion_tokens };
  }
  let text = '';
  let tokens = 0;
  for (const line of (await res.text()).split('\n')) {
    if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
    const chunk = JSON.parse(line.slice(6)) as { choices: { delta: { content?: string } }[]; usage?: { completion_tokens: number }; error?: { message: string } };
    if (chunk.error) throw new Error(chunk.error.message);
    for (const c of chunk.choices) text += c.delta.content ?? '';
    if (chunk.usage) tokens = chunk.usage.completion_tokens;
  }
  return { text, tokens };
}

interface Run {
  readonly label: string;
  readonly wallS: number;
  readonly rps: number;
  readonly tokensPerS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly leaks: number;
  readonly meanBatch: number;
}

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

async function load(label: string, base: string, reference: Map<string, string>): Promise<Run> {
  const latencies: number[] = [];
  let errors = 0;
  let leaks = 0;
  let tokens = 0;
  let next = 0;
  const stats = async () => ((await (await fetch(`${base}/health`)).json()) as { queue: { batches: number; rows: number } }).queue;
  const before = await stats();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < requests.length) {
        const r = requests[next++];
        const t = performance.now();
        try {
          const out = await send(base, r);
          latencies.push(performance.now() - t);
          tokens += out.tokens;
          if (out.text !== reference.get(keyOf(r))) leaks++;
        } catch (e) {
          errors++;
          console.error(`[load] ${label}: ${(e as Error).message}`);
        }
      }
    }),
  );
  const wallS = (performance.now() - t0) / 1000;
  const after = await stats();
  return {
    label,
    wallS,
    rps: requests.length / wallS,
    tokensPerS: tokens / wallS,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    errors,
    leaks,
    meanBatch: (after.rows - before.rows) / Math.max(1, after.batches - before.batches),
  };
}

console.error(`[load] ${clients} clients, ${total} requests, ${maxTokens} tokens each, ${specs.length} specs, ${threads} threads, model ${path.basename(modelDir)}`);
const runs: Run[] = [];
const stepCost: { batch: number; msPerStep: number }[] = [];
const reference = new Map<string, string>();
{
  const server = await startServer([]);
  try {
    await register(server.url);
    // References: every distinct request, alone, one after another.
    for (const r of requests) if (!reference.has(keyOf(r))) reference.set(keyOf(r), (await send(server.url, { ...r, stream: false })).text);
    console.error(`[load] ${reference.size} distinct requests run alone for the no-leak check`);
    runs.push(await load('server, batching on', server.url, reference));
  } finally {
    await stopServer(server);
  }
}
{
  const server = await startServer(['--max-batch', '1']);
  try {
    await register(server.url);
    runs.push(await load('server, --max-batch 1', server.url, reference));
  } finally {
    await stopServer(server);
  }
}

// Library peer: generate() in this process, sequentially, same prompts, seeds and hooks.
{
  const model = new HookedModel(loadModel(modelDir), { threads: Number(threads) });
  const resolver: SpecResolver = {
    vector: (name) => {
      const layer = name === 'beta' ? 0 : 1;
      const v = vectors[name as keyof typeof vectors];
      return { directions: new Map([[layer, Float32Array.from(v)]]), meta: { format: 'steerer.vector/v1', model: { name: 'x', architecture: model.spec.architecture, hiddenSize: D, numLayers: model.spec.numLayers }, method: 'imported', site: 'resid_post', createdAt: '' } };
    },
    sae: () => { throw new Error('unused'); },
    model: () => { throw new Error('unused'); },
    probe: () => { throw new Error('unused'); },
  };
  const hooks = specs.map((s) => (s ? compileSteeringSpec(parseSteeringSpec(s), model.spec, resolver) : []));
  const latencies: number[] = [];
  let tokens = 0;
  let leaks = 0;
  const t0 = performance.now();
  for (const r of requests) {
    const t = performance.now();
    const out = await generate(model, model.encode(r.prompt), { maxTokens, seed: r.seed, temperature: 1, hooks: hooks[r.spec] });
    latencies.push(performance.now() - t);
    tokens += out.tokens.length;
    if (out.text !== reference.get(keyOf(r))) leaks++;
  }
  const wallS = (performance.now() - t0) / 1000;
  runs.push({ label: 'library generate(), sequential', wallS, rps: requests.length / wallS, tokensPerS: tokens / wallS, p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99), errors: 0, leaks, meanBatch: 1 });

  // What batching can gain at all on this machine: one decode step of generateBatch by batch size.
  const stepPrompts = prompts.map((p) => model.encode(p));
  await generateBatch(model, stepPrompts.slice(0, 2), { maxTokens: 2, temperature: 1, seed: 1 });
  for (const b of [1, 2, 4, 8]) {
    const rowsIn = Array.from({ length: b }, (_, i) => stepPrompts[i % stepPrompts.length]);
    const t = performance.now();
    await generateBatch(model, rowsIn, { maxTokens, temperature: 1, seed: 1, stopTokens: [] });
    stepCost.push({ batch: b, msPerStep: (performance.now() - t) / maxTokens });
  }
  await model.dispose();
}

const base = runs[0];
const pad = (s: string | number, n: number) => String(s).padStart(n);
console.log(`\n${'run'.padEnd(32)} ${pad('req/s', 7)} ${pad('tok/s', 7)} ${pad('p50 ms', 8)} ${pad('p99 ms', 8)} ${pad('batch', 6)} ${pad('errors', 6)} ${pad('leaks', 6)} ${pad('batched ×', 9)}`);
for (const r of runs) {
  console.log(`${r.label.padEnd(32)} ${pad(r.rps.toFixed(2), 7)} ${pad(r.tokensPerS.toFixed(0), 7)} ${pad(r.p50Ms.toFixed(0), 8)} ${pad(r.p99Ms.toFixed(0), 8)} ${pad(r.meanBatch.toFixed(2), 6)} ${pad(r.errors, 6)} ${pad(r.leaks, 6)} ${pad((base.rps / r.rps).toFixed(2), 9)}`);
}
console.log(`\ngenerateBatch, ms per decode step (prefill included) by batch size: ${stepCost.map((c) => `${c.batch}: ${c.msPerStep.toFixed(1)}`).join(', ')}`);
const ok = runs.every((r) => r.errors === 0 && r.leaks === 0);
console.log(`\nno-leak check: ${runs.every((r) => r.leaks === 0) ? 'PASS' : 'FAIL'} (every response equals the same request run alone); errors: ${runs.reduce((s, r) => s + r.errors, 0)}`);
fs.mkdirSync(RESULTS_DIR, { recursive: true });
fs.writeFileSync(path.join(RESULTS_DIR, `serve-load.${path.basename(modelDir)}.json`), `${JSON.stringify({ date: new Date().toISOString(), clients, requests: total, maxTokens, threads: Number(threads), model: path.basename(modelDir), cpus: os.cpus().length, runs, stepCost }, null, 2)}\n`);
process.exit(ok ? 0 : 1);
