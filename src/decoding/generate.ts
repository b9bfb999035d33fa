import { InvalidInputError } from '../io/errors.js';
import type { Hook } from '../runtime/hooks.js';
import type { HookedModel } from '../runtime/model.js';
import { Sampler } from '../runtime/sampling.js';
import { type SamplingOptions } from '../runtime/sampling-options.js';
import { StopMatcher, StopSet } from '../runtime/stop.js';
import { guidedLogits } from './guidance.js';
import { Lockstep } from './lockstep.js';
import { NO_DECODING, type DecodingPlan } from './plan.js';
import { checkPlan, guideStream } from './runs.js';
import { ActivationTrack, rerankToken, selectBest } from './select.js';
import { markerStartTokens, specialStopTexts, tokensOfText } from './special-text.js';

export interface GenerateOptions extends SamplingOptions {
  /** New tokens at most (default 128). */
  readonly maxTokens?: number;
  /**
   * Strings that end generation (not included in the text, and the tokens that only spell
   * them are dropped from `tokens`).
   */
  readonly stop?: readonly string[];
  /**
   * Keep special-token text the model spells out as ordinary tokens (e.g. "<|end_story|>").
   * By default such a marker ends generation like a stop string, and no part of one is shown,
   * not even one cut off by maxTokens. Special token ids never decode to text either way.
   */
  readonly keepSpecialText?: boolean;
  /** Token ids that end generation (default: the model's EOS ids). */
  readonly stopTokens?: readonly number[];
  /** Hooks active on every forward of the generation (prompt and each new token). */
  readonly hooks?: readonly Hook[];
  /**
   * Streaming: called with each new piece of text of prompt `row`. With candidate selection
   * text arrives when a boundary fixes it.
   */
  readonly onText?: (delta: string, row: number) => void;
  /** Decode-time steering: processors, guidance runs, reranking, selection. */
  readonly decoding?: DecodingPlan;
  /**
   * A seed per prompt, instead of `seed`: prompt b samples with seeds[b] (its j-th selection
   * candidate with seeds[b] + j), so requests with unrelated seeds can share a batch.
   */
  readonly seeds?: readonly number[];
  /** Polled before every step: a prompt for which it returns true stops there ('cancelled'). */
  readonly cancelled?: (prompt: number) => boolean;
}

type FinishReason = 'stop' | 'length' | 'cancelled';

export interface GenerateResult {
  readonly text: string;
  readonly tokens: readonly number[];
  readonly promptTokens: readonly number[];
  readonly finishReason: FinishReason;
  /** With candidate selection: each candidate's final score and the index of the one returned. */
  readonly selection?: { readonly scores: readonly number[]; readonly chosen: number };
  /** Conditional steering: whether each condition read on the prompt holds (by condition id, `c{k}` for interventions.k). */
  readonly conditions?: Readonly<Record<string, boolean>>;
}

export const DEFAULT_MAX_TOKENS = 128;

/** Generates one continuation. A string prompt is encoded with the model's BOS rule. */
export async function generate(model: HookedModel, prompt: string | readonly number[], opts: GenerateOptions = {}): Promise<GenerateResult> {
  return (await generateBatch(model, [prompt], opts))[0];
}

/**
 * Generates continuations of several prompts in one batch (left-padded prefill, then one
 * token per row per step). Row r samples with seed + r, so a row's text does not depend on
 * the other rows. With `decoding`, guidance runs decode in lockstep with the main run, and
 * with candidate selection prompt b is decoded as rows b·k .. b·k+k−1 (seeds seed + b·k + j).
 */
export async function generateBatch(
  model: HookedModel,
  prompts: readonly (string | readonly number[])[],
  opts: GenerateOptions = {},
): Promise<GenerateResult[]> {
  if (prompts.length === 0) return [];
  const plan = opts.decoding ?? NO_DECODING;
  checkPlan(plan);
  const maxTokens = opts.maxTokens ?? DEFAULT_MAX_TOKENS;
  if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new InvalidInputError(`maxTokens must be a non-negative integer, got ${maxTokens}`);
  const promptIds = prompts.map((p) => (typeof p === 'string' ? model.encode(p) : [...p]));
  const longest = Math.max(...promptIds.map((p) => p.length));
  if (longest === 0) throw new InvalidInputError('prompt is empty (and the model adds no BOS token)');
  if (longest > model.spec.maxPositions) throw new InvalidInputError(`prompt of ${longest} tokens exceeds the model's context of ${model.spec.maxPositions}`);

  const k = plan.select?.candidates ?? 1;
  const rowPrompts = promptIds.flatMap((p) => new Array<number[]>(k).fill(p));
  const R = rowPrompts.length;
  const mainHooks = opts.hooks ?? [];
  const processors = [...(opts.processors ?? []), ...plan.processors];
  if (opts.seeds && opts.seeds.length !== prompts.length) throw new InvalidInputError(`seeds has ${opts.seeds.length} entries for ${prompts.length} prompts`);
  const seedOf = (r: number): number | undefined => (opts.seeds ? opts.seeds[Math.floor(r / k)] + (r % k) : opts.seed === undefined ? undefined : opts.seed + r);
  const samplers = rowPrompts.map((_, r) => new Sampler({ ...opts, processors, seed: seedOf(r) }));
  const guided = plan.terms.length > 0 || plan.cuts.length > 0;
  // Plain greedy decoding needs only each step's argmax, which the model computes itself: the
  // logits (a vocabulary of floats per row) then never leave ONNX Runtime.
  const argmaxOnly = plan.runs.length === 0 && !guided && !plan.rerank && samplers.every((s) => s.argmaxOnly);
  const lockstep = new Lockstep(
    [{ name: 'main', model, hooks: mainHooks, prompts: rowPrompts }, ...plan.runs.map((run) => guideStream(run, model, mainHooks, rowPrompts))],
    argmaxOnly ? 'argmax' : 'last',
  );
  const budget = Math.min(maxTokens, lockstep.room());
  if (budget < 0) throw new InvalidInputError(`a guidance run's prompt exceeds its model's context`);
  const stopTokens = new Set(opts.stopTokens ?? model.spec.eosTokenIds);

  const V = model.spec.vocabSize;
  // Each row's logits are copied here before the sampler edits them (rows take turns).
  const scratch = new Float32Array(argmaxOnly ? 0 : V);
  const generated: number[][] = rowPrompts.map(() => []);
  // Compiled once for every row: a tokenizer may bring thousands of special texts.
  const markers = opts.keepSpecialText ? [] : specialStopTexts(model);
  const stops = new StopSet(opts.stop ?? [], markers);
  const matchers = rowPrompts.map(() => new StopMatcher(stops));
  let endings: Set<number> | undefined; // for reranking, computed on first use (a pass over the vocabulary)
  const texts = rowPrompts.map(() => '');
  const finish: (FinishReason | undefined)[] = new Array(R).fill(undefined);
  // Activations the scorers read, captured on every forward of the main run.
  const selectBy = plan.select && plan.select.by !== 'perplexity' ? plan.select.by : undefined;
  const tracks = [...new Set([selectBy, plan.rerank?.scorer])].flatMap((s) => (s ? [new ActivationTrack(s, R)] : []));
  const selectTrack = tracks.find((t) => t.scorer === selectBy);
  const rerankTrack = tracks.find((t) => t.scorer === plan.rerank?.scorer);
  const capture = tracks.length > 0 ? tracks.map((t) => t.capture) : undefined;
  const rankings = new Map<number, number[]>();
  // Text already handed to onText, per prompt (selection holds text back until it is final).
  const streamed = promptIds.map(() => 0);
  const emit = (b: number, text: string): void => {
    if (text.length > streamed[b]) opts.onText?.(text.slice(streamed[b]), b);
    streamed[b] = Math.max(streamed[b], text.length);
  };
  /** Row r's next token from its logits (edited in place): sampled, or reranked by a scorer. */
  const chooseToken = async (r: number, logits: Float32Array): Promise<number> => {
    const history = [...rowPrompts[r], ...generated[r]];
    // While the model spells a marker, reranking stands aside and lets it finish the word.
    if (!plan.rerank || matchers[r].spellingMarker) return samplers[r].sample(logits, history);
    samplers[r].process(logits, history);
    endings ??= new Set([...stopTokens, ...markerStartTokens(model.tokenizer, V, markers)]);
    return rerankToken(lockstep, plan.rerank, rerankTrack!, r, logits, samplers[r], endings);
  };

  if (budget > 0) {
    await lockstep.prefill(capture);
    for (const t of tracks) t.update(lockstep, rowPrompts.map(() => true));
  }
  for (let step = 0; step < budget; step++) {
    const next: number[] = [];
    const fed = new Array<boolean>(R).fill(false);
    if (opts.cancelled) for (let r = 0; r < R; r++) if (!finish[r] && opts.cancelled(Math.floor(r / k))) finish[r] = 'cancelled';
    for (let r = 0; r < R; r++) {
      const last = generated[r].length > 0 ? generated[r][generated[r].length - 1] : rowPrompts[r][rowPrompts[r].length - 1];
      if (finish[r]) {
        next.push(last); // finished rows ride along; their outputs are ignored
        continue;
      }
      let id: number;
      if (argmaxOnly) {
        id = lockstep.argmax(r);
      } else {
        if (guided) guidedLogits(lockstep, plan.terms, plan.cuts, r, scratch);
        else scratch.set(lockstep.logits(0, r));
        id = await chooseToken(r, scratch);
      }
      if (stopTokens.has(id)) {
        finish[r] = 'stop';
        next.push(last);
        continue;
      }
      generated[r].push(id);
      fed[r] = true;
      const pushed = matchers[r].push(model.tokenizer.decode(generated[r]));
      texts[r] += pushed.emit;
      if (k === 1) emit(r, texts[r]);
      if (pushed.stopped) finish[r] = 'stop';
      next.push(id);
    }
    const done = finish.every((f) => f) || step === budget - 1;
    // A final selection by a scorer reads the newest token's activation: one more forward.
    if (done && !selectTrack) break;
    await lockstep.advance(next, capture);
    for (const t of tracks) t.update(lockstep, fed);
    if (done) break;
    if (k > 1 && plan.select?.every && (step + 1) % plan.select.every === 0) {
      const source = await selectBest(model, plan.select, selectTrack, rowPrompts, generated, finish, k, false, rankings);
      if (source.some((src, r) => src !== r)) {
        lockstep.selectRows(source);
        for (const t of tracks) t.permute(source);
        const copy = source.map((src) => ({ tokens: generated[src].slice(), finish: finish[src] }));
        source.forEach((_, r) => {
          generated[r] = copy[r].tokens;
          finish[r] = copy[r].finish;
          // Replaying the chosen text through a fresh matcher restores its state exactly.
          matchers[r] = new StopMatcher(stops);
          texts[r] = matchers[r].push(model.tokenizer.decode(generated[r])).emit;
        });
      }
      // A prompt whose rows now all hold one text has that text fixed.
      for (let b = 0; b < promptIds.length; b++) {
        if (source.slice(b * k, (b + 1) * k).every((src) => src === source[b * k])) emit(b, texts[b * k]);
      }
    }
  }

  for (let r = 0; r < R; r++) {
    // Held-back text is final now (after a stop string, flush gives nothing; a cut-off marker is dropped).
    texts[r] += matchers[r].flush();
    // The tokens spell the text: those of a stop string or a cut-off marker are dropped.
    generated[r] = tokensOfText(model.tokenizer, generated[r], texts[r].length);
  }
  const gates = lockstep.conditions();
  const chosen = k > 1 ? await selectBest(model, plan.select!, selectTrack, rowPrompts, generated, finish, k, true, rankings) : undefined;
  return promptIds.map((p, b) => {
    const r = chosen ? chosen[b * k] : b;
    emit(b, texts[r]);
    const selection = chosen ? { scores: rankings.get(b) ?? [], chosen: r - b * k } : undefined;
    const held = [...gates].map(([id, gate]) => [id, gate[r] === 1] as const);
    return { text: texts[r], tokens: generated[r], promptTokens: p, finishReason: finish[r] ?? 'length', ...(selection ? { selection } : {}), ...(held.length ? { conditions: Object.fromEntries(held) } : {}) };
  });
}
