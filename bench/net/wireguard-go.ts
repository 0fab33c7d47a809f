// wireguard-go: the userspace WireGuard many users would pick instead of a
// plain overlay (Debian's package, 0.0.20220316). Unlike every other row it
// encrypts and authenticates (ChaCha20-Poly1305): its figures are what a
// userspace tunnel costs with crypto, not a like-for-like data plane.
//
// Configured over its UAPI socket (/var/run/wireguard/<dev>.sock, the text
// protocol `wg` speaks: "set=1", key=value lines, a blank line, answered by
// "errno=0"), so the bench needs no wireguard-tools. Keys are fresh X25519
// pairs from node:crypto. Outer overhead on IPv4: 20 (IPv4) + 8 (UDP) + 32
// (WireGuard data header and Poly1305 tag).
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { type Contender, type Ctx, type Setup, stopAll } from './contenders.js';
import { Daemon } from './daemon.js';
import { ipn, ipnMaybe, waitFor } from './sh.js';
import { addressPods, STATIC_SUBNETS, UNDERLAY_MTU } from './topology.js';

const UAPI_DIR = '/var/run/wireguard';
const PORT = 51820;
const OVERHEAD = 60;

/** A fresh X25519 key pair as WireGuard's UAPI wants it: 32 bytes each, hex. */
function keyPair(): { priv: string; pub: string } {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const d = privateKey.export({ format: 'jwk' }).d!;
  const x = publicKey.export({ format: 'jwk' }).x!;
  return { priv: Buffer.from(d, 'base64url').toString('hex'), pub: Buffer.from(x, 'base64url').toString('hex') };
}

/** Sends one UAPI "set" and checks the answer is errno=0. */
function uapiSet(dev: string, lines: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect(join(UAPI_DIR, `${dev}.sock`));
    let answer = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      answer += d;
      if (answer.endsWith('\n\n')) s.end();
    });
    s.on('error', reject);
    s.on('close', () => {
      if (/^errno=0$/m.test(answer)) resolve();
      else reject(new Error(`wireguard-go ${dev} refused its configuration: ${JSON.stringify(answer)}`));
    });
    s.write(`set=1\n${lines.join('\n')}\n\n`);
  });
}

export class WireguardGo implements Contender {
  readonly name = 'wireguard-go';
  readonly tools = ['wireguard-go'];
  private daemons: Daemon[] = [];
  /** One device name per node: the UAPI socket lives in the shared filesystem, not in the namespace. */
  private static dev(i: number): string {
    return `wbwg${i + 1}`;
  }

  async setup({ t, j }: Ctx): Promise<Setup> {
    const keys = [keyPair(), keyPair()];
    for (let i = 0; i < 2; i++) {
      const dev = WireguardGo.dev(i);
      if (existsSync(join(UAPI_DIR, `${dev}.sock`))) throw new Error(`${UAPI_DIR}/${dev}.sock exists: another wireguard-go ${dev} runs on this machine`);
      // -f: stay in the foreground, so the Daemon's pid is wireguard-go's own and its CPU time is counted.
      this.daemons.push(Daemon.start(j, t.nodes[i]!.ns, `wireguard-go n${i + 1}`, 'wireguard-go', ['-f', dev], join(j.dir, `wireguard-go-n${i + 1}.log`)));
    }
    for (let i = 0; i < 2; i++) {
      const n = t.nodes[i]!;
      const peer = t.nodes[1 - i]!;
      const dev = WireguardGo.dev(i);
      const d = this.daemons[i]!;
      await waitFor(`wireguard-go's ${dev} in ${n.ns}`, 5000, () => {
        d.assertRunning();
        return existsSync(join(UAPI_DIR, `${dev}.sock`)) && ipnMaybe(n.ns, 'link', 'show', 'dev', dev) !== null;
      });
      await uapiSet(dev, [
        `private_key=${keys[i]!.priv}`,
        `listen_port=${PORT}`,
        'replace_peers=true',
        `public_key=${keys[1 - i]!.pub}`,
        `endpoint=${peer.underlayIp}:${PORT}`,
        'replace_allowed_ips=true',
        `allowed_ip=${STATIC_SUBNETS[1 - i]!}`,
      ]);
      ipn(n.ns, 'link', 'set', dev, 'mtu', String(UNDERLAY_MTU - OVERHEAD), 'up');
      ipn(n.ns, 'route', 'replace', STATIC_SUBNETS[1 - i]!, 'dev', dev);
    }
    return { addrs: addressPods(t, STATIC_SUBNETS, UNDERLAY_MTU - OVERHEAD), viaDev: [WireguardGo.dev(0), WireguardGo.dev(1)], daemons: this.daemons };
  }

  async teardown(): Promise<string[]> {
    // The TUN (not persistent), its route and the UAPI socket go when wireguard-go exits.
    const problems = await stopAll(this.daemons, 3000);
    this.daemons = [];
    return problems;
  }
}
