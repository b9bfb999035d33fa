import { BASE, STEERED, type Reply, type Turn } from './chat-types';
import { RatingView } from './RatingView';
import { describeSteering } from './steering';

/** One prompt and its reply (chat), replies (side by side) or A/B pair (blind). */
export function TurnView({ turn, index, onRated }: { turn: Turn; index: number; onRated: (id: string) => void }) {
  const base = turn.replies[BASE];
  const steered = turn.replies[STEERED];
  const single = turn.replies[0];
  const finished = turn.replies.every((r) => r.state !== 'streaming');
  const earlier = turn.messages.length - 1;
  return (
    <div className="turn" data-testid="turn" data-turn-index={index} data-mode={turn.mode} data-seed={turn.seed}>
      <div className="bubble user" data-testid="turn-prompt">{turn.prompt}</div>
      <div className="turn-meta muted small">
        seed <span data-testid="turn-seed">{turn.seed}</span>
        {' · '}
        <span data-testid="turn-context" title="What the model was sent with this prompt">
          {earlier === 0 ? 'new story' : `continues (${earlier} earlier message${earlier > 1 ? 's' : ''})`}
        </span>
        {turn.mode === 'chat' && single !== undefined && <> · {describeSteering(single.steering)}</>}
        {turn.mode === 'side' && <> · same seed for both</>}
        {turn.mode === 'blind' && <> · blind: which side is steered is hidden until you rate</>}
      </div>
      {turn.mode === 'chat' && single !== undefined && <ReplyView reply={single} testId="reply-single" showConditions />}
      {turn.mode === 'side' && base !== undefined && steered !== undefined && (
        <div className="columns">
          <ReplyView reply={base} title="Base (no steering)" testId="reply-base" />
          <ReplyView reply={steered} title={`Steered: ${describeSteering(steered.steering)}`} testId="reply-steered" showConditions />
        </div>
      )}
      {turn.mode === 'blind' && base !== undefined && steered !== undefined && (
        <>
          <div className="columns">
            <ReplyView reply={turn.steeredSide === 'a' ? steered : base} title="A" testId="reply-a" />
            <ReplyView reply={turn.steeredSide === 'a' ? base : steered} title="B" testId="reply-b" />
          </div>
          {finished && <RatingView turn={turn} onRated={onRated} />}
        </>
      )}
    </div>
  );
}

/** showConditions: say whether each "when" held (never in blind mode, where it would tell which side is steered). */
function ReplyView({ reply, title, testId, showConditions = false }: { reply: Reply; title?: string; testId: string; showConditions?: boolean }) {
  return (
    <div className="bubble assistant" data-testid={testId} data-state={reply.state}>
      {title !== undefined && <div className="reply-title">{title}</div>}
      <div className="reply-text" data-testid={`${testId}-text`}>
        {reply.text}
        {reply.state === 'streaming' && <span className="cursor" />}
      </div>
      {showConditions &&
        Object.entries(reply.conditions ?? {}).map(([id, held]) => (
          <div key={id} className="muted small" data-testid="reply-condition" data-held={String(held)}>
            only when {conditionName(reply, id)}: {held ? 'held, so this reply is steered' : 'did not hold, so this reply is not steered'}
          </div>
        ))}
      {reply.state === 'stopped' && <div className="muted small">stopped</div>}
      {reply.state === 'error' && <div className="notice error">{reply.error}</div>}
    </div>
  );
}

/** The condition vector of intervention k (id `c{k}`) of the reply's steering. */
function conditionName(reply: Reply, id: string): string {
  const when = reply.steering?.interventions[Number(id.slice(1))]?.when;
  return when?.vector ?? id;
}
