import { useCallback, useEffect, useRef, useState } from 'react';
import { api, ApiError } from './api';
import { chatBody, currentChatId, setCurrentChatId, turnsOf } from './chat-store';
import type { Turn } from './chat-types';

/** none: nothing to save yet; saving: a change is not on the server yet; saved: it is. */
export type SaveState = 'none' | 'saving' | 'saved' | 'error';

export interface SavedChat {
  /** The stored chat this conversation is saved to (created with its first prompt). */
  readonly chatId: string | null;
  /** A stored chat is being loaded into the page. */
  readonly loading: boolean;
  readonly saveState: SaveState;
  readonly error: string | null;
  /** The stored chat's id, creating it first when this conversation has none; undefined when that failed. */
  ensure(title: string): Promise<string | undefined>;
  /** Loads a stored chat into the page (through `onLoaded`) and makes it the current one. */
  open(id: string): Promise<void>;
  /** Forgets the current chat: the next prompt starts a new stored one. */
  reset(): void;
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * Keeps the conversation on the server (/v1/chats) and its id in localStorage: every change
 * is saved once no reply is streaming, and the chat that was on screen is loaded again when
 * the page is (a reload, the next visit).
 */
export function useSavedChat(turns: Turn[], busy: boolean, onLoaded: (turns: Turn[]) => void, nextId: () => number): SavedChat {
  const [chatId, setChatId] = useState<string | null>(null);
  // Read by the send path, which runs across awaits and must see an id created a moment ago.
  const chatIdRef = useRef<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  // The turns the server holds (saved, or just loaded): equal by identity means nothing to save.
  const [savedTurns, setSavedTurns] = useState<Turn[] | null>(null);
  const queuedRef = useRef<Turn[] | null>(null);
  // Saves go out one after another, so an older one can never land after a newer one.
  const chainRef = useRef<Promise<void>>(Promise.resolve());
  // Only the latest open() may fill the page.
  const openSeq = useRef(0);
  const onLoadedRef = useRef(onLoaded);
  onLoadedRef.current = onLoaded;
  const nextIdRef = useRef(nextId);
  nextIdRef.current = nextId;

  const use = (id: string | null): void => {
    chatIdRef.current = id;
    setChatId(id);
    setCurrentChatId(id);
  };

  const open = useCallback(async (id: string): Promise<void> => {
    const seq = ++openSeq.current;
    setLoading(true);
    setError(null);
    try {
      const loaded = turnsOf(await api.getChat(id), () => nextIdRef.current());
      if (seq !== openSeq.current) return;
      queuedRef.current = loaded;
      setSavedTurns(loaded);
      use(id);
      onLoadedRef.current(loaded);
    } catch (e) {
      if (seq !== openSeq.current) return;
      // A chat that is gone (another data directory, deleted) is forgotten; anything else (no
      // token yet, server down) may work next time, so the id is kept.
      if (e instanceof ApiError && e.status === 404 && currentChatId() === id) setCurrentChatId(null);
      setError(`The saved chat could not be opened: ${message(e)}`);
    } finally {
      if (seq === openSeq.current) setLoading(false);
    }
  }, []);

  useEffect(() => {
    const id = currentChatId();
    if (id !== null) void open(id);
    return () => {
      openSeq.current++; // unmounted: a late answer must not fill a page that is gone
    };
  }, [open]);

  useEffect(() => {
    const id = chatId;
    if (busy || id === null || turns.length === 0 || turns === queuedRef.current) return;
    queuedRef.current = turns;
    const body = chatBody(turns);
    chainRef.current = chainRef.current.then(() =>
      api.saveChat(id, body).then(
        () => {
          setSavedTurns(turns);
          setError(null);
        },
        (e: unknown) => setError(`The chat could not be saved: ${message(e)}`),
      ),
    );
  }, [busy, turns, chatId]);

  const ensure = async (title: string): Promise<string | undefined> => {
    if (chatIdRef.current !== null) return chatIdRef.current;
    try {
      const created = await api.createChat({ title, messages: [], settings: {} });
      use(created.id);
      return created.id;
    } catch (e) {
      setError(`The chat could not be saved: ${message(e)}`);
      return undefined;
    }
  };

  const reset = (): void => {
    openSeq.current++;
    use(null);
    queuedRef.current = null;
    setSavedTurns(null);
    setError(null);
    setLoading(false);
  };

  const saveState: SaveState = chatId === null || turns.length === 0 ? 'none' : error !== null ? 'error' : turns === savedTurns ? 'saved' : 'saving';
  return { chatId, loading, saveState, error, ensure, open, reset };
}
