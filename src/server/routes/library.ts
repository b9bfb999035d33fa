import fs from 'node:fs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod/v4';
import { InvalidInputError } from '../../io/errors.js';
import { similarVectors } from '../../steering/similar-vectors.js';
import { BUNDLE_EXTENSION, packVectorFile, readVectorBundle } from '../../steering/vector-bundle.js';
import { callerOf } from '../access.js';
import type { ServerContext } from '../context.js';
import { HttpError, parseBody } from '../http-error.js';
import type { LibraryChoice } from '../vector-library.js';
import { libraryChoice } from './vectors.js';

/**
 * A vector library's files over HTTP: a vector's .safetensors as stored, its bundle (the
 * vector with the data, lexicon and report made with it; src/steering/vector-bundle.ts), a
 * bundle upload into the caller's library, and the caller's vectors ranked by likeness to one.
 */

const SimilarQuery = z
  .object({
    library: z.enum(['own', 'shared']).optional(),
    top: z.coerce.number().int().min(1).max(1000).default(50),
  })
  .strict();

const UploadQuery = z
  .object({
    name: z.string().min(1).max(64).optional().describe('register under this name instead of the bundle\'s'),
    overwrite: z.enum(['true', 'false']).optional(),
  })
  .strict();

const BUNDLE_TYPES = ['application/zip', 'application/octet-stream'];

function download(reply: FastifyReply, type: string, filename: string, bytes: Buffer): FastifyReply {
  // Names are a closed alphabet (letters, digits, "_", "-", "."), so the quoted filename needs no escaping.
  return reply.type(type).header('content-disposition', `attachment; filename="${filename}"`).header('x-content-type-options', 'nosniff').send(bytes);
}

export function libraryRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const holder = (req: FastifyRequest<{ Params: { name: string } }>, from: LibraryChoice | undefined) => ctx.library.view(callerOf(req)).holder(req.params.name, from);

  app.get<{ Params: { name: string } }>('/v1/vectors/:name/file', async (req, reply) => {
    const file = holder(req, libraryChoice(req.query)).file(req.params.name);
    return download(reply, 'application/octet-stream', `${req.params.name}.safetensors`, fs.readFileSync(file));
  });

  app.get<{ Params: { name: string } }>('/v1/vectors/:name/bundle', async (req, reply) => {
    const file = holder(req, libraryChoice(req.query)).file(req.params.name);
    const { bundle } = packVectorFile(file, req.params.name);
    return download(reply, 'application/zip', `${req.params.name}${BUNDLE_EXTENSION}`, bundle);
  });

  app.get<{ Params: { name: string } }>('/v1/vectors/:name/similar', async (req) => {
    const q = parseBody(SimilarQuery, req.query ?? {}, 'similar query');
    const view = ctx.library.view(callerOf(req));
    const target = { name: req.params.name, vector: view.get(req.params.name, q.library) };
    return { vector: req.params.name, ...similarVectors(target, view.usable(), q.top) };
  });

  // Bundles arrive as raw bytes: this scope alone reads zip bodies (the rest of the API speaks JSON).
  void app.register(async (scope) => {
    const bodyLimit = ctx.limits.bodyBytes;
    scope.addContentTypeParser(BUNDLE_TYPES, { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, body));
    scope.post('/v1/vectors/bundle', { bodyLimit }, async (req, reply) => {
      const q = parseBody(UploadQuery, req.query ?? {}, 'bundle upload query');
      if (!Buffer.isBuffer(req.body)) throw new HttpError(415, `send the bundle's bytes with Content-Type ${BUNDLE_TYPES.join(' or ')}`, 'invalid_content_type');
      let bundle;
      try {
        bundle = readVectorBundle(req.body, 'the uploaded bundle');
      } catch (e) {
        if (e instanceof InvalidInputError) throw new HttpError(400, e.message, 'invalid_bundle');
        throw e;
      }
      const registry = ctx.library.view(callerOf(req)).target;
      const info = registry.addBundle(bundle, q.name ?? bundle.name, q.overwrite === 'true');
      return reply.code(201).send({ ...info, owner: registry.owner === '' ? null : registry.owner, files: bundle.files.map((f) => `${info.name}${f.suffix}`) });
    });
  });
}
