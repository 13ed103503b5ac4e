// The leader's running sum of encoded output shares (limbs summed in float64) must equal the
// draft's agg_update over the same shares, for both fields and for elements next to the modulus.
import { describe, expect, it } from 'vitest';
import { EncodedShareSum } from '../../federated/secure/aggregator.ts';
import { type SecureTask, vdafOf } from '../../federated/secure/task.ts';

function randomElement(modulus: bigint, i: number): bigint {
  if (i % 7 === 0) return modulus - 1n - BigInt(i % 3); // the largest encodings, where a limb overflow would show
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let x = 0n;
  for (const b of bytes) x = (x << 8n) | BigInt(b);
  return x % modulus;
}

describe('EncodedShareSum', () => {
  it('equals agg_update over the decoded shares', () => {
    const task: SecureTask = { taskId: new Uint8Array(32), params: { kind: 'popularity', length: 64, maxWeight: 4 } };
    const vdaf = vdafOf(task);
    const sum = new EncodedShareSum(task);
    const reference = vdaf.aggInit();
    for (let r = 0; r < 300; r++) {
      const share = Array.from({ length: vdaf.flp.outputLen }, (_, i) => randomElement(vdaf.field.modulus, i + r));
      sum.add(vdaf.field.encodeVec(share));
      vdaf.aggUpdate(reference, share);
    }
    expect(sum.count).toBe(300);
    expect(sum.toField()).toEqual(reference);
  });

  it('refuses a share of another length', () => {
    const task: SecureTask = { taskId: new Uint8Array(32), params: { kind: 'popularity', length: 8, maxWeight: 2 } };
    expect(() => new EncodedShareSum(task).add(new Uint8Array(16 * 7))).toThrow(/wrong length/);
  });
});
