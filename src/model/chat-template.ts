import { Template } from '@huggingface/jinja';
import { InvalidInputError } from '../io/errors.js';

export type ChatRole = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  readonly role: ChatRole;
  readonly content: string;
}

/**
 * Renders messages with a model's Jinja chat template (the same engine transformers.js uses).
 * Templates that emit BOS themselves make the caller skip the model's own BOS rule.
 */
export function renderChat(
  template: string,
  messages: readonly ChatMessage[],
  opts: { addGenerationPrompt?: boolean; specialTokens?: Readonly<Record<string, string>> } = {},
): string {
  if (messages.length === 0) throw new InvalidInputError('a chat needs at least one message');
  return renderTemplate(template, {
    messages: messages.map((m) => ({ role: m.role, content: m.content })),
    add_generation_prompt: opts.addGenerationPrompt ?? true,
    ...specialTokenContext(opts.specialTokens),
  });
}

/** The special-token variables every render gets (templates that use bos_token without a BOS see ''). */
export function specialTokenContext(specialTokens: Readonly<Record<string, string>> = {}): Record<string, string> {
  return { bos_token: '', eos_token: '', ...specialTokens };
}

/** Renders a chat template with any context (renderChat's messages, or tools: ./chat-tools.ts). */
export function renderTemplate(template: string, context: Record<string, unknown>): string {
  let compiled: Template;
  try {
    compiled = new Template(template);
  } catch (e) {
    throw new InvalidInputError(`the chat template does not parse: ${(e as Error).message}`);
  }
  return compiled.render(context);
}
