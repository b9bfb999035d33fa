import { InvalidInputError } from '../io/errors.js';
import { renderChat, type ChatMessage } from '../model/chat-template.js';
import { HERMES_CALL_END, HERMES_CALL_START, renderToolChat, toolAnswerText, toolCallFormat, type ChatTool, type ToolCall, type ToolCallFormat, type ToolChatMessage } from '../model/chat-tools.js';
import { encodeRenderedChat } from '../runtime/chat.js';
import type { Hook } from '../runtime/hooks.js';
import type { HookedModel } from '../runtime/model.js';
import type { SamplingOptions } from '../runtime/sampling-options.js';
import { generateSwitching } from '../decoding/switching.js';
import { ToolTurn, type ChoiceEvent } from './tool-turn.js';
import { offerVectors, type OfferedVector } from './choice-vectors.js';
import type { ToolsChoice } from './choose-spec.js';
import { modelShape } from './resolve.js';
import type { SpecResolver } from './spec.js';

/**
 * Tools mode of `choose`: the offered vectors become one `steer` tool in the chat template's own
 * tool format, and a call the model makes mid-reply switches the steering from the next token
 * on (ToolTurn, ./tool-turn.ts), with the KV cache kept (../decoding/switching.ts).
 *
 * One tool with an enum of vector names rather than one tool per vector: the enum hands the
 * model the exact set of names it may use, the prompt grows by a line per vector instead of a
 * whole schema, and names need not be valid function identifiers.
 *
 * Templates without a tool format (toolCallFormat: SmolLM2's drops `tools`) get the tool
 * described in the system message instead, with a fixed call syntax (systemNote), and the
 * answer written back inline as <tool_response>...</tool_response>.
 */

export interface ToolGenerateOptions extends SamplingOptions {
  readonly maxTokens: number;
  /** The spec's own interventions, active throughout; a chosen vector is added after them. */
  readonly hooks?: readonly Hook[];
  readonly stop?: readonly string[];
  readonly onText?: (delta: string) => void;
  readonly cancelled?: () => boolean;
}

export interface ToolReply {
  /** The reply as the user sees it: tool calls and answers left out. */
  readonly text: string;
  /** Tokens the model sampled (calls included). */
  readonly tokens: readonly number[];
  readonly promptTokens: readonly number[];
  /** Everything after the prompt in order: sampled tokens and the tool answers fed back. */
  readonly sequence: readonly number[];
  readonly finishReason: 'stop' | 'length' | 'cancelled';
  /** Every call, applied or ignored, in order. */
  readonly events: readonly ChoiceEvent[];
  /** The plain spec interventions the reply was steered with (positions say from where). */
  readonly applied: readonly Record<string, unknown>[];
}

export class ToolChooser {
  /** The template's tool format, or 'system' for the system-message description. */
  readonly format: ToolCallFormat | 'system';
  readonly tool: ChatTool;
  readonly vectors: readonly OfferedVector[];
  private readonly template: string;

  constructor(
    private readonly model: HookedModel,
    readonly choice: ToolsChoice,
    private readonly resolve: SpecResolver,
    private readonly force = false,
  ) {
    if (!model.chatTemplate) throw new InvalidInputError(`choose mode "tools" needs a chat model: ${model.source.name} has no chat template (mode "probe" works on any model)`);
    this.template = model.chatTemplate;
    this.vectors = offerVectors(choice.vectors, { model: modelShape(model), resolve, force }, 'choose.vectors');
    this.tool = steerTool(this.vectors, choice.maxStrength);
    this.format = choice.format === 'system' ? 'system' : (toolCallFormat(this.template, model.specialTokens) ?? 'system');
  }

  /** The prompt text: the conversation with the tool, as the model sees it. */
  promptText(messages: readonly ChatMessage[]): string {
    const specialTokens = this.model.specialTokens;
    if (this.format !== 'system') return renderToolChat(this.template, messages, { tools: [this.tool], addGenerationPrompt: true, specialTokens });
    const note = systemNote(this.tool);
    try {
      return renderChat(this.template, withSystemNote(messages, note), { addGenerationPrompt: true, specialTokens });
    } catch {
      // Templates that refuse a system role (Gemma's) get the note at the top of the first user message.
      const first = messages.findIndex((m) => m.role === 'user');
      if (first < 0) throw new InvalidInputError('the chat template refuses a system message and the chat has no user message for the tool description');
      return renderChat(this.template, messages.map((m, i) => (i === first ? { ...m, content: `${note}\n\n${m.content}` } : m)), { addGenerationPrompt: true, specialTokens });
    }
  }

  /** One reply to `messages`, the model free to call the tool. */
  async generate(messages: readonly ChatMessage[], opts: ToolGenerateOptions): Promise<ToolReply> {
    const promptTokens = encodeRenderedChat(this.model, this.promptText(messages));
    const baseHooks = opts.hooks ?? [];
    const turn = new ToolTurn({
      model: this.model,
      chooser: this,
      conversation: messages,
      baseHooks,
      offer: { model: modelShape(this.model), resolve: this.resolve, force: this.force },
      stop: opts.stop ?? [],
      onText: opts.onText,
    });
    const out = await generateSwitching(this.model, promptTokens, turn, { ...opts, hooks: baseHooks });
    const end = turn.finish();
    return {
      text: end.text,
      tokens: out.tokens,
      promptTokens,
      sequence: out.sequence,
      finishReason: end.stopped ? 'stop' : out.finishReason,
      events: end.events,
      applied: end.applied,
    };
  }

  /** The text fed after a call: the template's own end of turn, tool message and next header. */
  answerText(conversation: readonly ToolChatMessage[], before: string, call: ToolCall, answer: string): string {
    const inline = `\n<tool_response>\n${answer}\n</tool_response>\n`;
    if (this.format === 'system') return inline;
    return toolAnswerText(this.template, this.format, conversation, [this.tool], { before, call, answer }, this.model.specialTokens) ?? inline;
  }

  /** How calls are found in the reply: the template's format, or the fallback's <tool_call> lines. */
  get scanFormat(): ToolCallFormat {
    return this.format === 'json' ? 'json' : 'hermes';
  }
}

/** The one `steer` tool: the vectors as an enum, strength 1 = each vector's own coefficient. */
function steerTool(vectors: readonly OfferedVector[], maxStrength: number): ChatTool {
  const list = vectors.map((v) => `${v.name} (${v.concept}; strength 1 = coefficient ${Number(v.coefficient.toPrecision(4))} at ${v.resolved.layers.length === 1 ? 'layer' : 'layers'} ${v.resolved.layers.join(',')})`);
  return {
    type: 'function',
    function: {
      name: 'steer',
      description:
        'Steer your own writing for the rest of this reply by adding a concept vector to your activations, from the next token on. ' +
        `A later call replaces an earlier one; strength 0 turns steering off. Vectors: ${list.join('; ')}.`,
      parameters: {
        type: 'object',
        properties: {
          vector: { type: 'string', enum: vectors.map((v) => v.name), description: 'the vector to steer with' },
          strength: { type: 'number', minimum: 0, maximum: maxStrength, description: "1 = the vector's recommended strength (the default)" },
        },
        required: ['vector'],
      },
    },
  };
}

/** The fallback: the tool described in the system message, with a fixed call syntax. */
function systemNote(tool: ChatTool): string {
  return [
    'You have one tool. Its definition (JSON schema):',
    JSON.stringify(tool),
    'To call it, write on a line of its own:',
    `${HERMES_CALL_START}{"name": "steer", "arguments": {"vector": NAME, "strength": NUMBER}}${HERMES_CALL_END}`,
    'The answer comes back between <tool_response> and </tool_response>; then go on with your reply.',
  ].join('\n');
}

function withSystemNote(messages: readonly ChatMessage[], note: string): ChatMessage[] {
  if (messages[0]?.role === 'system') return [{ role: 'system', content: `${messages[0].content}\n\n${note}` }, ...messages.slice(1)];
  return [{ role: 'system', content: note }, ...messages];
}
