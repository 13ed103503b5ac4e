// House rule: each package.json declares exactly what its code imports. The browser bundle
// (the SDK in src/, the worker in workers/, the demo, and the models/ and federated/ modules
// they reach) is the root package's `dependencies`; the aggregation server (server/ and what
// it reaches) is the server workspace's (server/package.json); the tools (benchmarks,
// scripts, tests, build configs) are the root's `devDependencies`. A declared package that
// nothing imports is dead weight for every install; an imported one that is not declared
// works only by hoisting luck. Also the import graph's layers (LAYERS): no import from a
// lower layer to a higher one; in particular bench/ never imports from test/, since a
// benchmark that leans on test scaffolding breaks when the tests are reorganised.
// Run by `npm run typecheck` and `npm test` (scripts/test.mjs); checked on the repo by
// test/unit/house-rules.test.ts. The targets are data (TARGETS below), not code.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export interface Target {
  name: string;
  /** the package.json (relative to the root) and the field that must match the imports */
  manifest: string;
  field: 'dependencies' | 'devDependencies';
  /** files or folders (ending in /) whose files are the target's entry points */
  roots: string[];
  /** follow relative imports out of the roots (a bundle or a server process includes what it reaches) */
  follow: boolean;
  /** other declarations an import may be satisfied by (manifest#field), without being required */
  alsoSatisfiedBy?: string[];
  /** packages used without an import (command-line tools, type packages): declared, never flagged */
  usedWithoutImport?: string[];
}

export const TARGETS: Target[] = [
  { name: 'browser', manifest: 'package.json', field: 'dependencies', roots: ['src/', 'workers/', 'demo/'], follow: true },
  { name: 'server', manifest: 'server/package.json', field: 'dependencies', roots: ['server/'], follow: true },
  {
    name: 'tools',
    manifest: 'package.json',
    field: 'devDependencies',
    roots: ['bench/', 'scripts/', 'test/', 'vite.config.ts', 'vite.lib.config.ts'],
    follow: false,
    // benchmarks and tests drive the SDK and the server through their own packages
    alsoSatisfiedBy: ['package.json#dependencies', 'server/package.json#dependencies'],
    // tsc, tsx and vite run as commands; @types/node types every Node-side file
    usedWithoutImport: ['@types/node', 'typescript', 'tsx', 'vite'],
  },
];

/**
 * The import graph's layers, lowest first: a file may import from its own layer and the ones
 * below, never from a higher one (the model code knows nothing of rounds, the protocol nothing
 * of the server, and nothing shipped or benchmarked leans on the tests' scaffolding).
 */
export const LAYERS: string[][] = [['models/'], ['federated/'], ['server/', 'workers/', 'src/'], ['demo/', 'scripts/'], ['bench/'], ['test/']];

/**
 * Imports between folders of one layer that must not exist either: [from, to]. The server and
 * the browser code share only the layers below them. (The page and its worker import each
 * other's types and event definitions, so src/ and workers/ are not separated.)
 */
export const FORBIDDEN_IMPORTS: [string, string][] = [
  ['server/', 'workers/'],
  ['server/', 'src/'],
  ['workers/', 'server/'],
  ['src/', 'server/'],
];

const layerOf = (file: string) => LAYERS.findIndex((layer) => layer.some((dir) => file.startsWith(dir)));

/** Why an import from `from` to `to` breaks the layering, or null when it does not. */
export function layerViolation(from: string, to: string): string | null {
  const [a, b] = [layerOf(from), layerOf(to)];
  if (a >= 0 && b > a) return `${LAYERS[a].join(', ')} must not import from a higher layer (${LAYERS[b].join(', ')})`;
  const pair = FORBIDDEN_IMPORTS.find(([f, t]) => from.startsWith(f) && to.startsWith(t));
  return pair ? `${pair[0]} must not import from ${pair[1]}` : null;
}

const SOURCE = /\.(ts|mts|mjs|js)$/;
const BUILTINS = new Set(builtinModules);

/** The source files git tracks or would (untracked but not ignored). */
export function trackedSources(root: string): string[] {
  const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' });
  return out.split('\0').filter((f) => SOURCE.test(f) && !f.endsWith('.d.ts') && existsSync(join(root, f)));
}

/** Every module specifier in a file: static imports and re-exports, `import('x')`, `import('x').T` types. */
export function moduleSpecifiers(file: string, text: string): string[] {
  const kind = /\.(mjs|js)$/.test(file) ? ts.ScriptKind.JS : ts.ScriptKind.TS;
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, kind);
  const specs: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      specs.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = node.arguments;
      if (arg && ts.isStringLiteralLike(arg)) specs.push(arg.text);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      specs.push(node.argument.literal.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return specs;
}

/** The package a bare specifier names ('@scope/name/deep?url' → '@scope/name'); null for relative paths and Node built-ins. */
export function packageName(spec: string): string | null {
  if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('node:')) return null;
  const bare = spec.split('?')[0];
  const parts = bare.split('/');
  const name = bare.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  return BUILTINS.has(name) ? null : name;
}

/** The source file a relative specifier names, or null (an asset, or outside the sources). */
function resolveRelative(from: string, spec: string, sources: Set<string>): string | null {
  const path = normalize(join(dirname(from), spec.split('?')[0]));
  const candidates = [path, path.replace(/\.js$/, '.ts'), `${path}.ts`, join(path, 'index.ts')];
  return candidates.find((c) => sources.has(c)) ?? null;
}

interface Graph {
  files: string[];
  specs: Map<string, string[]>;
  edges: Map<string, string[]>;
}

function buildGraph(root: string): Graph {
  const files = trackedSources(root);
  const sources = new Set(files);
  const specs = new Map<string, string[]>();
  const edges = new Map<string, string[]>();
  for (const f of files) {
    const s = moduleSpecifiers(f, readFileSync(join(root, f), 'utf8'));
    specs.set(f, s);
    edges.set(f, s.flatMap((x) => (x.startsWith('.') ? [resolveRelative(f, x, sources)].filter((r): r is string => r !== null) : [])));
  }
  return { files, specs, edges };
}

const inRoots = (file: string, roots: string[]) => roots.some((r) => (r.endsWith('/') ? file.startsWith(r) : file === r));

/** The files a target includes: its roots, and (when it follows) every file they reach. */
export function targetFiles(graph: Graph, target: Target): string[] {
  const seen = new Set(graph.files.filter((f) => inRoots(f, target.roots)));
  if (target.follow) {
    const queue = [...seen];
    while (queue.length > 0) {
      for (const next of graph.edges.get(queue.pop()!) ?? []) {
        if (!seen.has(next)) seen.add(next), queue.push(next);
      }
    }
  }
  return [...seen].sort();
}

/** package → the first file that imports it */
export function importedPackages(graph: Graph, files: string[]): Map<string, string> {
  const found = new Map<string, string>();
  for (const f of files) {
    for (const spec of graph.specs.get(f) ?? []) {
      const name = packageName(spec);
      if (name && !found.has(name)) found.set(name, f);
    }
  }
  return found;
}

function declared(root: string, ref: string): Set<string> {
  const [manifest, field] = ref.split('#');
  const path = join(root, manifest);
  if (!existsSync(path)) return new Set();
  const pkg = JSON.parse(readFileSync(path, 'utf8')) as Record<string, Record<string, string> | undefined>;
  return new Set(Object.keys(pkg[field] ?? {}));
}

export interface DepProblem {
  target: string;
  message: string;
}

/** What each target imports and declares, and where they disagree. */
export function checkDeps(root: string, targets: Target[] = TARGETS): { problems: DepProblem[]; imports: Map<string, Map<string, string>> } {
  const graph = buildGraph(root);
  const problems: DepProblem[] = [];
  const imports = new Map<string, Map<string, string>>();
  for (const t of targets) {
    const ref = `${t.manifest}#${t.field}`;
    const used = importedPackages(graph, targetFiles(graph, t));
    imports.set(t.name, used);
    const own = declared(root, ref);
    const satisfied = new Set([...own, ...(t.alsoSatisfiedBy ?? []).flatMap((r) => [...declared(root, r)])]);
    for (const [name, file] of used) {
      if (!satisfied.has(name)) problems.push({ target: t.name, message: `${file} imports ${name}, which ${ref} does not declare` });
    }
    for (const name of own) {
      if (!used.has(name) && !(t.usedWithoutImport ?? []).includes(name)) {
        problems.push({ target: t.name, message: `${ref} declares ${name}, which no ${t.name} file imports` });
      }
    }
  }
  for (const f of graph.files) {
    for (const dest of graph.edges.get(f) ?? []) {
      const why = layerViolation(f, dest);
      if (why) problems.push({ target: 'layers', message: `${f} imports ${dest}: ${why}` });
    }
  }
  return { problems, imports };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const { problems, imports } = checkDeps(root);
  if (process.argv.includes('--list')) {
    for (const [name, used] of imports) console.log(`${name}: ${[...used.keys()].sort().join(' ')}`);
  }
  for (const p of problems) console.error(`check-deps [${p.target}]: ${p.message}`);
  if (problems.length > 0) process.exit(1);
  console.log('check-deps: every package.json declares exactly what its code imports');
}
