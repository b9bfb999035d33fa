import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { CompiledSegment, SegmentPlan } from '../graph/segment.js';
import { InvalidInputError } from '../io/errors.js';
import type { PackedWeights } from '../model/packed-weights.js';
import { deviceError, executionProviders, type Device } from './device.js';
import { planKey } from './segment-plan.js';
import { createSession } from '../graph/create-session.js';

/**
 * One ONNX Runtime session per compiled plan (a set of hooks), created on first use and kept.
 * A model with packed weights is the exception: each of its sessions holds its own prepacked
 * copy of the weights, so only the most recently used few are kept (as many as memory allows).
 */

/**
 * Sessions kept for a model with packed weights by default: as many prepacked copies (about 1.3×
 * the packed bytes each, measured) as fit in 40 % of the machine's memory, 1 to 16. A small model
 * keeps every plan of a vector search; an 8B model on 24 GB keeps one.
 */
function defaultMaxPackedSessions(packedBytes: number): number {
  return Math.max(1, Math.min(16, Math.floor((0.4 * os.totalmem()) / (1.3 * Math.max(1, packedBytes)))));
}

interface SessionEntry {
  readonly ready: Promise<{
    session: ort.InferenceSession;
    inputNames: readonly string[];
    /** The graph's outputs but `name` (one the run leaves inside ONNX Runtime), computed once per name. */
    fetchesWithout: (name: string) => readonly string[];
  }>;
  /** Runs in progress: an entry is never released while it is running. */
  inFlight: number;
}

export class SessionCache {
  /** By plan key, least recently used first. */
  private readonly sessions = new Map<string, SessionEntry>();
  private readonly maxPacked: number;

  constructor(
    private readonly compile: (plan: SegmentPlan) => CompiledSegment,
    private readonly where: { readonly threads: number; readonly device: Device },
    private readonly packed: PackedWeights | undefined,
    maxPackedSessions?: number,
  ) {
    if (maxPackedSessions !== undefined && (!Number.isInteger(maxPackedSessions) || maxPackedSessions < 1)) {
      throw new InvalidInputError(`maxPackedSessions must be a positive integer, got ${maxPackedSessions}`);
    }
    this.maxPacked = maxPackedSessions ?? defaultMaxPackedSessions(packed?.bytes ?? 0);
  }

  get(plan: SegmentPlan): SessionEntry {
    const key = planKey(plan);
    const hit = this.sessions.get(key);
    if (hit) {
      // Most recently used last.
      this.sessions.delete(key);
      this.sessions.set(key, hit);
      return hit;
    }
    const compiled = this.compile(plan);
    const options: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: this.where.threads,
      executionProviders: executionProviders(this.where.device),
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
      // Worker threads spin between the ops of a run, and stop spinning when the run ends.
      // A decode step is hundreds of short ops; waking sleeping threads for each cost 20-30 %
      // of a SmolLM2-shape step (Q4_0 8.0 → 6.1 ms, F32 27.5 → 23.6 ms, measured interleaved
      // in one process). Left spinning after a run (ONNX Runtime's default), they starved the
      // next session and the JS work between calls: contrastive decoding ran 2.2× plain
      // instead of 1.2× on 2 cores. With the stop, alternating sessions gain too (F32 contrast
      // 69.9 → 54.1 ms a token).
      extra: {
        session: {
          'intra_op.allow_spinning': '1',
          force_spinning_stop: '1',
          // Float32 weights mapped from the model file are used where they lie: prepacking would
          // give every session its own copy of them. Measured: matmuls as fast without it.
          ...(this.packed && this.packed.matrices.size === 0 ? { disable_prepacking: '1' } : {}),
        },
      },
    };
    // Packed weights are external data of the graph, so the graph is a file beside them (ONNX
    // Runtime resolves external data only inside the model's own directory).
    const device = this.where.device;
    const created = (this.packed ? createSession(graphFile(this.packed, compiled.bytes), options) : createSession(compiled.bytes, options)).catch(
      (e: unknown) => Promise.reject(deviceError(device, e)),
    );
    const fetches = new Map<string, readonly string[]>();
    const fetchesWithout = (name: string): readonly string[] => {
      let f = fetches.get(name);
      if (!f) fetches.set(name, (f = compiled.outputNames.filter((n) => n !== name)));
      return f;
    };
    const ready = created.then((session) => ({ session, inputNames: compiled.inputNames, fetchesWithout }));
    const entry: SessionEntry = { ready, inFlight: 0 };
    this.sessions.set(key, entry);
    ready.catch(() => this.sessions.delete(key));
    if (this.packed) this.evictIdle(this.maxPacked);
    return entry;
  }

  /** Releases least recently used sessions not running now, down to `keep`. */
  private evictIdle(keep: number): void {
    for (const [key, entry] of this.sessions) {
      if (this.sessions.size <= keep) break;
      if (entry.inFlight > 0) continue;
      this.sessions.delete(key);
      void entry.ready.then((s) => s.session.release(), () => {});
    }
  }

  async dispose(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await (await s.ready).session.release();
  }
}

/** Writes a compiled graph beside the packed weights it reads (once per distinct graph) and returns its path. */
function graphFile(packed: PackedWeights, bytes: Uint8Array): string {
  const file = path.join(packed.dir, `graph-${createHash('sha256').update(bytes).digest('hex').slice(0, 24)}.onnx`);
  if (!fs.existsSync(file)) {
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    fs.writeFileSync(tmp, bytes);
    fs.renameSync(tmp, file);
  }
  return file;
}
