// The library build (`npm run build:lib`): the embeddable SDK alone, without the demo, into
// dist/lib: silo.js (the embed), privacy-panel.js, and their worker, WASM and chunks under
// assets/, all found relative to silo.js, so the folder can be copied to any host or CDN.
// The public API's type declarations come from `tsc -p tsconfig.lib.json` (dist/lib/types).
import { defineConfig } from 'vite';

export default defineConfig({
  base: './',
  publicDir: false,
  build: {
    outDir: 'dist/lib',
    emptyOutDir: true,
    target: 'es2022',
    rollupOptions: {
      input: { silo: 'src/silo.ts', 'privacy-panel': 'src/privacy-panel.ts' },
      preserveEntrySignatures: 'allow-extension',
      output: {
        entryFileNames: '[name].js',
        chunkFileNames: 'assets/[name]-[hash].js',
        assetFileNames: 'assets/[name]-[hash][extname]',
      },
    },
  },
  // the worker's own chunks (a backend's code, imported only when that backend is chosen) are
  // named worker-*: hashed, so served immutable, and told apart in bench:browser's byte counts
  worker: { format: 'es', rollupOptions: { output: { chunkFileNames: 'assets/worker-[name]-[hash].js' } } },
});
