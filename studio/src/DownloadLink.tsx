import type { MouseEvent, ReactNode } from 'react';
import { api, getToken } from './api';

/**
 * A download from the API. Without a token a plain link does (the server answers with
 * `content-disposition: attachment`); with one the browser cannot add the Authorization header
 * to a link, so the file is fetched as a blob and saved from there under the same name.
 */
export function DownloadLink({ path, filename, testId, children }: { path: string; filename: string; testId: string; children: ReactNode }) {
  const onClick = (e: MouseEvent<HTMLAnchorElement>): void => {
    if (getToken() === '') return;
    e.preventDefault();
    api.blob(path).then(
      (blob) => {
        const url = URL.createObjectURL(blob);
        const a = document.createElement('a');
        a.href = url;
        a.download = filename;
        a.click();
        // Freed once the download has surely read it.
        setTimeout(() => URL.revokeObjectURL(url), 60_000);
      },
      () => undefined, // a 401 already asks for the token (api.ts)
    );
  };
  return (
    <a href={path} download={filename} onClick={onClick} data-testid={testId}>
      {children}
    </a>
  );
}
