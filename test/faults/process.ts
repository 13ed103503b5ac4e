// Starts test/faults/aggregator-process.ts as a child process and talks to it over loopback.
import { spawn, type ChildProcess } from 'node:child_process';
import type { RoundTask } from '../../federated/protocol.ts';
import { encodeSummary, stochasticQuantize } from '../../federated/summary.ts';
import { FederatedHttpClient } from '../../federated/transport.ts';
import { mulberry32 } from '../../models/metrics.ts';

export interface AggregatorProcess {
  base: string;
  client: FederatedHttpClient;
  child: ChildProcess;
  /** SIGKILL: no clean-up runs, as in a crash */
  kill9(): Promise<void>;
  /** SIGTERM: the clean shutdown */
  stop(): Promise<void>;
}

type Started = { ok: true; proc: AggregatorProcess } | { ok: false; code: number | null; output: string };

const exited = (child: ChildProcess) => new Promise<void>((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r())));

/** Starts an aggregator process on `where` (file:DIR or a Redis URL); resolves when it serves or has exited. */
export function tryStart(where: string, options: { prefix?: string; min?: number; max?: number } = {}): Promise<Started> {
  const args = [where, options.prefix ?? 'silo:', String(options.min ?? 2), String(options.max ?? 100)];
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/faults/aggregator-process.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ ok: false, code: null, output: output + '\n(no answer within 60 s)' });
    }, 60_000);
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      output += d.toString();
      const m = /listening (\d+)/.exec(output);
      if (!m) return;
      clearTimeout(timer);
      const base = `http://127.0.0.1:${m[1]}`;
      resolve({
        ok: true,
        proc: {
          base,
          client: new FederatedHttpClient(base),
          child,
          kill9: async () => {
            child.kill('SIGKILL');
            await exited(child);
          },
          stop: async () => {
            child.kill('SIGTERM');
            await exited(child);
          },
        },
      });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ ok: false, code, output });
    });
  });
}

export async function start(where: string, options: { prefix?: string; min?: number; max?: number } = {}): Promise<AggregatorProcess> {
  const s = await tryStart(where, options);
  if (!s.ok) throw new Error(`aggregator process did not start (exit ${s.code}):\n${s.output}`);
  return s.proc;
}

export async function checkIn(client: FederatedHttpClient): Promise<{ task: RoundTask; token: string }> {
  const r = await client.checkIn();
  if (r.status !== 'task' || !r.token) throw new Error(`expected a task, got ${JSON.stringify(r)}`);
  return { task: r.task, token: r.token };
}

/** client i's update, small and different per client */
export function summaryOf(task: RoundTask, i: number): Uint8Array {
  const x = new Float32Array(task.length).map((_, j) => 0.001 * Math.sin(i * 1.37 + j * 0.71));
  const ints = stochasticQuantize(x, task.scale, task.bits, mulberry32(1000 + i));
  return encodeSummary({ withinClip: true, roundId: task.roundId, modelVersion: task.modelVersion, scale: task.scale }, ints);
}

export async function upload(base: string, task: RoundTask, token: string, body: Uint8Array): Promise<number> {
  const res = await fetch(`${base}/fl/v1/rounds/${task.roundId}/summary`, { method: 'POST', body: body as BodyInit, headers: { 'x-silo-token': token } });
  await res.arrayBuffer();
  return res.status;
}

/**
 * Uploads every task's summary at once and kill -9s the process as soon as `killAfter` uploads
 * are acknowledged, so the kill lands in the middle of a batch; returns the acknowledged indices.
 */
export async function uploadUntilKilled(proc: AggregatorProcess, tasks: { task: RoundTask; token: string }[], killAfter: number): Promise<Set<number>> {
  const acked = new Set<number>();
  let killed: Promise<void> | null = null;
  await Promise.allSettled(
    tasks.map(async (t, i) => {
      if ((await upload(proc.base, t.task, t.token, summaryOf(t.task, i))) === 202) acked.add(i);
      if (acked.size >= killAfter) killed ??= proc.kill9();
    }),
  );
  await killed;
  return acked;
}

export async function accepted(base: string): Promise<number> {
  const res = await fetch(`${base}/fl/v1/status`);
  const s = (await res.json()) as { round?: { accepted: number } | null };
  return s.round?.accepted ?? 0;
}
