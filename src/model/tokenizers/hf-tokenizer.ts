import { Tokenizer } from '@huggingface/tokenizers';
import { InvalidInputError, ModelFileError } from '../../io/errors.js';
import { markerTexts, type TextTokenizer } from '../tokenizer.js';

/** The parts of tokenizer.json the Tokenizer constructor insists on, present even when null. */
const REQUIRED_KEYS = ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder'] as const;

/** A TextTokenizer over @huggingface/tokenizers (tokenizer.json + tokenizer_config.json). */
export class HfTokenizer implements TextTokenizer {
  readonly vocabSize: number;
  readonly specialTexts: readonly string[];
  private readonly tok: Tokenizer;
  private readonly cleanUp: boolean;

  constructor(tokenizerJson: object, tokenizerConfig: object = {}, file = 'tokenizer.json') {
    const json: Record<string, unknown> = { ...(tokenizerJson as Record<string, unknown>) };
    if (typeof json.model !== 'object' || json.model === null) {
      throw new ModelFileError(file, 'has no "model" section: not a Hugging Face tokenizer.json');
    }
    for (const k of REQUIRED_KEYS) if (!(k in json)) json[k] = null;
    if (!Array.isArray(json.added_tokens)) json.added_tokens = [];
    const config = tokenizerConfig as Record<string, unknown>;
    // tokenizers.js defaults clean-up to true; transformers only cleans when the config asks.
    this.cleanUp = config.clean_up_tokenization_spaces === true;
    try {
      this.tok = new Tokenizer(json, config);
    } catch (e) {
      throw new ModelFileError(file, `cannot build the tokenizer (${(e as Error).message})`, { cause: e });
    }
    // The model's id → token array also holds the added tokens, so its length is max id + 1.
    this.vocabSize = this.tok.model?.vocab.length ?? 0;
    this.specialTexts = hfSpecialTexts(json.added_tokens as unknown[], config);
  }

  encode(text: string): number[] {
    if (text.length === 0) return [];
    const ids = this.tok.encode(text, { add_special_tokens: false }).ids;
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] === undefined) throw new InvalidInputError(`cannot tokenize ${JSON.stringify(text)}: a piece has no id and the tokenizer has no unknown token`);
    }
    return ids;
  }

  decode(ids: readonly number[]): string {
    // Ids past the vocabulary (padded embedding rows) have no text; tokenizers.js would crash on them.
    const known = ids.filter((id) => Number.isInteger(id) && this.tok.id_to_token(id) !== undefined);
    if (known.length === 0) return '';
    return this.tok.decode(known, { skip_special_tokens: true, clean_up_tokenization_spaces: this.cleanUp });
  }

  tokenToId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return Number.isInteger(id) && id >= 0 ? this.tok.id_to_token(id) : undefined;
  }
}

/** The text of a token entry: a string, or an object with a string `content` (AddedToken). */
function contentOf(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && typeof (v as Record<string, unknown>).content === 'string') return (v as Record<string, string>).content;
  return undefined;
}

/** Added tokens marked special (tokenizer.json and tokenizer_config.json) and the config's BOS/EOS. */
function hfSpecialTexts(addedTokens: readonly unknown[], config: Record<string, unknown>): string[] {
  const isSpecial = (t: unknown): boolean => typeof t === 'object' && t !== null && (t as Record<string, unknown>).special === true;
  const decoder = config.added_tokens_decoder;
  const fromConfig = typeof decoder === 'object' && decoder !== null ? Object.values(decoder) : [];
  return markerTexts([
    ...[...addedTokens, ...fromConfig].filter(isSpecial).map(contentOf),
    contentOf(config.bos_token),
    contentOf(config.eos_token),
  ]);
}

/** Wrap a parsed tokenizer.json (and optional tokenizer_config.json) as a TextTokenizer. */
export function tokenizerFromHfJson(tokenizerJson: object, tokenizerConfig?: object, file?: string): TextTokenizer {
  return new HfTokenizer(tokenizerJson, tokenizerConfig, file);
}
