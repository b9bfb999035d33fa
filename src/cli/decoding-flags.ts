import path from 'node:path';
import { Command, Option } from 'commander';
import { InvalidInputError } from '../io/errors.js';
import type { DecodingSpec } from '../decoding/decoding-spec.js';
import { parseSteeringSpec } from '../steering/spec.js';
import { parseIntStrict, parseNumber } from './common.js';

/** Flags for the steering spec's `decoding` section (`steerer generate`). */
export interface DecodingFlags {
  bias?: string[];
  ban?: string[];
  frequencyPenalty?: string;
  presencePenalty?: string;
  contrast?: string;
  plausibility?: string;
  amateurPrompt?: string;
  cfg?: string;
  negativePrompt?: string;
  guide?: string;
  guideAlpha?: string;
  probe?: string;
  probeLayer?: string;
  probeClass?: string;
  rerank?: string;
  rerankWeight?: string;
  bestOf?: string;
  every?: string;
  by?: string;
}

export function addDecodingOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--bias <TEXT=VALUE...>', 'add VALUE to the logits of a word or phrase (#ID=VALUE for a token id)'))
    .addOption(new Option('--ban <text...>', 'never generate these words or phrases'))
    .option('--frequency-penalty <x>', 'logit −= x · times the token appeared')
    .option('--presence-penalty <x>', 'logit −= x if the token appeared')
    .option('--contrast <alpha>', 'contrastive decoding: unsteered + alpha · (steered − unsteered)')
    .option('--plausibility <beta>', 'contrastive decoding: keep tokens with p ≥ beta · p_max under the steered run', '0.1')
    .option('--amateur-prompt <text>', 'contrastive decoding against this prompt (same model) instead of the unsteered run')
    .option('--cfg <scale>', 'classifier-free guidance scale (1 = off)')
    .option('--negative-prompt <text>', 'CFG negative prompt (default: none, i.e. unconditional)')
    .option('--guide <EXPERT,BASE>', 'proxy-tuning: add alpha · (EXPERT − BASE) logits of two smaller models with the same vocabulary')
    .option('--guide-alpha <alpha>', 'proxy-tuning strength', '1')
    .option('--probe <file>', 'a probe (steerer probe train) for --rerank or --by probe')
    .option('--probe-layer <n>', "the probe's layer (default: its best)")
    .option('--probe-class <name>', 'the class the probe should favour (default: the positive one)')
    .option('--rerank <k>', 'rerank the top-k next tokens by the probe at every step')
    .option('--rerank-weight <w>', 'draw from log p + w · probe score', '1')
    .option('--best-of <n>', 'decode n candidates and keep the best (best-of-N)')
    .option('--every <tokens>', 'with --best-of: re-select every N tokens (chunk-level reranking)')
    .addOption(new Option('--by <what>', 'with --best-of: rank by perplexity under the unsteered model, or by the probe').choices(['perplexity', 'probe']).default('perplexity'));
}

/**
 * The `decoding` section the flags describe, laid over `fromSpec` (a spec file's section;
 * flags win key by key). Paths become absolute, so they mean the same from any spec folder.
 */
export function decodingFromFlags(flags: DecodingFlags, fromSpec: DecodingSpec | undefined): DecodingSpec | undefined {
  const num = (v: string | undefined, flag: string): number | undefined => (v === undefined ? undefined : parseNumber(v, flag));
  const out: Record<string, unknown> = { ...(fromSpec ?? {}) };
  const processors: unknown[] = [...(fromSpec?.processors ?? [])];
  for (const b of flags.bias ?? []) processors.push(parseBias(b));
  if (flags.ban?.length) processors.push({ type: 'ban', text: flags.ban });
  if (flags.frequencyPenalty !== undefined || flags.presencePenalty !== undefined) {
    processors.push({ type: 'frequency', frequency: num(flags.frequencyPenalty, '--frequency-penalty') ?? 0, presence: num(flags.presencePenalty, '--presence-penalty') ?? 0 });
  }
  out.processors = processors;
  if (flags.contrast !== undefined) {
    out.contrast = {
      alpha: num(flags.contrast, '--contrast'),
      plausibility: num(flags.plausibility, '--plausibility'),
      ...(flags.amateurPrompt !== undefined ? { amateur: { prompt: flags.amateurPrompt, steered: true } } : {}),
    };
  } else if (flags.amateurPrompt !== undefined) throw new InvalidInputError('--amateur-prompt needs --contrast');
  if (flags.cfg !== undefined) out.cfg = { scale: num(flags.cfg, '--cfg'), negativePrompt: flags.negativePrompt ?? '' };
  else if (flags.negativePrompt !== undefined) throw new InvalidInputError('--negative-prompt needs --cfg');
  if (flags.guide !== undefined) {
    const parts = flags.guide.split(',');
    if (parts.length !== 2 || parts.some((p) => p.trim() === '')) throw new InvalidInputError(`--guide expects EXPERT,BASE (two model paths), got "${flags.guide}"`);
    out.guide = { expert: path.resolve(parts[0].trim()), base: path.resolve(parts[1].trim()), alpha: num(flags.guideAlpha, '--guide-alpha') };
  }
  const probeRef = (): Record<string, unknown> => {
    if (!flags.probe) throw new InvalidInputError('--rerank and --by probe need --probe FILE');
    return {
      probe: path.resolve(flags.probe),
      ...(flags.probeLayer !== undefined ? { layer: parseIntStrict(flags.probeLayer, '--probe-layer') } : {}),
      ...(flags.probeClass !== undefined ? { class: flags.probeClass } : {}),
    };
  };
  if (flags.rerank !== undefined) out.rerank = { ...probeRef(), topK: parseIntStrict(flags.rerank, '--rerank'), weight: num(flags.rerankWeight, '--rerank-weight') };
  if (flags.bestOf !== undefined) {
    out.select = {
      candidates: parseIntStrict(flags.bestOf, '--best-of'),
      ...(flags.every !== undefined ? { every: parseIntStrict(flags.every, '--every', 1) } : {}),
      by: flags.by === 'probe' ? probeRef() : 'perplexity',
    };
  } else if (flags.every !== undefined) throw new InvalidInputError('--every needs --best-of');
  const empty = processors.length === 0 && Object.keys(out).length === 1;
  if (empty) return undefined;
  return parseSteeringSpec({ decoding: out }, 'decoding (from the flags)').decoding;
}

/** TEXT=VALUE or #ID=VALUE (the last "=" splits, so phrases may contain "="). */
function parseBias(arg: string): Record<string, unknown> {
  const at = arg.lastIndexOf('=');
  if (at <= 0) throw new InvalidInputError(`--bias expects TEXT=VALUE or #ID=VALUE, got "${arg}"`);
  const key = arg.slice(0, at);
  const bias = parseNumber(arg.slice(at + 1), `--bias ${arg}`);
  const id = /^#(\d+)$/.exec(key);
  return id ? { type: 'bias', tokens: [Number(id[1])], bias } : { type: 'bias', text: key, bias };
}
