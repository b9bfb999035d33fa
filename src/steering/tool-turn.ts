import type { ChatMessage } from '../model/chat-template.js';
import { HERMES_CALL_END, HERMES_CALL_START, type ToolCall, type ToolCallFormat, type ToolChatMessage } from '../model/chat-tools.js';
import { scanSegment } from '../model/tool-call-scan.js';
import type { Hook } from '../runtime/hooks.js';
import type { HookedModel } from '../runtime/model.js';
import { StopMatcher, StopSet } from '../runtime/stop.js';
import { specialStopTexts } from '../decoding/special-text.js';
import type { SwitchController, TokenOutcome } from '../decoding/switching.js';
import { choiceHooks, choiceIntervention, type OfferedVector } from './choice-vectors.js';
import type { ModelShape } from './model-match.js';
import type { ResolvedIntervention, SpecResolver } from './spec.js';

/**
 * One reply in tools mode, as the switching loop's controller: it reads the reply as it grows,
 * shows only the text outside tool calls (through the stop strings), and at a finished call
 * checks it, switches the steering from the token after the call on and has the tool's answer
 * fed back. A call is never fatal: a bad one is ignored, and the model is told why.
 */

/** One call the model made, as reported. */
export interface ChoiceEvent {
  /** Which sampled token of the reply ended the call (0-based). */
  readonly token: number;
  /** The call as the model wrote it (never part of the reply text). */
  readonly call: string;
  readonly status: 'applied' | 'ignored';
  /** Why an ignored call was ignored. */
  readonly reason?: string;
  readonly vector?: string;
  readonly strength?: number;
  /** Absolute position from which the call holds: the first token after it. */
  readonly from?: number;
  /** What an applied vector resolved to (layers, coefficient); absent when strength 0 turned steering off. */
  readonly resolved?: ResolvedIntervention;
}

/** What a turn needs from its ToolChooser (./choose-tools.ts). */
interface TurnChooser {
  readonly scanFormat: ToolCallFormat;
  readonly vectors: readonly OfferedVector[];
  readonly choice: { readonly maxStrength: number; readonly maxCalls: number };
  answerText(conversation: readonly ToolChatMessage[], before: string, call: ToolCall, answer: string): string;
}

interface TurnSetup {
  readonly model: HookedModel;
  readonly chooser: TurnChooser;
  readonly conversation: readonly ChatMessage[];
  readonly baseHooks: readonly Hook[];
  readonly offer: { readonly model: ModelShape; readonly resolve: SpecResolver; readonly force: boolean };
  readonly stop: readonly string[];
  readonly onText?: (delta: string) => void;
}

type Decision = { readonly call: ToolCall } & ({ readonly ok: true; readonly vector: OfferedVector; readonly strength: number } | { readonly ok: false; readonly reason: string });

export class ToolTurn implements SwitchController {
  private segment: number[] = [];
  /** Reply text of the segments before the current one (text before each call). */
  private shown = '';
  private text = '';
  private stopped = false;
  private tokenCount = 0;
  private hooks: readonly Hook[];
  private readonly events: ChoiceEvent[] = [];
  private readonly applied: { intervention: Record<string, unknown>; from: number; open: boolean }[] = [];
  private readonly conversation: ToolChatMessage[];
  private readonly matcher: StopMatcher;
  /** Call markers that are special tokens (decode() drops those): id → text. */
  private readonly markerIds = new Map<number, string>();

  constructor(private readonly s: TurnSetup) {
    this.hooks = s.baseHooks;
    this.conversation = [...s.conversation];
    const callMarkers = [HERMES_CALL_START, HERMES_CALL_END];
    // The reply stops at special-token text as generate does, except at the call markers.
    this.matcher = new StopMatcher(new StopSet(s.stop, specialStopTexts(s.model).filter((m) => !callMarkers.includes(m))));
    for (const m of callMarkers) {
      const id = s.model.tokenizer.tokenToId(m);
      if (id !== undefined && s.model.tokenizer.decode([id]) === '') this.markerIds.set(id, m);
    }
  }

  onToken(id: number, position: number): TokenOutcome {
    if (this.stopped) return { stop: true };
    this.tokenCount++;
    this.segment.push(id);
    const raw = this.raw();
    const scan = scanSegment(this.s.chooser.scanFormat, raw, false);
    if (this.show(this.shown + raw.slice(0, scan.visible))) return { stop: true };
    if (!scan.call) return {};
    const before = raw.slice(0, scan.call.start);
    const decision = this.decide(scan.call.body);
    const answer = this.act(decision, raw.slice(scan.call.start, scan.call.end), position + 1);
    const feed = this.s.chooser.answerText(this.conversation, before, decision.call, answer);
    this.conversation.push({ role: 'assistant', content: before, tool_calls: [{ type: 'function', function: decision.call }] }, { role: 'tool', name: decision.call.name, content: answer });
    this.shown += before;
    this.segment = [];
    return { switchTo: { hooks: this.hooks, feed: this.s.model.encode(feed, { addBos: false }) } };
  }

  /** At the end of generation: the rest of the reply text, and what was chosen. */
  finish(): { text: string; stopped: boolean; events: ChoiceEvent[]; applied: Record<string, unknown>[] } {
    if (!this.stopped) {
      const raw = this.raw();
      const scan = scanSegment(this.s.chooser.scanFormat, raw, true);
      if (scan.unfinished) {
        this.events.push({ token: this.tokenCount - 1, call: raw.slice(scan.unfinished.start), status: 'ignored', reason: 'the call was not finished before the reply ended' });
      }
      if (!this.show(this.shown + raw.slice(0, scan.visible))) this.emit(this.matcher.flush());
    }
    const applied = this.applied.map((a) => a.intervention);
    return { text: this.text, stopped: this.stopped, events: [...this.events], applied };
  }

  /** Pushes the reply text so far through the stop strings; true when one was found. */
  private show(visible: string): boolean {
    const pushed = this.matcher.push(visible);
    this.emit(pushed.emit);
    if (pushed.stopped) this.stopped = true;
    return this.stopped;
  }

  private emit(delta: string): void {
    if (delta === '') return;
    this.text += delta;
    this.s.onText?.(delta);
  }

  /** The segment's text, call markers that are special tokens spelled out. */
  private raw(): string {
    const decode = (ids: number[]): string => (ids.length ? this.s.model.tokenizer.decode(ids) : '');
    if (this.markerIds.size === 0) return decode(this.segment);
    let out = '';
    let run: number[] = [];
    for (const id of this.segment) {
      const marker = this.markerIds.get(id);
      if (marker === undefined) run.push(id);
      else {
        out += decode(run) + marker;
        run = [];
      }
    }
    return out + decode(run);
  }

  private decide(body: string): Decision {
    const calls = this.events.length;
    let value: unknown;
    try {
      value = JSON.parse(body);
    } catch (e) {
      return { ok: false, call: { name: 'steer', arguments: {} }, reason: `the call is not valid JSON (${(e as Error).message.slice(0, 120)})` };
    }
    const o = value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
    let args: unknown = o.arguments ?? o.parameters;
    // OpenAI-style calls carry the arguments as a JSON string.
    if (typeof args === 'string') {
      try {
        args = JSON.parse(args);
      } catch {
        // reported below as not an object
      }
    }
    const name = typeof o.name === 'string' ? o.name : '';
    const argObj = args !== null && typeof args === 'object' && !Array.isArray(args) ? (args as Record<string, unknown>) : undefined;
    const call: ToolCall = { name: name || 'steer', arguments: argObj ?? {} };
    const fail = (reason: string): Decision => ({ ok: false, call, reason });
    const { maxStrength, maxCalls } = this.s.chooser.choice;
    if (name !== 'steer') return fail(name ? `there is no tool "${name}"; the one tool is "steer"` : 'the call names no tool');
    if (!argObj) return fail('the call has no arguments object');
    if (calls >= maxCalls) return fail(`only ${maxCalls} calls are acted on per reply`);
    const names = this.s.chooser.vectors.map((v) => v.name);
    const vector = this.s.chooser.vectors.find((v) => v.name === argObj.vector);
    if (!vector) return fail(typeof argObj.vector === 'string' ? `there is no vector "${argObj.vector.slice(0, 64)}"; offered: ${names.join(', ')}` : `"vector" must be one of ${names.join(', ')}`);
    const strength = argObj.strength ?? 1;
    if (typeof strength !== 'number' || !Number.isFinite(strength)) return fail(`"strength" must be a number, got ${JSON.stringify(strength).slice(0, 40)}`);
    if (strength < 0 || strength > maxStrength) return fail(`strength ${strength} is outside 0..${maxStrength}`);
    return { ok: true, call, vector, strength };
  }

  /** Applies (or ignores) a call; returns the tool's answer as the model will read it. */
  private act(d: Decision, callText: string, from: number): string {
    const token = this.tokenCount - 1;
    if (!d.ok) {
      this.events.push({ token, call: callText, status: 'ignored', reason: d.reason, from });
      return JSON.stringify({ error: d.reason });
    }
    // A new choice (or strength 0) ends the one in force.
    const last = this.applied[this.applied.length - 1];
    if (last?.open) Object.assign(last, { intervention: { ...last.intervention, positions: { from: last.from, to: from } }, open: false });
    let resolved: ResolvedIntervention | undefined;
    if (d.strength === 0) this.hooks = this.s.baseHooks;
    else {
      const positions = { from };
      this.hooks = [...this.s.baseHooks, ...choiceHooks(d.vector, d.strength, positions, this.s.offer, `steer call ${this.events.length}`, (r) => (resolved = r))];
      this.applied.push({ intervention: choiceIntervention(d.vector, d.strength, positions), from, open: true });
    }
    this.events.push({ token, call: callText, status: 'applied', vector: d.vector.name, strength: d.strength, from, ...(resolved ? { resolved } : {}) });
    return JSON.stringify(d.strength === 0 ? { applied: null, steering: 'off' } : { applied: { vector: d.vector.name, strength: d.strength } });
  }
}
