// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * agent.bpf.c: the XDP half of the jaeger-xdp-agent datapath.
 *
 * Counts every frame, and steers UDP datagrams addressed to a span port *and* to an address our
 * sockets receive on (local_addrs) into the AF_XDP socket bound to the frame's rx queue, on
 * interfaces configured for steering; on count-only interfaces (pod interfaces) it counts and
 * passes. Span datagrams addressed to us are also counted per source (source_stats). Everything else is passed to the kernel untouched: frames that
 * are not ours, IP fragments (the kernel reassembles them for the agent's UDP socket), frames
 * too big for a UMEM frame, and span datagrams on a queue without a socket. The program never
 * drops and never writes to a packet.
 *
 * Attached through libxdp's dispatcher (see XDP_RUN_CONFIG below) so that it composes with
 * other XDP programs on the same interface.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <xdp/xdp_helpers.h>

#include "agent_abi.h"
#include "parse.h"

/*
 * Load-time configuration, written by userspace/receive/xdp_program.cc between open and load.
 * The maps holding it are frozen, so the verifier sees constants and prunes dead branches.
 */
const volatile __u16 span_ports[AGENT_MAX_SPAN_PORTS] = {}; /* network byte order */
const volatile __u32 nr_span_ports = 0;                     /* slots in use in span_ports */
const volatile __u32 max_frame_len = 0; /* longest frame an AF_XDP socket accepts (UMEM frame
					 * size minus XDP_PACKET_HEADROOM); longer is passed */

/* AF_XDP sockets, key = iface_slot * AGENT_MAX_RX_QUEUES + rx queue. Resized by userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, AGENT_MAX_IFACES * AGENT_MAX_RX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks_map SEC(".maps");

/*
 * Per-CPU because XDP runs in softirq context on each CPU: plain increments are then safe
 * without atomics. Key = iface_slot * nr_span_ports + port_slot. Resized by userspace.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, AGENT_MAX_IFACES * AGENT_MAX_SPAN_PORTS);
	__type(key, __u32);
	__type(value, struct agent_port_stats);
} port_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct agent_global_stats);
} global_stats SEC(".maps");

/* The interfaces we count on, by ifindex (see agent_abi.h): written by userspace as they come
 * and go, so that pod interfaces can be added without reloading the program. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AGENT_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct agent_iface);
} ifaces SEC(".maps");

/* Destination addresses our span sockets receive on (kept from netlink address events). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AGENT_MAX_LOCAL_ADDRS);
	__type(key, struct agent_addr);
	__type(value, struct agent_local_addr);
} local_addrs SEC(".maps");

/* Who sends to us. LRU: a flood of new sources evicts the least recently seen, never fails. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, AGENT_MAX_SOURCES);
	__type(key, struct agent_source_key);
	__type(value, struct agent_source_stats);
} source_stats SEC(".maps");

/* Per-source drops in the agent (see agent_abi.h): written by userspace, carried here so that
 * it is pinned and dumped next to source_stats. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, AGENT_MAX_SOURCES);
	__type(key, struct agent_source_key);
	__type(value, struct agent_source_drops);
} source_drops SEC(".maps");

/* Userspace drop counters (see agent_abi.h); the program only carries the map. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct agent_user_stats);
} user_stats SEC(".maps");

/*
 * libxdp dispatcher: run early (AF_XDP steering, like libxdp's own xsk program at 20), and
 * continue to the next program whenever we return XDP_PASS, so that frames we do not take
 * still reach every other program on the interface.
 */
struct {
	__uint(priority, 20);
	__uint(XDP_PASS, 1);
} XDP_RUN_CONFIG(agent_xdp);

static __always_inline void count(struct agent_counter *c, __u64 bytes)
{
	c->packets++;
	c->bytes += bytes;
}

static __always_inline __u32 port_slot(__u16 dport)
{
	__u32 i;

#pragma unroll
	for (i = 0; i < AGENT_MAX_SPAN_PORTS; i++) {
		if (i >= nr_span_ports)
			break;
		if (span_ports[i] == dport)
			return i;
	}
	return AGENT_MAX_SPAN_PORTS;
}

/* Bit mask of the span-port slots whose sockets receive on the frame's destination address. */
static __always_inline __u32 ours_mask(const struct agent_pkt *pkt)
{
	struct agent_local_addr *la;
	struct agent_addr key;

	__builtin_memcpy(key.addr, pkt->daddr, sizeof(key.addr));
	la = bpf_map_lookup_elem(&local_addrs, &key);
	return la ? la->port_mask : 0;
}

/* The source's entry, created on first sight (an LRU insert evicts, it does not fail when full). */
static __always_inline struct agent_source_stats *source_entry(const struct agent_pkt *pkt, __u32 port)
{
	struct agent_source_stats zero = {}, *st;
	struct agent_source_key key = {};

	__builtin_memcpy(key.addr, pkt->saddr, sizeof(key.addr));
	key.port = port;
	st = bpf_map_lookup_elem(&source_stats, &key);
	if (st)
		return st;
	bpf_map_update_elem(&source_stats, &key, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&source_stats, &key);
}

SEC("xdp")
int agent_xdp(struct xdp_md *ctx)
{
	const __u8 *data = (const __u8 *)(long)ctx->data;
	const __u8 *end = (const __u8 *)(long)ctx->data_end;
	__u64 bytes = end - data;
	struct agent_global_stats *g;
	struct agent_port_stats *ps;
	struct agent_source_stats *src;
	struct agent_iface *iface;
	struct agent_pkt pkt = {};
	__u32 zero = 0, pslot, islot, key, queue, ifindex = ctx->ingress_ifindex;
	int status, action;

	g = bpf_map_lookup_elem(&global_stats, &zero);
	if (!g) /* cannot happen for key 0 of an array; the verifier wants the check */
		return XDP_PASS;
	count(&g->seen, bytes);

	status = agent_parse_frame(data, end, &pkt);
	if (status == AGENT_PARSE_ERROR) {
		count(&g->parse_error, bytes);
		return XDP_PASS;
	}
	if (status == AGENT_PARSE_LATER_FRAGMENT) {
		count(&g->later_fragment, bytes);
		/* No port in it; attributed to its source when it is addressed to us. */
		if (bpf_map_lookup_elem(&ifaces, &ifindex) && ours_mask(&pkt)) {
			src = source_entry(&pkt, 0);
			if (src) {
				__sync_fetch_and_add(&src->later_fragments, 1);
				__sync_fetch_and_add(&src->bytes, bytes);
				src->last_seen_ns = bpf_ktime_get_ns();
			}
		}
		return XDP_PASS;
	}
	if (status != AGENT_PARSE_UDP)
		goto other;

	pslot = port_slot(pkt.dport);
	if (pslot >= nr_span_ports)
		goto other;
	iface = bpf_map_lookup_elem(&ifaces, &ifindex);
	if (!iface || iface->slot >= AGENT_MAX_IFACES)
		goto other;
	islot = iface->slot;
	key = islot * nr_span_ports + pslot;
	ps = bpf_map_lookup_elem(&port_stats, &key);
	if (!ps)
		goto other;
	count(&ps->seen, bytes);

	/* Span-port UDP to an address our sockets do not receive on: traffic routed through this
	 * host (to a pod, to another host's agent). Never ours to take. */
	if (!(ours_mask(&pkt) & (1u << pslot))) {
		count(&ps->not_ours, bytes);
		return XDP_PASS;
	}
	src = source_entry(&pkt, AGENT_NTOHS(pkt.dport));
	if (src) {
		__sync_fetch_and_add(&src->datagrams, 1);
		__sync_fetch_and_add(&src->bytes, bytes);
		if (pkt.fragment)
			__sync_fetch_and_add(&src->first_fragments, 1);
		src->last_seen_ns = bpf_ktime_get_ns();
	}

	if (pkt.bad_len) {
		count(&ps->parse_error, bytes);
		return XDP_PASS;
	}
	if (pkt.fragment) {
		count(&ps->pass_fragment, bytes);
		return XDP_PASS;
	}
	if (!(iface->flags & AGENT_IFACE_STEER)) {
		count(&ps->pass_unsteered, bytes);
		return XDP_PASS;
	}
	if (bytes > max_frame_len) {
		count(&ps->pass_too_big, bytes);
		return XDP_PASS;
	}
	queue = ctx->rx_queue_index;
	if (queue >= AGENT_MAX_RX_QUEUES) {
		count(&ps->pass_no_socket, bytes);
		return XDP_PASS;
	}
	/* The low bits of flags are the action on a lookup miss: no socket → XDP_PASS. */
	action = bpf_redirect_map(&xsks_map, islot * AGENT_MAX_RX_QUEUES + queue, XDP_PASS);
	if (action == XDP_REDIRECT)
		count(&ps->redirected, bytes);
	else
		count(&ps->pass_no_socket, bytes);
	return action;

other:
	count(&g->other, bytes);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
