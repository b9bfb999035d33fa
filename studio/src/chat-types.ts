import type { ChatMessage, SteeringSpec } from './api';

/** chat: one reply with the current steering; side: base and steered; blind: the two as A/B. */
export type Mode = 'chat' | 'side' | 'blind';

/**
 * What a prompt is sent with. new: the prompt alone, so a base model starts a fresh story
 * instead of carrying on the transcript mid-sentence; continue: the conversation so far too.
 */
export type Context = 'new' | 'continue';

/**
 * The context a prompt gets unless the person picks one: a model with a chat template is
 * chatting, so it continues; a base model (or one not known yet) starts afresh.
 */
export function defaultContext(chatTemplate: boolean | null): Context {
  return chatTemplate === true ? 'continue' : 'new';
}

export interface Reply {
  text: string;
  /** The steering this reply was generated with (null: the plain model). */
  steering: SteeringSpec | null;
  state: 'streaming' | 'done' | 'stopped' | 'error';
  error?: string;
  /** Conditional steering: whether each intervention's "when" held (`c{k}` for interventions[k]). */
  conditions?: Record<string, boolean>;
}

export interface Turn {
  id: number;
  mode: Mode;
  context: Context;
  prompt: string;
  /** Exactly the messages sent for this turn (the prompt, after the history when it continues). */
  messages: ChatMessage[];
  seed: number;
  /** chat: [reply]; side and blind: [base, steered]. */
  replies: Reply[];
  /** Blind mode: which label the steered reply got. */
  steeredSide?: 'a' | 'b';
  concept?: string;
  /** Set once this turn's blind rating is stored. */
  ratingId?: string;
  /** The stored chat (/v1/chats) this turn belongs to. */
  chatId?: string;
}

export const BASE = 0;
export const STEERED = 1;

/** The reply a turn contributes to the conversation going forward. */
function replyForHistory(turn: Turn): Reply | undefined {
  // In the comparison modes the conversation follows the steered side: the base reply is the
  // counterfactual "what the plain model would say here", so both sides answer the same messages.
  return turn.mode === 'chat' ? turn.replies[0] : turn.replies[STEERED];
}

/** That reply as a message, unless it failed or is empty (then the turn adds nothing to the thread). */
function replyMessage(turn: Turn): ChatMessage | null {
  const reply = replyForHistory(turn);
  return reply === undefined || reply.state === 'error' || reply.text === '' ? null : { role: 'assistant', content: reply.text };
}

/** The conversation a "continue" prompt extends: the last turn's messages and its reply. */
export function threadOf(turns: Turn[]): ChatMessage[] {
  const last = turns.at(-1);
  if (last === undefined) return [];
  const reply = replyMessage(last);
  // A turn whose reply failed leaves the thread as it was before its prompt.
  return reply === null ? last.messages.slice(0, -1) : [...last.messages, reply];
}

/** The chat as shown: every prompt and the reply it contributes, in order (what a stored chat's `messages` holds). */
export function transcriptOf(turns: Turn[]): ChatMessage[] {
  return turns.flatMap((t) => {
    const reply = replyMessage(t);
    return reply === null ? [] : [{ role: 'user' as const, content: t.prompt }, reply];
  });
}
