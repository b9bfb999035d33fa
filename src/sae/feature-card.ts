/**
 * A feature's page: statistics, top contexts and logit effects, as plain text for the terminal
 * and as one self-contained HTML page (Neuronpedia style: context tokens shaded by activation).
 */
import { InvalidInputError } from '../io/errors.js';
import { hookName } from '../graph/hook-points.js';
import type { HookedModel } from '../runtime/model.js';
import type { FeatureContext, FeatureIndex, FeatureIndexSae, FeatureSummary } from './feature-index.js';
import { featureLogitEffects, type TokenWeight } from './logit-lens.js';
import { checkFeature, type Sae } from './sae.js';

export interface FeatureCard {
  readonly sae: FeatureIndexSae;
  readonly feature: number;
  readonly summary: FeatureSummary;
  readonly promoted: readonly TokenWeight[];
  readonly suppressed: readonly TokenWeight[];
  readonly label?: string;
}

interface FeatureCardOptions {
  /** Promoted and suppressed tokens listed (default 10). */
  readonly top?: number;
  /** Human labels by feature. */
  readonly labels?: ReadonlyMap<number, string>;
}

function checkIndexFits(sae: Sae, index: FeatureIndex): void {
  const { dIn, dSae } = sae.cfg;
  const hook = hookName(sae.cfg.hook);
  if (index.sae.dSae !== dSae || index.sae.dIn !== dIn || index.sae.hook !== hook) {
    throw new InvalidInputError(
      `the feature index is for an SAE with ${index.sae.dSae} features over ${index.sae.dIn} dims at ${index.sae.hook}, not this one (${dSae} over ${dIn} at ${hook})`,
    );
  }
}

/** Cards for several features, their logit effects computed in one pass. */
export async function featureCards(model: HookedModel, sae: Sae, index: FeatureIndex, features: readonly number[], opts: FeatureCardOptions = {}): Promise<FeatureCard[]> {
  checkIndexFits(sae, index);
  for (const f of features) checkFeature(sae, f);
  const effects = await featureLogitEffects(model, sae, features, { top: opts.top ?? 10 });
  return features.map((feature, i) => {
    const label = opts.labels?.get(feature);
    return {
      sae: index.sae,
      feature,
      summary: index.features[feature],
      promoted: effects[i].promoted,
      suppressed: effects[i].suppressed,
      ...(label === undefined ? {} : { label }),
    };
  });
}

export async function featureCard(model: HookedModel, sae: Sae, index: FeatureIndex, feature: number, opts: { top?: number; label?: string } = {}): Promise<FeatureCard> {
  const labels = opts.label === undefined ? undefined : new Map([[feature, opts.label]]);
  const [card] = await featureCards(model, sae, index, [feature], { top: opts.top, labels });
  return card;
}

// ---------------------------------------------------------------------------------------------
// Shared formatting

/** Numbers for people: 4 significant digits, no exponent unless tiny. */
function num(x: number): string {
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a < 1e-3) return x.toExponential(2);
  return a >= 1000 ? x.toFixed(0) : x.toPrecision(4);
}

function percent(f: number): string {
  const p = f * 100;
  if (p === 0) return '0%';
  return `${p >= 0.01 ? p.toFixed(2) : p.toPrecision(2)}%`;
}

/** Whitespace and control characters made visible, so a token never breaks a line. */
function visible(token: string): string {
  return token.replace(/\r\n|\n|\r/g, '↵').replace(/\t/g, '⇥').replace(/[\u0000-\u001f\u007f]/g, '·');
}

function statsLine(card: FeatureCard): string {
  const s = card.summary;
  const parts = [card.sae.hook];
  if (card.sae.modelName) parts.push(card.sae.modelName);
  parts.push(`fires on ${percent(s.frequency)} of tokens`, `mean ${num(s.meanActivation)}`, `max ${num(s.maxActivation)}`);
  return parts.join(' · ');
}

// ---------------------------------------------------------------------------------------------
// Text

const WIDTH = 100;
const chars = (s: string): string[] => Array.from(s);

function clipStart(s: string, n: number): string {
  const c = chars(s);
  if (c.length <= n) return s;
  return n <= 0 ? '' : `…${c.slice(c.length - n + 1).join('')}`;
}

function clipEnd(s: string, n: number): string {
  const c = chars(s);
  if (c.length <= n) return s;
  return n <= 0 ? '' : `${c.slice(0, n - 1).join('')}…`;
}

/** The window on one line of `width` characters, the focus token in «», more room to its left. */
function contextText(c: FeatureContext, width: number): string {
  const before = c.tokens.slice(0, c.focus).map(visible).join('');
  const focus = `«${visible(c.tokens[c.focus] ?? '')}»`;
  const after = c.tokens.slice(c.focus + 1).map(visible).join('');
  const room = Math.max(0, width - chars(focus).length);
  const right = Math.min(chars(after).length, Math.max(room - chars(before).length, Math.floor(room / 3)));
  return `${clipStart(before, room - right)}${focus}${clipEnd(after, right)}`;
}

function tokenList(name: string, tokens: readonly TokenWeight[]): string[] {
  const indent = ' '.repeat(name.length + 2);
  const lines: string[] = [];
  let line = `${name}: `;
  for (const t of tokens) {
    const item = `${JSON.stringify(t.token)} ${t.weight >= 0 ? '+' : ''}${num(t.weight)}`;
    if (line.length > indent.length && chars(line).length + item.length + 2 > WIDTH) {
      lines.push(line.trimEnd());
      line = indent;
    }
    line += `${item}  `;
  }
  lines.push(line.trimEnd());
  return lines;
}

/** The card for a terminal: stats, one line per top context, promoted/suppressed tokens. */
export function renderFeatureCardText(card: FeatureCard): string {
  const lines = [`Feature ${card.feature}${card.label ? ` — ${card.label}` : ''}`, statsLine(card)];
  const { contexts } = card.summary;
  if (contexts.length === 0) {
    lines.push('', 'Never fired on the indexed tokens.');
  } else {
    lines.push('', 'Top contexts:');
    for (const c of contexts) {
      const act = num(c.activation).padStart(9);
      lines.push(`${act}  ${contextText(c, WIDTH - act.length - 2)}`);
    }
  }
  lines.push('', ...tokenList('Promoted', card.promoted), ...tokenList('Suppressed', card.suppressed));
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// HTML

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** Bars of the log-spaced activation histogram, as a small inline SVG. */
function histogramSvg(summary: FeatureSummary): string {
  const { edges, counts } = summary.histogram;
  if (counts.length === 0) return '';
  const W = 320;
  const H = 90;
  const top = 6;
  const bottom = 18;
  const plotH = H - top - bottom;
  const bw = W / counts.length;
  const most = Math.max(...counts, 1);
  const bars = counts
    .map((c, i) => {
      const h = (c / most) * plotH;
      const tip = `${num(edges[i])} – ${num(edges[i + 1])}: ${c}`;
      return `<rect x="${(i * bw + 0.5).toFixed(1)}" y="${(top + plotH - h).toFixed(1)}" width="${(bw - 1).toFixed(1)}" height="${h.toFixed(1)}" fill="#e8772e"><title>${esc(tip)}</title></rect>`;
    })
    .join('');
  const axis = `<line x1="0" y1="${top + plotH}" x2="${W}" y2="${top + plotH}" stroke="#999"/>`;
  const labels =
    `<text x="0" y="${H - 4}" font-size="10" fill="#555">${esc(num(edges[0]))}</text>` +
    `<text x="${W / 2}" y="${H - 4}" font-size="10" fill="#777" text-anchor="middle">activation (log scale)</text>` +
    `<text x="${W}" y="${H - 4}" font-size="10" fill="#555" text-anchor="end">${esc(num(edges[edges.length - 1]))}</text>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="histogram of nonzero activations">${bars}${axis}${labels}</svg>`;
}

function contextHtml(c: FeatureContext, max: number): string {
  const tokens = c.tokens
    .map((tok, i) => {
      const a = c.activations[i] ?? 0;
      const alpha = max > 0 ? Math.min(1, Math.max(0, a / max)) : 0;
      const cls = i === c.focus ? 't focus' : 't';
      const style = alpha > 0 ? ` style="background:rgba(232,119,46,${alpha.toFixed(3)})"` : '';
      return `<span class="${cls}"${style} title="${esc(`${JSON.stringify(tok)}: ${num(a)}`)}">${esc(visible(tok))}</span>`;
    })
    .join('');
  return `<div class="ctx"><span class="act">${esc(num(c.activation))}</span><span class="text">${tokens}</span></div>`;
}

function weightsHtml(name: string, tokens: readonly TokenWeight[]): string {
  const items = tokens.map((t) => `<li><code>${esc(JSON.stringify(t.token))}</code> <span class="w">${esc(`${t.weight >= 0 ? '+' : ''}${num(t.weight)}`)}</span></li>`).join('');
  return `<div><h4>${esc(name)}</h4><ul>${items}</ul></div>`;
}

function cardHtml(card: FeatureCard): string {
  const s = card.summary;
  const label = card.label ? ` <span class="label">${esc(card.label)}</span>` : '';
  const contexts = s.contexts.length === 0 ? '<p class="dead">Never fired on the indexed tokens.</p>' : s.contexts.map((c) => contextHtml(c, s.maxActivation)).join('\n');
  return `<section class="card" id="feature-${card.feature}">
<h2>Feature ${card.feature}${label}</h2>
<p class="meta">${esc(statsLine(card))}</p>
<div class="cols">${histogramSvg(s)}${weightsHtml('Promoted tokens', card.promoted)}${weightsHtml('Suppressed tokens', card.suppressed)}</div>
<h3>Top contexts</h3>
${contexts}
</section>`;
}

const CSS = [
  'body{font:14px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}',
  '.card{border:1px solid #ddd;border-radius:6px;padding:0.5em 1em 1em;margin:1.5em 0}',
  '.meta{color:#555}.label{color:#a24d10;font-weight:normal}',
  '.cols{display:flex;gap:2em;align-items:flex-start;flex-wrap:wrap}.cols ul{margin:0;padding-left:1.2em}.cols h4{margin:0 0 0.3em}',
  '.ctx{font:13px/1.9 ui-monospace,monospace;white-space:nowrap;overflow-x:auto}',
  '.act{display:inline-block;width:5em;color:#777}',
  '.t{white-space:pre;border-radius:2px}.focus{outline:1px solid #a24d10;font-weight:600}',
  '.w{color:#555}.dead{color:#777;font-style:italic}',
].join('');

/** Cards as one self-contained HTML page (inline SVG and CSS, no scripts, no fetches). */
export function renderFeatureCardsHtml(cards: readonly FeatureCard[], title: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><style>${CSS}</style></head><body>
<h1>${esc(title)}</h1>
${cards.map(cardHtml).join('\n')}
</body></html>
`;
}
