// A helper aggregator as a real child process (`tsx server/main.ts --role helper`) on
// loopback, for the secure-round tests.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface HelperProcess {
  url: string;
  dir: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export async function startHelper(cleanups: (() => unknown)[], leaderToken: string, extra: string[] = [], dir?: string): Promise<HelperProcess> {
  const dataDir = dir ?? mkdtempSync(join(tmpdir(), 'silo-helper-'));
  if (!dir) cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts', '--role', 'helper', '--port', '0', '--data', dataDir, ...extra], {
    env: { ...process.env, SILO_LEADER_TOKEN: leaderToken },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /on (http:\/\/127\.0\.0\.1:\d+)\/dap\/v1\//.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`helper exited with ${code}: ${stderr}`)));
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  cleanups.push(stop);
  return { url, dir: dataDir, child, stop };
}
