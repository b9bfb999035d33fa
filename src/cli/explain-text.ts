/**
 * `vector info --explain` as text: the logit lens per layer, the index passages reading highest
 * and lowest along the direction, and the library's most similar and opposite vectors.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ModelFileError } from '../io/errors.js';
import type { VectorExplanation } from '../explore/explain-vector.js';
import type { Passage } from '../explore/passages.js';
import type { NamedVector } from '../steering/similar-vectors.js';
import { loadVector } from '../steering/vector-file.js';
import type { TokenWeight } from '../sae/logit-lens.js';

/** A token as shown in a list: quoted, with spaces and newlines visible. */
function tok(t: TokenWeight): string {
  return JSON.stringify(t.token);
}

/** The passage in «guillemets» within its context, on one line. */
function passageLine(p: Passage): string {
  const text = `${p.tokens.slice(0, p.start).join('')}«${p.tokens.slice(p.start, p.end).join('')}»${p.tokens.slice(p.end).join('')}`;
  return `  ${p.score.toFixed(2).padStart(8)}  ${text.replace(/\n/g, '⏎').replace(/\t/g, '⇥')}`;
}

export function explanationText(e: VectorExplanation): string {
  const out: string[] = ['', 'tokens each layer pushes up (+) and down (−) through the unembedding (logit lens)'];
  for (const l of e.logits) {
    out.push(`layer ${l.layer ?? '-'}  + ${l.promoted.map(tok).join(' ')}`);
    out.push(`${' '.repeat(`layer ${l.layer ?? '-'}`.length)}  − ${l.suppressed.map(tok).join(' ')}`);
  }
  out.push('');
  if (e.contexts) {
    const c = e.contexts;
    const what = c.span === 1 ? 'tokens' : `${c.span}-token passages`;
    out.push(`${what} reading highest along the direction («matched»; mean projection of centred ${c.hook} activations, ${c.rows.toLocaleString('en-US')} rows of the index)`);
    out.push(...c.highest.map(passageLine), '', `${what} reading lowest`, ...c.lowest.map(passageLine));
  } else {
    out.push(`contexts: none (${e.contextsSkipped ?? 'no index'})`);
  }
  if (e.similar) {
    const s = e.similar;
    const line = (v: { name: string; cosine: number }): string => `  ${v.cosine.toFixed(3).padStart(7)}  ${v.name}`;
    out.push('', 'vectors like this one (mean cosine over shared layers)', ...(s.similar.length > 0 ? s.similar.map(line) : ['  (none comparable)']));
    if (s.opposite.length > 0) out.push('', 'vectors opposite to it', ...s.opposite.map(line));
    if (s.skipped.length > 0) out.push('', `not comparable: ${s.skipped.map((k) => `${k.name} (${k.reason})`).join('; ')}`);
  }
  return `${out.join('\n')}\n`;
}

/**
 * Vector files named by --library: files as given, folders by their *.safetensors / *.gguf files.
 * In a folder, a file that is not a steering vector (a probe, an SAE) is passed over; a file named
 * on its own must load.
 */
export function readLibrary(entries: readonly string[]): NamedVector[] {
  const out: NamedVector[] = [];
  for (const entry of entries) {
    if (fs.existsSync(entry) && fs.statSync(entry).isDirectory()) {
      for (const name of fs.readdirSync(entry).sort()) {
        if (!/\.(safetensors|gguf)$/.test(name)) continue;
        const file = path.join(entry, name);
        try {
          out.push({ name: file, vector: loadVector(file) });
        } catch (e) {
          if (!(e instanceof ModelFileError)) throw e;
        }
      }
    } else {
      out.push({ name: entry, vector: loadVector(entry) });
    }
  }
  return out;
}
