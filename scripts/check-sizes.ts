// House rule: no source file over 400 lines and no function over 80 lines, outside the
// tests. Long files and functions hide more than one job; splitting them by job keeps each
// one reviewable. Run by `npm run typecheck` and `npm test` (scripts/test.mjs), and checked
// on the repo by test/unit/house-rules.test.ts.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const MAX_FILE_LINES = 400;
export const MAX_FUNCTION_LINES = 80;

export interface SizeViolation {
  file: string;
  line: number;
  lines: number;
  kind: 'file' | 'function';
  name?: string;
}

/** The .ts/.mjs source files git tracks or would (not ignored), outside test/ (tests may be long: one case per block). */
export function sourceFiles(root: string): string[] {
  const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', '*.ts', '*.mjs'], { cwd: root, encoding: 'utf8' });
  return out.split('\0').filter((f) => f && !f.startsWith('test/') && !f.endsWith('.d.ts') && existsSync(`${root}/${f}`));
}

function functionName(node: ts.Node, sf: ts.SourceFile): string {
  const named = node as ts.Node & { name?: ts.Node };
  if (named.name) return named.name.getText(sf);
  const parent = node.parent;
  if (parent && (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent))) {
    return parent.name.getText(sf);
  }
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  return '(anonymous)';
}

function isFunctionLike(node: ts.Node): node is ts.FunctionLikeDeclaration {
  return (
    ts.isFunctionDeclaration(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isArrowFunction(node) ||
    ts.isFunctionExpression(node) ||
    ts.isConstructorDeclaration(node) ||
    ts.isGetAccessorDeclaration(node) ||
    ts.isSetAccessorDeclaration(node)
  );
}

/** The violations in one file's text; `file` is only used to label them. */
export function checkSource(file: string, text: string): SizeViolation[] {
  const violations: SizeViolation[] = [];
  const fileLines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
  if (fileLines > MAX_FILE_LINES) violations.push({ file, line: 1, lines: fileLines, kind: 'file' });
  const kind = file.endsWith('.mjs') || file.endsWith('.js') ? ts.ScriptKind.JS : ts.ScriptKind.TS;
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, kind);
  const visit = (node: ts.Node): void => {
    if (isFunctionLike(node) && node.body) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = end - start + 1;
      if (lines > MAX_FUNCTION_LINES) {
        violations.push({ file, line: start + 1, lines, kind: 'function', name: functionName(node, sf) });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return violations;
}

export function checkRepo(root: string): SizeViolation[] {
  return sourceFiles(root).flatMap((f) => checkSource(f, readFileSync(`${root}/${f}`, 'utf8')));
}

export function formatViolation(v: SizeViolation): string {
  return v.kind === 'file'
    ? `${v.file}:${v.line}: file has ${v.lines} lines (max ${MAX_FILE_LINES})`
    : `${v.file}:${v.line}: function ${v.name} has ${v.lines} lines (max ${MAX_FUNCTION_LINES})`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const violations = checkRepo(root);
  for (const v of violations) console.error(formatViolation(v));
  if (violations.length > 0) {
    console.error(`check-sizes: ${violations.length} violation(s)`);
    process.exit(1);
  }
  console.log('check-sizes: every file within 400 lines, every function within 80');
}
