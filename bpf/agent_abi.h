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
#define AGENT_MAX_IFACES 8       /* interfaces the program is attached to */
#define AGENT_MAX_RX_QUEUES 64   /* rx queues per interface with an AF_XDP socket */

/* Map names, as pinned under --xdp.pin-path (bpftool map dump pinned <pin-path>/<name>). */
#define AGENT_MAP_PORT_STATS "port_stats"
#define AGENT_MAP_GLOBAL_STATS "global_stats"
#define AGENT_MAP_USER_STATS "user_stats"
#define AGENT_MAP_XSKS "xsks_map"

/* The XDP program's name (SEC("xdp") function): how a restarted agent finds a stale copy. */
#define AGENT_PROG_NAME "agent_xdp"

struct agent_counter {
	__u64 packets;
	__u64 bytes; /* frame bytes as XDP saw them (L2 header included) */
};

/*
 * port_stats: BPF_MAP_TYPE_PERCPU_ARRAY, key = iface_slot * nr_span_ports + port_slot.
 * Every span-port UDP frame is counted in `seen` and in exactly one outcome counter:
 *   seen = redirected + pass_fragment + pass_too_big + pass_no_socket + parse_error.
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
