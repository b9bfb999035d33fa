import { InvalidInputError } from '../io/errors.js';
import { renderTemplate, specialTokenContext, type ChatMessage } from './chat-template.js';

/**
 * Tools in a chat template's own format. Templates that support tools take a `tools` list of
 * JSON-schema function definitions (OpenAI's shape) and render an assistant message's
 * `tool_calls` and a `tool` message in their family's syntax. Two families are read here:
 *
 *   hermes  <tool_call>\n{"name": "steer", "arguments": {...}}\n</tool_call>   (Qwen 2.5/3,
 *           Hermes 2/3 and the many ChatML templates that copied them)
 *   json    the reply is one JSON object {"name": "steer", "parameters": {...}}  (Llama 3.1/3.2)
 *
 * The family is found by rendering a call with the template itself (toolCallFormat), never by
 * the model's name. A template that ignores `tools` or writes calls some other way (Mistral's
 * [TOOL_CALLS]) has no format here; callers fall back to describing the tool in a system message.
 */

export interface ChatTool {
  readonly type: 'function';
  readonly function: { readonly name: string; readonly description: string; readonly parameters: Record<string, unknown> };
}

export type ToolCallFormat = 'hermes' | 'json';

/** A call as a template renders it in an assistant message. */
export interface ToolCall {
  readonly name: string;
  readonly arguments: Record<string, unknown>;
}

/** An assistant message that calls a tool, and the tool's answer (OpenAI's message shapes). */
export type ToolChatMessage =
  | ChatMessage
  | { readonly role: 'assistant'; readonly content: string; readonly tool_calls: readonly { type: 'function'; function: ToolCall }[] }
  | { readonly role: 'tool'; readonly name: string; readonly content: string };

export const HERMES_CALL_START = '<tool_call>';
export const HERMES_CALL_END = '</tool_call>';

interface RenderOptions {
  readonly tools?: readonly ChatTool[];
  readonly addGenerationPrompt: boolean;
  readonly specialTokens?: Readonly<Record<string, string>>;
}

/** Renders messages (tool calls and answers included) with the template and the tools list. */
export function renderToolChat(template: string, messages: readonly ToolChatMessage[], opts: RenderOptions): string {
  if (messages.length === 0) throw new InvalidInputError('a chat needs at least one message');
  return renderTemplate(template, {
    messages: messages.map((m) => ({ ...m })),
    ...(opts.tools ? { tools: opts.tools.map((t) => ({ ...t })) } : {}),
    add_generation_prompt: opts.addGenerationPrompt,
    ...specialTokenContext(opts.specialTokens),
  });
}

const FORMAT_CHECK = 'steerer_format_check';

/**
 * How `template` writes tool calls, found by rendering one: undefined when the template drops
 * the tools list (SmolLM2's, most older ones), fails to render tools, or writes calls in a
 * syntax not read here.
 */
export function toolCallFormat(template: string, specialTokens?: Readonly<Record<string, string>>): ToolCallFormat | undefined {
  const tools: ChatTool[] = [{ type: 'function', function: { name: FORMAT_CHECK, description: 'format check', parameters: { type: 'object', properties: {} } } }];
  const user: ChatMessage = { role: 'user', content: 'hi' };
  const call: ToolChatMessage = { role: 'assistant', content: '', tool_calls: [{ type: 'function', function: { name: FORMAT_CHECK, arguments: { k: 1 } } }] };
  try {
    const prompt = renderToolChat(template, [user], { tools, addGenerationPrompt: true, specialTokens });
    if (!prompt.includes(FORMAT_CHECK)) return undefined;
    const before = renderToolChat(template, [user], { tools, addGenerationPrompt: false, specialTokens });
    const after = renderToolChat(template, [user, call], { tools, addGenerationPrompt: false, specialTokens });
    // Only what the call added: the tool definitions above it also spell the name.
    const added = after.slice(commonPrefix(before, after));
    const name = `"name":\\s*"${FORMAT_CHECK}"`;
    if (new RegExp(`${HERMES_CALL_START}\\s*\\{\\s*${name}`).test(added)) return 'hermes';
    if (new RegExp(`\\{\\s*${name},\\s*"(?:parameters|arguments)":`).test(added)) return 'json';
  } catch {
    // A template that cannot render tool messages has no tool format we can use.
  }
  return undefined;
}

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

/**
 * The text that follows a finished call in the template's own format: the end of the assistant
 * turn, the tool's answer as a `tool` message and the next assistant header. Found as the
 * difference of two renders (the conversation with the call, then with the call and the
 * answer); undefined when the template's renders do not extend one another.
 */
export function toolAnswerText(
  template: string,
  format: ToolCallFormat,
  messages: readonly ToolChatMessage[],
  tools: readonly ChatTool[],
  turn: { readonly before: string; readonly call: ToolCall; readonly answer: string },
  specialTokens?: Readonly<Record<string, string>>,
): string | undefined {
  const assistant: ToolChatMessage = { role: 'assistant', content: turn.before, tool_calls: [{ type: 'function', function: turn.call }] };
  const tool: ToolChatMessage = { role: 'tool', name: turn.call.name, content: turn.answer };
  try {
    const called = renderToolChat(template, [...messages, assistant], { tools, addGenerationPrompt: false, specialTokens });
    const answered = renderToolChat(template, [...messages, assistant, tool], { tools, addGenerationPrompt: true, specialTokens });
    if (!answered.startsWith(called)) return undefined;
    const callEnd = format === 'hermes' ? called.lastIndexOf(HERMES_CALL_END) + HERMES_CALL_END.length : called.lastIndexOf('}') + 1;
    if (callEnd <= 0) return undefined;
    return called.slice(callEnd) + answered.slice(called.length);
  } catch {
    return undefined;
  }
}
