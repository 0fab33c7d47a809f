// native-free/ is the packet engine: pure TypeScript over Uint8Array, no Node
// module, no package, no Node global. This test keeps it that way:
//  - scans every .ts file under native-free/ and names file:line of each
//    import of a Node module or package, each relative import leaving
//    native-free/, each `/// <reference types=...>`, and each mention of
//    Buffer, `process.` or `require(` (comments included);
//  - compiles native-free/ with its own tsconfig, which has no Node types.

import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const NATIVE_FREE = join(ROOT, 'native-free');

/** Node modules named in the brief, banned with or without `node:`, with any subpath ('fs/promises'). */
const NODE_MODULES = new Set([
  'fs',
  'dgram',
  'net',
  'worker_threads',
  'child_process',
  'os',
  'http',
  'https',
  'http2',
  'tls',
  'cluster',
  'path',
  'url',
  'util',
  'events',
  'stream',
  'crypto',
  'buffer',
  'process',
  'module',
  'dns',
  'v8',
  'vm',
  'perf_hooks',
  'timers',
  'async_hooks',
  'readline',
  'zlib',
]);

interface Violation {
  file: string;
  line: number;
  message: string;
}

const SPECIFIERS: RegExp[] = [
  // import x from 'y'; import { a } from "y"; import type ...; export ... from 'y' (also across lines)
  /\b(?:import|export)\b[^'"`;]*?\bfrom\s*(['"])([^'"\n]+)\1/g,
  // import 'y' (side effect only)
  /\bimport\s*(['"])([^'"\n]+)\1/g,
  // import('y') / await import("y")
  /\bimport\s*\(\s*(['"`])([^'"`\n]+)\1/g,
  // import x = require('y') is caught by the require( rule below
];

const MENTIONS: Array<[RegExp, string]> = [
  // Buffer as a word: ArrayBuffer / SharedArrayBuffer are fine.
  [/(?<![\w$])Buffer(?![\w$])/, 'mentions Buffer (use Uint8Array)'],
  [/(?<![\w$.])process\s*\./, 'mentions process. (a Node global)'],
  [/(?<![\w$.])require\s*\(/, 'mentions require( (CommonJS / Node)'],
  [/\/\/\/\s*<reference\s+types\s*=/, 'has a /// <reference types=...> directive'],
];

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/**
 * The violations in one file's text. `file` is its path relative to the
 * repository root (native-free/...), used to resolve relative imports.
 */
function scanSource(file: string, text: string): Violation[] {
  const out: Violation[] = [];
  const seen = new Set<string>();
  for (const re of SPECIFIERS) {
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const spec = m[2]!;
      const at = m.index + m[0].lastIndexOf(spec);
      const line = lineOf(text, at);
      const key = `${line}:${spec}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const message = checkSpecifier(file, spec);
      if (message !== undefined) out.push({ file, line, message });
    }
  }
  const lines = text.split('\n');
  lines.forEach((l, i) => {
    for (const [re, message] of MENTIONS) if (re.test(l)) out.push({ file, line: i + 1, message });
  });
  return out.sort((a, b) => a.line - b.line || a.message.localeCompare(b.message));
}

function checkSpecifier(file: string, spec: string): string | undefined {
  if (spec.startsWith('node:')) return `imports Node module '${spec}'`;
  if (spec.startsWith('/')) return `imports '${spec}', an absolute path`;
  if (spec.startsWith('.')) {
    const rel = relative(NATIVE_FREE, resolve(ROOT, dirname(file), spec));
    if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return `imports '${spec}', outside native-free/`;
    return undefined;
  }
  const first = spec.split('/')[0]!;
  if (NODE_MODULES.has(first)) return `imports Node module '${spec}'`;
  return `imports package '${spec}' (node_modules)`;
}

function listTs(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules') out.push(...listTs(p));
    } else if (e.isFile() && (e.name.endsWith('.ts') || e.name.endsWith('.mts') || e.name.endsWith('.cts'))) {
      out.push(p);
    }
  }
  return out.sort();
}

function runTsc(args: string[]): Promise<{ code: number; output: string }> {
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  return new Promise((res) => {
    execFile(process.execPath, [tsc, ...args], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      res({ code, output: `${stdout}${stderr}` });
    });
  });
}

describe('the scanner', () => {
  it('finds each kind of violation, naming the line', () => {
    const src = [
      "import { readFileSync } from 'node:fs';", // 1
      "import dgram from 'dgram';", // 2
      'import {', // 3
      '  Worker,', // 4
      "} from 'worker_threads';", // 5
      "export { x } from 'fs/promises';", // 6
      "import 'os';", // 7
      "const m = await import('child_process');", // 8
      "import pino from 'pino';", // 9
      "import { y } from '../../src/cli/main.js';", // 10
      'const b = Buffer.alloc(4);', // 11
      'const e = process.env;', // 12
      "const r = require('net');", // 13
      '/// <reference types="node" />', // 14
      '// a comment that says Buffer', // 15
    ].join('\n');
    expect(scanSource('native-free/header/x.ts', src).map((v) => `${v.line}: ${v.message}`)).toEqual([
      "1: imports Node module 'node:fs'",
      "2: imports Node module 'dgram'",
      "5: imports Node module 'worker_threads'",
      "6: imports Node module 'fs/promises'",
      "7: imports Node module 'os'",
      "8: imports Node module 'child_process'",
      "9: imports package 'pino' (node_modules)",
      "10: imports '../../src/cli/main.js', outside native-free/",
      '11: mentions Buffer (use Uint8Array)',
      '12: mentions process. (a Node global)',
      '13: mentions require( (CommonJS / Node)',
      '14: has a /// <reference types=...> directive',
      '15: mentions Buffer (use Uint8Array)',
    ]);
  });

  it('lets pure code through', () => {
    const src = [
      "import { InvalidArgumentError } from '../errors.js';",
      "import type { Foo } from './foo.js';",
      "export * from './bar.js';",
      'const a = new ArrayBuffer(8);',
      'const s = new SharedArrayBuffer(8);',
      'const u = new Uint8Array(a);',
      'processPacket.count++; preprocess.x = 1; ctx.process.y = 2;',
      'const required = 1; requireOk(1);',
    ].join('\n');
    expect(scanSource('native-free/header/x.ts', src)).toEqual([]);
  });
});

describe('native-free/ purity', () => {
  it('has no Node module, package, Node global or import from outside native-free/', () => {
    const files = listTs(NATIVE_FREE);
    expect(files.length).toBeGreaterThan(0);
    const violations = files.flatMap((f) => {
      const rel = relative(ROOT, f).split(sep).join('/');
      return scanSource(rel, readFileSync(f, 'utf8'));
    });
    expect(violations.map((v) => `${v.file}:${v.line}: ${v.message}`)).toEqual([]);
  });

  it('its tsconfig has no Node types', async () => {
    const { code, output } = await runTsc(['-p', 'native-free/tsconfig.json', '--showConfig']);
    expect(code, output).toBe(0);
    const config = JSON.parse(output) as { compilerOptions?: { types?: unknown } };
    expect(config.compilerOptions?.types).toEqual([]);
  });

  it('compiles with tsc -p native-free/tsconfig.json', { timeout: 300_000 }, async () => {
    const { code, output } = await runTsc(['-p', 'native-free/tsconfig.json']);
    expect(output.trim(), 'tsc -p native-free/tsconfig.json').toBe('');
    expect(code).toBe(0);
  });
});
