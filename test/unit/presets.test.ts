import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type BenchName, expandPreset, PRESETS } from '../../bench/presets.ts';

/** The file that declares each CLI's flags to node:util parseArgs. */
const CLI_FILES: Record<BenchName, string> = {
  quality: 'bench/quality/options.ts',
  federated: 'bench/federated/options.ts',
  'federated-signal': 'bench/federated-signal.ts',
  'dp-popularity': 'bench/dp-popularity.ts',
  server: 'bench/server.ts',
  profile: 'bench/profile.ts',
};

/** The flags a CLI declares to node:util parseArgs, with their types. */
function declaredOptions(file: string): Map<string, 'string' | 'boolean'> {
  const options = new Map<string, 'string' | 'boolean'>();
  for (const m of readFileSync(file, 'utf8').matchAll(/'?([a-z][a-z0-9-]*)'?: \{ type: '(string|boolean)'/g)) options.set(`--${m[1]}`, m[2] as 'string' | 'boolean');
  return options;
}
// bench/profile.ts reads its flags by position instead of parseArgs
const PROFILE_OPTIONS = new Map<string, 'string' | 'boolean'>([['--rerank-quality', 'boolean'], ['--calibration', 'string'], ['--data', 'string'], ['--attrs', 'string'], ['--users', 'string'], ['--seed', 'string']]);

describe('expandPreset', () => {
  it('leaves an argument list without --preset as it is', () => {
    expect(expandPreset('federated', ['--data', 'x.txt', '--rounds', '3'])).toEqual({ args: ['--data', 'x.txt', '--rounds', '3'], preset: null });
  });

  it('replaces --preset NAME by the exact flags behind the headline', () => {
    const { args, preset } = expandPreset('federated', ['--preset', 'dp8']);
    expect(preset).toBe('dp8');
    expect(args.join(' ')).toBe(
      '--data ../shared/datasets/beauty/Beauty.txt --attributes ../shared/datasets/beauty/Beauty_item2attributes.json ' +
        '--local-optimizer sgd --local-epochs 1 --local-lr 0.2 --clip 0.3 --server-optimizer adam --server-lr 0.02 --server-tau 0.000001 ' +
        '--prior-epsilon 1 --central-steps 376 --central-lr 0.008 --dp central --epsilon 8 --accountant pld --clients-per-round 2000 ' +
        '--rounds 108 --eval-every 36 --save-weights bench/out/presets/dp8',
    );
  });

  it('accepts --preset=NAME and keeps the other arguments', () => {
    expect(expandPreset('server', ['--runs', '2', '--preset=redis-fsync']).args).toEqual(['--store', 'redis', '--redis-fsync', 'always', '--runs', '2']);
  });

  it('lets a flag given beside the preset replace the preset value, in either spelling', () => {
    const { args } = expandPreset('federated', ['--preset', 'eps-curve', '--epsilon', '16', '--save-weights=bench/out/e16']);
    expect(args.filter((a) => a === '--epsilon')).toHaveLength(1);
    expect(args.slice(-3)).toEqual(['--epsilon', '16', '--save-weights=bench/out/e16']);
    expect(args).not.toContain('bench/out/presets/eps-curve');
    // the first occurrence is the explicit one too (bench/profile.ts reads flags with indexOf)
    const profile = expandPreset('profile', ['--data', 'other.txt', '--preset', 'rerank-beauty']).args;
    expect(profile[profile.indexOf('--data') + 1]).toBe('other.txt');
    expect(profile).toContain('--rerank-quality');
  });

  it('names the presets it knows when given an unknown one or none', () => {
    expect(() => expandPreset('quality', ['--preset', 'nope'])).toThrow(/one of beauty, beauty-baselines, ml1m.*not nope/);
    expect(() => expandPreset('quality', ['--preset'])).toThrow(/--preset must be one of/);
  });
});

describe('PRESETS', () => {
  for (const [bench, presets] of Object.entries(PRESETS) as [BenchName, (typeof PRESETS)[BenchName]][]) {
    const options = bench === 'profile' ? PROFILE_OPTIONS : declaredOptions(CLI_FILES[bench]);
    for (const [name, preset] of Object.entries(presets)) {
      it(`bench:${bench} --preset ${name} uses only flags the CLI declares, each once, values where they take one`, () => {
        const seen = new Set<string>();
        for (let i = 0; i < preset.args.length; i++) {
          const flag = preset.args[i];
          expect(flag.startsWith('--'), `${flag} in ${name}`).toBe(true);
          expect(options.get(flag), `${flag} is not an option of bench:${bench}`).toBeDefined();
          expect(seen.has(flag), `${flag} twice in ${name}`).toBe(false);
          seen.add(flag);
          if (options.get(flag) === 'string') {
            expect(preset.args[i + 1]?.startsWith('--') ?? true, `${flag} needs a value`).toBe(false);
            i++;
          }
        }
      });
    }
  }

  it('has every preset that BENCHMARKS.md names', () => {
    const page = readFileSync('BENCHMARKS.md', 'utf8');
    const named = [...page.matchAll(/npm run bench:([a-z-]+) -- --preset ([a-z0-9-]+)/g)];
    expect(named.length).toBeGreaterThan(10);
    for (const [, bench, name] of named) {
      // other benchmarks keep their presets beside their own code
      if (!(bench in PRESETS)) continue;
      expect(PRESETS[bench as BenchName][name], `bench:${bench} --preset ${name}`).toBeDefined();
    }
  });
});
