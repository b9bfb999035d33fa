import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod/v4';
import { InvalidInputError } from '../io/errors.js';
import { checkRequest, GeneratorError, type GenerationRequest, type TextGenerator } from './text-generator.js';

export interface OpenAiGeneratorOptions {
  /**
   * The API root including its version segment, e.g. "http://127.0.0.1:8080/v1" (llama.cpp,
   * vLLM), "http://127.0.0.1:11434/v1" (Ollama). Requests go to `${baseUrl}/chat/completions`;
   * a trailing slash is ignored.
   */
  readonly baseUrl: string;
  /** The `model` field of each request. */
  readonly model: string;
  /** Sent as `Authorization: Bearer <apiKey>` when given. */
  readonly apiKey?: string;
  /** Per attempt, covering the whole response (default 60000). Timeouts are not retried. */
  readonly timeoutMs?: number;
  /** Requests in flight at most (default 4). */
  readonly concurrency?: number;
  /** Extra attempts after a network error, a 5xx or a 429 (default 2). */
  readonly retries?: number;
  /** First retry delay; it doubles on each retry (default 500). A Retry-After header wins when longer. */
  readonly retryDelayMs?: number;
  /** New tokens per request at most, when the endpoint's limit is known beforehand; requests asking for more are capped. */
  readonly maxTokensLimit?: number;
  /** Hears what the generator changed about requests (once per change), e.g. max_tokens capped to the server's limit. */
  readonly onNotice?: (message: string) => void;
}

/** What we need from a chat completion; everything else the server sends is ignored. */
const ChatCompletionSchema = z.object({
  choices: z
    .array(z.object({ message: z.object({ content: z.string() }) }))
    .min(1),
});

/** Longest Retry-After we honour, so a misbehaving server cannot stall a run for hours. */
const MAX_RETRY_AFTER_MS = 30_000;
const BODY_EXCERPT = 200;

/**
 * A TextGenerator for any OpenAI-compatible chat completions endpoint. Requests run
 * concurrently up to `concurrency`; the first failure (after retries) rejects the batch and
 * stops further requests from starting.
 */
export function openAiGenerator(opts: OpenAiGeneratorOptions): TextGenerator {
  let base: URL;
  try {
    base = new URL(opts.baseUrl);
  } catch {
    throw new InvalidInputError(`baseUrl is not a URL: ${JSON.stringify(opts.baseUrl)}`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new InvalidInputError(`baseUrl must be http(s), got ${opts.baseUrl}`);
  if (!opts.model) throw new InvalidInputError('openAiGenerator needs a model name');
  const url = `${opts.baseUrl.replace(/\/+$/, '')}/chat/completions`;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const concurrency = opts.concurrency ?? 4;
  const retries = opts.retries ?? 2;
  const retryDelayMs = opts.retryDelayMs ?? 500;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new InvalidInputError(`timeoutMs must be positive, got ${timeoutMs}`);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new InvalidInputError(`concurrency must be a positive integer, got ${concurrency}`);
  if (!Number.isInteger(retries) || retries < 0) throw new InvalidInputError(`retries must be a non-negative integer, got ${retries}`);
  if (!Number.isFinite(retryDelayMs) || retryDelayMs < 0) throw new InvalidInputError(`retryDelayMs must be non-negative, got ${retryDelayMs}`);
  if (opts.maxTokensLimit !== undefined && !(Number.isInteger(opts.maxTokensLimit) && opts.maxTokensLimit >= 1)) {
    throw new InvalidInputError(`maxTokensLimit must be a positive integer, got ${opts.maxTokensLimit}`);
  }
  // The endpoint's max_tokens limit: given, or learnt from its first refusal and kept for every later request.
  let tokenLimit = opts.maxTokensLimit;
  const noticed = new Set<number>();

  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (opts.apiKey) headers.authorization = `Bearer ${opts.apiKey}`;

  /** The request's body, max_tokens within the known limit, and the max_tokens it asks for. */
  const bodyOf = (req: GenerationRequest): { body: string; asked?: number } => {
    const asked = req.maxTokens === undefined || tokenLimit === undefined ? req.maxTokens : Math.min(req.maxTokens, tokenLimit);
    if (asked !== req.maxTokens && !noticed.has(asked!)) {
      noticed.add(asked!);
      opts.onNotice?.(`${base.host} allows at most ${asked} new tokens per request: asking for ${asked} where ${req.maxTokens} were wanted (replies may be cut short)`);
    }
    const body = JSON.stringify({
      model: opts.model,
      messages: req.messages.map((m) => ({ role: m.role, content: m.content })),
      max_tokens: asked,
      temperature: req.temperature,
      seed: req.seed,
      stop: req.stop && req.stop.length > 0 ? req.stop : undefined,
    });
    return { body, asked };
  };

  const completeOne = async (req: GenerationRequest): Promise<string> => {
    let { body, asked } = bodyOf(req);
    for (let attempt = 0; ; attempt++) {
      const outcome = await attemptOnce(url, headers, body, timeoutMs);
      if (outcome.kind === 'ok') return outcome.content;
      // Refused for asking more tokens than a stated limit: ask again within it (not counted as a retry).
      if (outcome.tokenLimit !== undefined && asked !== undefined && outcome.tokenLimit < asked) {
        tokenLimit = Math.min(outcome.tokenLimit, tokenLimit ?? Infinity);
        ({ body, asked } = bodyOf(req));
        attempt--;
        continue;
      }
      if (!outcome.retryable || attempt >= retries) {
        const tries = attempt > 0 ? ` (after ${attempt + 1} attempts)` : '';
        throw new GeneratorError(`${outcome.message}${tries}`, { cause: outcome.cause });
      }
      await sleep(Math.max(retryDelayMs * 2 ** attempt, outcome.retryAfterMs ?? 0));
    }
  };

  return {
    name: `openai:${opts.model}@${base.host}`,
    async complete(requests: readonly GenerationRequest[]): Promise<string[]> {
      requests.forEach(checkRequest);
      const replies: string[] = new Array(requests.length);
      let next = 0;
      let failed = false;
      // A fixed pool of workers pulling the next index bounds the requests in flight.
      const worker = async () => {
        while (!failed && next < requests.length) {
          const i = next++;
          try {
            replies[i] = await completeOne(requests[i]);
          } catch (e) {
            failed = true;
            throw e;
          }
        }
      };
      const workers = Array.from({ length: Math.min(concurrency, requests.length) }, worker);
      const settled = await Promise.allSettled(workers);
      const rejection = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (rejection) throw rejection.reason;
      return replies;
    },
  };
}

type Attempt =
  | { kind: 'ok'; content: string }
  | { kind: 'error'; retryable: boolean; message: string; retryAfterMs?: number; cause?: unknown; tokenLimit?: number };

/** An OpenAI-style error body: `{"error": {"message", "code", "param"}}`. */
const ErrorBodySchema = z.object({
  error: z.object({ message: z.string(), code: z.string().nullish(), param: z.string().nullish() }),
});

/**
 * The max_tokens limit a 400 states, e.g. Steerer's "max_tokens 1272 is above this server's
 * limit of 1024" (code max_tokens_too_large), or "max_tokens must be at most 1024".
 */
function statedTokenLimit(text: string): number | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = ErrorBodySchema.safeParse(json);
  if (!parsed.success) return undefined;
  const { message, code, param } = parsed.data.error;
  const aboutTokens = code === 'max_tokens_too_large' || param === 'max_tokens' || param === 'max_completion_tokens' || /max_(completion_)?tokens/.test(message);
  const n = /(?:limit (?:is|of)|at most|maximum(?: is| of)?|<=)\s*(\d+)/i.exec(message);
  const limit = n ? Number(n[1]) : NaN;
  return aboutTokens && Number.isSafeInteger(limit) && limit >= 1 ? limit : undefined;
}

async function attemptOnce(url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<Attempt> {
  let status: number;
  let text: string;
  let retryAfter: string | null;
  try {
    const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(timeoutMs) });
    status = res.status;
    retryAfter = res.headers.get('retry-after');
    text = await res.text();
  } catch (e) {
    if (e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError')) {
      // Retrying a request that already took the whole timeout mostly doubles the wait.
      return { kind: 'error', retryable: false, message: `POST ${url} timed out after ${timeoutMs} ms`, cause: e };
    }
    const detail = e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e);
    return { kind: 'error', retryable: true, message: `POST ${url} failed: ${detail}`, cause: e };
  }
  if (status < 200 || status >= 300) {
    return {
      kind: 'error',
      retryable: status >= 500 || status === 429,
      message: `POST ${url} returned HTTP ${status}: ${excerpt(text)}`,
      retryAfterMs: parseRetryAfter(retryAfter),
      ...(status === 400 ? { tokenLimit: statedTokenLimit(text) } : {}),
    };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { kind: 'error', retryable: false, message: `POST ${url} returned HTTP ${status} with a body that is not JSON: ${excerpt(text)}` };
  }
  const parsed = ChatCompletionSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ');
    return { kind: 'error', retryable: false, message: `POST ${url} returned no chat completion (${problems}): ${excerpt(text)}` };
  }
  return { kind: 'ok', content: parsed.data.choices[0].message.content };
}

function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat === '') return '(empty body)';
  return flat.length > BODY_EXCERPT ? `${flat.slice(0, BODY_EXCERPT)}…` : flat;
}

/** Retry-After in seconds (the HTTP-date form is rare from model servers and ignored). */
function parseRetryAfter(value: string | null): number | undefined {
  if (value === null) return undefined;
  const s = Number(value);
  return Number.isFinite(s) && s >= 0 ? Math.min(s * 1000, MAX_RETRY_AFTER_MS) : undefined;
}
