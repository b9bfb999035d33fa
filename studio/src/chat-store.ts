import { z } from 'zod/v4';
import type { Chat, ChatBody } from './api';
import { threadOf, transcriptOf, type Turn } from './chat-types';

/**
 * A conversation as /v1/chats stores it, and back. The server keeps `settings` as an opaque
 * object, so what comes back is validated here before it becomes turns again.
 */

const Message = z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string() });
const Steering = z.object({
  version: z.literal(1),
  interventions: z.array(
    z.object({
      vector: z.union([z.string(), z.object({ inline: z.array(z.number()) })]),
      layers: z.array(z.number()),
      coefficient: z.number(),
    }),
  ),
});
const StoredReply = z.object({
  text: z.string(),
  steering: Steering.nullable(),
  state: z.enum(['streaming', 'done', 'stopped', 'error']),
});
const StoredTurn = z.object({
  mode: z.enum(['chat', 'side', 'blind']),
  // Chats saved before there was a choice always continued, and did not record what they sent.
  context: z.enum(['new', 'continue']).default('continue'),
  messages: z.array(Message).optional(),
  prompt: z.string(),
  seed: z.number(),
  replies: z.array(StoredReply).min(1),
  steeredSide: z.enum(['a', 'b']).optional(),
  concept: z.string().optional(),
  ratingId: z.string().optional(),
});
const StoredSettings = z.object({ turns: z.array(StoredTurn).default([]) });

/** What a chat is saved as: the transcript, and each turn as shown with what it sent. */
export function chatBody(turns: Turn[]): ChatBody {
  const stored: z.input<typeof StoredTurn>[] = turns.map(({ mode, context, messages, prompt, seed, replies, steeredSide, concept, ratingId }) => ({
    mode,
    context,
    messages,
    prompt,
    seed,
    replies: replies.map(({ text, steering, state }) => ({ text, steering, state })),
    steeredSide,
    concept,
    ratingId,
  }));
  return { messages: transcriptOf(turns), settings: { turns: stored } };
}

/** How many turns a stored chat holds (for the list of saved chats); null when its record is unreadable. */
export function turnCount(chat: Chat): number | null {
  const parsed = StoredSettings.safeParse(chat.settings);
  return parsed.success ? parsed.data.turns.length : null;
}

/**
 * The turns of a stored chat, with fresh ids from `nextId`. A reply that was still streaming
 * when it was saved shows as stopped. Throws when the record is not one this studio wrote.
 */
export function turnsOf(chat: Chat, nextId: () => number): Turn[] {
  const parsed = StoredSettings.safeParse(chat.settings);
  if (!parsed.success) throw new Error(`the chat's record of its turns is unreadable (${parsed.error.issues[0]?.message ?? 'invalid'})`);
  const turns: Turn[] = [];
  for (const t of parsed.data.turns) {
    turns.push({
      id: nextId(),
      chatId: chat.id,
      mode: t.mode,
      context: t.context,
      prompt: t.prompt,
      messages: t.messages ?? [...(t.context === 'new' ? [] : threadOf(turns)), { role: 'user', content: t.prompt }],
      seed: t.seed,
      replies: t.replies.map((r) => ({ ...r, state: r.state === 'streaming' ? 'stopped' : r.state })),
      ...(t.steeredSide !== undefined ? { steeredSide: t.steeredSide } : {}),
      ...(t.concept !== undefined ? { concept: t.concept } : {}),
      ...(t.ratingId !== undefined ? { ratingId: t.ratingId } : {}),
    });
  }
  return turns;
}

// The chat on screen, so a reload (or the next visit) reopens it. Only its id is kept here:
// the content lives on the server, which saves it after every turn.
const CURRENT_KEY = 'steerer.chat';

export function currentChatId(): string | null {
  return localStorage.getItem(CURRENT_KEY);
}

export function setCurrentChatId(id: string | null): void {
  if (id === null) localStorage.removeItem(CURRENT_KEY);
  else localStorage.setItem(CURRENT_KEY, id);
}
