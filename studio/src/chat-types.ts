import type { ChatMessage, SteeringSpec } from './api';

/** chat: one reply with the current steering; side: base and steered; blind: the two as A/B. */
export type Mode = 'chat' | 'side' | 'blind';

export interface Reply {
  text: string;
  /** The steering this reply was generated with (null: the plain model). */
  steering: SteeringSpec | null;
  state: 'streaming' | 'done' | 'stopped' | 'error';
  error?: string;
}

export interface Turn {
  id: number;
  mode: Mode;
  prompt: string;
  /** Exactly the messages sent for this turn (history plus the prompt), kept for ratings. */
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
export function replyForHistory(turn: Turn): Reply | undefined {
  // In the comparison modes the conversation follows the steered side: the base reply is the
  // counterfactual "what the plain model would say here", so both sides answer the same messages.
  return turn.mode === 'chat' ? turn.replies[0] : turn.replies[STEERED];
}

export function historyOf(turns: Turn[]): ChatMessage[] {
  return turns.flatMap((t) => {
    const reply = replyForHistory(t);
    if (reply === undefined || reply.state === 'error' || reply.text === '') return [];
    return [
      { role: 'user' as const, content: t.prompt },
      { role: 'assistant' as const, content: reply.text },
    ];
  });
}
