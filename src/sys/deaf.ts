// Sockets that receive nothing: a classic BPF program of one instruction,
// "ret #0" (keep 0 bytes of every packet), attached with SO_ATTACH_FILTER.
// The kernel runs a socket's filter before it queues a packet (sk_filter_trim_cap,
// in udp_queue_rcv_one_skb for UDP and raw_rcv_skb for raw sockets), so what
// it refuses never takes receive-buffer memory and never wakes a reader; for
// UDP it is counted as the socket's drops (SO_MEMINFO) and in the namespace's
// Udp InErrors. Neither shutdown(SHUT_RD) nor a minimal SO_RCVBUF does this:
// on an unconnected UDP socket shutdown(SHUT_RD) fails with ENOTCONN and
// datagrams sent to it are still queued and readable (tried on Linux 6.18:
// 10 sent, 8320 bytes queued, the first read returns one), and a small
// buffer still holds a datagram or two.
//
// Used by the ipip handover (raw.ts: a second weft's raw socket starts deaf)
// and by the send-only UDP sockets of source-port entropy (udp.ts).
import { libc, scratch, sysError } from './libc.js';
import { SOL_SOCKET, SO_ATTACH_FILTER, SO_DETACH_FILTER, SO_MEMINFO } from './constants.js';

// struct sock_fprog on 64-bit Linux: u16 len, 6 bytes padding, the program's
// address. Built per call (a rare one).
const detachArg = scratch(4);

function dropAllProgram(): { prog: ReturnType<typeof scratch>; insn: ReturnType<typeof scratch> } {
  const insn = scratch(8);
  insn.view.setUint16(0, 0x06, true); // BPF_RET | BPF_K
  insn.view.setUint32(4, 0, true); // k = 0
  const prog = scratch(16);
  prog.view.setUint16(0, 1, true);
  prog.view.setBigUint64(8, BigInt(insn.ptr), true);
  return { prog, insn };
}

/** false: attach the drop-everything filter (SO_ATTACH_FILTER); true: detach it. */
export function setReceiving(fd: number, on: boolean): void {
  if (on) {
    libc.setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, detachArg.ptr, 4);
    return;
  }
  const p = dropAllProgram();
  const r = libc.setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, p.prog.ptr, 16);
  if (r < 0) {
    const bytes = `${Array.from(p.prog.buf).join(',')} / ${Array.from(p.insn.buf).join(',')}`;
    throw sysError('setsockopt', `setsockopt SO_ATTACH_FILTER (drop all) on fd ${fd} [${bytes}]`);
  }
  // SO_DETACH_FILTER fails (ENOENT) only when no filter is attached: receiving already.
}

// SO_MEMINFO fills u32 sk_meminfo[SK_MEMINFO_VARS]: index 0 the receive memory
// in use (what is queued), index 8 the socket's drop count.
const SK_MEMINFO_RMEM_ALLOC = 0;
const SK_MEMINFO_DROPS = 8;
const SK_MEMINFO_VARS = 9;
const meminfo = scratch(4 * SK_MEMINFO_VARS + 4);

/** What the kernel holds for a socket's reader (bytes) and how many packets it dropped on the way in (its filter among the reasons). */
export function receiveStats(fd: number): { queuedBytes: number; drops: number } {
  meminfo.view.setUint32(4 * SK_MEMINFO_VARS, 4 * SK_MEMINFO_VARS, true);
  if (libc.getsockopt(fd, SOL_SOCKET, SO_MEMINFO, meminfo.ptr, meminfo.ptr + 4 * SK_MEMINFO_VARS) < 0) {
    throw sysError('getsockopt', `getsockopt SO_MEMINFO on fd ${fd}`);
  }
  return { queuedBytes: meminfo.view.getUint32(4 * SK_MEMINFO_RMEM_ALLOC, true), drops: meminfo.view.getUint32(4 * SK_MEMINFO_DROPS, true) };
}
