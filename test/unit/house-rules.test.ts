// The house rules (scripts/check-sizes.ts, scripts/check-deps.ts): on small fixtures, and on
// the repository itself.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkDeps, layerViolation, moduleSpecifiers, packageName, type Target } from '../../scripts/check-deps.ts';
import { MAX_FILE_LINES, MAX_FUNCTION_LINES, checkRepo, checkSource, formatViolation } from '../../scripts/check-sizes.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const body = (n: number) => Array.from({ length: n }, (_, i) => `  const x${i} = ${i};`).join('\n');

describe('check-sizes', () => {
  it('flags a function declaration over 80 lines, with its file and line', () => {
    const text = `// header\n\nexport function long(): void {\n${body(MAX_FUNCTION_LINES)}\n}\n`;
    const v = checkSource('fixture.ts', text);
    expect(v).toEqual([{ file: 'fixture.ts', line: 3, lines: MAX_FUNCTION_LINES + 2, kind: 'function', name: 'long' }]);
    expect(formatViolation(v[0])).toBe(`fixture.ts:3: function long has ${MAX_FUNCTION_LINES + 2} lines (max ${MAX_FUNCTION_LINES})`);
  });

  it('flags long methods and arrow functions, and names them', () => {
    const text = [
      `class A {\n  method(): void {\n${body(90)}\n  }\n}`,
      `const arrow = () => {\n${body(90)}\n};`,
      `const expr = function () {\n${body(90)}\n};`,
    ].join('\n');
    expect(checkSource('f.ts', text).map((v) => v.name)).toEqual(['method', 'arrow', 'expr']);
  });

  it('passes a function of exactly 80 lines, and a short one', () => {
    const text = `function fits(): void {\n${body(MAX_FUNCTION_LINES - 2)}\n}\nconst short = () => 1;\n`;
    expect(checkSource('f.ts', text)).toEqual([]);
  });

  it('flags a file over 400 lines', () => {
    const text = `${body(MAX_FILE_LINES + 1)}\n`;
    expect(checkSource('big.ts', text)).toEqual([{ file: 'big.ts', line: 1, lines: MAX_FILE_LINES + 1, kind: 'file' }]);
    expect(checkSource('ok.ts', `${body(MAX_FILE_LINES)}\n`)).toEqual([]);
  });

  it('reads .mjs files as JavaScript', () => {
    expect(checkSource('s.mjs', `export function f() {\n${body(85)}\n}\n`)).toHaveLength(1);
  });

  it('finds nothing over the limits in the repository', () => {
    expect(checkRepo(ROOT).map(formatViolation)).toEqual([]);
  });
});

describe('check-deps', () => {
  it('collects static, dynamic, re-exported and type-position imports', () => {
    const text = [
      `import a from 'pkg-a';`,
      `import type { B } from '@scope/b/deep/path.js';`,
      `export { c } from './local.ts';`,
      `const d = await import('pkg-d');`,
      `type E = import('pkg-e').E;`,
      `import wasm from 'pkg-f/dist/x.wasm?url';`,
    ].join('\n');
    const specs = moduleSpecifiers('f.ts', text);
    expect(specs.map(packageName)).toEqual(['pkg-a', '@scope/b', null, 'pkg-d', 'pkg-e', 'pkg-f']);
  });

  it('ignores Node built-ins, with or without node:', () => {
    expect(['node:fs', 'fs', 'path', 'node:fs/promises'].map(packageName)).toEqual([null, null, null, null]);
  });

  it('flags a declared package nothing imports, an import nothing declares, and follows relative imports', () => {
    const dir = mkdtempSync(join(tmpdir(), 'silo-house-'));
    try {
      const files: Record<string, string> = {
        'package.json': JSON.stringify({ dependencies: { used: '1', unused: '1' }, devDependencies: { vitest: '1' } }),
        'server/package.json': JSON.stringify({ dependencies: { 'server-only': '1' } }),
        'src/a.ts': `import x from 'used/deep.js';\nimport { y } from '../models/b.ts';\nexport { x, y };\n`,
        'models/b.ts': `export const y = await import('undeclared');\n`,
        'server/s.ts': `import 'server-only';\nimport { y } from '../models/b.ts';\nexport { y };\n`,
        'bench/c.ts': `import 'vitest';\nimport '../test/helper.ts';\n`,
        'test/helper.ts': `export {};\n`,
      };
      for (const [path, text] of Object.entries(files)) {
        mkdirSync(dirname(join(dir, path)), { recursive: true });
        writeFileSync(join(dir, path), text);
      }
      execFileSync('git', ['init', '-q'], { cwd: dir });
      const targets: Target[] = [
        { name: 'browser', manifest: 'package.json', field: 'dependencies', roots: ['src/'], follow: true },
        { name: 'server', manifest: 'server/package.json', field: 'dependencies', roots: ['server/'], follow: true },
        { name: 'tools', manifest: 'package.json', field: 'devDependencies', roots: ['bench/', 'test/'], follow: false },
      ];
      const { problems, imports } = checkDeps(dir, targets);
      expect([...imports.get('browser')!.keys()].sort()).toEqual(['undeclared', 'used']);
      expect(problems.map((p) => p.message).sort()).toEqual([
        'bench/c.ts imports test/helper.ts: bench/ must not import from a higher layer (test/)',
        'models/b.ts imports undeclared, which package.json#dependencies does not declare',
        'models/b.ts imports undeclared, which server/package.json#dependencies does not declare',
        'package.json#dependencies declares unused, which no browser file imports',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps imports within their layer or below it', () => {
    expect(layerViolation('federated/a.ts', 'models/b.ts')).toBeNull();
    expect(layerViolation('src/a.ts', 'workers/b.ts')).toBeNull();
    expect(layerViolation('test/a.ts', 'bench/b.ts')).toBeNull();
    expect(layerViolation('models/a.ts', 'federated/b.ts')).toMatch(/higher layer/);
    expect(layerViolation('bench/a.ts', 'test/b.ts')).toMatch(/higher layer/);
    expect(layerViolation('server/a.ts', 'workers/b.ts')).toMatch(/server\/ must not import from workers\//);
  });

  it('finds every package.json declaring exactly what its code imports, and no import against the layers', () => {
    expect(checkDeps(ROOT).problems).toEqual([]);
  });
});
