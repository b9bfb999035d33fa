import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod/v4';
import { createConceptVector, type PipelineStage } from '../../auto/concept-vector.js';
import { DEFAULT_RULE, STRENGTH_RULES } from '../../auto/strength-choice.js';
import { conceptDatasetText } from '../../concept/concept-data.js';
import { lexiconFileText } from '../../concept/lexicon.js';
import { HOOK_SITES } from '../../graph/hook-points.js';
import { diagnosticsSeries, diagnosticsSvg, strengthSvg } from '../../report/vector-plots.js';
import { SPEC_LIMITS } from '../../steering/spec.js';
import type { SteeringVector } from '../../steering/vector.js';
import { callerOf } from '../access.js';
import type { ServerContext } from '../context.js';
import { HttpError, parseBody } from '../http-error.js';
import type { LibraryChoice } from '../vector-library.js';
import { checkVectorName, type VectorInfo } from '../vector-registry.js';
import { nonNegativeInt as int } from '../../util/schemas.js';

/**
 * The vector registry over HTTP, the one-click pipeline as a background job, and per-vector
 * plots. Each request works on its caller's view (own vectors first, then shared; see
 * vector-library.ts): new vectors go to the caller's own library when users are configured.
 */

const Name = z.string().min(1).max(64);

const FileUpload = z
  .object({
    name: Name,
    description: z.string().max(2000).optional(),
    overwrite: z.boolean().optional(),
    safetensors: z.string().min(1).regex(/^[A-Za-z0-9+/\r\n]*={0,2}\s*$/, 'must be base64'),
  })
  .strict();

const InlineUpload = z
  .object({
    name: Name,
    description: z.string().max(2000).optional(),
    overwrite: z.boolean().optional(),
    site: z.enum(HOOK_SITES).default('resid_post'),
    directions: z.record(z.string().regex(/^\d{1,4}$/, 'keys are layer numbers'), z.array(z.number()).min(1).max(SPEC_LIMITS.hiddenSize)),
    recommended: z
      .object({
        layers: z.array(int.max(SPEC_LIMITS.layers - 1)).min(1).max(SPEC_LIMITS.layers).optional(),
        coefficient: z.number().min(-SPEC_LIMITS.coefficient).max(SPEC_LIMITS.coefficient).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

const CreateBody = z
  .object({
    name: Name,
    concept: z.string().trim().min(1).max(300),
    neutral: z.string().trim().min(1).max(300).optional(),
    words: z.array(z.string().trim().min(1).max(64)).min(1).max(200).optional().describe("the concept's words (extend WordNet's)"),
    away: z.boolean().default(false).describe('recommend a negative strength that removes the concept'),
    rule: z.enum(STRENGTH_RULES).default(DEFAULT_RULE.kind),
    count: z.number().int().min(4).max(512).default(48),
    layer: z.union([z.literal('auto'), int]).default('auto'),
    coefficient: z.union([z.literal('auto'), z.number().min(-SPEC_LIMITS.coefficient).max(SPEC_LIMITS.coefficient)]).default('auto'),
    method: z.enum(['diffmean', 'pca_diff', 'pca_center', 'probe']).default('diffmean'),
    seed: int.default(0),
    description: z.string().max(2000).optional(),
    overwrite: z.boolean().optional(),
  })
  .strict();

const STAGES: readonly PipelineStage[] = ['data', 'activations', 'layers', 'strength'];

/** `?library=own|shared`: which of the caller's libraries a name is looked up in (default: own, then shared). */
const LibraryQuery = z.object({ library: z.enum(['own', 'shared']).optional() }).strict();

export function libraryChoice(query: unknown): LibraryChoice | undefined {
  return parseBody(LibraryQuery, query ?? {}, 'query').library;
}

export function vectorRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const view = (req: FastifyRequest) => ctx.library.view(callerOf(req));

  app.get('/v1/vectors', async (req) => ({ object: 'list', data: view(req).list() }));

  app.get<{ Params: { name: string } }>('/v1/vectors/:name', async (req) => view(req).info(req.params.name, libraryChoice(req.query)));

  app.get<{ Params: { name: string; kind: string } }>('/v1/vectors/:name/plot/:kind', async (req, reply) => {
    const info = view(req).info(req.params.name, libraryChoice(req.query));
    const svg = await plotSvg(info, req.params.kind);
    return reply.type('image/svg+xml').send(svg);
  });

  app.post('/v1/vectors', async (req, reply) => {
    const registry = view(req).target;
    const body = req.body as Record<string, unknown> | undefined;
    const isFile = body !== null && typeof body === 'object' && 'safetensors' in body;
    let info: VectorInfo;
    if (isFile) {
      const up = parseBody(FileUpload, body, 'vector upload');
      info = registry.addFile(up.name, Buffer.from(up.safetensors, 'base64'), up.overwrite, up.description);
    } else {
      const up = parseBody(InlineUpload, body, 'vector upload');
      checkVectorName(up.name);
      const directions = new Map(Object.entries(up.directions).map(([l, d]) => [Number(l), Float32Array.from(d)] as [number, Float32Array]));
      const vector: SteeringVector = {
        directions,
        meta: {
          format: 'steerer.vector/v1',
          model: { name: ctx.modelId, architecture: ctx.model.spec.architecture, hiddenSize: ctx.model.spec.hiddenSize, numLayers: ctx.model.spec.numLayers },
          method: 'imported',
          site: up.site,
          createdAt: new Date().toISOString(),
          ...(up.description ? { description: up.description } : {}),
          ...(up.recommended ? { recommended: up.recommended } : {}),
        },
      };
      info = registry.add(up.name, vector, up.overwrite);
    }
    return reply.code(201).send({ ...info, owner: registry.owner === '' ? null : registry.owner });
  });

  app.delete<{ Params: { name: string } }>('/v1/vectors/:name', async (req) => {
    view(req).remove(req.params.name);
    return { deleted: req.params.name };
  });

  app.post('/v1/vectors/create', async (req, reply) => {
    const caller = callerOf(req);
    const registry = ctx.library.view(caller).target;
    const body = parseBody(CreateBody, req.body, 'vector creation');
    checkVectorName(body.name);
    if (!body.overwrite && registry.has(body.name)) throw new HttpError(409, `a vector named "${body.name}" exists; pick another name or pass "overwrite": true`, 'name_taken', 'name');
    if (body.layer !== 'auto' && body.layer >= ctx.model.spec.numLayers) {
      throw new HttpError(400, `layer ${body.layer} does not exist: the model has layers 0..${ctx.model.spec.numLayers - 1}`, 'invalid_layer', 'layer');
    }
    const job = ctx.jobs.submit('vector.create', body, async (report) => {
      const result = await createConceptVector(ctx.jobModel, {
        concept: body.concept,
        neutral: body.neutral,
        words: body.words,
        direction: body.away ? 'away' : 'toward',
        rule: { kind: body.rule },
        count: body.count,
        layer: body.layer,
        coefficient: body.coefficient,
        method: body.method,
        seed: body.seed,
        onStage: (stage, done, total) => {
          const k = STAGES.indexOf(stage);
          report(stage, done, total, (k + (total > 0 ? done / total : 0)) / STAGES.length);
        },
      });
      const vector = body.description ? { ...result.vector, meta: { ...result.vector.meta, description: body.description } } : result.vector;
      // The data and lexicon go beside the vector, as `vector create --concept` writes them, so its bundle carries them.
      const beside = [
        { suffix: '.data.json', bytes: Buffer.from(conceptDatasetText(result.dataset)) },
        { suffix: '.lexicon.json', bytes: Buffer.from(lexiconFileText(result.lexicon)) },
      ];
      // Someone may have taken the name while the job ran: the request's own overwrite rule decides.
      const info = registry.add(body.name, vector, body.overwrite, beside);
      const s = result.selection;
      return { vector: info.name, kind: s.kind, layer: s.layer, layers: s.layers, coefficient: s.coefficient, reached: s.strength?.reached ?? null, explanation: s.strength?.explanation ?? [], examples: result.examples.slice(0, 3) };
    }, caller ?? '');
    return reply.code(202).send(job);
  });
}

async function plotSvg(info: VectorInfo, kind: string): Promise<string> {
  if (kind === 'diagnostics.svg') {
    const series = diagnosticsSeries(info.diagnostics ?? []);
    if (series.length === 0) throw new HttpError(404, `vector "${info.name}" has no per-layer diagnostics to plot`, 'no_plot');
    return diagnosticsSvg(`${info.name}: separation by layer`, series);
  }
  if (kind === 'strength.svg') {
    const curve = info.auto?.strength?.curve ?? [];
    if (curve.length === 0) throw new HttpError(404, `vector "${info.name}" has no strength curve (only vectors made by /v1/vectors/create have one)`, 'no_plot');
    return strengthSvg(`${info.name}: concept score and coherence cost by strength (chosen ${info.auto!.coefficient.toFixed(2)})`, curve);
  }
  throw new HttpError(404, `no plot "${kind}": use diagnostics.svg or strength.svg`, 'no_plot');
}
