// Builds the demo once and serves dist/ on a free loopback port for every browser test. The
// Chromium and Firefox projects both name this file, and vitest runs each project's global
// setup (one after the other, in this process): the first builds and serves, the others
// reuse that server, and the last teardown closes it. A second build would empty dist/ under
// a server that is already answering.
import { execFileSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { serveStatic, type StaticServer } from '../../scripts/serve.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    baseUrl: string;
  }
}

interface Shared {
  served: Promise<StaticServer>;
  users: number;
}

// on globalThis, not in a module variable: each project may load its own copy of this module
const KEY = Symbol.for('silo.test.demo-server');
const holder = globalThis as { [KEY]?: Shared };

function buildAndServe(): Promise<StaticServer> {
  execFileSync('npx', ['vite', 'build', '--logLevel', 'warn'], { stdio: 'inherit' });
  return serveStatic({ dir: 'dist' });
}

export default async function setup(project: TestProject) {
  const shared = (holder[KEY] ??= { served: buildAndServe(), users: 0 });
  shared.users++;
  const served = await shared.served;
  project.provide('baseUrl', served.url);
  return async () => {
    if (--shared.users > 0) return;
    delete holder[KEY];
    await served.close();
  };
}
