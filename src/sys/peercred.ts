// Who is on the other end of a connected unix socket: SO_PEERCRED (pid, uid,
// gid) and SO_PEERGROUPS (supplementary groups), as the kernel recorded them at
// connect() time. The peer cannot forge these; that is why the status socket
// checks them rather than anything the client sends.
import { lastErrno, libc, scratch, sysError } from './libc.js';
import { SOL_SOCKET } from './constants.js';

const SO_PEERCRED = 17;
const SO_PEERGROUPS = 59; // Linux 4.13
const ERANGE = 34;

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
  /** Supplementary groups; empty when the kernel cannot tell (pre-4.13). */
  groups: number[];
}

const cred = scratch(12 + 4); // struct ucred + socklen_t
let groupBuf = scratch(4 * 64 + 4);

export function peerCredentials(fd: number): PeerCred {
  cred.view.setUint32(12, 12, true);
  if (libc.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred.ptr, cred.ptr + 12) < 0) {
    throw sysError('getsockopt', `getsockopt SO_PEERCRED on fd ${fd}`);
  }
  const pid = cred.view.getInt32(0, true);
  const uid = cred.view.getUint32(4, true);
  const gid = cred.view.getUint32(8, true);
  return { pid, uid, gid, groups: peerGroups(fd) };
}

function peerGroups(fd: number): number[] {
  for (let attempt = 0; attempt < 2; attempt++) {
    const cap = groupBuf.buf.length - 4;
    groupBuf.view.setUint32(cap, cap, true);
    if (libc.getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groupBuf.ptr, groupBuf.ptr + cap) === 0) {
      const n = groupBuf.view.getUint32(cap, true) / 4;
      return Array.from({ length: n }, (_, i) => groupBuf.view.getUint32(i * 4, true));
    }
    if (lastErrno() !== ERANGE) return [];
    // The kernel wrote the length it needs: grow once and ask again.
    const need = groupBuf.view.getUint32(cap, true);
    groupBuf = scratch(need + 4);
  }
  return [];
}
