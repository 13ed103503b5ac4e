import { defineConfig, type Plugin } from 'vitest/config';

/** In dev, the embed URL /silo.js is the SDK's source entry (the build emits it as silo.js). */
const siloEntryInDev: Plugin = {
  name: 'silo-entry-in-dev',
  configureServer(server) {
    server.middlewares.use((req, _res, next) => {
      if (req.url === '/silo.js') req.url = '/src/silo.ts';
      next();
    });
  },
};

// One config for the demo build and every test project.
// - build: the storefront demo (index.html) plus the embeddable SDK at a stable /silo.js
// - test projects: 'unit' (pure logic in Node), 'server' (the aggregator over loopback,
//   a real redis-server), 'faults' (crashes, corrupt stores, hostile clients), 'browser'
//   (real headless Chromium driven by playwright-core), 'firefox' (headless Firefox ESR over
//   WebDriver BiDi, driven by puppeteer-core)
export default defineConfig({
  plugins: [siloEntryInDev],
  // relative URLs: the SDK finds its worker and chunks next to silo.js, wherever it is hosted
  // (a sub-path, a CDN), instead of under a hard-coded /assets/ at the site root
  base: './',
  build: {
    target: 'es2022',
    rollupOptions: {
      input: { silo: 'src/silo.ts', index: 'index.html' },
      // keep silo.js's exports: `import { silo } from '…/silo.js'` is part of the API
      preserveEntrySignatures: 'allow-extension',
      output: {
        entryFileNames: (chunk) => (chunk.name === 'silo' ? 'silo.js' : 'assets/[name]-[hash].js'),
      },
    },
  },
  // the worker's own chunks (a backend's code, imported only when that backend is chosen) are
  // named worker-*: hashed, so served immutable, and told apart in bench:browser's byte counts
  worker: { format: 'es', rollupOptions: { output: { chunkFileNames: 'assets/worker-[name]-[hash].js' } } },
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], environment: 'node', testTimeout: 60_000 } },
      { test: { name: 'server', include: ['test/server/**/*.test.ts'], environment: 'node', testTimeout: 120_000, fileParallelism: false } },
      // fault and abuse suite (`npm run test:faults`): crashes, corrupt stores, hostile clients; part of `npm test`
      { test: { name: 'faults', include: ['test/faults/**/*.test.ts'], environment: 'node', testTimeout: 300_000, hookTimeout: 60_000, fileParallelism: false } },
      {
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          environment: 'node',
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: false,
          globalSetup: ['test/browser/global-setup.ts'],
        },
      },
      // a documented part of the browser suite in Firefox ESR over WebDriver BiDi (puppeteer-core).
      // It shares the browser project's global setup (one build, one server). Without file
      // parallelism vitest runs its files in one queue with those of browser, server and
      // faults, one at a time, so two browsers never compete for the same cores.
      {
        test: {
          name: 'firefox',
          include: ['test/firefox/**/*.test.ts'],
          environment: 'node',
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: false,
          globalSetup: ['test/browser/global-setup.ts'],
        },
      },
    ],
  },
});
