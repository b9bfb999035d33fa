import { z } from 'zod/v4';
import { nonNegativeInt as int } from '../util/schemas.js';

/**
 * The steering spec's `choose` section: the model (or a policy) picks which vector to apply.
 *
 * "choose": {
 *   "mode": "tools",                      // chat models: the vectors offered as a `steer` tool
 *   "vectors": [ { "vector": "sad.safetensors", "name": "sad", "concept": "sadness" } ],
 *   "maxStrength": 2, "maxCalls": 4, "format": "template"
 * }
 * "choose": {
 *   "mode": "probe",                      // any model: per turn, the vector whose probe reads
 *   "candidates": [                       // furthest below its target on the prompt
 *     { "vector": "sad.safetensors", "probe": "sad.probe.safetensors", "class": "sad", "target": 0.6 }
 *   ]
 * }
 *
 * Tools mode (./choose-tools.ts): the model calls steer({"vector", "strength"}); strength 1 is
 * the vector's coefficient (given, else its recommended one, else 1), bounded by maxStrength.
 * The vector applies from the token after the call on, for the rest of the reply.
 * Probe mode (./choose-probe.ts): the chosen vector applies to the whole turn.
 * Bounds repeat SPEC_LIMITS (./spec.ts imports this file, so it cannot import them).
 */

/** What the model calls a vector: a short identifier (it appears in a JSON-schema enum). */
export const CHOICE_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

const layer = int.max(4095);
const coefficient = z.number().min(-1e6).max(1e6);

const choiceVector = {
  vector: z.string().min(1).max(4096).describe('a vector file (relative to the spec) or, over HTTP, a registry name'),
  name: z.string().regex(CHOICE_NAME, 'names start with a letter: letters, digits, "_", "-", "."').optional().describe('what the model and reports call it (default: the file name without folder and extension)'),
  concept: z.string().min(1).max(200).optional().describe("what it steers toward, as the model is told (default: the vector's recorded concept or description)"),
  layers: z.union([z.literal('recommended'), z.literal('all'), layer, z.array(layer).min(1).max(4096)]).default('recommended'),
  coefficient: z.union([coefficient, z.literal('recommended')]).optional().describe("the coefficient at strength 1 (default: the vector's recommended one, else 1)"),
};

const ToolsChoiceSchema = z
  .object({
    mode: z.literal('tools'),
    vectors: z.array(z.object(choiceVector).strict()).min(1).max(32),
    maxStrength: z.number().positive().max(100).default(2).describe('strengths above this are refused (the call is ignored and the model told why)'),
    maxCalls: z.number().int().min(1).max(16).default(4).describe('calls per reply that are read (valid or not); later ones are ignored, with the reason told to the model'),
    format: z
      .enum(['template', 'system'])
      .default('template')
      .describe("template: the chat template's own tool format where it has one, else a system message; system: always the system message"),
  })
  .strict();

const ProbeChoiceSchema = z
  .object({
    mode: z.literal('probe'),
    candidates: z
      .array(
        z
          .object({
            ...choiceVector,
            probe: z.string().min(1).max(4096).describe('a probe file from `steerer probe train` (relative to the spec; over HTTP a name under probes/)'),
            probeLayer: int.max(4095).optional().describe("the layer the probe is read at (default: its best cross-validated layer)"),
            class: z.string().min(1).max(256).optional().describe('the class whose probability is held up (default: the positive / last class)'),
            target: z.number().min(-1e6).max(1e6).describe("the level wanted: a probability for a classifier probe, the predicted value for a regression probe"),
          })
          .strict(),
      )
      .min(1)
      .max(32),
  })
  .strict();

export const ChooseSchema = z.discriminatedUnion('mode', [ToolsChoiceSchema, ProbeChoiceSchema]);

export type ChooseSpec = z.output<typeof ChooseSchema>;
export type ToolsChoice = z.output<typeof ToolsChoiceSchema>;
export type ProbeChoice = z.output<typeof ProbeChoiceSchema>;
export type ChoiceVector = ToolsChoice['vectors'][number];
