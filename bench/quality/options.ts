// bench:quality's command line, documented at the top of bench/quality.ts.
import { parseArgs } from 'node:util';
import { argvWithPreset } from '../presets.ts';

/** The command line, after the preset (bench/presets.ts) it may name. */
export function parseQualityArgs() {
  return parseArgs({
    args: argvWithPreset('quality'),
    options: {
      data: { type: 'string' },
      format: { type: 'string', default: 'auto' },
      attributes: { type: 'string' },
      metadata: { type: 'string' },
      quick: { type: 'boolean', default: false },
      json: { type: 'string' },
      models: { type: 'string' },
      epochs: { type: 'string' },
      minutes: { type: 'string' },
      'val-users': { type: 'string' },
      patience: { type: 'string' },
      seed: { type: 'string', default: '42' },
      lr: { type: 'string', default: '0.005' },
      dropout: { type: 'string', default: '0.3' },
      negatives: { type: 'string', default: '1024' },
      loss: { type: 'string', default: 'sampled-softmax' },
      batch: { type: 'string', default: '256' },
      dim: { type: 'string', default: '64' },
      layers: { type: 'string', default: '2' },
      heads: { type: 'string', default: '2' },
      'max-len': { type: 'string', default: '50' },
      'id-hashes': { type: 'string' },
      'id-buckets': { type: 'string' },
      // validation only: no test scoring, no quantisation (for choosing hyperparameters)
      tune: { type: 'boolean', default: false },
      'log-q': { type: 'string', default: 'on' },
      pooling: { type: 'string', default: 'mean' },
      // a folder: save after every epoch, and carry on from what it holds (same settings only)
      checkpoint: { type: 'string' },
      // reduce-on-plateau: multiply the rate by --lr-decay after --lr-patience epochs without a new best
      'lr-decay': { type: 'string', default: '1' },
      'lr-patience': { type: 'string', default: '3' },
      // last: each user's last maxLen targets (SASRec's rule); all: every target, in windows
      windows: { type: 'string', default: 'last' },
      // checkpoint averaging: K > 1 also scores the mean of the last K epochs' weights
      average: { type: 'string', default: '1' },
    },
  }).values;
}

export type QualityArgs = ReturnType<typeof parseQualityArgs>;
