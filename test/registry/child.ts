// Runs the file registry in another node process, as a second weft on the same
// machine would. Node 20 cannot run .ts, so src/registry is transpiled to a temp dir.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const DRIVER = `
import { createInterface } from 'node:readline';
import { FileRegistry } from './src/registry/file.js';
const reg = new FileRegistry({ path: process.argv[2] });
let lease;
for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, arg] = line.split(' ');
  try {
    if (cmd === 'acquire') lease = await reg.acquireLease({ PublicIP: arg, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: '02:00:00:00:00:01' } });
    else if (cmd === 'release') await reg.releaseLease(lease);
    console.log(JSON.stringify({ ok: true, lease }));
  } catch (err) {
    console.log(JSON.stringify({ ok: false, code: err.code, message: err.message }));
  }
}
await reg.close();
`;

/** Transpiles src/registry/file.ts and every module it imports, to a temp dir; returns it (remove it after). */
export async function buildRegistryJs(): Promise<string> {
  const out = await mkdtemp(join(tmpdir(), 'weft-registry-js-'));
  const todo = ['src/registry/file.ts'];
  const seen = new Set<string>();
  while (todo.length > 0) {
    const rel = todo.pop()!;
    if (seen.has(rel)) continue;
    seen.add(rel);
    const source = await readFile(join(ROOT, rel), 'utf8');
    // Relative imports only (type-only ones too: harmless), each a .js name of a .ts file.
    for (const m of source.matchAll(/from '(\.{1,2}\/[^']+)\.js'/g)) todo.push(posix.normalize(posix.join(posix.dirname(rel), `${m[1]}.ts`)));
    const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 } }).outputText;
    await mkdir(dirname(join(out, rel)), { recursive: true });
    await writeFile(join(out, rel.replace(/\.ts$/, '.js')), js);
  }
  await writeFile(join(out, 'package.json'), '{"type":"module"}');
  await writeFile(join(out, 'driver.js'), DRIVER);
  return out;
}

export interface RegistryChild {
  /** Sends a command ("acquire 10.0.0.9", "release") and waits for its answer. */
  send(line: string): Promise<{ ok: boolean; lease?: { subnet: string }; code?: string; message?: string }>;
  kill(): Promise<void>;
}

export function startRegistryChild(jsDir: string, registryPath: string): RegistryChild {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [join(jsDir, 'driver.js'), registryPath], { stdio: 'pipe' });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    async send(line) {
      child.stdin.write(`${line}\n`);
      const next = await lines.next();
      if (next.done) throw new Error(`registry child exited: ${stderr}`);
      return JSON.parse(next.value) as Awaited<ReturnType<RegistryChild['send']>>;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
