/**
 * The layering docs/architecture.md describes, checked on the import statements of src/: no import circle, each
 * folder imports only from the layers below it (the faces at the top, nothing imports them), and inside method/ the
 * shared parts know no method, no method knows another, and only the registry knows them all.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO } from '../sharedData.js';

const SRC = path.join(REPO, 'src');

/**
 * Each folder of src/ and the layer it sits in: a file may import from its own folder and from lower layers only.
 * (src/errors.ts is below everything; src/index.ts, the public API, above everything.)
 */
const LAYER: Readonly<Record<string, number>> = {
  util: 0,
  io: 1,
  tensorfile: 2,
  onnx: 2,
  image: 3,
  engine: 3,
  model: 3,
  metrics: 3,
  data: 4,
  backbone: 4,
  method: 5,
  detector: 6,
  evaluation: 7,
  report: 8,
  server: 9,
  queue: 9,
  cli: 10,
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );
}

/** Every relative import (value or type) of every file under src/, as paths relative to src/. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    const targets = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) =>
      path.relative(SRC, path.resolve(path.dirname(file), m[1]!.replace(/\.js$/, '.ts'))),
    );
    graph.set(path.relative(SRC, file), targets);
  }
  return graph;
}

const graph = importGraph();
const folderOf = (file: string): string => (file.includes('/') ? file.split('/')[0]! : file);

test('every import of src/ resolves to a file of src/', () => {
  for (const [file, targets] of graph) for (const t of targets) assert.ok(graph.has(t), `${file} imports ${t}, which is not a file of src/`);
});

test('no import circle in src/', () => {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const t of graph.get(file) ?? []) {
      assert.notEqual(state.get(t), 'open', `import circle: ${[...stack.slice(stack.indexOf(t)), t].join(' → ')}`);
      if (!state.has(t)) visit(t);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
});

test('each folder imports only from its own and lower layers; nothing imports the faces or the public API', () => {
  for (const folder of new Set([...graph.keys()].map(folderOf))) {
    if (folder.endsWith('.ts')) continue;
    assert.ok(folder in LAYER, `src/${folder}/ has no layer in this test and docs/architecture.md: add it to both`);
  }
  for (const [file, targets] of graph) {
    const from = folderOf(file);
    if (from === 'index.ts') continue;
    for (const t of targets) {
      const to = folderOf(t);
      if (to === from || to === 'errors.ts') continue;
      assert.notEqual(to, 'index.ts', `${file} imports the public API (src/index.ts)`);
      assert.ok(from !== 'errors.ts' && LAYER[to]! < LAYER[from]!, `${file} (layer ${from}) imports ${t} (layer ${to}), which is not below it`);
    }
  }
});

test('method/: shared parts know no method, no method knows another, only the registry (and the public API) knows them all', () => {
  const methods = new Set(['npad', 'padim', 'patchcore']);
  /** The subfolder of method/ a file is in (npad, parts, …), or null. */
  const subfolder = (file: string): string | null => {
    const p = file.split('/');
    return p[0] === 'method' && p.length > 2 ? p[1]! : null;
  };
  for (const [file, targets] of graph) {
    for (const t of targets) {
      const to = subfolder(t);
      if (to !== null && methods.has(to) && file !== 'method/registry.ts' && file !== 'index.ts') {
        assert.equal(subfolder(file), to, `${file} imports ${t}: only the registry and the method's own folder may import a method`);
      }
      if (subfolder(file) === 'parts') assert.notEqual(t, 'method/registry.ts', `${file} (a shared part) imports the registry`);
    }
  }
});
