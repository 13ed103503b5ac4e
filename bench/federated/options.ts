// bench:federated's command line (documented at the top of bench/federated.ts) and the
// model configurations --model names.
import { parseArgs } from 'node:util';
import type { SasRecConfig } from '../../models/sasrec.ts';
import { BROWSER_MODEL } from '../../workers/recommender.ts';
import { argvWithPreset } from '../presets.ts';

/** The command line, after the preset (bench/presets.ts) it may name. */
export function parseFederatedArgs() {
  return parseArgs({
    args: argvWithPreset('federated'),
    options: {
      data: { type: 'string' },
      attributes: { type: 'string' },
      'clients-per-round': { type: 'string', default: '50' },
      rounds: { type: 'string', default: '10' },
      dp: { type: 'string', default: 'none' },
      epsilon: { type: 'string', default: '8' },
      users: { type: 'string' },
      'eval-users': { type: 'string', default: 'all' },
      'central-epochs': { type: 'string' },
      'central-steps': { type: 'string' },
      'central-id-rows': { type: 'string', default: 'trained' },
      'local-epochs': { type: 'string', default: '1' },
      'local-lr': { type: 'string', default: '0.001' },
      'local-optimizer': { type: 'string', default: 'adam' },
      'central-lr': { type: 'string', default: '0.001' },
      'eval-every': { type: 'string', default: '1' },
      'max-minutes': { type: 'string' },
      model: { type: 'string', default: 'browser' },
      bits: { type: 'string', default: '8' },
      clip: { type: 'string', default: '1' },
      json: { type: 'string' },
      throughput: { type: 'string', default: '0' },
      'server-optimizer': { type: 'string', default: 'sgd' },
      'server-lr': { type: 'string' },
      'server-lr-final': { type: 'string' },
      'server-tau': { type: 'string', default: '0.000001' },
      checkin: { type: 'string', default: 'in-process' },
      denoise: { type: 'string' },
      'clip-quantile': { type: 'string' },
      'save-weights': { type: 'string' },
      'save-rounds': { type: 'boolean', default: false },
      'prior-epsilon': { type: 'string' },
      'prior-buckets': { type: 'string', default: '65536' },
      'score-weights': { type: 'string' },
      accountant: { type: 'string', default: 'rdp' },
    },
  }).values;
}

// 'browser-522k' is BROWSER_MODEL before it was sized for ≤ 256 KB uploads (kept to measure
// what the smaller model costs); 'browser-ids2048' measures what fewer parameters buy under
// DP; 'default' is the benchmark model in models/sasrec.ts
export const MODELS: Record<string, Partial<SasRecConfig>> = {
  browser: BROWSER_MODEL,
  'browser-522k': { ...BROWSER_MODEL, dim: 48, features: { idMode: 'hash', idBuckets: 8192, idHashes: 2, attrBuckets: 2048, maxAttrs: 6 } },
  // half the hashed-id rows: DP noise grows with √(parameters), and the id rows are most of them
  'browser-ids2048': { ...BROWSER_MODEL, features: { ...BROWSER_MODEL.features!, idBuckets: 2048 } },
  default: {},
};
