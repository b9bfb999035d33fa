import { useEffect, useState } from 'react';
import { api, type Chat } from './api';
import { currentChatId, turnCount } from './chat-store';

/** The stored chats (/v1/chats), newest first; "Open" shows one in the chat page to read or carry on. */
export function ChatsPage({ onOpen }: { onOpen: (id: string) => void }) {
  const [chats, setChats] = useState<Chat[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let cancelled = false;
    api.chats().then(
      (list) => !cancelled && setChats(list),
      (e: unknown) => !cancelled && setError(e instanceof Error ? e.message : String(e)),
    );
    return () => {
      cancelled = true;
    };
  }, []);

  const current = currentChatId();
  return (
    <div className="page" data-testid="chats-page">
      <div className="page-head">
        <h1>Saved chats</h1>
        <a href="#/chat">Back to the chat</a>
      </div>
      {error !== null && <div className="notice error">{error}</div>}
      <div className="card">
        {chats === null ? (
          <p className="muted">{error === null ? 'Loading…' : ''}</p>
        ) : chats.length === 0 ? (
          <p className="muted">No saved chats yet: every conversation in the chat page is saved as it happens.</p>
        ) : (
          <table className="table" data-testid="chats-table">
            <thead>
              <tr><th>Chat</th><th>Turns</th><th>Last reply</th><th>Updated</th><th /></tr>
            </thead>
            <tbody>
              {chats.map((c) => {
                const last = c.messages.filter((m) => m.role === 'assistant').at(-1)?.content ?? '';
                return (
                  <tr key={c.id} data-testid="chat-row" data-chat-id={c.id} className={c.id === current ? 'highlight' : ''}>
                    <td className="clip" title={c.title}>{c.title}{c.id === current && <span className="muted small"> (on screen)</span>}</td>
                    <td data-testid="chat-turns">{turnCount(c) ?? '?'}</td>
                    <td className="clip muted" title={last}>{last}</td>
                    <td className="nowrap">{new Date(c.updatedAt).toLocaleString()}</td>
                    <td>
                      <button type="button" onClick={() => onOpen(c.id)} data-testid="open-chat">Open</button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </div>
    </div>
  );
}
