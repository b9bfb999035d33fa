import { InvalidInputError } from '../io/errors.js';
import { renderChat, type ChatMessage } from '../model/chat-template.js';
import type { HookedModel } from './model.js';

/** Token ids of a chat rendered with the model's template, ready for generation. */
export function encodeChat(model: HookedModel, messages: readonly ChatMessage[]): number[] {
  if (!model.chatTemplate) throw new InvalidInputError(`${model.source.name} has no chat template; use a plain prompt`);
  return encodeRenderedChat(model, renderChat(model.chatTemplate, messages, { addGenerationPrompt: true, specialTokens: model.specialTokens }));
}

/** Token ids of text the chat template rendered (with tools, say). */
export function encodeRenderedChat(model: HookedModel, text: string): number[] {
  const bos = model.specialTokens.bos_token;
  // Templates that write BOS themselves (Llama 3) must not get a second one.
  return model.encode(text, { addBos: bos && text.startsWith(bos) ? false : model.spec.addBos });
}
