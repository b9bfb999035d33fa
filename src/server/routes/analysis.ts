import type { FastifyInstance } from 'fastify';
import { z } from 'zod/v4';
import { HOOK_SITES, hookName } from '../../graph/hook-points.js';
import { collectActivations } from '../../runtime/activations.js';
import { scoreTokens } from '../../runtime/score.js';
import { callerOf } from '../access.js';
import type { ServerContext } from '../context.js';
import { clientSignal } from '../client-signal.js';
import { HttpError, parseBody } from '../http-error.js';
import { promptBodyLimit } from '../context.js';
import { checkPromptChars } from '../prompt-size.js';

/** Looking inside over HTTP: per-token log-probs (/v1/score) and hidden states (/v1/activations), steered or not. */

const Input = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

const ScoreBody = z.object({ input: Input, steering: z.unknown().optional() }).strict();

const ActivationsBody = z
  .object({
    input: Input,
    layers: z.union([z.literal('all'), z.array(z.number().int().nonnegative().max(4095)).min(1).max(4096)]),
    site: z.enum(HOOK_SITES).default('resid_post'),
    positions: z.enum(['all', 'last', 'mean']).default('all'),
    steering: z.unknown().optional(),
  })
  .strict();

export function analysisRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { model } = ctx;
  const texts = (input: string | string[]): string[] => {
    const list = typeof input === 'string' ? [input] : input;
    if (list.length > ctx.limits.maxInputs) throw new HttpError(400, `${list.length} inputs; at most ${ctx.limits.maxInputs} per request`, 'too_many_inputs', 'input');
    checkPromptChars(ctx, list, 'input');
    return list;
  };
  const encode = (list: readonly string[]): number[][] =>
    list.map((t, i) => {
      const ids = model.encode(t);
      if (ids.length > model.spec.maxPositions) throw new HttpError(400, `input ${i} has ${ids.length} tokens; the model's context is ${model.spec.maxPositions}`, 'context_length_exceeded', 'input');
      return ids;
    });
  const pieces = (ids: readonly number[]): string[] => ids.map((id) => model.tokenizer.idToToken(id) ?? '');

  const bodyLimit = promptBodyLimit(ctx.limits, ctx.limits.maxPromptChars, model.spec);
  app.post('/v1/score', { bodyLimit }, async (req, reply) => {
    const body = parseBody(ScoreBody, req.body, 'score');
    const ids = encode(texts(body.input));
    const steering = ctx.steering.compile(body.steering, callerOf(req));
    ids.forEach((t, i) => {
      if (t.length < 2) throw new HttpError(400, `input ${i} has ${t.length} token; scoring needs at least two`, 'input_too_short', 'input');
    });
    const signal = clientSignal(req, reply);
    const data = await ctx.scheduler.exclusive(async () => {
      const out = [];
      for (const [index, t] of ids.entries()) {
        const { logprobs } = await scoreTokens(model, t, { hooks: steering.compiled.hooks });
        const nll = -logprobs.reduce((s, x) => s + x, 0) / logprobs.length;
        out.push({ index, ids: t, tokens: pieces(t), logprobs: [...logprobs], nll, perplexity: Math.exp(nll) });
      }
      return out;
    }, signal);
    return { object: 'list', model: ctx.modelId, data };
  });

  app.post('/v1/activations', { bodyLimit }, async (req, reply) => {
    const body = parseBody(ActivationsBody, req.body, 'activations');
    const list = texts(body.input);
    const ids = encode(list);
    const layers = body.layers === 'all' ? Array.from({ length: model.spec.numLayers }, (_, l) => l) : [...new Set(body.layers)].sort((a, b) => a - b);
    for (const l of layers) {
      if (l >= model.spec.numLayers) throw new HttpError(400, `layer ${l} does not exist: the model has layers 0..${model.spec.numLayers - 1}`, 'invalid_layer', 'layers');
    }
    const rows = body.positions === 'all' ? ids.reduce((s, t) => s + t.length, 0) : ids.length;
    const floats = rows * layers.length * model.spec.hiddenSize;
    if (floats > ctx.limits.maxActivationFloats) {
      throw new HttpError(413, `the response would hold ${floats} floats (limit ${ctx.limits.maxActivationFloats}): ask for fewer layers, texts or positions`, 'response_too_large');
    }
    const steering = ctx.steering.compile(body.steering, callerOf(req));
    const points = layers.map((layer) => ({ layer, site: body.site }));
    const signal = clientSignal(req, reply);
    const got = await ctx.scheduler.exclusive(() => collectActivations(model, ids, { points, positions: body.positions, hooks: steering.compiled.hooks }), signal);
    const D = model.spec.hiddenSize;
    const data = ids.map((t, index) => {
      const rowsOf = got.rowIndex.flatMap(([p], r) => (p === index ? [r] : []));
      const perLayer: Record<string, number[][]> = {};
      for (const p of points) {
        const tensor = got.tensors.get(hookName(p))!;
        perLayer[String(p.layer)] = rowsOf.map((r) => Array.from(tensor.subarray(r * D, (r + 1) * D)));
      }
      return { index, ids: t, tokens: pieces(t), layers: perLayer };
    });
    return { object: 'list', model: ctx.modelId, site: body.site, positions: body.positions, hook: points.map(hookName), data };
  });
}
