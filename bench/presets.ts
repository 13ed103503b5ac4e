// Named argument lists for the benchmark CLIs, one per figure in BENCHMARKS.md:
//
//   npm run bench:federated -- --preset dp8            # the flags behind that row
//   npm run bench:federated -- --preset dp8 --rounds 4 # a flag given beside it replaces the preset's
//   npm run bench:federated -- --preset list           # this benchmark's presets
//   npm run bench:federated -- --preset dp8 --show-preset   # print the expanded command, run nothing
//
// Each list is the command that produced the figure, with two kinds of change that do not
// move the result: outputs go under bench/out/presets/, and a training time cap (--minutes) is
// raised so that it never binds; where the cap ended the original run, --epochs stops it after
// the same epoch (training resumes deterministically, so the run is the same on a faster or
// slower machine). The federated headline trains its centralised reference and the federated
// model in one process; the reference is deterministic, so it is the same model as the
// separate run that produced it. Dataset paths are relative to the repository root, whose sibling
// ../shared/datasets holds the data.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export type BenchName = 'quality' | 'federated' | 'federated-signal' | 'dp-popularity' | 'server' | 'profile';

export interface Preset {
  /** what the preset measures, printed by `--preset list` */
  what: string;
  args: readonly string[];
}

const DATA = '../shared/datasets';
const OUT = 'bench/out/presets';
const BEAUTY = ['--data', `${DATA}/beauty/Beauty.txt`, '--attributes', `${DATA}/beauty/Beauty_item2attributes.json`];
const ML1M = ['--data', `${DATA}/ml-1m/ml-1m.txt`, '--metadata', `${DATA}/ml-1m/sas_item_metadata.tsv`];

// ML-1M: full cross-entropy on every training target in windows of 200, learning-rate cut on
// a validation plateau, test scored on the best of single epochs and 5-epoch weight means
const ML1M_TRAINING = ['--pooling', 'split', '--max-len', '200', '--batch', '64', '--lr', '0.005', '--loss', 'softmax', '--patience', '10',
  '--lr-decay', '0.3', '--lr-patience', '3', '--windows', 'all', '--average', '5', '--dropout', '0.1', '--minutes', '1000'];

// The round settings the server ships: one SGD step at lr 0.2 per client, adaptive clipping
// from 0.3, FedAdam (lr 0.02, τ 1e-6), a popularity round at ε 1 composed into the total ε
const ROUNDS = ['--local-optimizer', 'sgd', '--local-epochs', '1', '--local-lr', '0.2', '--clip', '0.3', '--server-optimizer', 'adam',
  '--server-lr', '0.02', '--server-tau', '0.000001', '--prior-epsilon', '1'];
const NO_REFERENCE = ['--central-epochs', '0'];

// The reference the federated ratios divide by: deterministic, so the same in every run
const REF8 = ['--central-steps', '376', '--central-lr', '0.008'];
// Scores the weights named by --score-weights, each against the first, with a 95% paired
// bootstrap interval over the test users (a fresh popularity release for the prior)
const RESCORE = [...BEAUTY, '--rounds', '0', '--central-epochs', '0', '--prior-epsilon', '1'];

export const PRESETS: Record<BenchName, Record<string, Preset>> = {
  quality: {
    beauty: {
      what: 'Beauty, benchmark model (hashed ids + attributes, full cross-entropy): test NDCG@10 0.0478',
      args: [...BEAUTY, '--models', 'sasrec-hash+attrs', '--pooling', 'split', '--loss', 'softmax', '--batch', '128', '--patience', '10',
        '--lr-decay', '0.3', '--lr-patience', '3', '--minutes', '1000', '--checkpoint', `${OUT}/ckpt-beauty`, '--json', `${OUT}/quality-beauty.json`],
    },
    'beauty-baselines': {
      what: 'Beauty, popularity and item-to-item baselines (deterministic)',
      args: [...BEAUTY, '--models', 'popularity,item-to-item', '--json', `${OUT}/quality-beauty-baselines.json`],
    },
    ml1m: {
      what: 'ML-1M, dim 128, mean of epochs 20–24: test NDCG@10 0.1825',
      args: [...ML1M, '--models', 'sasrec-hash+attrs', ...ML1M_TRAINING, '--dim', '128', '--epochs', '28',
        '--checkpoint', `${OUT}/ckpt-ml1m`, '--json', `${OUT}/quality-ml1m.json`],
    },
    'ml1m-exact': {
      what: 'ML-1M, one embedding row per item (dim 64), mean of epochs 35–39: test NDCG@10 0.1773',
      args: [...ML1M, '--models', 'sasrec-exact', ...ML1M_TRAINING, '--dim', '64', '--epochs', '39',
        '--checkpoint', `${OUT}/ckpt-ml1m-exact`, '--json', `${OUT}/quality-ml1m-exact.json`],
    },
    'ml1m-baselines': {
      what: 'ML-1M, popularity and item-to-item baselines (deterministic)',
      args: [...ML1M, '--models', 'popularity,item-to-item', '--json', `${OUT}/quality-ml1m-baselines.json`],
    },
  },
  federated: {
    ref8: {
      what: 'centralised reference: browser model, 376 Adam steps at lr 0.008 (NDCG@10 0.0180); saves its weights for the ratios',
      args: [...BEAUTY, '--rounds', '0', ...REF8, '--prior-epsilon', '1', '--eval-every', '94', '--save-weights', `${OUT}/ref8`],
    },
    dp8: {
      what: 'ref8, then 2,000 clients × 108 rounds at total PLD ε 8 (NDCG@10 0.0159, 88% of ref8), in one process',
      args: [...BEAUTY, ...ROUNDS, ...REF8,
        '--dp', 'central', '--epsilon', '8', '--accountant', 'pld', '--clients-per-round', '2000', '--rounds', '108', '--eval-every', '36',
        '--save-weights', `${OUT}/dp8`],
    },
    'dp8-interval': {
      what: "dp8's ratio to its reference with a 95% paired bootstrap interval, from the weights dp8 saved",
      args: [...RESCORE, '--score-weights', `${OUT}/dp8-central.f32,${OUT}/dp8-federated.f32`],
    },
    'dp8-1k144': {
      what: '1,000 clients × 144 rounds at total PLD ε 8 (three runs: 73.9–81.8% of ref8)',
      args: [...BEAUTY, ...ROUNDS, ...NO_REFERENCE, '--dp', 'central', '--epsilon', '8', '--accountant', 'pld', '--clients-per-round', '1000', '--rounds', '144',
        '--eval-every', '36', '--save-weights', `${OUT}/dp8-1k144`],
    },
    'eps-curve': {
      what: 'ε–quality curve: 1,000 clients × 48 rounds, RDP accounting; pick the total ε with --epsilon',
      args: [...BEAUTY, ...ROUNDS, ...NO_REFERENCE, '--dp', 'central', '--epsilon', '8', '--clients-per-round', '1000', '--rounds', '48', '--eval-every', '12',
        '--save-weights', `${OUT}/eps-curve`],
    },
    nodp: {
      what: 'the same rounds without DP (FedAvg, clip fixed at 0.3), 1,000 clients × 48 rounds (NDCG@10 0.0196)',
      args: [...BEAUTY, ...ROUNDS, ...NO_REFERENCE, '--dp', 'none', '--clients-per-round', '1000', '--rounds', '48', '--eval-every', '12', '--save-weights', `${OUT}/nodp`],
    },
    'nodp-vs-ref8': {
      what: 'ratio of nodp to ref8 with a 95% paired bootstrap interval (run ref8 and nodp first)',
      args: [...RESCORE, '--score-weights', `${OUT}/ref8-central.f32,${OUT}/nodp-federated.f32`],
    },
    rescore: {
      what: 'scores --score-weights FIRST,OTHER…: each file against the first, with a 95% paired bootstrap interval',
      args: RESCORE,
    },
  },
  'federated-signal': {
    beauty: {
      what: 'client delta norms and signal / DP noise of one round (300 clients, 500 × 12, clips 1, 0.3, 0.1)',
      args: [...BEAUTY, '--clients', '300', '--clips', '1,0.3,0.1'],
    },
  },
  'dp-popularity': {
    beauty: {
      what: 'popularity from one user-level DP histogram at ε 0.1–8 (10,000 test users, median of 5 draws)',
      args: ['--data', `${DATA}/beauty/Beauty.txt`, '--epsilons', '0.1,0.5,1,2,8'],
    },
  },
  server: {
    file: { what: 'embedded store, 1,000 uploads of 256 KiB per round', args: ['--store', 'file'] },
    redis: { what: 'Redis store, no persistence', args: ['--store', 'redis'] },
    'redis-fsync': { what: 'Redis store, appendfsync always', args: ['--store', 'redis', '--redis-fsync', 'always'] },
    'redis-3': { what: 'three aggregator instances on one Redis', args: ['--store', 'redis', '--instances', '3'] },
  },
  profile: {
    'rerank-beauty': {
      what: 'rerank quality on Amazon Beauty (bestsellers and category pages, every user)',
      args: ['--rerank-quality', '--data', `${DATA}/beauty/Beauty.txt`, '--attrs', `${DATA}/beauty/Beauty_item2attributes.json`],
    },
  },
};

/** `--name value…` groups in order; a group is a flag and the non-flag tokens after it. */
function flagGroups(args: readonly string[]): string[][] {
  const groups: string[][] = [];
  for (const token of args) {
    if (token.startsWith('--') || groups.length === 0) groups.push([token]);
    else groups[groups.length - 1].push(token);
  }
  return groups;
}

const flagName = (token: string) => token.split('=', 1)[0];

/**
 * The argument list with `--preset NAME` (or `--preset=NAME`) replaced by the preset's flags.
 * A flag also given explicitly drops the preset's value for it, so the explicit one holds
 * whichever occurrence a CLI reads (parseArgs keeps the last, indexOf finds the first).
 */
export function expandPreset(bench: BenchName, argv: readonly string[]): { args: string[]; preset: string | null } {
  const i = argv.findIndex((a) => flagName(a) === '--preset');
  if (i < 0) return { args: [...argv], preset: null };
  const inline = argv[i].includes('=');
  const name = inline ? argv[i].slice('--preset='.length) : argv[i + 1];
  const rest = [...argv.slice(0, i), ...argv.slice(i + (inline ? 1 : 2))];
  const presets = PRESETS[bench];
  const preset = name === undefined ? undefined : presets[name];
  if (!preset) throw new Error(`--preset must be one of ${Object.keys(presets).join(', ')} for bench:${bench}${name === undefined ? '' : `, not ${name}`}`);
  const given = new Set(rest.filter((a) => a.startsWith('--')).map(flagName));
  const kept = flagGroups(preset.args).filter((group) => !given.has(flagName(group[0])));
  return { args: [...kept.flat(), ...rest], preset: name! };
}

/**
 * process.argv for a benchmark CLI, preset expanded. Also answers `--preset list` and
 * `--show-preset` (both exit), and creates the folders the preset writes into.
 */
export function argvWithPreset(bench: BenchName, argv: readonly string[] = process.argv.slice(2)): string[] {
  if (argv.includes('--preset=list') || (argv.includes('--preset') && argv[argv.indexOf('--preset') + 1] === 'list')) {
    for (const [name, p] of Object.entries(PRESETS[bench])) console.log(`${name}: ${p.what}`);
    process.exit(0);
  }
  const show = argv.includes('--show-preset');
  const { args, preset } = expandPreset(bench, argv.filter((a) => a !== '--show-preset'));
  if (show || preset) console.error(`npm run bench:${bench} -- ${args.join(' ')}`);
  if (show) process.exit(0);
  if (preset) {
    for (const flag of ['--json', '--save-weights', '--checkpoint']) {
      const at = args.lastIndexOf(flag);
      if (at >= 0 && args[at + 1]) mkdirSync(dirname(args[at + 1]), { recursive: true });
    }
  }
  return args;
}
