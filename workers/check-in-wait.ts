// Once per round, in all of a shopper's tabs together: the server's accounting assumes one
// draw per shopper per round, so the time of the next allowed check-in is kept in IndexedDB
// (shared by every tab, kept across reloads) and read and written under a Web Lock.
import type { CheckInResult, FederatedHttpClient } from '../federated/transport.ts';
import type { EventStore } from './store.ts';

/**
 * IndexedDB meta key: when the next check-in may be (a CheckInWait on this device's clock). Kept
 * in the database, not in the worker, so a reload or a second tab of the same shopper cannot
 * ask the same round again (the server's accounting assumes one draw per shopper per round).
 */
const NEXT_CHECK_IN = 'federated.nextCheckIn';

/** What NEXT_CHECK_IN holds: when the last check-in was answered and how long to wait after it. */
export interface CheckInWait {
  /** this device's clock when the answer came (ms since epoch) */
  at: number;
  waitMs: number;
}

/**
 * The earliest next check-in, from the stored wait (a bare number: the absolute time, as
 * written before waits kept their start). If the device clock now reads earlier than when the
 * wait began, it was set back: the whole wait is counted again from now, and `restart` is the
 * record to store so that it is not pushed forward on every look. That never shortens a wait
 * in real time (so the one-draw-per-round rule holds) and never makes it longer than one
 * server-given wait, where an absolute time would keep the shopper out until the clock caught up.
 */
export function checkInNotBefore(stored: CheckInWait | number | undefined, now: number): { notBefore: number; restart?: CheckInWait } {
  if (stored === undefined) return { notBefore: 0 };
  if (typeof stored === 'number') return { notBefore: stored };
  if (now >= stored.at) return { notBefore: stored.at + stored.waitMs };
  const restart = { at: now, waitMs: stored.waitMs };
  return { notBefore: now + stored.waitMs, restart };
}

/** Web Lock held across "read NEXT_CHECK_IN, check in, write it", so two tabs cannot both pass. */
const CHECK_IN_LOCK = 'silo-federated-check-in';

/**
 * Checks in unless this shopper (in any tab) already asked within the last answer's
 * retryAfterSeconds (then null). Either way state.nextCheckIn says when it may next. Under a
 * Web Lock where the browser has them, so the read and the write of NEXT_CHECK_IN cannot
 * interleave between tabs.
 */
export async function checkInOncePerRound(store: EventStore, client: FederatedHttpClient, intervalMs: number, state: { nextCheckIn?: number }): Promise<CheckInResult | null> {
  const checkIn = async (): Promise<CheckInResult | null> => {
    const now = Date.now();
    const { notBefore, restart } = checkInNotBefore(await store.getMeta<CheckInWait | number>(NEXT_CHECK_IN), now);
    if (restart) await store.setMeta(NEXT_CHECK_IN, restart);
    if (now < notBefore) {
      state.nextCheckIn = notBefore;
      return null;
    }
    const answer = await client.checkIn();
    // after a task, also rest intervalMs (a server from before retryAfterSeconds on tasks sends none)
    const wait: CheckInWait = { at: Date.now(), waitMs: Math.max((answer.retryAfterSeconds ?? 0) * 1000, answer.status === 'task' ? intervalMs : 0) };
    state.nextCheckIn = wait.at + wait.waitMs;
    await store.setMeta(NEXT_CHECK_IN, wait);
    return answer;
  };
  const locks = (globalThis.navigator as { locks?: LockManager } | undefined)?.locks;
  return locks ? locks.request(CHECK_IN_LOCK, checkIn) : checkIn();
}
