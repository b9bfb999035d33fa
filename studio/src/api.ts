/**
 * Typed client for the `steerer serve` HTTP API (docs/http-api.md). The shapes below mirror
 * the contract; only the fields the studio reads are spelled out.
 */
import type { AgreementRow } from './agreement-rows';
import { readSseData } from './sse';

// ---------- shapes ----------

type Role = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  role: Role;
  content: string;
}

interface Intervention {
  vector: string | { inline: number[] };
  layers: number[];
  coefficient: number;
  /** Conditional steering: applies only when the prompt reads as this condition vector says. */
  when?: { vector: string };
}

export interface SteeringSpec {
  version: 1;
  interventions: Intervention[];
}

interface Diagnostic {
  layer: number;
  accuracy: number;
  auroc: number;
  fisher: number;
  relativeNorm: number;
  heldOut: boolean | number;
}

interface StrengthPoint {
  coefficient: number;
  concept: number;
  cost: number;
  feasible: boolean;
  perplexity: number;
}

export interface TokenWeight {
  id: number;
  token: string;
  weight: number;
}

export interface Passage {
  doc: number;
  from: number;
  to: number;
  score: number;
  tokens: string[];
  start: number;
  end: number;
}

interface VectorLikeness {
  name: string;
  cosine: number;
}

/** GET /v1/vectors/:name/explain */
export interface VectorExplanation {
  vector: string;
  index?: string;
  logits: { layer?: number; norm: number; promoted: TokenWeight[]; suppressed: TokenWeight[] }[];
  contexts?: { hook: string; rows: number; span: number; highest: Passage[]; lowest: Passage[] };
  contextsSkipped?: string;
  similar?: { similar: VectorLikeness[]; opposite: VectorLikeness[]; skipped: { name: string; reason: string }[] };
}

export interface VectorInfo {
  name: string;
  description?: string;
  createdAt: string;
  method: string;
  site: string;
  layers: number[];
  norms: number[];
  hiddenSize: number;
  model: string;
  recommended?: { layers?: number[]; coefficient?: number };
  concept?: string;
  diagnostics?: Diagnostic[];
  /** The one-click pipeline's choices; the strength search's curve is under `strength`. */
  auto?: {
    layer: number;
    coefficient: number;
    metric?: string;
    budget?: { kind: string; epsilon: number };
    strength?: { curve?: StrengthPoint[] };
  };
  /** A condition vector (`vector condition fit`): offered as "only when" in the vector panel. */
  condition?: { layer: number; threshold: number; measure: string; reduce: string; fit?: { layers: { layer: number; f1: number }[] } };
  plots: { diagnostics: boolean; strength: boolean };
  /** Recommended coefficients adopted from human ratings, oldest first (the newest is the current one). */
  adoptions?: Adoption[];
  /** The user whose vector it is (`steerer serve --users`); null (or absent) for a shared vector. */
  owner?: string | null;
  /** A shared vector hidden by one of the caller's own of the same name. */
  shadowed?: boolean;
}

/** GET /v1/vectors/:name/similar: the caller's vectors by mean cosine to one vector. */
export interface VectorLikenesses {
  vector: string;
  similar: VectorLikeness[];
  opposite: VectorLikeness[];
  skipped: { name: string; reason: string }[];
}

/** Which of the caller's libraries a name is looked up in (a shared vector their own one hides). */
export type LibraryChoice = 'own' | 'shared';

/** A recommended coefficient adopted from people's ratings, with what it replaced. */
export interface Adoption {
  source: 'human ratings';
  coefficient: number;
  previous: number | null;
  ratings: number;
  interval: [number, number];
  dimension: string;
  adoptedAt: string;
}

/** GET /v1/vectors/:name/preference: the strength people prefer, beside the automatic one. */
export interface StrengthPreference {
  vector: string;
  dimension: string;
  n: number;
  comparisons: number;
  skipped: Record<string, number>;
  reference: number | null;
  perCoefficient: { coefficient: number; comparisons: number; wins: number; strength: number; interval: [number, number]; curve: number | null }[];
  preferred: number | null;
  /** What adopting records: the preferred strength rounded to a tenth of its interval. */
  adoptable: number | null;
  interval: [number, number] | null;
  atEdge: boolean;
  reason?: string;
  method: string;
  automatic: { coefficient: number | null; source: string };
  recommended: { coefficient: number | null; source: string };
  adoptions: Adoption[];
}

type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed';

export interface Job {
  id: string;
  kind: 'vector.create' | 'ratings.judge';
  status: JobStatus;
  progress: { stage: string; done: number; total: number; fraction: number };
  request: object;
  result?: object;
  error?: string;
  createdAt: string;
  updatedAt: string;
}

export type Pick3 = 'a' | 'b' | 'tie';
export type Score = 1 | 2 | 3 | 4 | 5;

interface RatedReply {
  text: string;
  steering: SteeringSpec | null;
}

export interface RatingInput {
  prompt: string;
  messages?: ChatMessage[];
  concept?: string;
  seed: number;
  a: RatedReply;
  b: RatedReply;
  blind: boolean;
  preference?: { concept: Pick3; coherence: Pick3 };
  scores?: { a: { concept: Score; coherence: Score }; b: { concept: Score; coherence: Score } };
  rater?: string;
  chatId?: string;
}

/** The judge's 0-2 ratings of one reply (src/evals/judge.ts). */
export interface JudgeScores {
  concept: number;
  instruction: number;
  fluency: number;
  score: number;
}

type JudgeField = 'concept' | 'instruction' | 'fluency';

/** Per reply, the judge's ratings that held no readable verdict (their 0 is a placeholder). */
export interface JudgeUnparsed {
  a: JudgeField[];
  b: JudgeField[];
}

export interface Judgement {
  judge?: string;
  a: JudgeScores;
  b: JudgeScores;
  unparsed?: JudgeUnparsed;
}

export interface Rating extends RatingInput {
  id: string;
  createdAt: string;
  /** Present once the judge has scored both replies; `judge.judge` names the judging model. */
  judge?: Judgement;
}

export interface AgreementStats {
  /** Ratings with a human preference (given, or derived from the 1-5 scores). */
  pairs: number;
  agreement: number | null;
  kappa: number | null;
  /** Replies with a human 1-5 score (what spearman is computed over). */
  scoredReplies: number;
  spearman: number | null;
}

export interface Agreement {
  ratings: number;
  judged: number;
  /** Judged ratings with an unreadable verdict; those verdicts are left out of the statistics. */
  unreadable: number;
  concept: AgreementStats;
  coherence: AgreementStats;
  rows: AgreementRow[];
}

export interface Health {
  status: string;
  model: string;
  queue: { waiting: number; running: number };
}

export interface ModelInfo {
  id: string;
  steerer: { architecture: string; numLayers: number; hiddenSize: number; vocabSize: number; contextLength: number; chatTemplate: boolean };
}

export interface ChatRequest {
  messages: ChatMessage[];
  max_tokens: number;
  temperature: number;
  seed: number;
  steering?: SteeringSpec;
}

export interface ChatCompletion {
  choices: { index: number; message: ChatMessage; finish_reason: string | null }[];
  steerer?: { seed: number };
}

interface ChatChunk {
  choices: { index: number; delta: { role?: Role; content?: string }; finish_reason: string | null }[];
  /** conditions: with the choice's last chunk, whether each "when" held (`c{k}` for interventions[k]). */
  steerer?: { seed: number; conditions?: Record<string, boolean>[] };
}

export interface CreateVectorRequest {
  name: string;
  concept: string;
  neutral?: string;
  count?: number;
}

interface List<T> {
  data: T[];
}

/**
 * A stored conversation: `messages` is the chat as shown (every prompt and the reply it
 * contributes); `settings.turns` is the studio's own record of each turn, with exactly what it sent.
 */
export interface ChatBody {
  title?: string;
  messages: ChatMessage[];
  settings: Record<string, unknown>;
}

export interface Chat extends ChatBody {
  id: string;
  title: string;
  createdAt: string;
  updatedAt: string;
}

// ---------- transport ----------

/** An error reply of the API (`{"error": {...}}`) or a transport failure. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string | null = null,
  ) {
    super(message);
  }
}

const TOKEN_KEY = 'steerer.token';
const unauthorizedListeners = new Set<() => void>();

export function getToken(): string {
  return localStorage.getItem(TOKEN_KEY) ?? '';
}

export function setToken(token: string): void {
  if (token === '') localStorage.removeItem(TOKEN_KEY);
  else localStorage.setItem(TOKEN_KEY, token);
}

/** Called on every 401, so the app can ask for the token wherever the call came from. */
export function onUnauthorized(listener: () => void): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

function headers(json: boolean): Headers {
  const h = new Headers();
  if (json) h.set('Content-Type', 'application/json');
  const token = getToken();
  if (token !== '') h.set('Authorization', `Bearer ${token}`);
  return h;
}

// The studio is served at /studio/ by the same server, so API paths are absolute.
async function send(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
  const res = await fetch(path, {
    method,
    headers: headers(body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  if (res.ok) return res;
  if (res.status === 401) unauthorizedListeners.forEach((l) => l());
  throw await errorOf(res);
}

async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text();
  try {
    const parsed = JSON.parse(text) as { error?: { message?: string; type?: string } };
    if (parsed.error?.message !== undefined) return new ApiError(res.status, parsed.error.message, parsed.error.type ?? null);
  } catch {
    // not JSON: fall through to the raw text
  }
  return new ApiError(res.status, text !== '' ? text : `${res.status} ${res.statusText}`);
}

async function json<T>(method: string, path: string, body?: unknown): Promise<T> {
  return (await (await send(method, path, body)).json()) as T;
}

const vectorPath = (name: string): string => `/v1/vectors/${encodeURIComponent(name)}`;
const inLibrary = (library?: LibraryChoice): string => (library === undefined ? '' : `?library=${library}`);

// ---------- routes ----------

export const api = {
  health: async (): Promise<Health> => json<Health>('GET', '/health'),
  models: async (): Promise<ModelInfo[]> => (await json<List<ModelInfo>>('GET', '/v1/models')).data,

  vectors: async (): Promise<VectorInfo[]> => (await json<List<VectorInfo>>('GET', '/v1/vectors')).data,
  vector: async (name: string): Promise<VectorInfo> => json<VectorInfo>('GET', vectorPath(name)),
  deleteVector: async (name: string): Promise<void> => {
    await send('DELETE', vectorPath(name));
  },
  explainVector: async (name: string): Promise<VectorExplanation> => json<VectorExplanation>('GET', `${vectorPath(name)}/explain`),
  plotUrl: (name: string, plot: 'diagnostics' | 'strength'): string => `${vectorPath(name)}/plot/${plot}.svg`,
  createVector: async (req: CreateVectorRequest): Promise<Job> => json<Job>('POST', '/v1/vectors/create', req),
  similarVectors: async (name: string, library?: LibraryChoice): Promise<VectorLikenesses> =>
    json<VectorLikenesses>('GET', `${vectorPath(name)}/similar?top=1000${library === undefined ? '' : `&library=${library}`}`),
  /** The vector's .safetensors, and its bundle (vector, data, lexicon, report), as downloads. */
  vectorFileUrl: (name: string, library?: LibraryChoice): string => `${vectorPath(name)}/file${inLibrary(library)}`,
  vectorBundleUrl: (name: string, library?: LibraryChoice): string => `${vectorPath(name)}/bundle${inLibrary(library)}`,

  job: async (id: string): Promise<Job> => json<Job>('GET', `/v1/jobs/${encodeURIComponent(id)}`),

  chat: async (req: ChatRequest): Promise<ChatCompletion> => json<ChatCompletion>('POST', '/v1/chat/completions', { ...req, stream: false }),

  chats: async (): Promise<Chat[]> => (await json<List<Chat>>('GET', '/v1/chats')).data,
  getChat: async (id: string): Promise<Chat> => json<Chat>('GET', `/v1/chats/${encodeURIComponent(id)}`),
  createChat: async (body: ChatBody): Promise<Chat> => json<Chat>('POST', '/v1/chats', body),
  saveChat: async (id: string, body: ChatBody): Promise<Chat> => json<Chat>('PUT', `/v1/chats/${encodeURIComponent(id)}`, body),

  ratings: async (): Promise<Rating[]> => (await json<List<Rating>>('GET', '/v1/ratings')).data,
  rate: async (rating: RatingInput): Promise<{ id: string; createdAt: string }> => json('POST', '/v1/ratings', rating),
  runJudge: async (): Promise<Job> => json<Job>('POST', '/v1/ratings/judge', {}),
  agreement: async (): Promise<Agreement> => json<Agreement>('GET', '/v1/ratings/agreement'),
  exportRatings: async (): Promise<Blob> => (await send('GET', '/v1/ratings/export')).blob(),
  preference: async (name: string): Promise<StrengthPreference> => json<StrengthPreference>('GET', `${vectorPath(name)}/preference`),
  /** Adopts the preferred strength the person saw (`expected`): refused if the ratings have changed since. */
  adoptPreference: async (name: string, expected: number): Promise<{ vector: VectorInfo; adoption: Adoption }> => json('POST', `${vectorPath(name)}/preference/adopt`, { expected }),
  undoAdoption: async (name: string): Promise<{ vector: VectorInfo; undone: Adoption }> => json('POST', `${vectorPath(name)}/preference/undo`, {}),

  /** Any GET as a blob, with the token: for images an `<img src>` could not authenticate. */
  blob: async (path: string): Promise<Blob> => (await send('GET', path)).blob(),
};

/**
 * Streams a chat reply: calls `onText` with each content delta and resolves with the finish
 * reason once `data: [DONE]` arrives. Aborting `signal` rejects with an AbortError.
 */
export async function streamChat(
  req: ChatRequest,
  onText: (delta: string) => void,
  signal: AbortSignal,
): Promise<{ finishReason: string | null; seed: number | null; conditions?: Record<string, boolean> }> {
  const res = await send('POST', '/v1/chat/completions', { ...req, stream: true }, signal);
  if (res.body === null) throw new ApiError(0, 'the server sent no body');
  let finishReason: string | null = null;
  let seed: number | null = null;
  let conditions: Record<string, boolean> | undefined;
  for await (const data of readSseData(res.body)) {
    if (data === '[DONE]') return { finishReason, seed, ...(conditions ? { conditions } : {}) };
    const parsed = JSON.parse(data) as ChatChunk | { error: { message: string } };
    if ('error' in parsed) throw new ApiError(500, parsed.error.message);
    if (parsed.steerer !== undefined) seed = parsed.steerer.seed;
    if (parsed.steerer?.conditions !== undefined) conditions = parsed.steerer.conditions[0];
    for (const choice of parsed.choices) {
      if (choice.delta.content !== undefined && choice.delta.content !== '') onText(choice.delta.content);
      if (choice.finish_reason !== null) finishReason = choice.finish_reason;
    }
  }
  throw new ApiError(0, 'the stream ended before [DONE]');
}
