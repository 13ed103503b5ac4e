// What the leader stores for each sealed report it acknowledges: its own half of verify_init,
// done on arrival, so the round's close only exchanges verifier shares with the helper and
// adds the output shares the helper confirmed. The leader decrypts each report once; the
// helper's ciphertext is kept as it came, for the helper alone.
import { ByteReader, ByteWriter } from '../../federated/secure/wire.ts';

const MAGIC = 0x534c5031; // "SLP1"

export interface PreparedReport {
  reportId: Uint8Array;
  /** DAP's ReportShare for the helper: metadata, public share, the helper's ciphertext */
  reportShare: Uint8Array;
  leaderVerifierShare: Uint8Array;
  /** the joint-randomness seed verify_next compares the helper's message with (empty: none) */
  correctedJointRandSeed: Uint8Array;
  /** the leader's encoded output share, added only if the helper accepts the report */
  outShare: Uint8Array;
}

export function encodePreparedReport(p: PreparedReport): Uint8Array {
  if (p.reportId.length !== 16) throw new Error('report ids are 16 bytes');
  return new ByteWriter()
    .uint(MAGIC, 4)
    .bytes(p.reportId)
    .opaque(p.reportShare, 4)
    .opaque(p.leaderVerifierShare, 4)
    .opaque(p.correctedJointRandSeed, 1)
    .opaque(p.outShare, 4)
    .finish();
}

/** Throws on anything that is not exactly one prepared report. */
export function decodePreparedReport(bytes: Uint8Array): PreparedReport {
  const r = new ByteReader(bytes);
  if (r.uint(4) !== MAGIC) throw new Error('not a prepared report');
  const p = {
    reportId: r.bytes(16),
    reportShare: r.opaque(4),
    leaderVerifierShare: r.opaque(4),
    correctedJointRandSeed: r.opaque(1),
    outShare: r.opaque(4),
  };
  r.end();
  return p;
}
