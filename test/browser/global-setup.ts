// Builds the demo once and serves dist/ on a free loopback port for every browser test.
import { execFileSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { serveStatic } from '../../scripts/serve.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    baseUrl: string;
  }
}

export default async function setup(project: TestProject) {
  execFileSync('npx', ['vite', 'build', '--logLevel', 'warn'], { stdio: 'inherit' });
  const served = await serveStatic({ dir: 'dist' });
  project.provide('baseUrl', served.url);
  return () => served.close();
}
