// Linux x86_64 numbers used by the syscall layer.
//
// Read from this machine's headers (linux-libc-dev 6.1, glibc 2.36) by compiling
// a probe that prints each macro, sizeof and offsetof — not typed from memory.
// They are ABI: stable across kernels, but only valid for x86_64 (ioctl request
// numbers and struct layouts differ on other architectures; libc.ts refuses to
// load elsewhere).

// <fcntl.h>, <poll.h>
export const O_RDWR = 0x2;
export const O_NONBLOCK = 0x800;
export const O_CLOEXEC = 0x80000;
export const POLLIN = 0x1;
export const POLLOUT = 0x4;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;
export const POLLNVAL = 0x20;

// <linux/if_tun.h>
export const TUNSETIFF = 0x400454ca; // _IOW('T', 202, int)
export const TUNSETPERSIST = 0x400454cb; // _IOW('T', 203, int)
export const TUNGETIFF = 0x800454d2; // _IOR('T', 210, unsigned int)
export const TUNSETOFFLOAD = 0x400454d0; // _IOW('T', 208, unsigned int)
export const TUNSETVNETHDRSZ = 0x400454d8; // _IOW('T', 216, int)
export const TUNSETQUEUE = 0x400454d9; // _IOW('T', 217, int)
export const IFF_ATTACH_QUEUE = 0x0200;
export const IFF_DETACH_QUEUE = 0x0400;
export const IFF_TUN = 0x0001;
export const IFF_MULTI_QUEUE = 0x0100;
export const IFF_NO_PI = 0x1000;
export const IFF_PERSIST = 0x0800;
export const IFF_VNET_HDR = 0x4000;
// TUN_F_* (TUNSETOFFLOAD's bits) live beside the virtio_net_hdr they shape:
// native-free/offload/virtio-net-hdr.ts.

// <linux/sockios.h>, <net/if.h>
export const SIOCGIFFLAGS = 0x8913;
export const SIOCSIFFLAGS = 0x8914;
export const SIOCSIFADDR = 0x8916;
export const SIOCSIFNETMASK = 0x891c;
export const SIOCGIFMTU = 0x8921;
export const SIOCSIFMTU = 0x8922;
export const SIOCGIFINDEX = 0x8933;
export const SIOCSIFTXQLEN = 0x8943;
export const IFF_UP = 0x1;
export const IFNAMSIZ = 16;

// struct ifreq: char ifr_name[16]; then a union at offset 16
// (short flags | int mtu | int ifindex | struct sockaddr); sizeof 40.
export const IFREQ_SIZE = 40;
export const IFREQ_UNION = 16;

// <sys/socket.h>, <netinet/in.h>
export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0x800;
export const SOCK_CLOEXEC = 0x80000;
export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_NO_CHECK = 11; // UDP: send without checksum (breaks GSO)
export const SO_REUSEPORT = 15;
export const SO_ATTACH_FILTER = 26;
export const SO_DETACH_FILTER = 27;
export const SO_SNDBUFFORCE = 32;
export const SO_RCVBUFFORCE = 33;
export const SO_MEMINFO = 55; // u32 sk_meminfo[SK_MEMINFO_VARS] (sys/deaf.ts)
export const IPPROTO_IP = 0;
export const IPPROTO_IPIP = 4;
export const IPPROTO_UDP = 17;
export const IP_HDRINCL = 3;
export const IPPROTO_IPV6 = 41;
export const IPV6_V6ONLY = 26; // int: 1 = this AF_INET6 socket never sends or receives IPv4(-mapped) traffic
export const SOL_UDP = 17;
export const UDP_SEGMENT = 103; // GSO: setsockopt / cmsg with a u16 segment size
export const UDP_GRO = 104; // setsockopt int; on receive, cmsg with an int segment size
export const MSG_CTRUNC = 0x8;
export const MSG_TRUNC = 0x20;
export const MSG_DONTWAIT = 0x40;
export const MSG_WAITFORONE = 0x10000;

// struct sockaddr_in: u16 family (host order), u16 port (BE), u32 addr (BE), 8 pad; 16 bytes.
export const SOCKADDR_IN_SIZE = 16;
// struct sockaddr_in6: u16 family (host order), u16 port (BE), u32 flowinfo (BE),
// 16-byte addr at 8, u32 scope_id (host order) at 24; 28 bytes.
export const SOCKADDR_IN6_SIZE = 28;
// struct iovec: void *base, size_t len; 16 bytes.
export const IOVEC_SIZE = 16;
// struct msghdr (56 bytes) + unsigned msg_len at 56 = struct mmsghdr, 64 bytes.
export const MSG_NAME = 0;
export const MSG_NAMELEN = 8;
export const MSG_IOV = 16;
export const MSG_IOVLEN = 24;
export const MSG_CONTROL = 32;
export const MSG_CONTROLLEN = 40;
export const MSG_FLAGS = 48;
export const MMSG_LEN = 56;
export const MMSGHDR_SIZE = 64;
export const POLLFD_SIZE = 8; // int fd; short events; short revents
// struct cmsghdr: size_t cmsg_len, int cmsg_level, int cmsg_type, then data aligned to 8.
// CMSG_LEN(n) = 16 + n; CMSG_SPACE(n) = 16 + align8(n).
export const CMSG_LEVEL = 8;
export const CMSG_TYPE = 12;
export const CMSG_HDR_SIZE = 16; // CMSG_LEN(0), also CMSG_DATA's offset
export const CMSG_LEN_U16 = 18; // CMSG_LEN(sizeof(u16)): UDP_SEGMENT, which wants exactly this
export const CMSG_SPACE_U16 = 24; // CMSG_SPACE(sizeof(u16))
export const CMSG_LEN_INT = 20; // CMSG_LEN(sizeof(int)): UDP_GRO
export const CMSG_SPACE_INT = 24; // CMSG_SPACE(sizeof(int))

// <linux/netlink.h>, <linux/rtnetlink.h>
export const NETLINK_ROUTE = 0;
export const SOL_NETLINK = 270;
export const NETLINK_CAP_ACK = 10;
export const NETLINK_EXT_ACK = 11;
export const NLMSG_HDRLEN = 16; // u32 len, u16 type, u16 flags, u32 seq, u32 pid
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_ACK = 0x4;
export const NLM_F_ROOT = 0x100; // on GET requests
export const NLM_F_MATCH = 0x200; // on GET requests
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NLM_F_ACK_TLVS = 0x200; // on NLMSG_ERROR replies
export const NLMSGERR_ATTR_MSG = 1;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTMSG_SIZE = 12; // family, dst_len, src_len, tos, table, protocol, scope, type, u32 flags
export const RTA_DST = 1;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_PREFSRC = 7;
export const RTA_PRIORITY = 6;
export const RTA_TABLE = 15;
export const RT_TABLE_MAIN = 254;
export const RTPROT_STATIC = 4;
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_HOST = 254;
export const RTN_UNICAST = 1;
/** Discards silently (`ip route add blackhole`); needs no device or gateway. */
export const RTN_BLACKHOLE = 6;
// <linux/if_addr.h>: struct ifaddrmsg { u8 family, prefixlen, flags, scope; u32 index }.
export const IFADDRMSG_SIZE = 8;
export const IFA_ADDRESS = 1; // the prefix address (the peer's on point-to-point links)
export const IFA_LOCAL = 2; // the interface's own address
export const IFA_FLAGS = 8; // u32, extends the u8 ifa_flags
export const IFA_F_NODAD = 0x02; // IPv6: no duplicate address detection, usable at once
export const IFA_F_DADFAILED = 0x08;
export const IFA_F_TENTATIVE = 0x40; // IPv6: DAD still running; the address cannot be bound yet
export const IFA_F_PERMANENT = 0x80;
export const IFA_F_NOPREFIXROUTE = 0x200;
export const SOCKADDR_NL_SIZE = 12; // u16 family, u16 pad, u32 pid, u32 groups

// <asm-generic/errno-base.h>, <asm-generic/errno.h> — the ones the code branches on.
export const EINTR = 4;
export const EIO = 5;
export const EAGAIN = 11;
export const EINVAL = 22;
export const EAFNOSUPPORT = 97;
export const EMSGSIZE = 90;
export const ENOPROTOOPT = 92;
export const EOPNOTSUPP = 95;

// flock(2)
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;
