// What the integration suite needs. In CI (env CI set) a missing piece fails the
// suite with the fix; locally the suite is skipped with a message.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isCi } from '../../helpers/tshark.js';

const TOOLS: Array<[string, string[], string]> = [
  ['ip', ['-V'], 'apt-get install -y iproute2'],
  ['bridge', ['-V'], 'apt-get install -y iproute2'],
  ['etcd', ['--version'], 'apt-get install -y etcd-server'],
  ['iperf3', ['--version'], 'apt-get install -y iperf3'],
  ['tshark', ['-v'], 'apt-get install -y tshark'],
  ['curl', ['--version'], 'apt-get install -y curl'],
  ['ping', ['-V'], 'apt-get install -y iputils-ping'],
  ['sysctl', ['-V'], 'apt-get install -y procps'],
  ['ethtool', ['--version'], 'apt-get install -y ethtool'],
];

/** What is missing, each with its fix; [] when the suite can run. */
export function missingRequirements(): string[] {
  const missing: string[] = [];
  if (process.platform !== 'linux') return ['Linux (network namespaces)'];
  if (process.getuid?.() !== 0) missing.push('root (network namespaces, TUN, veth): run as root, e.g. sudo -E npm test');
  for (const [tool, args, fix] of TOOLS) {
    const r = spawnSync(tool, args, { stdio: 'ignore', timeout: 30_000 });
    if (r.error !== undefined) missing.push(`${tool} (${fix})`);
  }
  // suites/spoof.ts forges underlay packets with scapy, in Debian's python3.
  if (spawnSync('/usr/bin/python3', ['-c', 'import scapy.all'], { stdio: 'ignore', timeout: 30_000 }).status !== 0) missing.push('scapy in /usr/bin/python3 (apt-get install -y python3-scapy)');
  if (!existsSync('/dev/net/tun')) missing.push('/dev/net/tun (modprobe tun)');
  const cli = fileURLToPath(new URL('../../../dist/src/cli/main.js', import.meta.url));
  if (!existsSync(cli)) missing.push(`${cli} (build first: npx tsc -p tsconfig.json)`);
  return missing;
}

/**
 * For describe.skipIf(skipIntegration(name)): false when everything is there;
 * otherwise throws in CI and warns + returns true (skip) locally.
 */
export function skipIntegration(suite: string): boolean {
  if (process.env['WEFT_SKIP_INTEGRATION'] === '1') {
    console.warn(`${suite}: skipped (WEFT_SKIP_INTEGRATION=1)`);
    return true;
  }
  const missing = missingRequirements();
  if (missing.length === 0) return false;
  const msg = `${suite} needs: ${missing.join('; ')}`;
  if (isCi()) throw new Error(`${msg} (required in CI)`);
  console.warn(`${msg}: skipped`);
  return true;
}
