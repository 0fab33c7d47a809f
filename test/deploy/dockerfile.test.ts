// The Dockerfile, read statically (no container engine here): two stages, a
// final stage with no compiler and only the runtime files, and the entrypoint
// the DaemonSet relies on.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadYamlDocuments, type Obj, readRepoFile, REPO } from './helpers.js';

interface Instruction {
  op: string;
  args: string;
  line: number;
}

/** Instructions with continuation lines joined and comment lines dropped (as BuildKit reads them). */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending: { text: string; line: number } | null = null;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && pending === null)) return;
    const continued = line.endsWith('\\');
    const body = continued ? line.slice(0, -1) : line;
    pending = pending ? { text: `${pending.text} ${body}`, line: pending.line } : { text: body, line: i + 1 };
    if (!continued) {
      const m = /^(\S+)\s*(.*)$/s.exec(pending.text.trim())!;
      out.push({ op: m[1]!.toUpperCase(), args: m[2]!.replace(/\s+/g, ' ').trim(), line: pending.line });
      pending = null;
    }
  });
  return out;
}

/** Stages: the instructions from each FROM to the next. */
function stages(list: Instruction[]): Instruction[][] {
  const out: Instruction[][] = [];
  for (const ins of list) {
    if (ins.op === 'FROM') out.push([]);
    else if (out.length === 0 && ins.op !== 'ARG') throw new Error(`line ${ins.line}: ${ins.op} before the first FROM`);
    out.at(-1)?.push(ins);
  }
  return out;
}

const dockerfile = parseDockerfile(readRepoFile('Dockerfile'));
const froms = dockerfile.filter((i) => i.op === 'FROM');
const [build, final] = stages(dockerfile);
const runText = (stage: Instruction[]): string => stage.filter((i) => i.op === 'RUN').map((i) => i.args).join(' && ');
const copies = (stage: Instruction[]): { from: string | null; src: string[]; dest: string }[] =>
  stage
    .filter((i) => i.op === 'COPY')
    .map((i) => {
      const words = i.args.split(' ');
      const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length) ?? null;
      const paths = words.filter((w) => !w.startsWith('--'));
      return { from, src: paths.slice(0, -1), dest: paths.at(-1)! };
    });
const exec = (op: string): unknown => JSON.parse(final!.find((i) => i.op === op)!.args);

describe('Dockerfile', () => {
  it('builds in node:20-bookworm and ships node:20-bookworm-slim', () => {
    expect(froms.map((f) => f.args)).toEqual(['node:20-bookworm AS build', 'node:20-bookworm-slim']);
    expect(build).toBeDefined();
    expect(final).toBeDefined();
  });

  it('the build stage installs, compiles, then drops the dev dependencies', () => {
    const run = runText(build!);
    const at = (cmd: string): number => run.indexOf(cmd);
    for (const cmd of ['npm ci', 'npm run build', 'npm prune --omit=dev']) expect(at(cmd), cmd).toBeGreaterThanOrEqual(0);
    expect(at('npm ci')).toBeLessThan(at('npm run build'));
    expect(at('npm run build')).toBeLessThan(at('npm prune --omit=dev'));
  });

  it('the build stage copies only files that exist and that .dockerignore lets through', () => {
    const ignored = readRepoFile('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    for (const c of copies(build!)) {
      expect(c.from).toBeNull();
      for (const src of c.src) {
        const path = src.replace(/\/$/, '');
        expect(existsSync(new URL(path, REPO)), src).toBe(true);
        expect(ignored.filter((p) => p === path || path.startsWith(`${p}/`)), src).toEqual([]);
      }
    }
    for (const p of ['.git', 'node_modules', 'dist']) expect(ignored).toContain(p);
  });

  it('the final stage installs only iproute2 and iptables, without recommends, and keeps no apt lists', () => {
    const run = runText(final!);
    const installs = [...run.matchAll(/apt-get install ([^&;|]*)/g)].flatMap((m) => m[1]!.split(' ').filter((w) => w !== '' && !w.startsWith('-')));
    expect(installs.sort()).toEqual(['iproute2', 'iptables']);
    expect(run).toMatch(/apt-get install[^&]*--no-install-recommends/);
    expect(run).toMatch(/rm -rf \/var\/lib\/apt\/lists/);
  });

  it('the final stage has no compiler, build tool or python, and installs no npm packages', () => {
    const text = final!.map((i) => `${i.op} ${i.args}`).join('\n');
    for (const tool of ['build-essential', 'gcc', 'g++', 'clang', 'make', 'cmake', 'python', 'node-gyp', 'npm ci', 'npm install', 'yarn', 'pnpm']) {
      expect(text, tool).not.toMatch(new RegExp(`(^|[\\s"'])${tool.replace(/[+]/g, '\\+')}($|[\\s"'=0-9.])`, 'm'));
    }
  });

  it('the final stage takes dist/, bin/, the production node_modules and package.json from the build stage, nothing from the context', () => {
    const c = copies(final!);
    expect(c.every((x) => x.from === 'build')).toBe(true);
    const shipped = c.flatMap((x) => x.src.map((s) => s.replace(/^\/src\//, '').replace(/\/$/, ''))).sort();
    expect(shipped).toEqual(['bin', 'dist', 'node_modules', 'package.json']);
    expect(final!.find((i) => i.op === 'WORKDIR')?.args).toBe('/opt/weft');
  });

  it('starts `node /opt/weft/bin/weft.js run`, in exec form', () => {
    expect(exec('ENTRYPOINT')).toEqual(['node', '/opt/weft/bin/weft.js']);
    expect(exec('CMD')).toEqual(['run']);
    expect(existsSync(new URL('bin/weft.js', REPO))).toBe(true);
    expect(copies(final!).find((x) => x.src.includes('/src/bin/'))?.dest).toBe('./bin/');
  });

  it('the DaemonSet leaves the entrypoint alone and passes the subcommand first', () => {
    const ds = loadYamlDocuments(readRepoFile('deploy/weft.yaml'), 'deploy/weft.yaml').find((d) => d['kind'] === 'DaemonSet')!;
    const main = (ds['spec']['template']['spec']['containers'] as Obj[])[0]!;
    expect(main['command']).toBeUndefined();
    expect((main['args'] as string[])[0]).toBe((exec('CMD') as string[])[0]);
  });

  it('the parser sees through continuations and comments (it would catch a compiler hidden on a continued line)', () => {
    const parsed = parseDockerfile('FROM a AS b\nRUN x \\\n  # note\n  && apt-get install -y gcc\nFROM c\n');
    expect(parsed).toEqual([
      { op: 'FROM', args: 'a AS b', line: 1 },
      { op: 'RUN', args: 'x && apt-get install -y gcc', line: 2 },
      { op: 'FROM', args: 'c', line: 5 },
    ]);
  });
});
