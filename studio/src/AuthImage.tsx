import { useEffect, useState } from 'react';
import { api, getToken } from './api';

/**
 * An image from the API. Without a token a plain `<img src>` does; with one the browser
 * cannot add the Authorization header, so the image is fetched as a blob instead.
 */
export function AuthImage({ path, alt, testId }: { path: string; alt: string; testId: string }) {
  const token = getToken();
  const [src, setSrc] = useState<string | null>(token === '' ? path : null);
  const [failed, setFailed] = useState(false);

  useEffect(() => {
    if (token === '') {
      setSrc(path);
      return;
    }
    let url: string | null = null;
    let cancelled = false;
    api.blob(path).then(
      (blob) => {
        if (cancelled) return;
        url = URL.createObjectURL(blob);
        setSrc(url);
      },
      () => !cancelled && setFailed(true),
    );
    return () => {
      cancelled = true;
      if (url !== null) URL.revokeObjectURL(url);
    };
  }, [path, token]);

  if (failed) return <div className="notice error">Could not load {alt}.</div>;
  if (src === null) return <div className="muted">Loading {alt}…</div>;
  return <img className="plot" src={src} alt={alt} data-testid={testId} onError={() => setFailed(true)} />;
}
