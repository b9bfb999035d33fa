import { useEffect, useRef, useState } from 'react';
import { api, type Job } from './api';

const POLL_MS = 400;

/**
 * Polls GET /v1/jobs/:id until the job ends, returning its latest state; `onEnd` runs once
 * when it succeeds or fails. A null id polls nothing.
 */
export function useJob(id: string | null, onEnd?: (job: Job) => void): { job: Job | null; error: string | null } {
  const [job, setJob] = useState<Job | null>(null);
  const [error, setError] = useState<string | null>(null);
  // The latest callback, so a re-render with a new closure does not restart polling.
  const onEndRef = useRef(onEnd);
  onEndRef.current = onEnd;

  useEffect(() => {
    setJob(null);
    setError(null);
    if (id === null) return;
    let stopped = false;
    let timer: number | undefined;
    const poll = async (): Promise<void> => {
      try {
        const j = await api.job(id);
        if (stopped) return;
        setJob(j);
        if (j.status === 'succeeded' || j.status === 'failed') {
          onEndRef.current?.(j);
          return;
        }
      } catch (e) {
        if (stopped) return;
        setError(e instanceof Error ? e.message : String(e));
        return;
      }
      timer = window.setTimeout(() => void poll(), POLL_MS);
    };
    void poll();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, [id]);

  return { job, error };
}

/** A progress bar with the job's stage and percentage, then its outcome. */
export function JobProgress({ job, error, testId }: { job: Job | null; error: string | null; testId: string }) {
  if (error !== null) return <div className="notice error" data-testid={`${testId}-error`}>{error}</div>;
  if (job === null) return <div className="job" data-testid={testId}>Starting…</div>;
  const percent = Math.round(job.progress.fraction * 100);
  const ended = job.status === 'succeeded' || job.status === 'failed';
  // Counts belong to the running stage; once the job has ended they only confuse ("done (7/12)").
  const counts = !ended && job.progress.total > 0 ? ` (${job.progress.done}/${job.progress.total})` : '';
  const stage = job.status === 'queued' ? 'Queued' : job.status === 'succeeded' ? 'Finished' : capitalise(job.progress.stage);
  return (
    <div className="job" data-testid={testId} data-status={job.status}>
      <div className="job-line">
        <span data-testid={`${testId}-stage`}>{stage}{counts}</span>
        <span data-testid={`${testId}-percent`}>{percent}%</span>
      </div>
      <div className="progress" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={percent}>
        <div className={`progress-fill ${job.status}`} style={{ width: `${percent}%` }} />
      </div>
      {job.status === 'failed' && <div className="notice error" data-testid={`${testId}-error`}>Failed: {job.error ?? 'unknown error'}</div>}
    </div>
  );
}

const capitalise = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);
