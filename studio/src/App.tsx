import { useCallback, useEffect, useState } from 'react';
import { api, onUnauthorized, type VectorInfo } from './api';
import { ChatPage, type OpenChatRequest } from './ChatPage';
import { ChatsPage } from './ChatsPage';
import { CreateVectorPage } from './CreateVectorPage';
import { LibraryPage } from './LibraryPage';
import { RatingsPage } from './RatingsPage';
import { resetSettings, type SteeringSettings, type VectorSetting } from './steering';
import { TokenPrompt } from './TokenPrompt';
import { useHashRoute, type Route } from './useHashRoute';
import { VectorPage } from './VectorPage';

const NAV: [Route['page'], string, string][] = [
  ['chat', '#/chat', 'Chat'],
  ['chats', '#/chats', 'Saved chats'],
  ['create', '#/create', 'Create vector'],
  ['library', '#/library', 'Library'],
  ['ratings', '#/ratings', 'Ratings'],
];

export function App() {
  const route = useHashRoute();
  const [model, setModel] = useState<string | null>(null);
  // Whether the served model has a chat template: it decides how a prompt is sent by default.
  const [chatTemplate, setChatTemplate] = useState<boolean | null>(null);
  const [openRequest, setOpenRequest] = useState<OpenChatRequest | null>(null);
  const [vectors, setVectors] = useState<VectorInfo[]>([]);
  const [settings, setSettings] = useState<SteeringSettings>({});
  const [needToken, setNeedToken] = useState(false);
  const [loadError, setLoadError] = useState<string | null>(null);
  // Bumped when a token is saved, so pages that failed with 401 load again.
  const [authEpoch, setAuthEpoch] = useState(0);

  useEffect(() => onUnauthorized(() => setNeedToken(true)), []);

  const refreshVectors = useCallback(async (): Promise<void> => {
    try {
      // A shared vector hidden by the user's own of its name is not one a name can reach (the library page lists it).
      const list = (await api.vectors()).filter((v) => v.shadowed !== true);
      setVectors(list);
      setLoadError(null);
      // Forget the settings of vectors that are gone, so a re-created name starts afresh
      // (off, its slider at the new vector's recommendation).
      setSettings((s) => Object.fromEntries(Object.entries(s).filter(([name]) => list.some((v) => v.name === name))));
    } catch (e) {
      setLoadError(e instanceof Error ? e.message : String(e));
    }
  }, []);

  useEffect(() => {
    api.health().then((h) => setModel(h.model), () => setModel(null));
    api.models().then(
      (list) => setChatTemplate(list[0]?.steerer.chatTemplate ?? null),
      () => setChatTemplate(null),
    );
    void refreshVectors();
  }, [refreshVectors, authEpoch]);

  // Vectors created elsewhere (CLI, another tab) show up when the panel is next visible.
  useEffect(() => {
    if (route.page === 'chat') void refreshVectors();
  }, [route.page, refreshVectors]);

  const setSetting = (name: string, setting: VectorSetting): void => setSettings((s) => ({ ...s, [name]: setting }));
  // Every vector off, its slider back at the recommended strength (the chosen layer stays).
  const resetSteering = (): void => setSettings((s) => resetSettings(vectors, s));

  return (
    // The chat page fills the window (its conversation and vector panel scroll on their own);
    // the other pages scroll as documents.
    <div className={route.page === 'chat' ? 'app fill' : 'app'}>
      <header className="topbar">
        <a className="brand" href="#/chat">Steerer <span>studio</span></a>
        <nav>
          {NAV.map(([page, link, label]) => (
            <a key={page} href={link} className={route.page === page ? 'active' : ''} data-testid={`nav-${page}`}>{label}</a>
          ))}
        </nav>
        <span className="model muted small" data-testid="model-id">{model ?? ''}</span>
      </header>
      {needToken && (
        <TokenPrompt
          onSaved={() => {
            setNeedToken(false);
            setAuthEpoch((n) => n + 1);
          }}
        />
      )}
      {loadError !== null && !needToken && <div className="notice error banner">Could not load vectors: {loadError}</div>}
      <main key={authEpoch}>
        {/* The chat stays mounted so conversations and running streams survive page switches. */}
        <div className="chat-host" hidden={route.page !== 'chat'}>
          <ChatPage vectors={vectors} settings={settings} onSetting={setSetting} onResetSteering={resetSteering} chatTemplate={chatTemplate} openRequest={openRequest} />
        </div>
        {route.page === 'chats' && (
          <ChatsPage
            onOpen={(id) => {
              setOpenRequest((r) => ({ id, seq: (r?.seq ?? 0) + 1 }));
              window.location.hash = '#/chat';
            }}
          />
        )}
        {route.page === 'create' && <CreateVectorPage onCreated={() => void refreshVectors()} />}
        {route.page === 'ratings' && <RatingsPage />}
        {route.page === 'library' && <LibraryPage />}
        {route.page === 'vector' && <VectorPage name={route.name} onDeleted={() => void refreshVectors()} />}
      </main>
    </div>
  );
}
