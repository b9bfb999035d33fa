import { lastPointIndex } from '../graph/hook-points.js';
import type { GraphIntervention, HeadMode, SegmentPlan } from '../graph/segment.js';
import type { ResolvedHook } from './hooks.js';

/**
 * Turns a set of hooks into segment plans. JavaScript edits split the pass; compiled
 * interventions and captures ride inside whichever segment computes their point. Without
 * a head, the pass stops at the last point any hook needs.
 */
export function planSegments(hooks: readonly ResolvedHook[], numLayers: number, head: HeadMode): SegmentPlan[] {
  const last = lastPointIndex(numLayers);
  const end = head !== 'none' ? last : Math.max(-1, ...hooks.map((h) => h.index));
  const breaks = [...new Set(hooks.filter((h) => h.hook.kind === 'edit').map((h) => h.index))].sort((a, b) => a - b);

  const segments: SegmentPlan[] = [];
  const make = (start: number, stop: number, breakAtEnd: boolean, segHead: HeadMode): SegmentPlan => {
    const interventions = new Map<number, GraphIntervention[]>();
    const captures = new Set<number>();
    for (const h of hooks) {
      if (h.index <= start || h.index > stop) continue;
      if (h.hook.kind === 'intervene') {
        const list = interventions.get(h.index) ?? [];
        list.push(h.hook.intervention);
        interventions.set(h.index, list);
      }
      // A capture at a break is taken in JS after the edits.
      if (h.hook.kind === 'capture' && !(breakAtEnd && h.index === stop)) captures.add(h.index);
    }
    return { start, end: stop, head: segHead, breakAtEnd, interventions, captures };
  };

  let start = -1;
  for (const b of breaks) {
    segments.push(make(start, b, true, 'none'));
    start = b;
  }
  if (start < end || head !== 'none') segments.push(make(start, end, false, head));
  return segments;
}

/** A cache key for a plan: same key, same graph. */
export function planKey(plan: SegmentPlan): string {
  const iv = [...plan.interventions.entries()].map(([p, list]) => `${p}:${list.map((i) => i.key).join('+')}`);
  return [plan.start, plan.end, plan.head, plan.breakAtEnd ? 'b' : '', iv.join(','), [...plan.captures].join(',')].join('|');
}
