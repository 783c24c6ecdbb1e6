/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * agent_abi.h: the ONLY contract between agent.bpf.c and userspace.
 *
 * Included by the BPF program and by C++ (userspace/receive/xdp_program.cc static_asserts the
 * layout). Fixed-width __u32/__u64 only, no pointers, no enums inside structs, every struct a
 * multiple of 8 bytes, so the layout is the same for -target bpf and x86_64.
 *
 * Field names matter: they are what `bpftool map dump pinned <pin-path>/<map>` prints (from the
 * map's BTF), so they are part of the operator-facing interface. Rename = breaking change.
 */
#ifndef AGENT_ABI_H
#define AGENT_ABI_H

#include <linux/types.h>

/* Map sizes. The userspace loader shrinks port_stats and xsks_map to what it needs before load. */
#define AGENT_MAX_SPAN_PORTS 8   /* UDP ports steered into AF_XDP (one per processor) */
#define AGENT_MAX_IFACES 512     /* interface slots (attached interfaces, pod interfaces included) */
#define AGENT_MAX_RX_QUEUES 64   /* rx queues per interface with an AF_XDP socket */

/* Map names, as pinned under --xdp.pin-path (bpftool map dump pinned <pin-path>/<name>). */
#define AGENT_MAP_PORT_STATS "port_stats"
#define AGENT_MAP_GLOBAL_STATS "global_stats"
#define AGENT_MAP_USER_STATS "user_stats"
#define AGENT_MAP_XSKS "xsks_map"
#define AGENT_MAP_IFACES "ifaces"
#define AGENT_MAP_LOCAL_ADDRS "local_addrs"
#define AGENT_MAP_SOURCES "source_stats"
#define AGENT_MAP_SOURCE_DROPS "source_drops"

#define AGENT_MAX_LOCAL_ADDRS 1024 /* addresses of this host the span sockets receive on */
#define AGENT_MAX_SOURCES 4096     /* per-source entries (LRU: the least recently seen go) */

/* The XDP program's name (SEC("xdp") function): how a restarted agent finds a stale copy. */
#define AGENT_PROG_NAME "agent_xdp"

struct agent_counter {
	__u64 packets;
	__u64 bytes; /* frame bytes as XDP saw them (L2 header included) */
};

/*
 * port_stats: BPF_MAP_TYPE_PERCPU_ARRAY, key = iface_slot * nr_span_ports + port_slot.
 * Every span-port UDP frame is counted in `seen` and in exactly one outcome counter:
 *   seen = redirected + pass_fragment + pass_too_big + pass_no_socket + parse_error
 *          + not_ours + pass_unsteered.
 * `ifindex` and `port` are written once by userspace on every CPU (the program never touches
 * them) so that a dump is readable without the agent's config.
 */
struct agent_port_stats {
	__u32 ifindex;
	__u32 port;                       /* UDP port, host byte order */
	struct agent_counter seen;        /* span-port UDP frames examined */
	struct agent_counter redirected;  /* handed to the AF_XDP socket of the rx queue */
	struct agent_counter pass_fragment; /* first IP fragment: the kernel reassembles, socket path */
	struct agent_counter pass_too_big;  /* frame larger than a UMEM frame can hold: socket path */
	struct agent_counter pass_no_socket; /* no AF_XDP socket on this rx queue: socket path */
	struct agent_counter parse_error; /* UDP length inconsistent with the IP packet: passed */
	struct agent_counter not_ours;    /* destination is not an address our sockets receive on */
	struct agent_counter pass_unsteered; /* ours, on a count-only interface (no AF_XDP): passed */
};

/*
 * global_stats: BPF_MAP_TYPE_PERCPU_ARRAY, one entry (key 0), frames that are not attributed to
 * a span port. All of them are passed untouched.
 *   seen = sum(port_stats.seen) + parse_error + later_fragment + other.
 */
struct agent_global_stats {
	struct agent_counter seen;           /* every frame the program examined */
	struct agent_counter parse_error;    /* truncated or malformed L2/L3/L4 header */
	struct agent_counter later_fragment; /* non-first IP fragment: no UDP header, port unknown */
	struct agent_counter other;          /* not IP, not UDP, another port, or not our interface */
};

/*
 * ifaces: BPF_MAP_TYPE_HASH, key = ifindex (__u32). The interfaces the program counts on, kept by
 * userspace as interfaces come and go; a frame from an interface not in it is `other`.
 */
#define AGENT_IFACE_STEER 1u /* redirect span datagrams into AF_XDP (else count and pass) */
struct agent_iface {
	__u32 slot;  /* index into port_stats (slot * nr_span_ports + port slot) and xsks_map */
	__u32 flags; /* AGENT_IFACE_* */
};

/*
 * local_addrs: BPF_MAP_TYPE_HASH, key = destination address, value = bit mask of the span-port
 * slots whose socket receives on that address (a socket bound to 0.0.0.0 takes every local IPv4
 * address, one bound to 10.0.0.5 only that one). Kept by userspace from netlink address events.
 * IPv4 addresses are stored IPv4-mapped (::ffff:a.b.c.d), so both families share one key type.
 */
struct agent_addr {
	__u8 addr[16];
};

struct agent_local_addr {
	__u32 port_mask; /* bit i = span port slot i receives on this address */
	__u32 ifindex;   /* interface the address was last seen on (for dumps) */
};

/*
 * source_stats: BPF_MAP_TYPE_LRU_HASH, key = (source address, span port): who sends to us.
 * Only frames addressed to us (local_addrs) are counted. A non-first IP fragment carries no UDP
 * header, so its port is unknown: it is counted under port 0 of its source.
 * Updated with atomic adds (one entry may be hit from several CPUs).
 */
struct agent_source_key {
	__u8 addr[16]; /* IPv4-mapped for IPv4 */
	__u32 port;    /* span port (host byte order), 0 = later fragments */
	__u32 pad;
};

struct agent_source_stats {
	__u64 datagrams;       /* span-port UDP datagrams (a fragmented one counts once, first fragment) */
	__u64 bytes;           /* frame bytes, later fragments included */
	__u64 first_fragments; /* datagrams that arrived fragmented (their first fragment) */
	__u64 later_fragments; /* non-first fragments (port 0 entry) */
	__u64 last_seen_ns;    /* bpf_ktime_get_ns() of the last frame */
};

/*
 * source_drops: BPF_MAP_TYPE_LRU_HASH, same key as source_stats. Datagrams from this source that
 * reached the agent through AF_XDP and were dropped there because the decode queue was full.
 * Written by userspace only (the program never touches it), so that its updates cannot race
 * with the program's atomic adds on source_stats.
 */
struct agent_source_drops {
	__u64 queue_full;
};

/*
 * Decode rejects by reason. Field order and names are those of decode::RejectReason /
 * reasonName() without kOk (bpf_tests checks the names against this struct's BTF).
 */
struct agent_decode_rejects {
	__u64 truncated;
	__u64 wrong_protocol;
	__u64 bad_envelope;
	__u64 bad_message_type;
	__u64 unknown_method;
	__u64 length_too_large;
	__u64 negative_length;
	__u64 depth_exceeded;
	__u64 bad_varint;
	__u64 bad_type;
	__u64 wrong_field_type;
	__u64 missing_field;
	__u64 trailing_bytes;
};
#define AGENT_DECODE_REJECT_REASONS 13

/* Userspace drop counters of one span port (one processor), mirrored from the agent's metrics. */
struct agent_user_port_stats {
	__u64 port;                /* UDP port, host byte order; 0 = unused slot */
	__u64 received;            /* datagrams queued for decoding, both paths */
	__u64 received_xsk;        /* ... of which arrived through AF_XDP */
	__u64 queue_full;          /* dropped: the decode queue was full */
	__u64 too_large;           /* socket path: longer than server-max-packet-size */
	__u64 socket_kernel_drops; /* socket path: dropped by the kernel, socket buffer full */
	__u64 read_errors;         /* socket path: recvmsg errors */
	struct agent_decode_rejects decode_rejected;
};

/*
 * user_stats: BPF_MAP_TYPE_ARRAY with BPF_F_MMAPABLE, one entry (key 0). Written by userspace
 * through an mmap of the map (no syscall per update), read by bpftool. The program never
 * touches it; it lives in the BPF object so that one `bpftool map dump` per map shows the drops
 * along the whole path.
 */
struct agent_user_stats {
	struct agent_user_port_stats ports[AGENT_MAX_SPAN_PORTS]; /* same slots as span ports */
	__u64 xsk_rx_dropped;        /* AF_XDP: kernel dropped, frame too big or socket unusable */
	__u64 xsk_rx_ring_full;      /* AF_XDP: kernel dropped, our rx ring was full */
	__u64 xsk_fill_ring_empty;   /* AF_XDP: times the kernel found no free frame */
	__u64 xsk_invalid_frames;    /* AF_XDP: frames userspace could not parse (recycled) */
	__u64 reporter_batches_dropped; /* reporter queue full / shutdown / too large */
	__u64 reporter_spans_dropped;
	__u64 collector_batches_failed; /* collector calls failed after retries */
	__u64 collector_spans_failed;
	__u64 update_ns;             /* CLOCK_MONOTONIC of the last userspace update */
};

#endif /* AGENT_ABI_H */
