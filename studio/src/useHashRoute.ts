import { useEffect, useState } from 'react';

export type Route =
  | { page: 'chat' }
  | { page: 'chats' }
  | { page: 'create' }
  | { page: 'ratings' }
  | { page: 'library' }
  | { page: 'vector'; name: string };

function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/');
  switch (parts[0]) {
    case 'chats':
      return { page: 'chats' };
    case 'create':
      return { page: 'create' };
    case 'ratings':
      return { page: 'ratings' };
    case 'library':
      return { page: 'library' };
    case 'vectors':
      if (parts[1] !== undefined && parts[1] !== '') return { page: 'vector', name: decodeURIComponent(parts[1]) };
      return { page: 'chat' };
    default:
      return { page: 'chat' };
  }
}

export function href(route: Route): string {
  return route.page === 'vector' ? `#/vectors/${encodeURIComponent(route.name)}` : `#/${route.page}`;
}

/** The current hash route; no router library, the hash is the whole state. */
export function useHashRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const update = (): void => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', update);
    return () => window.removeEventListener('hashchange', update);
  }, []);
  return route;
}
