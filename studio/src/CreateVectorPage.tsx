import { useState } from 'react';
import { api, type CreateVectorRequest } from './api';
import { JobProgress, useJob } from './JobProgress';
import { href } from './useHashRoute';

/** The one-click pipeline: a concept in, a registered vector out (POST /v1/vectors/create). */
export function CreateVectorPage({ onCreated }: { onCreated: () => void }) {
  const [name, setName] = useState('');
  const [concept, setConcept] = useState('');
  const [neutral, setNeutral] = useState('');
  const [count, setCount] = useState('');
  const [jobId, setJobId] = useState<string | null>(null);
  const [createdName, setCreatedName] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [submitting, setSubmitting] = useState(false);
  const { job, error: pollError } = useJob(jobId, (j) => {
    if (j.status === 'succeeded') onCreated();
  });
  const running = job !== null ? job.status === 'queued' || job.status === 'running' : jobId !== null && pollError === null;

  const submit = async (): Promise<void> => {
    const req: CreateVectorRequest = { name: name.trim(), concept: concept.trim() };
    if (neutral.trim() !== '') req.neutral = neutral.trim();
    if (count.trim() !== '') req.count = Number(count);
    setSubmitting(true);
    setError(null);
    try {
      const started = await api.createVector(req);
      setCreatedName(req.name);
      setJobId(started.id);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setSubmitting(false);
    }
  };

  return (
    <div className="page narrow">
      <h1>Create a vector from a concept</h1>
      <p className="muted">
        Steerer writes contrasting examples with and without the concept, extracts a direction per layer, then picks the layer and strength that bring out the concept at the
        least cost to coherence. This takes a while on larger models.
      </p>
      <form
        className="card form"
        data-testid="create-form"
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <label>
          Name
          <input value={name} onChange={(e) => setName(e.target.value)} required pattern="[A-Za-z0-9._\-]+" placeholder="sad" data-testid="create-name" />
        </label>
        <label>
          Concept
          <input value={concept} onChange={(e) => setConcept(e.target.value)} required placeholder="sadness and loss" data-testid="create-concept" />
        </label>
        <label>
          Neutral <span className="muted">(optional: what the contrast examples are about instead)</span>
          <input value={neutral} onChange={(e) => setNeutral(e.target.value)} placeholder="an ordinary day" data-testid="create-neutral" />
        </label>
        <label>
          Count <span className="muted">(optional: examples per side)</span>
          <input type="number" min={4} max={512} value={count} onChange={(e) => setCount(e.target.value)} placeholder="48" data-testid="create-count" />
        </label>
        {error !== null && <div className="notice error" data-testid="create-error">{error}</div>}
        <button type="submit" className="primary" disabled={submitting || running || name.trim() === '' || concept.trim() === ''} data-testid="create-submit">
          {running ? 'Creating…' : 'Create vector'}
        </button>
      </form>
      {jobId !== null && (
        <div className="card">
          <JobProgress job={job} error={pollError} testId="create-job" />
          {job?.status === 'succeeded' && createdName !== null && (
            <p>
              <a href={href({ page: 'vector', name: createdName })} data-testid="created-link">Open “{createdName}”</a> or{' '}
              <a href="#/chat">try it in the chat</a>.
            </p>
          )}
        </div>
      )}
    </div>
  );
}
