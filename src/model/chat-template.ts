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
  let compiled: Template;
  try {
    compiled = new Template(template);
  } catch (e) {
    throw new InvalidInputError(`the chat template does not parse: ${(e as Error).message}`);
  }
  return compiled.render({
    messages: messages.map((m) => ({ role: m.role, content: m.content })),
    add_generation_prompt: opts.addGenerationPrompt ?? true,
    bos_token: '',
    eos_token: '',
    ...opts.specialTokens,
  });
}
