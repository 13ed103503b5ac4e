import { describe, expect, it } from 'vitest';
import { type CheckInWait, checkInNotBefore } from '../../workers/check-in-wait.ts';

// The stored wait keeps a shopper to one draw per round (PROTOCOL.md, "Client behaviour").
describe('checkInNotBefore', () => {
  const wait: CheckInWait = { at: 1_000_000, waitMs: 600_000 };

  it('waits the server-given time after the last answer, and not at all with nothing stored', () => {
    expect(checkInNotBefore(undefined, 5)).toEqual({ notBefore: 0 });
    expect(checkInNotBefore(wait, 1_000_000)).toEqual({ notBefore: 1_600_000 });
    expect(checkInNotBefore(wait, 1_599_999)).toEqual({ notBefore: 1_600_000 });
    expect(checkInNotBefore(wait, 9_000_000)).toEqual({ notBefore: 1_600_000 });
  });

  it('keeps an absolute time written by the earlier format', () => {
    expect(checkInNotBefore(1_234, 0)).toEqual({ notBefore: 1_234 });
  });

  it('after the clock was set back, counts the whole wait once more from now, and no longer', () => {
    const setBack = wait.at - 86_400_000; // a day earlier than the answer
    const first = checkInNotBefore(wait, setBack);
    // never shorter in real time than the server asked, and not a day longer
    expect(first).toEqual({ notBefore: setBack + 600_000, restart: { at: setBack, waitMs: 600_000 } });
    // once the restart is stored, later looks see a fixed end instead of one that moves with them
    expect(checkInNotBefore(first.restart, setBack + 1_000)).toEqual({ notBefore: setBack + 600_000 });
    expect(checkInNotBefore(first.restart, setBack + 600_000).notBefore).toBeLessThanOrEqual(setBack + 600_000);
  });
});
