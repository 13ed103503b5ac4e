// A helper aggregator as a real child process (`tsx server/main.ts --role helper`) on
// loopback, for the secure-round tests.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnHelper } from '../../server/secure/spawn-helper.ts';

export interface HelperProcess {
  url: string;
  dir: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export async function startHelper(cleanups: (() => unknown)[], leaderToken: string, extra: string[] = [], dir?: string): Promise<HelperProcess> {
  const dataDir = dir ?? mkdtempSync(join(tmpdir(), 'silo-helper-'));
  if (!dir) cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const { url, child } = await spawnHelper({ token: leaderToken, args: ['--port', '0', '--data', dataDir, ...extra], onStderr: () => {} });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  cleanups.push(stop);
  return { url, dir: dataDir, child, stop };
}
