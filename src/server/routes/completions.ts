import { randomInt, randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod/v4';
import type { GenerateResult } from '../../decoding/generate.js';
import { localPrompt } from '../../generators/local-generator.js';
import type { ChatMessage } from '../../model/chat-template.js';
import { callerOf } from '../access.js';
import type { ServerContext } from '../context.js';
import { HttpError, parseBody, toHttpError, errorBody } from '../http-error.js';
import type { SharedOptions } from '../scheduler.js';
import { clientSignal } from '../client-signal.js';
import { promptBodyLimit } from '../context.js';
import { checkPromptChars } from '../prompt-size.js';
import { generateChosen } from '../chosen-generation.js';

/**
 * OpenAI-compatible /v1/chat/completions and /v1/completions, streaming (SSE) or not, with
 * the extra `steering` field. Each choice is one queued generation with its own seed
 * (seed + choice index), so `n` choices batch together and each is reproducible alone.
 */

const TextPart = z.object({ type: z.literal('text'), text: z.string() });

const MessageSchema = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant']),
  content: z.union([z.string(), z.array(TextPart).min(1)]),
});

const nullable = <T extends z.ZodType>(t: T) => t.nullish();

/** logit_bias entries per request at most (OpenAI allows 300; local vocabularies are larger). */
const MAX_LOGIT_BIAS = 4096;

/** Fields both routes take; unknown OpenAI fields (tools, logprobs, ...) are ignored, as other local servers do. */
const CommonFields = {
  model: nullable(z.string()),
  max_tokens: nullable(z.number().int().nonnegative()),
  max_completion_tokens: nullable(z.number().int().nonnegative()),
  temperature: nullable(z.number().min(0).max(2)),
  top_p: nullable(z.number().gt(0).max(1)),
  top_k: nullable(z.number().int().nonnegative()),
  min_p: nullable(z.number().min(0).max(1)),
  seed: nullable(z.number().int().min(0).max(2 ** 31 - 1)),
  n: nullable(z.number().int().min(1).max(1024)),
  stop: nullable(z.union([z.string().min(1).max(256), z.array(z.string().min(1).max(256)).max(8)])),
  stream: nullable(z.boolean()),
  stream_options: nullable(z.object({ include_usage: z.boolean().optional() })),
  frequency_penalty: nullable(z.number().min(-2).max(2)),
  presence_penalty: nullable(z.number().min(-2).max(2)),
  repetition_penalty: nullable(z.number().positive()),
  logit_bias: nullable(
    z
      .record(z.string().regex(/^\d{1,9}$/, 'logit_bias keys are token ids'), z.number().min(-100).max(100))
      .refine((r) => Object.keys(r).length <= MAX_LOGIT_BIAS, `at most ${MAX_LOGIT_BIAS} logit_bias entries`),
  ),
  steering: z.unknown().optional(),
};

const ChatBody = z.object({ ...CommonFields, messages: z.array(MessageSchema).min(1).max(512) });
const CompletionBody = z.object({ ...CommonFields, prompt: z.union([z.string(), z.array(z.string()).min(1).max(16)]) });

type Common = z.output<z.ZodObject<typeof CommonFields>>;

interface Choice {
  readonly index: number;
  readonly prompt: readonly number[];
  readonly seed: number;
}

export function completionRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const bodyLimit = promptBodyLimit(ctx.limits, ctx.limits.maxPromptChars, ctx.model.spec);
  app.post('/v1/chat/completions', { bodyLimit }, async (req, reply) => {
    const body = parseBody(ChatBody, req.body, 'chat completion');
    checkPromptChars(ctx, body.messages.flatMap((m) => (typeof m.content === 'string' ? [m.content] : m.content.map((p) => p.text))), 'messages');
    const messages: ChatMessage[] = body.messages.map((m) => ({
      role: m.role === 'developer' ? 'system' : m.role,
      content: typeof m.content === 'string' ? m.content : m.content.map((p) => p.text).join(''),
    }));
    const rendered = localPrompt(ctx.model, messages);
    const prompt = typeof rendered === 'string' ? ctx.model.encode(rendered) : rendered;
    return complete(ctx, req, reply, body, [prompt], 'chat', messages);
  });

  app.post('/v1/completions', { bodyLimit }, async (req, reply) => {
    const body = parseBody(CompletionBody, req.body, 'completion');
    checkPromptChars(ctx, typeof body.prompt === 'string' ? [body.prompt] : body.prompt, 'prompt');
    const prompts = (typeof body.prompt === 'string' ? [body.prompt] : body.prompt).map((p) => ctx.model.encode(p));
    return complete(ctx, req, reply, body, prompts, 'text');
  });
}

async function complete(ctx: ServerContext, req: FastifyRequest, reply: FastifyReply, body: Common, prompts: number[][], kind: 'chat' | 'text', messages?: ChatMessage[]): Promise<unknown> {
  // "default" (what Steerer's own --generator-name / --judge-name send unless told) means the one model served.
  if (body.model && body.model !== ctx.modelId && body.model !== 'default') {
    throw new HttpError(404, `model "${body.model}" is not served here; this server serves "${ctx.modelId}"`, 'model_not_found', 'model');
  }
  const n = body.n ?? 1;
  if (n * prompts.length > ctx.limits.maxChoices) {
    throw new HttpError(400, `${n * prompts.length} completions requested; at most ${ctx.limits.maxChoices} per request`, 'too_many_choices', 'n');
  }
  const maxTokens = body.max_completion_tokens ?? body.max_tokens ?? 256;
  if (maxTokens > ctx.limits.maxTokens) {
    throw new HttpError(400, `max_tokens ${maxTokens} is above this server's limit of ${ctx.limits.maxTokens}`, 'max_tokens_too_large', 'max_tokens');
  }
  for (const p of prompts) {
    if (p.length === 0) throw new HttpError(400, 'the prompt is empty (and the model adds no BOS token)', 'empty_prompt');
    if (p.length >= ctx.model.spec.maxPositions) {
      throw new HttpError(400, `the prompt has ${p.length} tokens; the model's context is ${ctx.model.spec.maxPositions}`, 'context_length_exceeded');
    }
  }
  const steering = ctx.steering.compile(body.steering, callerOf(req));
  const logitBias = body.logit_bias ? new Map(Object.entries(body.logit_bias).map(([id, b]) => [Number(id), b] as [number, number])) : undefined;
  if (logitBias) {
    for (const id of logitBias.keys()) {
      if (id >= ctx.model.spec.vocabSize) throw new HttpError(400, `logit_bias names token ${id}, outside the vocabulary (0..${ctx.model.spec.vocabSize - 1})`, 'invalid_logit_bias', 'logit_bias');
    }
  }
  const options: SharedOptions = {
    maxTokens,
    temperature: body.temperature ?? 1,
    topP: body.top_p ?? undefined,
    topK: body.top_k ?? undefined,
    minP: body.min_p ?? undefined,
    stop: body.stop === undefined || body.stop === null ? undefined : typeof body.stop === 'string' ? [body.stop] : body.stop,
    frequencyPenalty: body.frequency_penalty ?? undefined,
    presencePenalty: body.presence_penalty ?? undefined,
    repetitionPenalty: body.repetition_penalty ?? undefined,
    logitBias,
  };
  const seed = body.seed ?? randomInt(0, 2 ** 31 - n);
  const choices: Choice[] = prompts.flatMap((prompt, p) => Array.from({ length: n }, (_, i) => ({ index: p * n + i, prompt, seed: seed + i })));
  const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID()}`;
  const created = Math.floor(Date.now() / 1000);
  const head = { id, created, model: ctx.modelId, system_fingerprint: 'steerer' };
  // One signal for all choices: the client going away, or one choice failing, stops them all.
  const abort = new AbortController();
  const client = clientSignal(req, reply);
  client.addEventListener('abort', () => abort.abort(), { once: true });
  const signal = abort.signal;
  const chooser = steering.chooser;
  // A `choose` section: the model (tools) or the probes pick the vector (../chosen-generation.ts).
  const run = (c: Choice, onText?: (delta: string) => void): Promise<GenerateResult & { chosen?: Record<string, unknown> }> =>
    chooser
      ? generateChosen(ctx, { chooser, compiled: steering.compiled, key: steering.key, messages, prompt: c.prompt, seed: c.seed, options, onText, signal })
      : ctx.scheduler.generate({ prompt: c.prompt, seed: c.seed, options, steering: steering.compiled, steeringKey: steering.key, onText, signal });
  const usage = (results: readonly GenerateResult[]) => {
    // Each prompt once (n choices share it), as the model was fed it: tools mode adds the tools.
    const promptTokens = prompts.reduce((s, p, i) => s + (results[i * n]?.promptTokens.length ?? p.length), 0);
    const completionTokens = results.reduce((s, r) => s + r.tokens.length, 0);
    return { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
  };
  const finish = (r: GenerateResult): string => (r.finishReason === 'cancelled' ? 'stop' : r.finishReason);

  const all = <T>(work: Promise<T>[]): Promise<T[]> =>
    Promise.all(work).catch((e: unknown) => {
      abort.abort();
      throw e;
    });

  if (!body.stream) {
    const results = await all(choices.map((c) => run(c)));
    return {
      ...head,
      object: kind === 'chat' ? 'chat.completion' : 'text_completion',
      choices: results.map((r, i) =>
        kind === 'chat'
          ? { index: i, message: { role: 'assistant', content: r.text }, logprobs: null, finish_reason: finish(r) }
          : { index: i, text: r.text, logprobs: null, finish_reason: finish(r) },
      ),
      usage: usage(results),
      steerer: { seed, ...(steering.resolved.length ? { steering: steering.resolved } : {}), ...conditionsOf(results), ...(chooser ? { chosen: results.map((r) => r.chosen) } : {}) },
    };
  }

  // Streaming: headers go out now; from here on errors travel as an SSE event.
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  const object = kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
  const send = (data: unknown): void => {
    if (!res.writableEnded && !res.destroyed) res.write(`data: ${JSON.stringify(data)}\n\n`);
  };
  const chunk = (index: number, delta: string | null, finishReason: string | null) =>
    kind === 'chat'
      ? { ...head, object, choices: [{ index, delta: delta === null ? {} : { content: delta }, logprobs: null, finish_reason: finishReason }], steerer: { seed, ...(steering.resolved.length ? { steering: steering.resolved } : {}) } }
      : { ...head, object, choices: [{ index, text: delta ?? '', logprobs: null, finish_reason: finishReason }], steerer: { seed, ...(steering.resolved.length ? { steering: steering.resolved } : {}) } };
  if (kind === 'chat') for (const c of choices) send({ ...head, object, choices: [{ index: c.index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] });
  try {
    const results = await all(
      choices.map(async (c) => {
        const r = await run(c, (delta) => send(chunk(c.index, delta, null)));
        const last = chunk(c.index, null, finish(r));
        send(r.conditions || r.chosen ? { ...last, steerer: { ...last.steerer, ...(r.conditions ? { conditions: [r.conditions] } : {}), ...(r.chosen ? { chosen: [r.chosen] } : {}) } } : last);
        return r;
      }),
    );
    if (body.stream_options?.include_usage) send({ ...head, object, choices: [], usage: usage(results) });
    if (!res.writableEnded && !res.destroyed) res.write('data: [DONE]\n\n');
  } catch (e) {
    const err = toHttpError(e);
    if (err.status !== 499) {
      if (err.status >= 500) req.log.error(e);
      send(errorBody(err.status, ctx.redact(err.message), err.code, err.param));
    }
  } finally {
    res.end();
  }
  return reply;
}

/** Conditional steering: per choice, whether each condition read on its prompt held (`c{k}` for interventions.k). */
function conditionsOf(results: readonly GenerateResult[]): { conditions?: Readonly<Record<string, boolean>>[] } {
  return results.some((r) => r.conditions) ? { conditions: results.map((r) => r.conditions ?? {}) } : {};
}
