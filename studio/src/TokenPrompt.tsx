import { useState } from 'react';
import { getToken, setToken } from './api';

/** Shown after a 401: the server was started with --token. The token stays in localStorage. */
export function TokenPrompt({ onSaved }: { onSaved: () => void }) {
  const [value, setValue] = useState(getToken());
  return (
    <form
      className="token-bar"
      data-testid="token-form"
      onSubmit={(e) => {
        e.preventDefault();
        setToken(value.trim());
        onSaved();
      }}
    >
      <span>This server needs an API token.</span>
      <input type="password" placeholder="Bearer token" value={value} onChange={(e) => setValue(e.target.value)} data-testid="token-input" autoFocus />
      <button type="submit" className="primary">Save</button>
    </form>
  );
}
