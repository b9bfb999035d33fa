import type { FastifyInstance } from 'fastify';
import { z } from 'zod/v4';
import { parseSteeringSpec } from '../../steering/spec.js';
import type { ServerContext } from '../context.js';
import { HttpError, parseBody } from '../http-error.js';
import { agreement, judgeRating, judgeRunSummary, ratingsToJudge, type Judgement } from '../judgement.js';
import type { RatingRow } from '../store.js';

/**
 * Human ratings of base-vs-steered reply pairs (blind A/B or open), stored with the full spec
 * of each side and the seed; their JSONL export; the automatic judge run over them as a job;
 * and how well the judge agrees with the people.
 */

const Message = z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string() }).strict();
const Side = z.object({ text: z.string().max(200_000), steering: z.unknown().nullable() }).strict();
const Pref = z.enum(['a', 'b', 'tie']);
const Score = z.number().int().min(1).max(5);
const SideScores = z.object({ concept: Score, coherence: Score }).strict();

const RatingSchema = z
  .object({
    prompt: z.string().max(200_000),
    messages: z.array(Message).max(512).optional(),
    concept: z.string().max(300).optional(),
    seed: z.number().int(),
    a: Side,
    b: Side,
    blind: z.boolean(),
    preference: z.object({ concept: Pref, coherence: Pref }).strict().optional(),
    scores: z.object({ a: SideScores, b: SideScores }).strict().optional(),
    rater: z.string().max(200).optional(),
    chatId: z.string().max(200).optional(),
  })
  .strict()
  .refine((r) => r.preference !== undefined || r.scores !== undefined, { message: 'give a preference (pairwise), scores (1-5), or both', path: ['preference'] });

type RatingBody = z.output<typeof RatingSchema>;

const ratingJson = (r: RatingRow) => ({ id: r.id, createdAt: r.createdAt, ...r.body, ...(r.judge ? { judge: r.judge } : {}) });

export function ratingRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { store } = ctx;

  app.post('/v1/ratings', async (req, reply) => {
    const body = parseBody(RatingSchema, req.body, 'rating');
    // Each side's spec must be a valid spec (it is what reproduces the reply), or null for unsteered.
    const side = (s: RatingBody['a'], name: string) => ({ text: s.text, steering: s.steering === null || s.steering === undefined ? null : parseSteeringSpec(s.steering, `${name}.steering`) });
    const row = store.addRating({ ...body, a: side(body.a, 'a'), b: side(body.b, 'b') });
    // addRating returns after the commit: the rating is durable before we acknowledge it.
    return reply.code(201).send({ id: row.id, createdAt: row.createdAt });
  });

  app.get('/v1/ratings', async () => ({ object: 'list', data: store.listRatings().map(ratingJson) }));

  app.get('/v1/ratings/export', async (_req, reply) => {
    const lines = store.listRatings().map((r) => JSON.stringify(ratingJson(r)));
    return reply
      .type('application/x-ndjson')
      .header('content-disposition', 'attachment; filename="ratings.jsonl"')
      .send(lines.length ? `${lines.join('\n')}\n` : '');
  });

  app.post('/v1/ratings/judge', async (_req, reply) => {
    const todo = ratingsToJudge(store.listRatings());
    const job = ctx.jobs.submit('ratings.judge', { ratings: todo.length, judge: ctx.judge.name }, async (report) => {
      const judged: Judgement[] = [];
      let skipped = 0;
      for (const [i, r] of todo.entries()) {
        const judgement = await judgeRating(ctx.judge, r);
        if (judgement === null) skipped++; // no concept: nothing to ask "involves the concept" about
        else {
          store.setJudgement(r.id, judgement);
          judged.push(judgement);
        }
        report('judging', i + 1, todo.length, (i + 1) / todo.length);
      }
      return judgeRunSummary(judged, skipped, ctx.judge.name);
    });
    return reply.code(202).send(job);
  });

  app.get('/v1/ratings/agreement', async () => agreement(store.listRatings()));
}

export function chatRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const ChatBody = z
    .object({ title: z.string().max(300).optional(), messages: z.array(Message).max(2048), settings: z.record(z.string(), z.unknown()).optional() })
    .strict();
  const titleOf = (b: z.output<typeof ChatBody>): string => b.title ?? b.messages.find((m) => m.role === 'user')?.content.slice(0, 60) ?? 'untitled chat';

  app.post('/v1/chats', async (req, reply) => {
    const body = parseBody(ChatBody, req.body, 'chat');
    return reply.code(201).send(ctx.store.createChat(titleOf(body), body.messages, body.settings ?? {}));
  });
  app.get('/v1/chats', async () => ({ object: 'list', data: ctx.store.listChats() }));
  app.get<{ Params: { id: string } }>('/v1/chats/:id', async (req) => {
    const chat = ctx.store.getChat(req.params.id);
    if (!chat) throw new HttpError(404, `no chat with id "${req.params.id}"`, 'chat_not_found');
    return chat;
  });
  app.put<{ Params: { id: string } }>('/v1/chats/:id', async (req) => {
    const body = parseBody(ChatBody, req.body, 'chat');
    const chat = ctx.store.updateChat(req.params.id, titleOf(body), body.messages, body.settings ?? {});
    if (!chat) throw new HttpError(404, `no chat with id "${req.params.id}"`, 'chat_not_found');
    return chat;
  });
}
