import { z } from 'zod/v4';
import { InvalidInputError } from '../io/errors.js';
import type { LogitsProcessor } from '../runtime/logits-processor.js';
import type { HookedModel } from '../runtime/model.js';
import type { LinearProbe } from '../probes/probe.js';
import type { GuidanceTerm, PlausibilityCut } from './guidance.js';
import { phraseTokenSequences } from './phrases.js';
import type { DecodingPlan, GuideRun, Selection, TokenRerank } from './plan.js';
import { probeScorer } from './probe-scorer.js';
import { BanSequences, FrequencyPresencePenalty, PhraseBias, RepetitionPenalty } from './processors.js';
import { alignVocabularies } from './vocab-align.js';
import { nonNegativeInt as int } from '../util/schemas.js';

/**
 * The steering spec's `decoding` section: decode-time steering, composable with the
 * activation interventions of the same spec.
 *
 * "decoding": {
 *   "processors": [ { "type": "bias", "text": "sad", "bias": 3 }, { "type": "ban", "text": ["scary"] },
 *                   { "type": "repetition", "penalty": 1.2 }, { "type": "frequency", "frequency": 0.3 } ],
 *   "contrast": { "alpha": 2, "plausibility": 0.1 },          // steered vs unsteered (or another prompt)
 *   "cfg": { "scale": 1.5, "negativePrompt": "A happy story." },
 *   "guide": { "expert": "small-tuned/", "base": "small/", "alpha": 1 },   // proxy-tuning
 *   "rerank": { "probe": "sad.probe.safetensors", "topK": 8, "weight": 1 },
 *   "select": { "candidates": 4, "every": 16, "by": "perplexity" }
 * }
 */

/** Phrases are tokenized when the spec compiles: each is short, and all of them together are bounded. */
const MAX_PHRASE_CHARS = 256;
const MAX_DECODING_TEXT_CHARS = 1 << 16;
const phrase = z.string().min(1).max(MAX_PHRASE_CHARS);
const texts = z.union([phrase, z.array(phrase).min(1).max(1024)]);
const promptText = z.string().max(MAX_DECODING_TEXT_CHARS);
const tokenSeqs = z.union([z.array(int).min(1).max(64), z.array(z.array(int).min(1).max(64)).min(1).max(1024)]);
const window = z.number().int().positive().optional().describe('only the last N tokens count (default: all)');

const ProcessorSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('bias'),
      text: texts.optional().describe('words or phrases; each is biased as spelled at the start of a text and after a space'),
      tokens: tokenSeqs.optional().describe('a token id sequence, or several'),
      bias: z.number().describe('added to the logits of the phrase tokens (see PhraseBias)'),
    })
    .strict(),
  z
    .object({
      type: z.literal('ban'),
      text: texts.optional(),
      tokens: tokenSeqs.optional(),
    })
    .strict(),
  z.object({ type: z.literal('repetition'), penalty: z.number().positive(), window }).strict(),
  z.object({ type: z.literal('frequency'), frequency: z.number().default(0), presence: z.number().default(0), window }).strict(),
]);

const ProbeRefSchema = z
  .object({
    probe: z.string().min(1).max(4096).describe('a probe file from `steerer probe train` (relative to the spec)'),
    layer: int.optional().describe("default: the probe's best cross-validated layer"),
    class: z.string().min(1).max(256).optional().describe('the class to favour (default: the positive / last class)'),
  })
  .strict();

export const DecodingSchema = z
  .object({
    processors: z.array(ProcessorSchema).max(64).default([]),
    contrast: z
      .object({
        alpha: z.number().describe('logits = amateur + alpha · (expert − amateur); 1 = the expert alone'),
        plausibility: z.number().min(0).max(1).default(0.1).describe('keep tokens with p ≥ plausibility · p_max under `cutUnder`; 0 = no cut'),
        cutUnder: z.enum(['expert', 'amateur']).default('expert'),
        amateur: z
          .object({
            prompt: promptText.optional().describe("the amateur's prompt (default: the same prompt)"),
            steered: z.boolean().default(false).describe("whether the amateur keeps the spec's activation steering"),
          })
          .strict()
          .default({ steered: false }),
      })
      .strict()
      .optional(),
    cfg: z
      .object({
        scale: z.number().describe('logits = negative + scale · (prompt − negative); 1 = off'),
        negativePrompt: promptText.default('').describe("empty: the prompt's last token alone (or BOS)"),
      })
      .strict()
      .optional(),
    guide: z
      .object({
        expert: z.string().min(1).max(4096).describe('model path of the tuned small model'),
        base: z.string().min(1).max(4096).describe('model path of its untuned base'),
        alpha: z.number().default(1).describe('logits = target + alpha · (expert − base)'),
      })
      .strict()
      .optional(),
    rerank: ProbeRefSchema.extend({
      topK: z.number().int().min(2).max(64).default(8),
      weight: z.number().default(1).describe('draw from log p + weight · probe score'),
    })
      .strict()
      .optional(),
    select: z
      .object({
        candidates: z.number().int().min(2).max(64),
        every: z.number().int().positive().optional().describe('re-select every N tokens (default: once, at the end: best-of-N)'),
        by: z.union([z.literal('perplexity'), ProbeRefSchema]).default('perplexity'),
      })
      .strict()
      .optional(),
  })
  .strict()
  .refine((d) => decodingTextChars(d) <= MAX_DECODING_TEXT_CHARS, { message: `the decoding section's phrases and prompts have more than ${MAX_DECODING_TEXT_CHARS} characters together` });

/** Characters the compiler will tokenize: every phrase and prompt of the section. */
function decodingTextChars(d: { processors: readonly object[]; contrast?: { amateur: { prompt?: string } }; cfg?: { negativePrompt: string } }): number {
  let n = (d.contrast?.amateur.prompt?.length ?? 0) + (d.cfg?.negativePrompt.length ?? 0);
  for (const p of d.processors) {
    const text = 'text' in p ? (p.text as string | readonly string[] | undefined) : undefined;
    if (typeof text === 'string') n += text.length;
    else if (text) for (const t of text) n += t.length;
  }
  return n;
}

export type DecodingSpec = z.output<typeof DecodingSchema>;
type ProcessorSpec = z.output<typeof ProcessorSchema>;

/** What compileDecoding needs to turn references into models and probes. */
export interface DecodingResolver {
  model?(ref: string): HookedModel;
  probe?(ref: string): LinearProbe;
}

/** Compiles a `decoding` section for `model` (the main, possibly activation-steered, model). */
export function compileDecoding(spec: DecodingSpec, model: HookedModel, resolve: DecodingResolver): DecodingPlan {
  const processors = spec.processors.map((p, i) => compileProcessor(p, model, `decoding.processors.${i}`));
  const runs: GuideRun[] = [];
  const terms: GuidanceTerm[] = [];
  const cuts: PlausibilityCut[] = [];
  const addRun = (run: GuideRun): number => runs.push(run); // run indices start at 1 (0 = main)

  if (spec.contrast) {
    const c = spec.contrast;
    const amateur = addRun({ name: 'contrast amateur', hooks: c.amateur.steered ? 'main' : [], prompt: c.amateur.prompt });
    terms.push({ name: 'contrast', weight: c.alpha - 1, plus: 0, minus: amateur });
    if (c.plausibility > 0) cuts.push({ stream: c.cutUnder === 'expert' ? 0 : amateur, beta: c.plausibility });
  }
  if (spec.cfg) {
    const negative = addRun({ name: 'cfg negative prompt', hooks: 'main', prompt: spec.cfg.negativePrompt });
    terms.push({ name: 'cfg', weight: spec.cfg.scale - 1, plus: 0, minus: negative });
  }
  if (spec.guide) {
    const g = spec.guide;
    if (!resolve.model) throw new InvalidInputError('decoding.guide needs model files, which this caller cannot load');
    const expertModel = resolve.model(g.expert);
    const baseModel = resolve.model(g.base);
    // Fail before decoding when the vocabularies cannot be lined up.
    alignVocabularies(model, expertModel, `decoding.guide.expert (${g.expert})`);
    alignVocabularies(model, baseModel, `decoding.guide.base (${g.base})`);
    const expert = addRun({ name: 'guide expert', model: expertModel, hooks: [] });
    const base = addRun({ name: 'guide base', model: baseModel, hooks: [] });
    terms.push({ name: 'guide', weight: g.alpha, plus: expert, minus: base });
  }
  let rerank: TokenRerank | undefined;
  if (spec.rerank) {
    const r = spec.rerank;
    rerank = { scorer: probeScorer(loadProbeRef(resolve, r.probe, 'decoding.rerank'), model, r.layer, r.class), topK: r.topK, weight: r.weight };
  }
  let select: Selection | undefined;
  if (spec.select) {
    const s = spec.select;
    const by = s.by === 'perplexity' ? 'perplexity' : probeScorer(loadProbeRef(resolve, s.by.probe, 'decoding.select'), model, s.by.layer, s.by.class);
    select = { candidates: s.candidates, every: s.every, by };
  }
  return { processors, runs, terms, cuts, rerank, select };
}

function loadProbeRef(resolve: DecodingResolver, ref: string, where: string): LinearProbe {
  if (!resolve.probe) throw new InvalidInputError(`${where} needs a probe file, which this caller cannot load`);
  return resolve.probe(ref);
}

function compileProcessor(p: ProcessorSpec, model: HookedModel, where: string): LogitsProcessor {
  switch (p.type) {
    case 'bias':
      return new PhraseBias(sequencesOf(p, model, where).map((tokens) => ({ tokens, bias: p.bias })));
    case 'ban':
      return new BanSequences(sequencesOf(p, model, where));
    case 'repetition':
      return new RepetitionPenalty(p.penalty, p.window);
    case 'frequency':
      return new FrequencyPresencePenalty(p.frequency, p.presence, p.window);
  }
}

/** The token sequences a bias/ban names, by text and by id, checked against the vocabulary. */
function sequencesOf(p: { text?: string | string[]; tokens?: number[] | number[][] }, model: HookedModel, where: string): number[][] {
  if (p.text === undefined && p.tokens === undefined) throw new InvalidInputError(`${where}: give "text" or "tokens"`);
  const seqs: number[][] = [];
  for (const t of p.text === undefined ? [] : typeof p.text === 'string' ? [p.text] : p.text) seqs.push(...phraseTokenSequences(model.tokenizer, t));
  if (p.tokens !== undefined) {
    const list = typeof p.tokens[0] === 'number' ? [p.tokens as number[]] : (p.tokens as number[][]);
    for (const seq of list) {
      for (const id of seq) if (id >= model.spec.vocabSize) throw new InvalidInputError(`${where}: token ${id} is outside the vocabulary (0..${model.spec.vocabSize - 1})`);
      seqs.push(seq);
    }
  }
  return seqs;
}
