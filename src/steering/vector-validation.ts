/**
 * What a valid steering vector is: the VectorMeta schema (the one place that says what valid
 * metadata is, for saving and loading) and the consistency checks on a whole vector. Kept apart
 * from the file formats (vector-file.ts) so in-memory vector code can check vectors without them.
 */
import { z } from 'zod/v4';
import type { AutoSelection } from './auto-record.js';
import { HOOK_SITES } from '../graph/hook-points.js';
import { InvalidInputError } from '../io/errors.js';
import type { SteeringVector, VectorMeta } from './vector.js';
import { nonNegativeInt as nonNegInt, positiveInt } from '../util/schemas.js';

export const VECTOR_FORMAT = 'steerer.vector/v1';

// ---------------------------------------------------------------------------------------------
// Metadata schema

const MetaSchema = z
  .object({
    format: z.literal(VECTOR_FORMAT),
    model: z.object({
      name: z.string(),
      architecture: z.string(),
      hiddenSize: positiveInt,
      numLayers: positiveInt,
    }),
    method: z.enum(['diffmean', 'pca_diff', 'pca_center', 'probe', 'imported', 'combined']),
    site: z.enum(HOOK_SITES),
    readPosition: z.enum(['last', 'mean', 'answer', 'all']).optional(),
    dataset: z.object({ source: z.string(), size: nonNegInt, hash: z.string() }).optional(),
    // zod v4's z.number() already refuses NaN and ±Infinity, which JSON could not hold anyway.
    diagnostics: z
      .array(z.object({
        layer: nonNegInt,
        accuracy: z.number().nullable(),
        auroc: z.number().nullable(),
        fisher: z.number().nullable(),
        relativeNorm: z.number().nullable(),
        heldOut: nonNegInt,
      }))
      .optional(),
    recommended: z.object({ layers: z.array(nonNegInt).optional(), coefficient: z.number().optional() }).optional(),
    createdAt: z.string(),
    description: z.string().optional(),
    // Written by the pipeline and only read back for reports: checked as an object, kept as is.
    auto: z.custom<AutoSelection>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'expected an object').optional(),
    adoptions: z
      .array(z.object({
        source: z.literal('human ratings'),
        coefficient: z.number(),
        previous: z.number().nullable(),
        ratings: nonNegInt,
        interval: z.tuple([z.number(), z.number()]),
        dimension: z.string(),
        adoptedAt: z.string(),
      }))
      .optional(),
    condition: z
      .object({
        layer: nonNegInt,
        read: z.enum(['prompt', 'token', 'running']),
        reduce: z.enum(['last', 'mean']),
        measure: z.enum(['cosine', 'projection']),
        threshold: z.number(),
        compare: z.enum(['above', 'below']),
        fit: z
          .object({
            folds: nonNegInt,
            positives: nonNegInt,
            negatives: nonNegInt,
            layers: z.array(z.object({ layer: nonNegInt, f1: z.number(), precision: z.number(), recall: z.number(), accuracy: z.number() })),
          })
          .optional(),
      })
      .optional(),
  })
  // Unknown keys from a newer writer are kept rather than silently dropped on load → save.
  .loose();

// Compile-time guard: whatever the schema accepts must be a VectorMeta.
const asMeta = (m: z.infer<typeof MetaSchema>): VectorMeta => m;

function describeIssue(issue: { readonly path: readonly PropertyKey[]; readonly message: string }): string {
  const where = issue.path.length > 0 ? `meta.${issue.path.map(String).join('.')}` : 'meta';
  return `${where}: ${issue.message}`;
}

/**
 * Check JSON metadata against the schema: the VectorMeta, or the first problem as
 * "meta.<path>: <message>".
 */
export function parseVectorMeta(json: unknown): { readonly ok: true; readonly meta: VectorMeta } | { readonly ok: false; readonly problem: string } {
  const parsed = MetaSchema.safeParse(json);
  return parsed.success ? { ok: true, meta: asMeta(parsed.data) } : { ok: false, problem: describeIssue(parsed.error.issues[0]) };
}

function layersText(layers: Iterable<number>): string {
  const list = [...layers].sort((a, b) => a - b);
  return list.length === 0 ? 'none' : list.join(', ');
}

/** Index of the first NaN or ±Infinity in `values`, or -1 when all are finite. */
export function firstNonFinite(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) return i;
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------
// Validation

/**
 * Check a vector is self-consistent: valid meta, at least one direction, integer layers in
 * 0..numLayers-1, every direction and mean of length hiddenSize with finite values, means only
 * for layers that have a direction, recommended layers among the directions.
 */
export function validateVector(v: SteeringVector): void {
  const fail = (problem: string): never => { throw new InvalidInputError(`invalid steering vector: ${problem}`); };
  const parsed = parseVectorMeta(v.meta);
  if (!parsed.ok) fail(parsed.problem);
  const { hiddenSize, numLayers } = v.meta.model;
  if (v.directions.size === 0) fail('it has no directions');
  const checkLayer = (layer: number, what: string): void => {
    if (!Number.isInteger(layer) || layer < 0 || layer >= numLayers) {
      fail(`${what} is for layer ${layer}, but the model (${v.meta.model.name}) has layers 0..${numLayers - 1}`);
    }
  };
  const checkValues = (values: Float32Array, what: string): void => {
    if (!(values instanceof Float32Array)) fail(`${what} is not a Float32Array`);
    if (values.length !== hiddenSize) fail(`${what} has ${values.length} values but the model's hidden size is ${hiddenSize}`);
    const bad = firstNonFinite(values);
    if (bad >= 0) fail(`${what} has a non-finite value (${values[bad]}) at index ${bad}`);
  };
  for (const [layer, d] of v.directions) {
    checkLayer(layer, `a direction`);
    checkValues(d, `direction for layer ${layer}`);
  }
  for (const [layer, m] of v.means ?? []) {
    checkLayer(layer, `a mean`);
    if (!v.directions.has(layer)) fail(`there is a mean for layer ${layer} but no direction (directions: ${layersText(v.directions.keys())})`);
    checkValues(m, `mean for layer ${layer}`);
  }
  const conditionLayer = v.meta.condition?.layer;
  if (conditionLayer !== undefined && !v.directions.has(conditionLayer)) fail(`the condition is read at layer ${conditionLayer}, which has no direction (directions: ${layersText(v.directions.keys())})`);
  for (const layer of v.meta.recommended?.layers ?? []) {
    if (!v.directions.has(layer)) fail(`recommended layer ${layer} has no direction (directions: ${layersText(v.directions.keys())})`);
  }
}

/**
 * Check the vector can be used on a model: same hidden size, and every requested layer (all of
 * the vector's layers when none are given) has a direction and exists in the model.
 */
export function checkVectorFits(v: SteeringVector, model: { hiddenSize: number; numLayers: number }, layers?: readonly number[]): void {
  const hidden = v.meta.model.hiddenSize;
  if (hidden !== model.hiddenSize) {
    throw new InvalidInputError(`vector has hidden size ${hidden} but the model's is ${model.hiddenSize}`);
  }
  for (const layer of layers ?? [...v.directions.keys()]) {
    if (!Number.isInteger(layer) || layer < 0 || layer >= model.numLayers) {
      throw new InvalidInputError(`layer ${layer} does not exist: the model has layers 0..${model.numLayers - 1}`);
    }
    if (!v.directions.has(layer)) {
      throw new InvalidInputError(`vector has no direction for layer ${layer} (it has layers ${layersText(v.directions.keys())})`);
    }
  }
}
