import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod/v4';
import { ActivationIndex } from '../../explore/activation-index.js';
import { explainVector } from '../../explore/explain-vector.js';
import { checkIndexModel } from '../../explore/index-query.js';
import { ModelFileError, SteererError } from '../../io/errors.js';
import { callerOf } from '../access.js';
import type { ServerContext } from '../context.js';
import { HttpError, parseBody } from '../http-error.js';
import { checkVectorName } from '../vector-registry.js';

/**
 * What a registry vector means (GET /v1/vectors/:name/explain): the logit lens of each layer,
 * the passages of an activation index reading highest and lowest along it, and the registry's
 * most similar and opposite vectors. Indexes live in DATA_DIR/indexes/NAME (folders written by
 * `steerer index build`, their activation store inside or beside them); `?index=NAME` picks
 * one, else the first (by name) at a layer and site the vector has.
 */

const Query = z
  .object({
    index: z.string().optional(),
    top: z.coerce.number().int().min(1).max(50).default(8),
  })
  .strict();

const INDEXES = 'indexes';

type IndexListing = { name: string; hook: string; rows: number; metric: string } | { name: string; error: string };

export function explainRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const opened = new Map<string, ActivationIndex>();
  const open = (name: string): ActivationIndex => {
    checkVectorName(name, 'index');
    let index = opened.get(name);
    if (!index) {
      const dir = path.join(ctx.dataDir, INDEXES, name);
      if (!fs.existsSync(dir)) throw new HttpError(400, `no index named "${name}" (looked in ${INDEXES}/ of the data directory)`, 'index_not_found', 'index');
      try {
        // Hashes were checked when the index was built; opening a large one per request must stay cheap.
        index = ActivationIndex.open(dir, { verify: false });
        checkIndexModel(index, ctx.model);
      } catch (e) {
        if (e instanceof SteererError) throw new HttpError(400, ctx.redact(`${INDEXES}/${name} cannot be used: ${e instanceof ModelFileError ? e.problem : e.message}`), 'invalid_index', 'index');
        throw e;
      }
      opened.set(name, index);
    }
    return index;
  };
  const indexNames = (): string[] => {
    const dir = path.join(ctx.dataDir, INDEXES);
    return fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => fs.existsSync(path.join(dir, n, 'manifest.json'))).sort() : [];
  };

  app.get('/v1/indexes', async () => ({
    object: 'list',
    data: indexNames().map((name): IndexListing => {
      try {
        const ix = open(name);
        return { name, hook: ix.manifest.hook, rows: ix.size, metric: ix.metric };
      } catch (e) {
        if (e instanceof HttpError) return { name, error: e.message };
        throw e;
      }
    }),
  }));

  app.get<{ Params: { name: string } }>('/v1/vectors/:name/explain', async (req) => {
    const q = parseBody(Query, req.query, 'explain query');
    // The caller's view: their own vectors first, then the shared ones (--users).
    const view = ctx.library.view(callerOf(req));
    const vector = view.get(req.params.name);
    let index: ActivationIndex | undefined;
    if (q.index !== undefined) {
      index = open(q.index);
    } else {
      // The first index the vector can be read at; others (another layer or site) are passed over.
      for (const name of indexNames()) {
        let candidate: ActivationIndex;
        try {
          candidate = open(name);
        } catch (e) {
          if (e instanceof HttpError) continue;
          throw e;
        }
        if (candidate.point.site === vector.meta.site && vector.directions.has(candidate.point.layer)) {
          index = candidate;
          break;
        }
      }
    }
    const library = view.usable();
    const e = await explainVector(ctx.model, vector, { name: req.params.name, tokens: q.top, contexts: q.top, similar: q.top, library, ...(index ? { index } : {}) });
    return { vector: req.params.name, ...(index ? { index: path.basename(index.dir) } : {}), ...e };
  });
}
