import fs from 'node:fs';
import { createRng } from '../../src/runtime/rng.js';
import type { LogitsProcessor } from '../../src/runtime/logits-processor.js';
import { sharedPath } from '../../src/util/shared-path.js';
import path from 'node:path';
import { writeSafetensors } from '../../src/io/safetensors-write.js';
import { writeHfModel, type HfArch, type WrittenHfModel } from './hf-model-writer.js';
import { tempDir } from './random-model.js';

/**
 * Stand-ins for a chat model that can call tools. No capable chat model is available to the
 * tests, so these are random-initialised models with SmolLM2's tokenizer (byte-level BPE: it
 * spells JSON and markup, which the TinyStories one cannot; cut to its first tokens, see
 * smolTokenizer) and a chat template of a
 * tool-calling family, driven by a ScriptedTokens processor to write a tool call. The templates
 * are written here after each family's documented format, not copied from any model:
 *
 *   HERMES_TEMPLATE  ChatML; tools as JSON lines in <tools>; calls as <tool_call>{json}</tool_call>;
 *                    tool answers as a user turn holding <tool_response>...</tool_response> (Qwen 2.5, Hermes)
 *   JSON_TEMPLATE    Llama 3.1 headers; tools listed as JSON in the system turn; a call is the
 *                    whole reply {"name", "parameters"}; answers in an ipython turn
 *   PLAIN_TEMPLATE   ChatML without tool support (SmolLM2-135M-Instruct's shape)
 */

export const HERMES_TEMPLATE = [
  "{%- if tools %}{{- '<|im_start|>system\\n' }}{%- if messages[0].role == 'system' %}{{- messages[0].content + '\\n\\n' }}{%- endif %}",
  "{{- 'You may call functions. Their signatures:\\n<tools>' }}{%- for tool in tools %}{{- '\\n' + (tool | tojson) }}{%- endfor %}",
  "{{- '\\n</tools>\\nTo call one, write <tool_call>\\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\\n</tool_call><|im_end|>\\n' }}",
  "{%- elif messages[0].role == 'system' %}{{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}{%- endif %}",
  '{%- for message in messages %}',
  "{%- if message.role == 'system' and loop.first %}",
  "{%- elif message.role == 'assistant' and message.tool_calls %}{{- '<|im_start|>assistant' }}{%- if message.content %}{{- '\\n' + message.content }}{%- endif %}",
  "{%- for call in message.tool_calls %}{{- '\\n<tool_call>\\n{\"name\": \"' + call.function.name + '\", \"arguments\": ' + (call.function.arguments | tojson) + '}\\n</tool_call>' }}{%- endfor %}{{- '<|im_end|>\\n' }}",
  "{%- elif message.role == 'tool' %}{{- '<|im_start|>user\\n<tool_response>\\n' + message.content + '\\n</tool_response><|im_end|>\\n' }}",
  "{%- else %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}{%- endif %}",
  '{%- endfor %}',
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}",
].join('\n');

export const JSON_TEMPLATE = [
  "{%- if messages[0].role == 'system' %}{%- set system = messages[0].content %}{%- set rest = messages[1:] %}{%- else %}{%- set system = '' %}{%- set rest = messages %}{%- endif %}",
  "{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' + system }}",
  "{%- if tools %}{{- '\\nTo call a function, answer with only a JSON object {\"name\": function name, \"parameters\": arguments}. Functions:\\n' }}{%- for tool in tools %}{{- (tool | tojson) + '\\n' }}{%- endfor %}{%- endif %}",
  "{{- '<|eot_id|>' }}",
  '{%- for message in rest %}',
  "{%- if message.role == 'assistant' and message.tool_calls %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}",
  "{%- for call in message.tool_calls %}{{- '{\"name\": \"' + call.function.name + '\", \"parameters\": ' + (call.function.arguments | tojson) + '}' }}{%- endfor %}{{- '<|eot_id|>' }}",
  "{%- elif message.role == 'tool' %}{{- '<|start_header_id|>ipython<|end_header_id|>\\n\\n' + message.content + '<|eot_id|>' }}",
  "{%- else %}{{- '<|start_header_id|>' + message.role + '<|end_header_id|>\\n\\n' + message.content + '<|eot_id|>' }}{%- endif %}",
  '{%- endfor %}',
  "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}",
].join('\n');

export const PLAIN_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** The stand-ins' vocabulary: SmolLM2's first tokens (its special tokens, the 256 bytes, the first merges). */
const VOCAB = 8192;

/**
 * SmolLM2's tokenizer cut to its first VOCAB tokens: its merges are numbered in id order, so
 * keeping the merges whose result is kept leaves a byte-level BPE that spells any text (bytes are
 * always there) with SmolLM2's own special tokens, and loads in a fraction of the time.
 */
function smolTokenizer(): string {
  const t = JSON.parse(fs.readFileSync(sharedPath('models', 'smollm2-135m-instruct', 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number>; merges: string[] } };
  const vocab = Object.fromEntries(Object.entries(t.model.vocab).filter(([, id]) => id < VOCAB));
  t.model.vocab = vocab;
  t.model.merges = t.model.merges.filter((m) => vocab[m.replace(' ', '')] !== undefined);
  return JSON.stringify(t);
}

export interface StandInOptions {
  readonly arch?: HfArch;
  readonly hidden?: number;
  readonly layers?: number;
  readonly maxPositions?: number;
  readonly seed?: number;
}

/** Writes a random chat model with `template` and SmolLM2's tokenizer; returns its folder. */
export function writeChatStandIn(template: string, opts: StandInOptions = {}): string {
  return writeStandIn(template, opts).dir;
}

function writeStandIn(template: string, opts: StandInOptions): WrittenHfModel & { dir: string } {
  const dir = tempDir('chat-stand-in');
  const rng = createRng(opts.seed ?? 7);
  const gauss = (): number => Math.sqrt(-2 * Math.log(Math.max(rng.nextFloat(), 1e-12))) * Math.cos(2 * Math.PI * rng.nextFloat());
  const arch = opts.arch ?? 'llama';
  const heads = 4;
  const written = writeHfModel(
    dir,
    { arch, vocab: VOCAB, hidden: opts.hidden ?? 32, layers: opts.layers ?? 2, heads, kvHeads: arch === 'gpt2' ? heads : 2, intermediate: 64, maxPositions: opts.maxPositions ?? 1024, tied: true, bos: 1, eos: 2 },
    gauss,
    {
      'tokenizer.json': smolTokenizer(),
      'tokenizer_config.json': JSON.stringify({ add_bos_token: false, bos_token: '<|im_start|>', eos_token: '<|im_end|>', chat_template: template }),
    },
  );
  return { ...written, dir };
}

/**
 * A stand-in that writes a script by itself, for tests that cannot hand it a processor (a server
 * over a socket): a random GPT-2 whose learned position embedding at position p is
 * ALPHA × the embedding of the token wanted at p + 1. With tied embeddings that token's logit
 * then exceeds every other by tens (the random blocks, and a moderate steering vector, add far
 * less), so greedy or sampled decoding writes it. `script` is only known once the prompt's
 * length is: call `at(positions)` with position → token before the model is opened.
 */
export function writeScriptedStandIn(template: string): { dir: string; at(script: ReadonlyMap<number, number>): void } {
  const { dir, tensors } = writeStandIn(template, { arch: 'gpt2', hidden: 64, layers: 2, maxPositions: 1024 });
  const ALPHA = 40;
  return {
    dir,
    at(script) {
      const wte = tensors.get('transformer.wte.weight')!;
      const wpe = tensors.get('transformer.wpe.weight')!;
      const D = wte.shape[1];
      for (const [p, token] of script) for (let d = 0; d < D; d++) wpe.data[p * D + d] = ALPHA * wte.data[token * D + d];
      writeSafetensors(path.join(dir, 'model.safetensors'), new Map([...tensors].map(([n, t]) => [n, { ...t, dtype: 'F32' as const }])), { format: 'pt' });
    },
  };
}

/**
 * Forces the model to sample `script`, one token per step, then leaves it free. A stateful
 * processor (it counts its calls), so it is for one sequence at a time; the model's own logits
 * are untouched, only the sampler's copy is.
 */
export class ScriptedTokens implements LogitsProcessor {
  readonly name = 'script';
  private step = 0;

  constructor(private readonly script: readonly number[]) {}

  apply(logits: Float32Array): void {
    const id = this.script[this.step++];
    if (id === undefined) return;
    logits.fill(-Infinity);
    logits[id] = 0;
  }
}
