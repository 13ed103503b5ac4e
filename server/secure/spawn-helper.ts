// Runs the helper aggregator as a child process (`server/main.ts --role helper`) and resolves
// its base URL once it listens. Used by `npm start`, the secure-round tests and bench:secure.
import { type ChildProcess, spawn } from 'node:child_process';

export interface SpawnedHelper {
  url: string;
  child: ChildProcess;
}

export function spawnHelper(o: {
  /** the bearer token the leader will present (passed in the environment, not argv) */
  token: string;
  /** helper flags: --data, --port, --epsilon, … (server/secure/helper-main.ts) */
  args: string[];
  /** extra node flags, e.g. --cpu-prof */
  nodeArgs?: string[];
  /** copy the helper's stdout to this process's */
  echo?: boolean;
  /** collects the helper's stderr instead of inheriting it */
  onStderr?: (text: string) => void;
}): Promise<SpawnedHelper> {
  const child = spawn(process.execPath, [...(o.nodeArgs ?? []), '--import', 'tsx', 'server/main.ts', '--role', 'helper', ...o.args], {
    env: { ...process.env, SILO_LEADER_TOKEN: o.token },
    stdio: ['ignore', 'pipe', o.onStderr ? 'pipe' : 'inherit'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
    o.onStderr?.(d.toString());
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      if (o.echo) process.stdout.write(d);
      out += d.toString();
      const m = /on (http:\/\/[^/]+)\/dap\/v1\//.exec(out);
      if (m) resolve({ url: m[1], child });
    });
    child.once('exit', (code) => reject(new Error(`helper exited with ${code}${stderr ? `: ${stderr}` : ''}`)));
  });
}
