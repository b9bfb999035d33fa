import { useState } from 'react';
import { api, type Pick3, type RatingInput, type Score } from './api';
import { BASE, STEERED, type Turn } from './chat-types';
import { describeSteering } from './steering';

interface Props {
  turn: Turn;
  onRated: (ratingId: string) => void;
}

type Scores = { concept: Score | null; coherence: Score | null };
const NO_SCORES: Scores = { concept: null, coherence: null };
const SCORES: Score[] = [1, 2, 3, 4, 5];

/** The two replies of a blind turn as A and B: build the rating request from the form. */
function ratingInput(turn: Turn, concept: Pick3 | null, coherence: Pick3 | null, scoresA: Scores, scoresB: Scores): RatingInput | string {
  const base = turn.replies[BASE];
  const steered = turn.replies[STEERED];
  if (base === undefined || steered === undefined || turn.steeredSide === undefined) return 'This turn has no pair of replies.';
  const [a, b] = turn.steeredSide === 'a' ? [steered, base] : [base, steered];

  const input: RatingInput = {
    prompt: turn.prompt,
    messages: turn.messages,
    seed: turn.seed,
    a: { text: a.text, steering: a.steering },
    b: { text: b.text, steering: b.steering },
    blind: true,
  };
  if (turn.concept !== undefined) input.concept = turn.concept;
  if (turn.chatId !== undefined) input.chatId = turn.chatId;

  if (concept !== null || coherence !== null) {
    if (concept === null || coherence === null) return 'Pick A, B or tie for both questions.';
    input.preference = { concept, coherence };
  }
  const given = [scoresA.concept, scoresA.coherence, scoresB.concept, scoresB.coherence];
  if (given.some((s) => s !== null)) {
    if (scoresA.concept === null || scoresA.coherence === null || scoresB.concept === null || scoresB.coherence === null) {
      return 'Give all four 1-5 scores, or none.';
    }
    input.scores = {
      a: { concept: scoresA.concept, coherence: scoresA.coherence },
      b: { concept: scoresB.concept, coherence: scoresB.coherence },
    };
  }
  if (input.preference === undefined && input.scores === undefined) return 'Pick which reply is more on-concept and which is more coherent.';
  return input;
}

/** The blind A/B rating form under a turn, then the confirmation and the reveal. */
export function RatingView({ turn, onRated }: Props) {
  const [concept, setConcept] = useState<Pick3 | null>(null);
  const [coherence, setCoherence] = useState<Pick3 | null>(null);
  const [scoresA, setScoresA] = useState<Scores>(NO_SCORES);
  const [scoresB, setScoresB] = useState<Scores>(NO_SCORES);
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);

  if (turn.ratingId !== undefined) {
    const steered = turn.replies[STEERED];
    return (
      <div className="rating-box rated" data-testid="rating-confirmation" data-steered-side={turn.steeredSide}>
        <div className="notice ok">Rating saved ({turn.ratingId}).</div>
        <p data-testid="rating-reveal">
          <strong>{turn.steeredSide === 'a' ? 'A' : 'B'}</strong> was steered ({describeSteering(steered?.steering ?? null)});{' '}
          <strong>{turn.steeredSide === 'a' ? 'B' : 'A'}</strong> was the plain model.
        </p>
      </div>
    );
  }

  const submit = async (): Promise<void> => {
    const input = ratingInput(turn, concept, coherence, scoresA, scoresB);
    if (typeof input === 'string') {
      setError(input);
      return;
    }
    setSaving(true);
    setError(null);
    try {
      onRated((await api.rate(input)).id);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setSaving(false);
    }
  };

  return (
    <form
      className="rating-box"
      data-testid="rating-form"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <h3>Rate this pair</h3>
      <PickRow label={`More on-concept${turn.concept !== undefined ? ` (“${turn.concept}”)` : ''}`} name="concept" value={concept} onChange={setConcept} />
      <PickRow label="More coherent" name="coherence" value={coherence} onChange={setCoherence} />
      <details className="scores">
        <summary>1-5 scores (optional)</summary>
        <ScoreRow side="a" scores={scoresA} onChange={setScoresA} />
        <ScoreRow side="b" scores={scoresB} onChange={setScoresB} />
      </details>
      {error !== null && <div className="notice error" data-testid="rating-error">{error}</div>}
      <button type="submit" className="primary" disabled={saving} data-testid="rating-submit">
        {saving ? 'Saving…' : 'Submit rating'}
      </button>
    </form>
  );
}

function PickRow({ label, name, value, onChange }: { label: string; name: string; value: Pick3 | null; onChange: (p: Pick3) => void }) {
  const options: [Pick3, string][] = [['a', 'A'], ['b', 'B'], ['tie', 'Tie']];
  return (
    <div className="pick-row" role="radiogroup" aria-label={label}>
      <span className="pick-label">{label}</span>
      <div className="segmented">
        {options.map(([pick, text]) => (
          <button
            key={pick}
            type="button"
            className={value === pick ? 'selected' : ''}
            aria-pressed={value === pick}
            onClick={() => onChange(pick)}
            data-testid={`pick-${name}-${pick}`}
          >
            {text}
          </button>
        ))}
      </div>
    </div>
  );
}

function ScoreRow({ side, scores, onChange }: { side: 'a' | 'b'; scores: Scores; onChange: (s: Scores) => void }) {
  const select = (field: keyof Scores) => (
    <select
      value={scores[field] ?? ''}
      onChange={(e) => onChange({ ...scores, [field]: e.target.value === '' ? null : (Number(e.target.value) as Score) })}
      data-testid={`score-${side}-${field}`}
    >
      <option value="">–</option>
      {SCORES.map((s) => (
        <option key={s} value={s}>{s}</option>
      ))}
    </select>
  );
  return (
    <div className="score-row">
      <strong>{side.toUpperCase()}</strong>
      <label>concept {select('concept')}</label>
      <label>coherence {select('coherence')}</label>
    </div>
  );
}
