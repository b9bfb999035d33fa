import fs from 'node:fs';
import path from 'node:path';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import { HOOK_SITES } from '../graph/hook-points.js';
import { localGenerator } from '../generators/local-generator.js';
import { openAiGenerator } from '../generators/openai-generator.js';
import type { TextGenerator } from '../generators/text-generator.js';
import { clearStaleTempFiles } from '../io/stale-temp.js';
import { loadModel } from '../model/load.js';
import { checkDevice, type Device } from '../runtime/device.js';
import { HookedModel } from '../runtime/model.js';
import { packageRoot } from '../util/shared-path.js';
import { callerOf, installAccessChecks } from './access.js';
import { DEFAULT_LIMITS, promptCharLimit, type ServerContext, type ServerLimits } from './context.js';
import { errorBody, HttpError, redactPaths, toHttpError } from './http-error.js';
import { JobRunner } from './jobs.js';
import { RequestSteering } from './request-steering.js';
import { analysisRoutes } from './routes/analysis.js';
import { completionRoutes } from './routes/completions.js';
import { chatRoutes, ratingRoutes } from './routes/ratings.js';
import { vectorRoutes } from './routes/vectors.js';
import { explainRoutes } from './routes/explain.js';
import { libraryRoutes } from './routes/library.js';
import { preferenceRoutes } from './routes/preference.js';
import { Scheduler } from './scheduler.js';
import { Store } from './store.js';
import type { ServerUser } from './users.js';
import { VectorLibrary } from './vector-library.js';

export interface ServerOptions {
  /** Model file or directory to serve. */
  readonly modelPath: string;
  /** Where the database (steerer.db) and the vectors/, saes/, probes/, models/ folders live. */
  readonly dataDir: string;
  /** When set, every route but /health and the studio's files needs `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** Users, each with a token and a vector library of their own (see users.ts); the token stays the operator's. */
  readonly users?: readonly ServerUser[];
  /** Host names served besides loopback ones when no token is set (DNS-rebinding guard). */
  readonly allowedHosts?: readonly string[];
  /** ORT threads per runtime (default: all cores). */
  readonly threads?: number;
  /** Where ONNX Runtime computes (default 'cpu'). */
  readonly device?: Device;
  readonly limits?: Partial<ServerLimits>;
  /** OpenAI-compatible endpoint for the ratings judge (default: the served model judges). */
  readonly judge?: { readonly url: string; readonly model: string; readonly apiKey?: string };
  /** Built studio (default: dist/studio of the package); absent → no studio. */
  readonly studioDir?: string;
  /** Fastify's request log (default off). */
  readonly logger?: boolean;
}

export interface SteererServer {
  readonly app: FastifyInstance;
  readonly ctx: ServerContext;
  /** Listens; resolves to the address, e.g. http://127.0.0.1:8080. */
  listen(port: number, host?: string): Promise<string>;
  close(): Promise<void>;
}

/** Builds the server: model and its runtimes, the store, the registry, every route, the studio. */
export async function createServer(opts: ServerOptions): Promise<SteererServer> {
  const device = checkDevice(opts.device ?? 'cpu');
  const loaded = loadModel(opts.modelPath);
  const given: ServerLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const limits: ServerLimits = { ...given, maxPromptChars: promptCharLimit(given, loaded.spec.maxPositions) };
  const model = new HookedModel(loaded, { threads: opts.threads, device });
  const jobModel = new HookedModel(loaded, { threads: opts.threads, device });
  fs.mkdirSync(opts.dataDir, { recursive: true });
  // Files a killed writer left half-written never stay (the vector registry clears its own folder).
  for (const folder of ['.', 'saes', 'probes', 'models']) clearStaleTempFiles(path.join(opts.dataDir, folder));
  const store = new Store(path.join(opts.dataDir, 'steerer.db'));
  const modelId = model.source.name;
  const identity = { name: modelId, architecture: model.spec.architecture, hiddenSize: model.spec.hiddenSize, numLayers: model.spec.numLayers };
  const library = new VectorLibrary(opts.dataDir, store, identity, (opts.users ?? []).map((u) => u.name));
  const registry = library.shared;
  const judge: TextGenerator = opts.judge ? openAiGenerator({ baseUrl: opts.judge.url, model: opts.judge.model, apiKey: opts.judge.apiKey }) : localGenerator(jobModel);
  const dataDir = path.resolve(opts.dataDir);
  const redact = (message: string): string => redactPaths(message, dataDir);
  const ctx: ServerContext = {
    modelId,
    redact,
    dataDir,
    model,
    jobModel,
    scheduler: new Scheduler(model, { maxBatch: limits.maxBatch, maxWaiting: limits.maxWaiting }),
    steering: new RequestSteering(model, library, opts.dataDir),
    registry,
    library,
    store,
    jobs: new JobRunner(store, redact),
    judge,
    limits,
    startedAt: Date.now(),
  };

  const app = Fastify({ logger: opts.logger ?? false, bodyLimit: limits.bodyBytes, forceCloseConnections: true });
  // The API speaks JSON only: a text/plain body is refused (415) rather than read as a string.
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler((err: FastifyError | HttpError | Error, req, reply) => {
    // Fastify's own errors (bad JSON, body too large, wrong content type) carry a 4xx statusCode.
    const fastifyStatus = 'statusCode' in err && typeof err.statusCode === 'number' && err.statusCode < 500 ? err.statusCode : undefined;
    const e = fastifyStatus !== undefined && !(err instanceof HttpError) ? new HttpError(fastifyStatus, fastifyMessage(err as FastifyError), (err as FastifyError).code ?? null) : toHttpError(err);
    if (e.status >= 500) req.log.error(err);
    if (e.status === 499) return reply.code(499).send(); // nobody is listening
    return reply.code(e.status).send(errorBody(e.status, redact(e.message), e.code, e.param));
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send(errorBody(404, `no route ${req.method} ${req.url.split('?')[0]}`, 'route_not_found')));

  installAccessChecks(app, { token: opts.token, users: opts.users, allowedHosts: opts.allowedHosts });

  app.get('/health', async () => ({ status: 'ok', model: modelId, uptimeS: Math.round((Date.now() - ctx.startedAt) / 1000), queue: ctx.scheduler.stats, jobs: ctx.jobs.active }));
  app.get('/v1/models', async () => ({
    object: 'list',
    data: [
      {
        id: modelId,
        object: 'model',
        created: Math.floor(ctx.startedAt / 1000),
        owned_by: 'steerer',
        steerer: {
          architecture: model.spec.architecture,
          numLayers: model.spec.numLayers,
          hiddenSize: model.spec.hiddenSize,
          vocabSize: model.spec.vocabSize,
          contextLength: model.spec.maxPositions,
          chatTemplate: model.chatTemplate !== undefined,
          hookSites: HOOK_SITES,
          limits: { maxTokens: limits.maxTokens, maxChoices: limits.maxChoices, maxInputs: limits.maxInputs, maxPromptChars: limits.maxPromptChars },
        },
      },
    ],
  }));
  // A user sees their own jobs and everyone's (judging), never another user's.
  app.get('/v1/jobs', async (req) => ({ object: 'list', data: store.listJobs(100, callerOf(req)) }));
  app.get<{ Params: { id: string } }>('/v1/jobs/:id', async (req) => {
    const job = store.getJob(req.params.id, callerOf(req));
    if (!job) throw new HttpError(404, `no job with id "${req.params.id}"`, 'job_not_found');
    return job;
  });
  completionRoutes(app, ctx);
  vectorRoutes(app, ctx);
  libraryRoutes(app, ctx);
  explainRoutes(app, ctx);
  analysisRoutes(app, ctx);
  ratingRoutes(app, ctx);
  preferenceRoutes(app, ctx);
  chatRoutes(app, ctx);

  const studioDir = opts.studioDir ?? path.join(packageRoot(), 'dist', 'studio');
  if (fs.existsSync(path.join(studioDir, 'index.html'))) {
    await app.register(fastifyStatic, { root: studioDir, prefix: '/studio/' });
    app.get('/', async (_req, reply) => reply.redirect('/studio/'));
  } else {
    app.get('/', async () => ({ status: 'ok', model: modelId, studio: 'not built (npm run build:studio)' }));
  }

  return {
    app,
    ctx,
    async listen(port, host = '127.0.0.1') {
      return app.listen({ port, host });
    },
    async close() {
      await app.close();
      store.close();
      await model.dispose();
      await jobModel.dispose();
    },
  };
}

function fastifyMessage(err: FastifyError): string {
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return `request body too large: ${err.message.replace(/^.*?:\s*/, '')}`;
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return 'unsupported content type: send application/json';
  if (err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return 'the JSON body is empty';
  if (err instanceof SyntaxError || err.code === 'FST_ERR_CTP_INVALID_JSON_BODY') return `the body is not valid JSON: ${err.message}`;
  return err.message;
}
