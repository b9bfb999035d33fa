import { useEffect, useRef, useState } from 'react';
import { streamChat, type ChatRequest, type SteeringSpec, type VectorInfo } from './api';
import { defaultContext, threadOf, type Context, type Mode, type Reply, type Turn } from './chat-types';
import { buildSteering, steeringConcept, type SteeringSettings, type VectorSetting } from './steering';
import { TurnView } from './TurnView';
import { useSavedChat, type SaveState } from './useSavedChat';
import { VectorPanel } from './VectorPanel';

/** A request to show a stored chat; `seq` tells two requests for the same chat apart. */
export interface OpenChatRequest {
  id: string;
  seq: number;
}

interface Props {
  vectors: VectorInfo[];
  settings: SteeringSettings;
  onSetting: (name: string, setting: VectorSetting) => void;
  onResetSteering: () => void;
  /** Whether the served model has a chat template (null until /v1/models has answered). */
  chatTemplate: boolean | null;
  openRequest: OpenChatRequest | null;
}

const MODES: [Mode, string][] = [
  ['chat', 'Chat'],
  ['side', 'Side by side'],
  ['blind', 'Blind A/B'],
];

const randomSeed = (): number => Math.floor(Math.random() * 2 ** 31);

let nextTurnId = 1;
const newTurnId = (): number => nextTurnId++;

const CONTEXTS: [Context, string, string][] = [
  ['new', 'New story', 'Send only this prompt: the model starts afresh'],
  ['continue', 'Continue', 'Send the conversation so far with this prompt: the model carries on from it'],
];

export function ChatPage({ vectors, settings, onSetting, onResetSteering, chatTemplate, openRequest }: Props) {
  const [mode, setMode] = useState<Mode>('chat');
  // null: the person has not chosen, so the model's kind decides (see defaultContext).
  const [contextChoice, setContextChoice] = useState<Context | null>(null);
  const context = contextChoice ?? defaultContext(chatTemplate);
  const [turns, setTurns] = useState<Turn[]>([]);
  const [input, setInput] = useState('');
  const [maxTokens, setMaxTokens] = useState(80);
  const [temperature, setTemperature] = useState(0.7);
  const [seedText, setSeedText] = useState(() => String(randomSeed()));
  const [freshSeed, setFreshSeed] = useState(true);
  const [busy, setBusy] = useState(false);
  const abortRef = useRef<AbortController | null>(null);
  const endRef = useRef<HTMLDivElement | null>(null);
  const saved = useSavedChat(
    turns,
    busy,
    (loaded) => {
      setTurns(loaded);
      const last = loaded.at(-1);
      // Carry on as the chat left off: its last turn's mode and context.
      if (last !== undefined) {
        setMode(last.mode);
        setContextChoice(last.context);
      }
    },
    newTurnId,
  );

  const steering = buildSteering(vectors, settings);
  const seed = Number(seedText);
  const seedValid = seedText.trim() !== '' && Number.isSafeInteger(seed) && seed >= 0;
  const blockedReason = saved.loading
    ? 'Loading the saved chat…'
    : !seedValid
      ? 'The seed must be a whole number ≥ 0.'
      : mode === 'blind' && steering === null
        ? 'Blind A/B needs a vector turned on ("use") with a non-zero strength.'
        : null;

  // Braces matter: newer browsers return a Promise from scrollIntoView, and React would take
  // any returned value for a cleanup function.
  useEffect(() => {
    endRef.current?.scrollIntoView({ block: 'end' });
  }, [turns]);

  // Opening a stored chat stops whatever is streaming here first.
  const { open } = saved;
  useEffect(() => {
    if (openRequest === null) return;
    abortRef.current?.abort();
    void open(openRequest.id);
  }, [openRequest, open]);

  // A turn that is no longer on screen (another chat was opened) leaves the turns as they are.
  const updateReply = (turnId: number, index: number, change: (r: Reply) => Reply): void =>
    setTurns((ts) => (ts.some((t) => t.id === turnId) ? ts.map((t) => (t.id !== turnId ? t : { ...t, replies: t.replies.map((r, i) => (i === index ? change(r) : r)) })) : ts));

  const streamReply = async (turnId: number, index: number, req: ChatRequest, signal: AbortSignal): Promise<void> => {
    try {
      const { conditions } = await streamChat(req, (delta) => updateReply(turnId, index, (r) => ({ ...r, text: r.text + delta })), signal);
      updateReply(turnId, index, (r) => ({ ...r, state: 'done', ...(conditions ? { conditions } : {}) }));
    } catch (e) {
      if (signal.aborted) updateReply(turnId, index, (r) => ({ ...r, state: 'stopped' }));
      else updateReply(turnId, index, (r) => ({ ...r, state: 'error', error: e instanceof Error ? e.message : String(e) }));
    }
  };

  const send = async (): Promise<void> => {
    const prompt = input.trim();
    if (prompt === '' || busy || blockedReason !== null) return;
    setBusy(true);
    const messages = [...(context === 'continue' ? threadOf(turns) : []), { role: 'user' as const, content: prompt }];
    const reply = (s: SteeringSpec | null): Reply => ({ text: '', steering: s, state: 'streaming' });
    const chatId = await saved.ensure(prompt.slice(0, 60));
    const turn: Turn = {
      chatId,
      id: newTurnId(),
      mode,
      context,
      prompt,
      messages,
      seed,
      replies: mode === 'chat' ? [reply(steering)] : [reply(null), reply(steering)],
      steeredSide: mode === 'blind' ? (Math.random() < 0.5 ? 'a' : 'b') : undefined,
      concept: steeringConcept(vectors, steering),
    };
    setTurns((ts) => [...ts, turn]);
    setInput('');
    const controller = new AbortController();
    abortRef.current = controller;
    // Every reply of a turn gets the same explicit seed, so base and steered differ only by steering.
    await Promise.all(
      turn.replies.map((r, i) => {
        const req: ChatRequest = { messages, max_tokens: maxTokens, temperature, seed };
        if (r.steering !== null) req.steering = r.steering;
        return streamReply(turn.id, i, req, controller.signal);
      }),
    );
    abortRef.current = null;
    setBusy(false);
    if (freshSeed) setSeedText(String(randomSeed()));
  };

  return (
    <div className="chat-layout">
      <section className="chat-main">
        <div className="toolbar">
          <div className="segmented" role="tablist" aria-label="Mode">
            {MODES.map(([m, label]) => (
              <button key={m} type="button" role="tab" aria-selected={mode === m} className={mode === m ? 'selected' : ''} onClick={() => setMode(m)} data-testid={`mode-${m}`}>
                {label}
              </button>
            ))}
          </div>
          <div className="toolbar-right">
            <SaveStatus state={saved.saveState} />
            <a href="#/chats" className="small" data-testid="saved-chats-link">Saved chats</a>
            <button
              type="button"
              onClick={() => {
                setTurns([]);
                saved.reset();
              }}
              disabled={busy || turns.length === 0}
              data-testid="new-chat"
            >
              New chat
            </button>
          </div>
        </div>

        <div className="conversation" data-testid="conversation">
          {turns.length === 0 && (
            <div className="empty muted">
              {mode === 'chat' && 'Write a message; the reply uses the steering set on the right.'}
              {mode === 'side' && 'Each prompt gets a base reply and a steered reply with the same seed, side by side.'}
              {mode === 'blind' && 'Each prompt gets two replies in random order, A and B; rate them before seeing which was steered.'}
            </div>
          )}
          {turns.map((t, i) => (
            <TurnView key={t.id} turn={t} index={i} onRated={(id) => setTurns((ts) => ts.map((x) => (x.id === t.id ? { ...x, ratingId: id } : x)))} />
          ))}
          <div ref={endRef} />
        </div>

        <form
          className="composer"
          onSubmit={(e) => {
            e.preventDefault();
            void send();
          }}
        >
          <textarea
            value={input}
            onChange={(e) => setInput(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && !e.shiftKey) {
                e.preventDefault();
                void send();
              }
            }}
            placeholder="Once upon a time, there was a little girl"
            rows={2}
            data-testid="chat-input"
          />
          {busy ? (
            <button type="button" className="danger" onClick={() => abortRef.current?.abort()} data-testid="stop">
              Stop
            </button>
          ) : (
            <button type="submit" className="primary" disabled={input.trim() === '' || blockedReason !== null} data-testid="send">
              Send
            </button>
          )}
        </form>
        {blockedReason !== null && <div className="notice warn small">{blockedReason}</div>}
        {saved.error !== null && <div className="notice error small" data-testid="save-error">{saved.error}</div>}
        {mode === 'side' && steering === null && <div className="notice warn small">No vector is active, so both columns will be the same.</div>}

        <div className="context-line small" data-testid="context-line">
          <span className="muted">Each prompt</span>
          <div className="segmented" role="radiogroup" aria-label="What each prompt is sent with">
            {CONTEXTS.map(([c, label, title]) => (
              <button key={c} type="button" role="radio" aria-checked={context === c} className={context === c ? 'selected' : ''} title={title} onClick={() => setContextChoice(c)} data-testid={`context-${c}`}>
                {label}
              </button>
            ))}
          </div>
          <span className="muted" data-testid="context-hint">
            {chatTemplate === null
              ? ''
              : chatTemplate
                ? 'Chat model: by default each prompt continues the conversation.'
                : 'Base model (no chat template): by default each prompt starts a new story instead of continuing the transcript.'}
          </span>
        </div>

        <div className="settings-line" data-testid="chat-settings">
          <label>
            Max tokens
            <input type="number" min={1} max={1024} value={maxTokens} onChange={(e) => setMaxTokens(Math.max(1, Math.round(Number(e.target.value)) || 1))} data-testid="max-tokens" />
          </label>
          <label>
            Temperature
            <input type="number" min={0} max={2} step={0.1} value={temperature} onChange={(e) => setTemperature(Math.max(0, Number(e.target.value) || 0))} data-testid="temperature" />
          </label>
          <label>
            Seed
            <input type="text" inputMode="numeric" value={seedText} onChange={(e) => setSeedText(e.target.value)} className={seedValid ? '' : 'invalid'} data-testid="seed" />
          </label>
          <label className="check">
            <input type="checkbox" checked={freshSeed} onChange={(e) => setFreshSeed(e.target.checked)} data-testid="fresh-seed" />
            new seed after each prompt
          </label>
        </div>
      </section>
      <VectorPanel vectors={vectors} settings={settings} onChange={onSetting} onResetAll={onResetSteering} />
    </div>
  );
}

function SaveStatus({ state }: { state: SaveState }) {
  if (state === 'none') return null;
  const text = state === 'saved' ? 'Saved' : state === 'saving' ? 'Saving…' : 'Not saved';
  return (
    <span className={`muted small save-state ${state}`} data-testid="save-state" data-state={state}>
      {text}
    </span>
  );
}
