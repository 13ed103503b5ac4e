// The house rules (scripts/check-sizes.ts, scripts/check-deps.ts): on small fixtures, and on
// the repository itself.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkDeps, moduleSpecifiers, packageName } from '../../scripts/check-deps.ts';
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

  it('finds every package.json declaring exactly what its code imports, and no bench/ to test/ import', () => {
    expect(checkDeps(ROOT).problems).toEqual([]);
  });
});
