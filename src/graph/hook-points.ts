import { InvalidInputError } from '../io/errors.js';

/**
 * Hook points, named as TransformerLens names them (`blocks.{l}.hook_resid_post`).
 * Within a layer they occur in this order; `resid_post` of layer l carries the same value
 * as `resid_pre` of layer l+1, but they are distinct points (post hooks run first).
 */
export const HOOK_SITES = ['resid_pre', 'attn_out', 'resid_mid', 'mlp_out', 'resid_post'] as const;
export type HookSite = (typeof HOOK_SITES)[number];

export interface HookPoint {
  readonly layer: number;
  readonly site: HookSite;
}

const SITE_COUNT = HOOK_SITES.length;

/** Total order of hook points through the forward pass. */
export function pointIndex(p: HookPoint): number {
  return p.layer * SITE_COUNT + HOOK_SITES.indexOf(p.site);
}

export function pointAt(index: number): HookPoint {
  return { layer: Math.floor(index / SITE_COUNT), site: HOOK_SITES[index % SITE_COUNT] };
}

export function lastPointIndex(numLayers: number): number {
  return numLayers * SITE_COUNT - 1;
}

export function hookName(p: HookPoint): string {
  return `blocks.${p.layer}.hook_${p.site}`;
}

const NAME_RE = /^blocks\.(\d+)\.hook_([a-z_]+)$/;

/** Parses `blocks.{l}.hook_{site}` and checks the layer exists. */
export function parseHookName(name: string, numLayers: number): HookPoint {
  const m = NAME_RE.exec(name);
  if (!m) throw new InvalidInputError(`unknown hook point "${name}": expected blocks.{layer}.hook_{${HOOK_SITES.join('|')}}`);
  const site = m[2] as HookSite;
  if (!HOOK_SITES.includes(site)) {
    throw new InvalidInputError(`unknown hook site "${m[2]}" in "${name}": expected one of ${HOOK_SITES.join(', ')}`);
  }
  return checkPoint({ layer: Number(m[1]), site }, numLayers);
}

export function checkPoint(p: HookPoint, numLayers: number): HookPoint {
  if (!Number.isInteger(p.layer) || p.layer < 0 || p.layer >= numLayers) {
    throw new InvalidInputError(`layer ${p.layer} does not exist: the model has layers 0..${numLayers - 1}`);
  }
  if (!HOOK_SITES.includes(p.site)) throw new InvalidInputError(`unknown hook site "${String(p.site)}"`);
  return p;
}

/** Whether the value at this site is the residual stream (vs. a branch output added to it). */
export function isResidualSite(site: HookSite): boolean {
  return site === 'resid_pre' || site === 'resid_mid' || site === 'resid_post';
}
