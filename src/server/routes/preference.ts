import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod/v4';
import { MAX_RESAMPLES } from '../../evals/preferred-strength.js';
import { fitRatings, PREFERENCE_DIMENSIONS, recommendationSources, type RatingsFit, type StrengthPreference } from '../../evals/rating-preference.js';
import type { RecommendationAdoption, VectorMeta } from '../../steering/vector.js';
import { callerOf } from '../access.js';
import type { ServerContext } from '../context.js';
import { HttpError, parseBody } from '../http-error.js';
import type { VectorRegistry } from '../vector-registry.js';

/**
 * Ratings tune strength: the strength people prefer for a vector, fitted from the stored blind
 * A/B ratings (src/evals/rating-preference.ts), beside its automatic recommendation; adopting it
 * as the vector's recommended coefficient, recorded with its provenance in the vector's metadata
 * (the file rewritten atomically, then its registry row); and undoing the latest adoption.
 */

const Options = {
  dimension: z.enum(PREFERENCE_DIMENSIONS).default('overall'),
  seed: z.coerce.number().int().min(0).max(2 ** 31 - 1).default(0),
  resamples: z.coerce.number().int().min(1).max(MAX_RESAMPLES).default(400),
  library: z.enum(['own', 'shared']).optional(),
};
const Query = z.object(Options).strict();
const AdoptBody = z
  .object({
    ...Options,
    /** The preferred strength the client showed: the adoption is refused (409) if the fit now says otherwise. */
    expected: z.number().optional(),
  })
  .strict();

/** Adoptions kept per vector; past it the second-oldest goes (the oldest remembers the automatic value). */
const MAX_ADOPTIONS = 50;
/** Fits kept, keyed by the ratings they saw: ratings only grow, so a key is never stale. */
const CACHE_SIZE = 32;

export function preferenceRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const cache = new Map<string, RatingsFit>();
  const view = (req: FastifyRequest) => ctx.library.view(callerOf(req));

  /** The fit over every stored rating (cached per ratings seen), with the vector's recommendation sources. */
  const preference = (name: string, meta: VectorMeta, q: z.output<typeof Query>): StrengthPreference => {
    const ratings = ctx.store.listRatings();
    const key = JSON.stringify([name, q.dimension, q.seed, q.resamples, ratings.length, ratings.at(-1)?.id ?? null]);
    let fit = cache.get(key);
    if (fit === undefined) {
      fit = fitRatings(
        ratings.map((r) => r.body),
        name,
        { dimension: q.dimension, seed: q.seed, resamples: q.resamples },
      );
      cache.set(key, fit);
      if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value!);
    }
    return { ...fit, ...recommendationSources(meta) };
  };

  app.get<{ Params: { name: string } }>('/v1/vectors/:name/preference', async (req) => {
    const q = parseBody(Query, req.query ?? {}, 'preference query');
    const meta = view(req).get(req.params.name, q.library).meta;
    return preference(req.params.name, meta, q);
  });

  app.post<{ Params: { name: string } }>('/v1/vectors/:name/preference/adopt', async (req) => {
    const body = parseBody(AdoptBody, req.body ?? {}, 'adoption');
    const registry = writable(req, req.params.name, body.library);
    const vector = registry.get(req.params.name);
    const p = preference(req.params.name, vector.meta, body);
    if (p.preferred === null || p.interval === null) throw new HttpError(409, `no preferred strength to adopt for "${req.params.name}": ${p.reason ?? 'too few ratings'}`, 'no_preference');
    if (body.expected !== undefined && !sameStrength(body.expected, p.preferred)) {
      throw new HttpError(409, `the ratings changed: the preferred strength is now ${p.preferred}, not ${body.expected}; look again before adopting`, 'preference_changed', 'expected');
    }
    const coefficient = p.adoptable ?? p.preferred;
    const adoption: RecommendationAdoption = {
      source: 'human ratings',
      coefficient,
      previous: vector.meta.recommended?.coefficient ?? null,
      ratings: p.n,
      interval: [p.interval[0], p.interval[1]],
      dimension: p.dimension,
      adoptedAt: new Date().toISOString(),
    };
    let adoptions = [...(vector.meta.adoptions ?? []), adoption];
    if (adoptions.length > MAX_ADOPTIONS) adoptions = [adoptions[0], ...adoptions.slice(2)];
    const meta: VectorMeta = { ...vector.meta, recommended: { ...vector.meta.recommended, coefficient }, adoptions };
    return { vector: registry.updateMeta(req.params.name, meta), adoption };
  });

  app.post<{ Params: { name: string } }>('/v1/vectors/:name/preference/undo', async (req) => {
    const body = parseBody(z.object({ library: Options.library }).strict(), req.body ?? {}, 'undo');
    const registry = writable(req, req.params.name, body.library);
    const vector = registry.get(req.params.name);
    const adoptions = vector.meta.adoptions ?? [];
    const last = adoptions.at(-1);
    if (last === undefined) throw new HttpError(409, `"${req.params.name}" has no adopted recommendation to undo`, 'nothing_to_undo');
    const now = vector.meta.recommended?.coefficient;
    if (now !== last.coefficient) throw new HttpError(409, `"${req.params.name}" recommends ${now ?? 'no coefficient'} now, not the adopted ${last.coefficient}: not undoing over a later change`, 'recommendation_changed');
    const { coefficient: _dropped, ...rest } = vector.meta.recommended ?? {};
    const recommended = last.previous === null ? rest : { ...rest, coefficient: last.previous };
    const { recommended: _r, adoptions: _a, ...others } = vector.meta;
    const meta: VectorMeta = {
      ...others,
      ...(Object.keys(recommended).length > 0 ? { recommended } : {}),
      ...(adoptions.length > 1 ? { adoptions: adoptions.slice(0, -1) } : {}),
    };
    return { vector: registry.updateMeta(req.params.name, meta), undone: last };
  });

  /** The registry holding the caller's vector; a user may not retune a shared vector (as they may not delete one). */
  function writable(req: FastifyRequest, name: string, library: 'own' | 'shared' | undefined): VectorRegistry {
    const caller = callerOf(req);
    const registry = view(req).holder(name, library);
    if (caller !== undefined && registry === ctx.library.shared) {
      throw new HttpError(403, `"${name}" is a shared vector: only the server's operator can change its recommendation`, 'shared_vector');
    }
    return registry;
  }
}

/** Equal up to the rounding a JSON round trip or a display may add. */
function sameStrength(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));
}
