/**
 * Concept suite: the one-click steering-vector pipeline measured on the user's own path through
 * the CLI. For each concept:
 *   steerer vector create --model M --concept X --coef auto --out DIR/vectors/X.safetensors
 *   steerer generate --model M --steer DIR/vectors/X.safetensors --prompt "Once upon a time" --seed s   (s = seed+1 .. seed+N)
 * against the same prompt and seeds unsteered (written once per model), and against prompting
 * ("Once upon a time there was a happy girl", hand-written per concept, unsteered). Concept presence
 * is counted with hand-written word lists (eval/concepts/*.json, never seen by the pipeline) in the
 * generated continuation only; fluency is the perplexity of the continuation under the unsteered
 * model, conditioned on its prompt. For the --away concepts the pipeline also makes a steering-away
 * vector (`vector create --concept X --away`), applied with its own recommendation.
 *
 * Generation uses generate's defaults (--max-tokens 128, --temperature 0.8); the suite adds only
 * --json (machine-readable output) and --threads.
 *
 * Run: npx tsx eval/concept-suite.ts [--model tinystories-656k] [--concepts a,b] [--stories 16]
 *        [--seed 0] [--out DIR] [--threads 2] [--jobs 1] [--away happy,bird,tree] [--skip-create]
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { generateBatch, openModel, scoreTokens } from '../src/index.js';
import { generationSteeringFromFlags } from '../src/cli/steer-flags.js';
import type { ResolvedIntervention } from '../src/steering/spec.js';
import { repetitionStats } from '../src/evals/repetition.js';
import { packageRoot, sharedPath } from '../src/util/shared-path.js';
import { commandLine, pool, runCli, staleSources, type CliResult } from './lib/cli.js';
import { allConcepts, conceptRegex, countConceptWords, loadConceptList, type ConceptList } from './lib/concept-words.js';
import { duration, meanSe } from './lib/stats.js';
import { suiteSvg } from './lib/suite-plot.js';

/** Pass: steered rate ≥ RATE_FACTOR × max(unsteered rate, 1/N) and pooled perplexity ratio ≤ PPL_LIMIT. */
const RATE_FACTOR = 3;
const PPL_LIMIT = 1.25;
/**
 * A story "loops" when some run of LOOP_TOKENS tokens occurs twice in it, or its distinct-2 is below
 * LOOP_DISTINCT2 (48 unsteered tinystories-656k stories: longest repeat ≤ 5 tokens, distinct-2 ≥ 0.86).
 */
const LOOP_TOKENS = 10;
const LOOP_DISTINCT2 = 0.75;
const BASE_PROMPT = 'Once upon a time';
/** High base rates in unsteered TinyStories stories (48 seeds: happy in 32, bird in 24, tree in 22), so a drop is measurable. */
const DEFAULT_AWAY = ['happy', 'bird', 'tree'];

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'tinystories-656k' },
    concepts: { type: 'string' },
    stories: { type: 'string', default: '16' },
    seed: { type: 'string', default: '0' },
    out: { type: 'string' },
    threads: { type: 'string', default: '2' },
    jobs: { type: 'string', default: '1' },
    away: { type: 'string' },
    'skip-create': { type: 'boolean', default: false },
    // Stories through `steerer generate` processes (one per story) instead of the same code in this process.
    'via-cli': { type: 'boolean', default: false },
    // Extra flags for `vector create`, e.g. "--rule harmonic" (the defaults are what the README reports).
    'create-args': { type: 'string', default: '' },
  },
});

const root = packageRoot();
const extraCreateArgs = values['create-args']!.split(/\s+/).filter(Boolean);
const modelArg = values.model!;
const modelPath = fs.existsSync(modelArg) ? path.resolve(modelArg) : sharedPath('models', modelArg);
if (!fs.existsSync(modelPath)) throw new Error(`no model at ${modelPath}`);
const modelName = path.basename(modelPath).replace(/\.(bin|gguf)$/i, '');
/** Paths handed to the CLI, relative to the package root (its working directory), as a user would type them. */
const rel = (p: string): string => path.relative(root, p) || '.';
const N = Number(values.stories);
const seed0 = Number(values.seed);
const threads = values.threads!;
const jobs = Number(values.jobs);
if (!Number.isInteger(N) || N < 1) throw new Error('--stories must be a positive integer');
const seeds = Array.from({ length: N }, (_, i) => seed0 + 1 + i);
const concepts = values.concepts ? values.concepts.split(',').map((s) => s.trim()).filter(Boolean) : allConcepts();
const awaySet = new Set((values.away ?? DEFAULT_AWAY.join(',')).split(',').map((s) => s.trim()).filter(Boolean));
const outDir = path.resolve(values.out ?? path.join(root, 'eval', 'results', 'concept-suite', modelName));
const vectorDir = path.join(outDir, 'vectors');
fs.mkdirSync(vectorDir, { recursive: true });
const lists = new Map<string, ConceptList>(concepts.map((c) => [c, loadConceptList(c)]));

const log = (line: string): void => void process.stderr.write(`${line}\n`);
const stale = staleSources();
if (stale.length) log(`warning: dist/ is older than ${stale.slice(0, 5).join(', ')}${stale.length > 5 ? ` (+${stale.length - 5})` : ''}; the suite runs dist/cli/main.js (rebuild once "npx tsc -p tsconfig.json --noEmit" is clean: npx tsc -p tsconfig.json)`);

// ---------- generation through the CLI ----------

interface Story {
  readonly seed: number;
  readonly text: string;
  readonly tokens: readonly number[];
  readonly promptTokens: number;
  readonly finishReason: string;
  readonly error?: string;
}

/** What generate says it applied (its --json `steering` field; absent in older builds). */
interface Applied {
  readonly vector: string;
  readonly layers: readonly number[];
  readonly coefficient: number;
  readonly coefficientFrom?: string;
}

interface Generated {
  readonly command: string;
  readonly stories: Story[];
  readonly applied: readonly Applied[] | null;
}

async function stories(prompt: string, steer?: string): Promise<Generated> {
  return values['via-cli'] ? storiesViaCli(prompt, steer) : storiesInProcess(prompt, steer);
}

/**
 * The code `steerer generate --steer F --prompt P --seed s` runs, in this process and batched
 * over seeds (each row samples with its own seed, as a lone `generate` call would): the CLI's own
 * flag resolution (coefficient and layers: the vector's recommendation) and generate's defaults
 * (128 new tokens, temperature 0.8). `--via-cli` runs real processes instead.
 */
async function storiesInProcess(prompt: string, steer?: string): Promise<Generated> {
  const resolved: ResolvedIntervention[] = [];
  const { hooks } = generationSteeringFromFlags(scorer, steer ? { steer: [steer] } : {}, (r) => resolved.push(r));
  const ids = scorer.encode(prompt);
  const out = await generateBatch(scorer, seeds.map(() => ids), { maxTokens: 128, temperature: 0.8, seeds, hooks });
  const args = ['generate', '--model', rel(modelPath), ...(steer ? ['--steer', steer] : []), '--prompt', prompt, '--seed', `{${seeds[0]}..${seeds[seeds.length - 1]}}`];
  return {
    command: commandLine(args),
    stories: out.map((r, i) => ({ seed: seeds[i], text: r.text, tokens: r.tokens, promptTokens: ids.length, finishReason: r.finishReason })),
    applied: steer ? resolved.map((r) => ({ vector: r.kind === 'vector' ? r.vector : r.sae, layers: r.layers, coefficient: r.coefficient, coefficientFrom: r.coefficientFrom })) : null,
  };
}

async function storiesViaCli(prompt: string, steer?: string): Promise<Generated> {
  const argsFor = (s: number): string[] => [
    'generate', '--model', rel(modelPath), ...(steer ? ['--steer', steer] : []), '--prompt', prompt, '--seed', String(s), '--json', '--threads', threads,
  ];
  let applied: Applied[] | null = null;
  const out = await pool(seeds, jobs, async (s) => {
    const r = await runCli(argsFor(s));
    if (r.code !== 0) return { seed: s, text: '', tokens: [], promptTokens: 0, finishReason: 'error', error: tail(r) };
    const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as { text: string; tokens: number[]; promptTokens: number; finishReason: string; steering?: Applied[] };
    if (j.steering) applied = j.steering.map(({ vector, layers, coefficient, coefficientFrom }) => ({ vector, layers, coefficient, coefficientFrom }));
    return { seed: s, text: j.text, tokens: j.tokens, promptTokens: j.promptTokens, finishReason: j.finishReason };
  });
  return { command: commandLine(argsFor(seeds[0])).replace(`--seed ${seeds[0]}`, `--seed {${seeds[0]}..${seeds[seeds.length - 1]}}`), stories: out, applied };
}

const tail = (r: CliResult): string => (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-3).join(' | ').slice(0, 400);

// ---------- scoring: concept words and unsteered perplexity ----------

const scorer = openModel(modelPath, { threads: Number(threads) });

/**
 * The prompting baseline's opening as sent: the hand-written text, plus a trailing space when this
 * model's tokenizer folds the space into the last word's token ("cat" + " " → "cat "), i.e. when its
 * training text never stops a word before its space the way "…a cat" does (tinystories-656k continues
 * "there was a cat" with "erpillar"). Sentencepiece-style tokenizers (space before words) get the text as is.
 */
function opening(text: string): string {
  const ids = scorer.encode(`${text} `);
  const last = scorer.tokenizer.decode([ids[ids.length - 1]]);
  return last.trim() !== '' && last.endsWith(' ') ? `${text} ` : text;
}

interface ScoredStory extends Story {
  readonly count: number;
  readonly hits: readonly string[];
  /** Total NLL (nats) of the continuation under the unsteered model, given the prompt; null when empty or failed. */
  readonly nll: number | null;
  readonly perplexity: number | null;
  readonly distinct2: number;
  readonly longestRepeat: number;
  readonly loop: boolean;
}

interface ConditionSummary {
  readonly prompt: string;
  readonly command: string;
  /** Steering generate reported applying (null: none reported). */
  readonly applied: readonly Applied[] | null;
  readonly rate: { mean: number; se: number; n: number };
  /** Stories with at least one concept word. */
  readonly storiesWithConcept: number;
  /** exp(total NLL / total continuation tokens). */
  readonly pooledPerplexity: number;
  readonly storyPerplexity: { mean: number; se: number; n: number };
  readonly distinct2: number;
  readonly loops: number;
  readonly meanTokens: number;
  readonly errors: number;
  readonly stories: readonly ScoredStory[];
}

async function score(prompt: string, gen: Generated, re: RegExp | null): Promise<ConditionSummary> {
  const promptIds = scorer.encode(prompt);
  const scored: ScoredStory[] = [];
  for (const st of gen.stories) {
    const { count, hits } = re ? countConceptWords(st.text, re) : { count: 0, hits: [] };
    const rep = repetitionStats(st.tokens);
    let nll: number | null = null;
    if (!st.error && st.tokens.length > 0) {
      if (st.promptTokens !== promptIds.length) log(`warning: prompt "${prompt}" is ${promptIds.length} tokens here, ${st.promptTokens} in the CLI`);
      const { logprobs } = await scoreTokens(scorer, [...promptIds, ...st.tokens]);
      nll = 0;
      for (let k = promptIds.length - 1; k < logprobs.length; k++) nll -= logprobs[k];
    }
    scored.push({
      ...st,
      count,
      hits,
      nll,
      perplexity: nll === null ? null : Math.exp(nll / st.tokens.length),
      distinct2: rep.distinct2,
      longestRepeat: rep.longestRepeat,
      loop: rep.longestRepeat >= LOOP_TOKENS || rep.distinct2 < LOOP_DISTINCT2,
    });
  }
  return summarize(prompt, gen.command, scored, undefined, gen.applied);
}

/** Summary of a condition; `re` recounts the concept words (the unsteered stories are scored once, counted per concept). */
function summarize(prompt: string, command: string, scored: readonly ScoredStory[], re?: RegExp, applied: readonly Applied[] | null = null): ConditionSummary {
  const s = re ? scored.map((st) => ({ ...st, ...countConceptWords(st.text, re) })) : scored;
  const ok = s.filter((st) => !st.error);
  const withNll = ok.filter((st) => st.nll !== null);
  const totalNll = withNll.reduce((a, st) => a + st.nll!, 0);
  const totalTokens = withNll.reduce((a, st) => a + st.tokens.length, 0);
  return {
    prompt,
    command,
    applied,
    rate: meanSe(ok.map((st) => st.count)),
    storiesWithConcept: ok.filter((st) => st.count > 0).length,
    pooledPerplexity: Math.exp(totalNll / totalTokens),
    storyPerplexity: meanSe(withNll.map((st) => st.perplexity!)),
    distinct2: meanSe(ok.map((st) => st.distinct2)).mean,
    loops: ok.filter((st) => st.loop).length,
    meanTokens: meanSe(ok.map((st) => st.tokens.length)).mean,
    errors: s.length - ok.length,
    stories: s,
  };
}

// ---------- the suite ----------

interface ConceptResult {
  concept: string;
  kind: string;
  words: readonly string[];
  vector: string;
  create: { command: string; ok: boolean; seconds: number | null; skipped: boolean; error?: string; stop?: string };
  recommended: { layers?: number[]; coefficient?: number } | null;
  /** What the vector's metadata says about steering away (null: nothing recorded; the suite negates the coefficient). */
  awayRecommendation: number | null;
  unsteered: Omit<ConditionSummary, 'stories'> & { counts: number[] };
  steered: ConditionSummary | null;
  prompted: ConditionSummary;
  away: (ConditionSummary & { coefficient: number; source: string }) | null;
  /** Base rate used by the pass rule: max(unsteered rate, 1/N). */
  baseRate: number;
  steeredRateRatio: number | null;
  steeredPplRatio: number | null;
  promptedRateRatio: number;
  promptedPplRatio: number;
  awayRateDrop: number | null;
  awayPplRatio: number | null;
  pass: boolean;
  promptedPass: boolean;
  winner: 'steering' | 'prompting' | 'neither';
  seconds: number;
}

function gitState(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: root }).toString().trim() !== '';
    return `${head}${dirty ? ' (src/ modified)' : ''}`;
  } catch {
    return 'unknown';
  }
}

const tStart = performance.now();
const elapsed = (): number => (performance.now() - tStart) / 1000;
log(`concept suite: ${modelName}, ${concepts.length} concepts, ${N} stories each (seeds ${seeds[0]}..${seeds[N - 1]}), away: ${[...awaySet].filter((c) => lists.has(c)).join(', ') || 'none'} → ${rel(outDir)}`);

const unsteeredGen = await stories(BASE_PROMPT);
const unsteeredScored = (await score(BASE_PROMPT, unsteeredGen, null)).stories;
const unsteeredAll = summarize(BASE_PROMPT, unsteeredGen.command, unsteeredScored);
log(`unsteered: ${N} stories, perplexity ${unsteeredAll.pooledPerplexity.toFixed(2)}, ${unsteeredAll.loops} loops, ${unsteeredAll.errors} errors (${duration(elapsed())})`);

const results: ConceptResult[] = [];
const meta = {
  format: 'steerer.concept-suite/v1',
  createdAt: new Date().toISOString(),
  model: rel(modelPath),
  git: gitState(),
  stories: N,
  seeds,
  basePrompt: BASE_PROMPT,
  generation: 'steerer generate defaults (--max-tokens 128, --temperature 0.8), plus --json and --threads',
  threads: Number(threads),
  jobs,
  rules: {
    pass: `steered words/story >= ${RATE_FACTOR} x max(unsteered words/story, 1/${N}) and pooled perplexity ratio (steered / unsteered, under the unsteered model) <= ${PPL_LIMIT}`,
    winner: 'a condition "passes" by the same rule (prompted stories judged against the unsteered "Once upon a time" stories); if both pass, the higher words/story wins; if one passes, it wins; else neither',
    loop: `a story loops when a run of ${LOOP_TOKENS} tokens occurs twice in it or its distinct-2 (over tokens) is below ${LOOP_DISTINCT2}`,
    counting: 'hand-written word lists, case-insensitive whole words/phrases, non-overlapping, in the generated continuation only',
  },
};

const writeResults = (): void => {
  fs.writeFileSync(
    path.join(outDir, 'results.json'),
    `${JSON.stringify({ ...meta, unsteered: { ...unsteeredAll, stories: unsteeredScored.map(({ hits: _h, count: _c, ...st }) => st) }, concepts: results }, null, 2)}\n`,
  );
};

for (const [i, concept] of concepts.entries()) {
  const t0 = performance.now();
  const list = lists.get(concept)!;
  const re = conceptRegex(list.words);
  const vectorFile = path.join(vectorDir, `${concept}.safetensors`);
  const createArgs = ['vector', 'create', '--model', rel(modelPath), '--concept', concept, '--coef', 'auto', '--out', rel(vectorFile), '--threads', threads, ...extraCreateArgs];
  let create: ConceptResult['create'];
  if (values['skip-create'] && fs.existsSync(vectorFile)) {
    create = { command: commandLine(createArgs), ok: true, seconds: null, skipped: true };
  } else {
    fs.rmSync(vectorFile, { force: true });
    const r = await runCli(createArgs);
    create = { command: commandLine(createArgs), ok: r.code === 0 && fs.existsSync(vectorFile), seconds: r.seconds, skipped: false, ...(r.code !== 0 ? { error: tail(r) } : {}) };
    const stop = /strength: .*?\(([^;)]+);/.exec(r.stdout);
    if (stop) create.stop = stop[1];
  }
  log(`[${i + 1}/${concepts.length} ${concept}] vector create: ${create.skipped ? 'reused' : create.ok ? `${create.seconds!.toFixed(1)} s` : `FAILED (${create.error})`}`);

  let recommended: ConceptResult['recommended'] = null;
  let awayRecommendation: number | null = null;
  if (create.ok) {
    const info = await runCli(['vector', 'info', rel(vectorFile), '--json']);
    if (info.code === 0) {
      const m = (JSON.parse(info.stdout) as { meta: Record<string, unknown> }).meta;
      recommended = (m.recommended as ConceptResult['recommended']) ?? null;
    }
  }

  const unsteered = summarize(BASE_PROMPT, unsteeredGen.command, unsteeredScored, re);
  const baseRate = Math.max(unsteered.rate.mean, 1 / N);
  const steered = create.ok ? await score(BASE_PROMPT, await stories(BASE_PROMPT, rel(vectorFile)), re) : null;
  const promptText = opening(list.prompt);
  const prompted = await score(promptText, await stories(promptText), re);
  let away: ConceptResult['away'] = null;
  if (awaySet.has(concept)) {
    // The user's path for "never mention X": vector create --concept X --away, then generate --steer.
    const awayFile = path.join(vectorDir, `${concept}-away.safetensors`);
    const awayArgs = ['vector', 'create', '--model', rel(modelPath), '--concept', concept, '--away', '--coef', 'auto', '--out', rel(awayFile), '--threads', threads, ...extraCreateArgs];
    const made: Pick<CliResult, 'code' | 'stdout' | 'stderr'> = values['skip-create'] && fs.existsSync(awayFile) ? { code: 0, stdout: '', stderr: '' } : await runCli(awayArgs);
    if (made.code === 0) {
      const info = await runCli(['vector', 'info', rel(awayFile), '--json']);
      const rec = (JSON.parse(info.stdout) as { meta: { recommended?: { coefficient?: number } } }).meta.recommended;
      awayRecommendation = rec?.coefficient ?? null;
      away = { ...(await score(BASE_PROMPT, await stories(BASE_PROMPT, rel(awayFile)), re)), coefficient: awayRecommendation ?? Number.NaN, source: `vector create --away: ${commandLine(awayArgs)}` };
    } else {
      log(`[${concept}] vector create --away failed: ${(made.stderr.trim() || made.stdout.trim()).split('\n').slice(-2).join(' | ')}`);
    }
  }

  const ratio = (c: ConditionSummary | null): number | null => (c ? c.pooledPerplexity / unsteered.pooledPerplexity : null);
  const passes = (c: ConditionSummary | null): boolean => c !== null && c.errors < N && c.rate.mean >= RATE_FACTOR * baseRate && ratio(c)! <= PPL_LIMIT;
  const pass = passes(steered);
  const promptedPass = passes(prompted);
  const winner = pass && promptedPass ? (steered!.rate.mean >= prompted.rate.mean ? 'steering' : 'prompting') : pass ? 'steering' : promptedPass ? 'prompting' : 'neither';
  const { stories: _drop, ...unsteeredNumbers } = unsteered;
  results.push({
    concept,
    kind: list.kind,
    words: list.words,
    vector: rel(vectorFile),
    create,
    recommended,
    awayRecommendation,
    unsteered: { ...unsteeredNumbers, counts: unsteered.stories.map((st) => st.count) },
    steered,
    prompted,
    away,
    baseRate,
    steeredRateRatio: steered ? steered.rate.mean / baseRate : null,
    steeredPplRatio: ratio(steered),
    promptedRateRatio: prompted.rate.mean / baseRate,
    promptedPplRatio: ratio(prompted)!,
    awayRateDrop: away && unsteered.rate.mean > 0 ? 1 - away.rate.mean / unsteered.rate.mean : null,
    awayPplRatio: ratio(away),
    pass,
    promptedPass,
    winner,
    seconds: (performance.now() - t0) / 1000,
  });
  writeResults();
  const done = i + 1;
  const eta = (elapsed() / done) * (concepts.length - done);
  const f = (x: number): string => x.toFixed(2);
  log(
    `[${done}/${concepts.length} ${concept}] words/story ${f(unsteered.rate.mean)} → ${steered ? f(steered.rate.mean) : '-'} (prompted ${f(prompted.rate.mean)}), ` +
      `ppl ratio ${steered ? f(ratio(steered)!) : '-'}${away ? `, away ${f(away.rate.mean)} (ppl ×${f(ratio(away)!)})` : ''} → ${pass ? 'PASS' : 'fail'}; ` +
      `${duration((performance.now() - t0) / 1000)} for this concept, elapsed ${duration(elapsed())}, ETA ${duration(eta)}`,
  );
}

// ---------- table and plot ----------

const f2 = (x: number | null | undefined, d = 2): string => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d));
const ms = (c: { rate: { mean: number; se: number } } | null): string => (c ? `${f2(c.rate.mean)} ± ${f2(c.rate.se)}` : '-');
const createTimes = results.filter((r) => r.create.seconds !== null).map((r) => r.create.seconds!);
const passCount = results.filter((r) => r.pass).length;
const lines = [
  `# Concept suite: ${modelName}`,
  '',
  `${meta.createdAt} · git ${meta.git} · ${N} stories per condition (seeds ${seeds[0]}..${seeds[N - 1]}) · generate defaults (128 tokens, temperature 0.8)`,
  '',
  `Unsteered ("${BASE_PROMPT}"): perplexity ${f2(unsteeredAll.pooledPerplexity)} (per story ${f2(unsteeredAll.storyPerplexity.mean)} ± ${f2(unsteeredAll.storyPerplexity.se)}), distinct-2 ${f2(unsteeredAll.distinct2)}, loops ${unsteeredAll.loops}/${N}.`,
  '',
  '| concept | kind | layer | coef (recommended / applied) | words/story unsteered → steered (±SE) | ×rate | ppl ratio | distinct-2 / loops | prompted words/story (±SE) | prompted ×rate | prompted ppl ratio | pass | winner |',
  '|---|---|---:|---:|---|---:|---:|---:|---|---:|---:|:-:|---|',
  ...results.map((r) => {
    const rec = r.recommended;
    const status = r.create.ok ? (r.pass ? '✓' : '✗') : '✗ (create failed)';
    const applied = r.steered?.applied?.[0];
    const appliedText = applied ? `${f2(applied.coefficient)}${applied.layers.join(',') !== (rec?.layers ?? []).join(',') ? ` @${applied.layers.join(',')}` : ''}` : '?';
    return `| ${r.concept} | ${r.kind} | ${rec?.layers?.join(',') ?? '-'} | ${f2(rec?.coefficient)} / ${r.steered ? appliedText : '-'} | ${ms(r.unsteered)} → ${ms(r.steered)} | ${f2(r.steeredRateRatio, 1)} | ${f2(r.steeredPplRatio)} | ${r.steered ? `${f2(r.steered.distinct2)} / ${r.steered.loops}` : '-'} | ${ms(r.prompted)} | ${f2(r.promptedRateRatio, 1)} | ${f2(r.promptedPplRatio)} | ${status} | ${r.winner} |`;
  }),
  '',
  `**${passCount}/${results.length} pass**${results.length !== 32 ? ' (subset run; the full suite has 32 concepts)' : ''}. ` +
    `Steering wins ${results.filter((r) => r.winner === 'steering').length}, prompting wins ${results.filter((r) => r.winner === 'prompting').length}, neither ${results.filter((r) => r.winner === 'neither').length}.`,
  '',
  `Mean vector create time: ${f2(meanSe(createTimes).mean, 1)} s per concept (${createTimes.length} created); mean total time per concept (create + ${results.some((r) => r.away) ? '2–3' : '2'}×${N} generations + scoring): ${f2(meanSe(results.map((r) => r.seconds)).mean, 1)} s.`,
  '',
  `Pass: ${meta.rules.pass}; ×rate is words/story over max(unsteered words/story, 1/${N}) (an unsteered rate of 0 counts as one hit in the whole set). Winner: ${meta.rules.winner}. Loops: ${meta.rules.loop}. Prompted ppl ratio compares stories from the concept opening with the unsteered "${BASE_PROMPT}" stories.`,
  '',
  `layer / recommended coef: the vector's metadata (\`recommended\`, via \`steerer vector info --json\`); applied: what \`generate --steer FILE --json\` reports applying (its \`steering\` field; "?" when the build reports nothing). The suite never chooses the coefficient for the steered stories.`,
];
const awayRows = results.filter((r) => r.away);
if (awayRows.length) {
  lines.push(
    '',
    '## Steering away',
    '',
    '| concept | coefficient (source) | words/story unsteered → away (±SE) | stories with concept | drop | ppl ratio | distinct-2 / loops |',
    '|---|---|---|---|---:|---:|---:|',
    ...awayRows.map((r) => `| ${r.concept} | ${f2(r.away!.coefficient)} (${r.away!.source}) | ${ms(r.unsteered)} → ${ms(r.away)} | ${r.unsteered.storiesWithConcept} → ${r.away!.storiesWithConcept} of ${N} | ${r.awayRateDrop === null ? '-' : `${(100 * r.awayRateDrop).toFixed(0)}%`} | ${f2(r.awayPplRatio)} | ${f2(r.away!.distinct2)} / ${r.away!.loops} |`),
  );
}
const failed = results.filter((r) => !r.create.ok);
if (failed.length) lines.push('', '## vector create failures', '', ...failed.map((r) => `- ${r.concept}: ${r.create.error ?? 'no vector written'}`));
fs.writeFileSync(path.join(outDir, 'table.md'), `${lines.join('\n')}\n`);

const bars = results.flatMap((r) => [
  { concept: r.concept, condition: 'unsteered', mean: r.unsteered.rate.mean, se: r.unsteered.rate.se },
  ...(r.steered ? [{ concept: r.concept, condition: 'steered', mean: r.steered.rate.mean, se: r.steered.rate.se }] : []),
  { concept: r.concept, condition: 'prompted', mean: r.prompted.rate.mean, se: r.prompted.rate.se },
  ...(r.away ? [{ concept: r.concept, condition: 'away', mean: r.away.rate.mean, se: r.away.rate.se }] : []),
]);
const ratios = results.flatMap((r) => [
  ...(r.steeredPplRatio !== null ? [{ concept: r.concept, condition: 'steered', ratio: r.steeredPplRatio }] : []),
  { concept: r.concept, condition: 'prompted', ratio: r.promptedPplRatio },
  ...(r.awayPplRatio !== null ? [{ concept: r.concept, condition: 'away', ratio: r.awayPplRatio }] : []),
]);
fs.writeFileSync(path.join(outDir, 'suite.svg'), await suiteSvg(`Concept suite (${modelName}): ${passCount}/${results.length} pass`, bars, ratios, PPL_LIMIT));
await scorer.dispose();
log(`${passCount}/${results.length} pass; wrote ${rel(path.join(outDir, 'results.json'))}, table.md, suite.svg (${duration(elapsed())})`);
