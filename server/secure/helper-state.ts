// The helper's durable state, one file per task: the verdict for every report id it has seen
// (so a retried batch gets the same answer and a report counts at most once), its running
// aggregate share, and the noised share once released (so a retry gets the same bytes and
// no second noise draw ever leaves). Each file is replaced atomically after every batch,
// before the batch is answered.
// Cost: the file grows by about 150 bytes per report and is rewritten per batch; an
// append-only log would be the next step for cohorts in the tens of thousands.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileDurably } from '../integrity-files.ts';
import type { TaskConfigMessage } from './messages.ts';

export interface ReportVerdict {
  /** SHA-256 (hex) of what the leader sent for this report: a retry must match it */
  digest: string;
  /** accepted: the verifier message (base64url) */
  message?: string;
  rejected?: string;
}

export interface ReleasedShare {
  reportCount: number;
  reportIdsChecksum: string;
  aggregateShare: string;
}

export interface HelperTaskState {
  config: TaskConfigMessage;
  reports: Record<string, ReportVerdict>;
  /** encoded aggregate share of the accepted reports (base64url) */
  aggregateShare: string;
  released?: ReleasedShare;
}

export class HelperStore {
  private readonly cache = new Map<string, HelperTaskState>();

  constructor(private readonly dir: string) {
    mkdirSync(join(dir, 'tasks'), { recursive: true });
  }

  private path(taskHex: string): string {
    return join(this.dir, 'tasks', `${taskHex}.json`);
  }

  load(taskHex: string): HelperTaskState | null {
    const cached = this.cache.get(taskHex);
    if (cached) return cached;
    const path = this.path(taskHex);
    if (!existsSync(path)) return null;
    const state = JSON.parse(readFileSync(path, 'utf8')) as HelperTaskState;
    this.cache.set(taskHex, state);
    return state;
  }

  save(taskHex: string, state: HelperTaskState): void {
    writeFileDurably(this.path(taskHex), JSON.stringify(state));
    this.cache.set(taskHex, state);
  }
}
