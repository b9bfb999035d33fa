/**
 * Tokenizes contrastive examples (plain or chat-rendered) and assembles them into a dataset:
 * the part of contrastive data that knows about the model's tokenizer and chat template.
 *
 * Every example is split into a prefix (prompt, question, rendered chat turn...) and a completion.
 * `completionStart` is the number of leading tokens the full text shares with the prefix encoded
 * alone: normally the prefix's own token count, but when BPE merges a token across the boundary
 * (prompt "Tom had a re" + completion "d ball") the prefix's tokens are not a prefix of the full
 * text's tokens, and the longest common prefix is used, so the straddling token counts as completion.
 * It is clamped to ids.length − 1, so the read range [completionStart, ids.length) is never empty.
 * The BOS token (when the model adds one) is part of the prefix, so whole texts start at 1, not 0:
 * BOS activations are huge outliers that carry nothing about the text.
 *
 * Chat rendering (`chat: true`; the default for CAA and persona data when the model has a template)
 * renders [system?, user] and then the start of the assistant answer the way the template writes an
 * assistant message (like transformers' `continue_final_message`): the template renders a sentinel
 * as the assistant content and everything from the sentinel on is replaced by the completion. So
 * Llama 2's "[/INST] " and ChatML's "<|im_start|>assistant\n" both come out as the template says.
 * Texts without a completion get the generation prompt. The BOS rule is encodeChat's.
 */
import { createHash } from 'node:crypto';
import { InvalidInputError } from '../io/errors.js';
import { renderChat, type ChatMessage } from '../model/chat-template.js';
import type { ContrastDataset, ContrastExample, ContrastPair, DatasetModel, DatasetOptions, SkippedItem } from './contrast-dataset.js';
import { fail, type Context } from './contrast-checks.js';
import type { ReadPosition } from './vector.js';

const SENTINEL = 'STEERERASSISTANTCONTENT7F3A9C';

/** One example before tokenization: the user turn / prefix and the completion. */
export interface Piece {
  /** The user turn (chat); for plain text the prefix itself (or the whole text). */
  readonly user: string;
  /** Start of the assistant answer / the completion; undefined: none (a whole text). */
  readonly completion?: string;
}

/** Tokenizes examples for one model, chat or plain, with a shared cache of prefixes. */
export class Encoder {
  private readonly prefixCache = new Map<string, { text: string; ids?: number[] }>();
  readonly maxTokens: number;

  constructor(
    readonly model: DatasetModel,
    readonly chat: boolean,
    readonly system: string | undefined,
    readonly ctx: Context,
    /** Joins the plain (non-chat) prefix and completion. */
    private readonly join: (prefix: string, completion: string) => string = (p, c) => p + c,
  ) {
    if (chat && !model.chatTemplate) {
      throw new InvalidInputError(`${ctx.source}: ${model.source.name} has no chat template; use plain text (chat: false)`);
    }
    if (system !== undefined && !chat) throw new InvalidInputError(`${ctx.source}: a system message needs chat rendering (chat: true)`);
    this.maxTokens = model.spec.maxPositions > 0 ? model.spec.maxPositions : Infinity;
  }

  private addBos(text: string): boolean {
    if (!this.chat) return this.model.spec.addBos;
    // encodeChat's rule: templates that write BOS themselves must not get a second one.
    const bos = this.model.specialTokens.bos_token;
    return bos && text.startsWith(bos) ? false : this.model.spec.addBos;
  }

  private messages(user: string, assistant?: string): ChatMessage[] {
    const m: ChatMessage[] = [];
    if (this.system !== undefined) m.push({ role: 'system', content: this.system });
    m.push({ role: 'user', content: user });
    if (assistant !== undefined) m.push({ role: 'assistant', content: assistant });
    return m;
  }

  private render(messages: ChatMessage[], addGenerationPrompt: boolean, where: string): string {
    try {
      return renderChat(this.model.chatTemplate!, messages, { addGenerationPrompt, specialTokens: this.model.specialTokens });
    } catch (e) {
      fail(this.ctx, where, `the chat template cannot render this item: ${(e as Error).message}`);
    }
  }

  private encode(text: string): { ids: number[]; bos: number } {
    const addBos = this.addBos(text);
    const ids = this.model.encode(text, { addBos });
    const bos = addBos && this.model.spec.bosTokenId !== undefined && ids[0] === this.model.spec.bosTokenId ? 1 : 0;
    return { ids, bos };
  }

  /** The text before the completion (cached: CAA and persona pairs share it); ids on demand. */
  private prefix(user: string, where: string): { text: string; ids?: number[] } {
    const hit = this.prefixCache.get(user);
    if (hit) return hit;
    let text = user;
    if (this.chat) {
      const withSentinel = this.render(this.messages(user, SENTINEL), false, where);
      const at = withSentinel.indexOf(SENTINEL);
      // A template that drops or rewrites assistant content: fall back to the generation prompt.
      text = at >= 0 ? withSentinel.slice(0, at) : this.render(this.messages(user), true, where);
    }
    const entry: { text: string; ids?: number[] } = { text };
    if (this.prefixCache.size >= 4096) this.prefixCache.clear();
    this.prefixCache.set(user, entry);
    return entry;
  }

  /**
   * Tokenizes one example; returns a reason string instead when it is longer than the context.
   * `answerAtEnd`: the last token is what is read (CAA), so completionStart is the last index.
   */
  example(piece: Piece, where: string, answerAtEnd = false): ContrastExample | string {
    let text: string;
    let ids: number[];
    let completionStart: number;
    if (piece.completion === undefined) {
      // A whole text (chat: the user turn + generation prompt): everything after BOS is read.
      text = this.chat ? this.render(this.messages(piece.user), true, where) : piece.user;
      const e = this.encode(text);
      ids = e.ids;
      completionStart = e.bos;
    } else {
      const prefix = this.prefix(piece.user, where);
      text = this.chat ? prefix.text + piece.completion : this.join(piece.user, piece.completion);
      ids = this.encode(text).ids;
      if (answerAtEnd) completionStart = ids.length - 1;
      else {
        // The prefix's tokens, or as many of them as the full text starts with (BPE merges).
        prefix.ids ??= this.encode(prefix.text).ids;
        let common = 0;
        const n = Math.min(prefix.ids.length, ids.length);
        while (common < n && prefix.ids[common] === ids[common]) common++;
        completionStart = common;
      }
    }
    if (ids.length === 0) fail(this.ctx, where, 'the text encodes to no tokens');
    if (ids.length > this.maxTokens) return `${ids.length} tokens exceed the model's context of ${this.maxTokens}`;
    const last = ids.length - 1;
    return { ids, completionStart: answerAtEnd ? last : Math.min(completionStart, last), answerIndex: last, text };
  }
}

/** Collects a dataset's pairs: the tooLong rule and the items it left out. */
interface Builder {
  readonly ctx: Context;
  readonly tooLong: 'error' | 'skip';
  readonly skipped: SkippedItem[];
}

/** A builder for one dataset; checks `opts.tooLong`. */
export function builder(opts: DatasetOptions, ctx: Context): Builder {
  const tooLong = opts.tooLong ?? 'error';
  if (tooLong !== 'error' && tooLong !== 'skip') throw new InvalidInputError(`tooLong must be "error" or "skip", got ${String(tooLong)}`);
  return { ctx, tooLong, skipped: [] };
}

/** An example, or undefined when it was too long and skipping is on. */
function accept(b: Builder, where: string, side: string, e: ContrastExample | string): ContrastExample | undefined {
  if (typeof e !== 'string') return e;
  const reason = side ? `${side}: ${e}` : e;
  if (b.tooLong === 'error') fail(b.ctx, where, `${reason} (shorten it, or skip such items with tooLong: 'skip')`);
  b.skipped.push({ where, reason });
  return undefined;
}

/** A pair from two tokenized sides, or undefined when one was too long and skipped. */
export function pairOf(b: Builder, where: string, pos: ContrastExample | string, neg: ContrastExample | string): ContrastPair | undefined {
  const positive = accept(b, where, 'positive', pos);
  if (positive === undefined) return undefined;
  const negative = accept(b, where, 'negative', neg);
  return negative === undefined ? undefined : { positive, negative };
}

/** The dataset of the collected pairs, with its content hash and the items left out. */
export function finish(
  b: Builder,
  pairs: ContrastPair[],
  suggestedRead: ReadPosition,
  unpaired?: { positive: ContrastExample[]; negative: ContrastExample[] },
): ContrastDataset {
  const canonical = JSON.stringify({
    pairs: pairs.map((p) => [p.positive.text, p.negative.text]),
    unpaired: { positive: (unpaired?.positive ?? []).map((e) => e.text), negative: (unpaired?.negative ?? []).map((e) => e.text) },
  });
  const hash = createHash('sha256').update(canonical, 'utf8').digest('hex');
  return {
    pairs,
    ...(unpaired ? { unpaired } : {}),
    source: b.ctx.source,
    hash,
    suggestedRead,
    ...(b.skipped.length > 0 ? { skipped: b.skipped } : {}),
  };
}
