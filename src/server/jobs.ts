import type { JobProgress, JobRow, Store } from './store.js';

/**
 * Background jobs (vector creation, judging): recorded in the store, run one at a time in
 * submission order, progress written as they go so GET /v1/jobs/:id can show a bar.
 */

type ReportProgress = (stage: string, done: number, total: number, fraction: number) => void;
type JobBody = (report: ReportProgress) => Promise<unknown>;

/** Progress rows are rewritten at most this often (a stage change always writes). */
const PROGRESS_EVERY_MS = 250;

export class JobRunner {
  private chain: Promise<void> = Promise.resolve();
  private pending = 0;

  /** `redact` cleans an error message before it is stored for clients to read. */
  constructor(
    private readonly store: Store,
    private readonly redact: (message: string) => string = (m) => m,
  ) {}

  /** Number of jobs queued or running. */
  get active(): number {
    return this.pending;
  }

  /** `owner`: the user the job belongs to (only they see it); '' for everyone's. */
  submit(kind: string, request: unknown, body: JobBody, owner = ''): JobRow {
    const job = this.store.createJob(kind, request, owner);
    this.pending++;
    // A job that cannot even record its end (the store closed under it) must not take the chain down.
    this.chain = this.chain
      .then(() => this.run(job.id, body))
      .catch(() => undefined)
      .finally(() => this.pending--);
    return job;
  }

  private async run(id: string, body: JobBody): Promise<void> {
    let last: JobProgress = { stage: 'starting', done: 0, total: 0, fraction: 0 };
    let written = 0;
    this.store.updateJob(id, { status: 'running', progress: last });
    const report: ReportProgress = (stage, done, total, fraction) => {
      const progress = { stage, done, total, fraction: Math.max(0, Math.min(1, fraction)) };
      const t = Date.now();
      if (stage !== last.stage || t - written >= PROGRESS_EVERY_MS || done === total) {
        this.store.updateJob(id, { progress });
        written = t;
      }
      last = progress;
    };
    try {
      const result = await body(report);
      this.store.updateJob(id, { status: 'succeeded', progress: { stage: 'done', done: last.total, total: last.total, fraction: 1 }, result: result ?? null });
    } catch (e) {
      this.store.updateJob(id, { status: 'failed', progress: last, error: this.redact(e instanceof Error ? e.message : String(e)) });
    }
  }
}
