import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The studio is served by `steerer serve` at /studio/ from dist/studio, so asset URLs are
// relative (base './') and the build lands beside the compiled server.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  // No React plugin: Vite's own transform handles TSX with the automatic runtime.
  oxc: { jsx: { runtime: 'automatic', importSource: 'react' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/studio', import.meta.url)),
    emptyOutDir: true,
  },
});
