// Frames captured from the Linux kernel's VXLAN (flannel-style programming) by
// test/fixtures/capture-kernel-vxlan.sh: weft must read what the kernel sends
// and send what the kernel would, field for field.
import { describe, expect, it } from 'vitest';
import { pseudoHeaderSum4, sum16 } from '../../native-free/checksum.js';
import { decapVxlan } from '../../native-free/decap/vxlan.js';
import { FORWARD } from '../../native-free/drop.js';
import { encapVxlan } from '../../native-free/encap/vxlan.js';
import { A, B, decapAt, encapAt, hex, withHeadroom } from '../helpers/engine.js';

// ICMP echo request 10.244.1.0 → 10.244.2.0, node A (198.51.100.1) → B (.2), VNI 1.
const KERNEL_A_TO_B = hex(
  '92627a2a785df2a7daa4856908004500006e5df000004011c824c6336401c6336402a69112b5005a54d6' +
    '0800000000000100' +
    '02000000020202000000010108004500003cf9c54000400128140af401000af40200080078a317ff0001e188076b000000006013060000000000676f6c64656e776566742d676f6c6465',
);
// The echo reply, B → A.
const KERNEL_B_TO_A = hex(
  'f2a7daa4856992627a2a785d08004500006e1db2000040110863c6336402c6336401a69112b5005a54d6' +
    '0800000000000100' +
    '02000000010102000000020208004500003c85e200004001dbf70af402000af40100000080a317ff0001e188076b000000006013060000000000676f6c64656e776566742d676f6c6465',
);
const OUTER_ETH = 14;
const OUTER_IP_UDP = 28;
const INNER_OFF = OUTER_ETH + OUTER_IP_UDP + 8 + 14;

describe('kernel VXLAN golden frames', () => {
  it.each([
    ['A→B at B', KERNEL_A_TO_B, B, A.underlay],
    ['B→A at A', KERNEL_B_TO_A, A, B.underlay],
  ])('decapsulates the kernel frame %s to the exact inner packet', (_n, frame, at, from) => {
    const ctx = decapAt(at);
    const payload = OUTER_ETH + OUTER_IP_UDP;
    const code = decapVxlan(ctx, frame, payload, frame.length - payload, from);
    expect(code).toBe(FORWARD);
    expect(ctx.result.offset).toBe(INNER_OFF);
    expect(ctx.result.length).toBe(60);
    expect(frame.subarray(ctx.result.offset, ctx.result.offset + ctx.result.length)).toEqual(frame.subarray(INNER_OFF));
  });

  it.each([
    ['A→B', KERNEL_A_TO_B, A],
    ['B→A', KERNEL_B_TO_A, B],
  ])('encapsulates %s byte for byte as the kernel does, but for IP id, source port and checksums', (_n, frame, from) => {
    const inner = frame.subarray(INNER_OFF);
    const { buf, off, len } = withHeadroom(inner);
    const ctx = encapAt(from);
    expect(encapVxlan(ctx, buf, off, len)).toBe(FORWARD);
    const ours = buf.subarray(ctx.result.offset, ctx.result.offset + ctx.result.length);
    const kernel = frame.subarray(OUTER_ETH);
    expect(ours.length).toBe(kernel.length);
    const differing = [];
    for (let i = 0; i < ours.length; i++) if (ours[i] !== kernel[i]) differing.push(i);
    // 4-5 IP id, 10-11 IP checksum, 20-21 UDP source port (flow hash), 26-27 UDP checksum.
    expect(differing.every((i) => [4, 5, 10, 11, 20, 21, 26, 27].includes(i))).toBe(true);
    expect(sum16(ours, 0, 20)).toBe(0xffff);
    const udpLen = ours.length - 20;
    expect(sum16(ours, 20, udpLen, pseudoHeaderSum4(from.underlay, from === A ? B.underlay : A.underlay, 17, udpLen))).toBe(0xffff);
    const sport = (ours[20]! << 8) | ours[21]!;
    expect(sport).toBeGreaterThanOrEqual(49152);
  });
});
