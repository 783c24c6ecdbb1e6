/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * parse.h: bounds-checked Ethernet / VLAN / IPv4 / IPv6 / UDP header parsing.
 *
 * One parser for both sides: agent.bpf.c uses it to classify frames, and the AF_XDP receiver
 * (userspace/receive/xsk_receiver.cc) runs it again on the frame it got to find the UDP payload
 * and the peer address, so the two can never disagree about what a frame is. Hence plain C
 * that also compiles as C++: no BPF helpers, no maps, no side effects, no void * arithmetic.
 *
 * Every read is preceded by a check against `end`. In BPF that check is what the verifier
 * needs (comparisons against data_end are the only ones it learns packet bounds from, so
 * checks against the IP packet's own end come in addition, never instead).
 */
#ifndef AGENT_PARSE_H
#define AGENT_PARSE_H

#include <linux/types.h>
#include <linux/if_ether.h>

#ifdef __bpf__
#define AGENT_INLINE static __always_inline
#else
#define AGENT_INLINE static inline
#endif

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define AGENT_BSWAP16(x) ((__u16)__builtin_bswap16(x))
#else
#define AGENT_BSWAP16(x) ((__u16)(x))
#endif
#define AGENT_NTOHS(x) AGENT_BSWAP16(x)
#define AGENT_HTONS(x) AGENT_BSWAP16(x)

/* IP protocol numbers (IANA). Not from <linux/in.h>, which clashes with <netinet/in.h> in C++. */
#define AGENT_IPPROTO_HOPOPTS 0
#define AGENT_IPPROTO_UDP 17
#define AGENT_IPPROTO_ROUTING 43
#define AGENT_IPPROTO_FRAGMENT 44
#define AGENT_IPPROTO_AH 51
#define AGENT_IPPROTO_DSTOPTS 60

#define AGENT_MAX_VLAN_TAGS 2  /* 802.1ad outer + 802.1Q inner; a third tag is "not ours" */
#define AGENT_MAX_IPV6_EXT 6   /* extension headers walked before giving up (parse error) */

#define AGENT_IP_MF 0x2000
#define AGENT_IP_OFFSET 0x1fff
#define AGENT_IP6_OFFSET 0xfff8

enum agent_parse_status {
	AGENT_PARSE_UDP = 0,        /* UDP header found: dport (and payload unless fragment) valid */
	AGENT_PARSE_NOT_UDP,        /* not IPv4/IPv6, or not UDP: not ours */
	AGENT_PARSE_LATER_FRAGMENT, /* IP fragment at offset > 0: there is no UDP header in it */
	AGENT_PARSE_ERROR,          /* truncated or malformed L2/L3/L4 header */
};

/*
 * Wire layouts (RFC 791, 768, 8200 §4.3-4.5, IEEE 802.1Q). Packed: headers sit at any offset (an
 * IPv4 header after a 14-byte Ethernet header is not 4-byte aligned), and reading a field through
 * a misaligned struct pointer is undefined behaviour in C and C++ (UBSan checks it in userspace).
 */
struct agent_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
} __attribute__((packed));

struct agent_ip6_hdr {
	__be32 vtc_flow; /* version:4 traffic class:8 flow label:20 */
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u8 saddr[16];
	__u8 daddr[16];
} __attribute__((packed));

struct agent_ip6_opt_hdr {
	__u8 nexthdr;
	__u8 hdrlen;
} __attribute__((packed));

struct agent_ip6_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off; /* offset:13 (8-byte units) res:2 M:1 */
	__be32 identification;
} __attribute__((packed));

struct agent_ip4_hdr {
	__u8 version_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__be16 check;
	__be32 saddr;
	__be32 daddr;
} __attribute__((packed));

struct agent_udp_hdr {
	__be16 source;
	__be16 dest;
	__be16 len;
	__be16 check;
} __attribute__((packed));

struct agent_pkt {
	const __u8 *l3;       /* IPv4 or IPv6 header (for the peer address) */
	const __u8 *l4;       /* UDP header */
	__u32 payload_len;    /* UDP payload bytes (valid when !fragment && !bad_len) */
	__u16 dport;          /* network byte order */
	__u16 sport;          /* network byte order */
	__u8 ip_version;      /* 4 or 6 */
	__u8 fragment;        /* first fragment of a fragmented datagram (or IPv6 atomic fragment) */
	__u8 bad_len;         /* UDP length < 8 or beyond the IP packet */
	__u8 pad;
	/* Addresses, IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d): valid once l3 is set (UDP and
	 * later fragments). The program keys local_addrs and source_stats with them. */
	__u8 saddr[16];
	__u8 daddr[16];
};

/* ::ffff:a.b.c.d from a network-order IPv4 address. */
AGENT_INLINE void agent_map_v4(__u8 *out, __be32 v4)
{
	const __u8 *b = (const __u8 *)&v4;
	int i;

	for (i = 0; i < 10; i++)
		out[i] = 0;
	out[10] = 0xff;
	out[11] = 0xff;
	out[12] = b[0];
	out[13] = b[1];
	out[14] = b[2];
	out[15] = b[3];
}

/* The UDP header at `pos`, inside an IP packet that ends at `ip_end` (<= end). */
AGENT_INLINE int agent_parse_udp(const __u8 *pos, const __u8 *end, const __u8 *ip_end,
				 struct agent_pkt *pkt)
{
	const struct agent_udp_hdr *udp = (const struct agent_udp_hdr *)pos;
	__u32 len;

	if ((const __u8 *)(udp + 1) > end || (const __u8 *)(udp + 1) > ip_end)
		return AGENT_PARSE_ERROR;
	pkt->l4 = pos;
	pkt->dport = udp->dest;
	pkt->sport = udp->source;
	if (pkt->fragment)
		return AGENT_PARSE_UDP; /* udp->len covers fragments we do not have */
	len = AGENT_NTOHS(udp->len);
	if (len < sizeof(*udp) || pos + len > ip_end) {
		pkt->bad_len = 1;
		return AGENT_PARSE_UDP;
	}
	pkt->payload_len = len - sizeof(*udp);
	return AGENT_PARSE_UDP;
}

AGENT_INLINE int agent_parse_ipv4(const __u8 *pos, const __u8 *end, struct agent_pkt *pkt)
{
	const struct agent_ip4_hdr *ip = (const struct agent_ip4_hdr *)pos;
	const __u8 *ip_end;
	__u32 hlen, tot;
	__u16 frag;

	if ((const __u8 *)(ip + 1) > end)
		return AGENT_PARSE_ERROR;
	if ((ip->version_ihl >> 4) != 4)
		return AGENT_PARSE_ERROR;
	hlen = (ip->version_ihl & 0x0f) * 4;
	if (hlen < sizeof(*ip))
		return AGENT_PARSE_ERROR;
	if (pos + hlen > end) /* options cut off */
		return AGENT_PARSE_ERROR;
	tot = AGENT_NTOHS(ip->tot_len);
	if (tot < hlen)
		return AGENT_PARSE_ERROR;
	ip_end = pos + tot;
	if (ip_end > end) /* frame shorter than the packet: truncated (padding may make it longer) */
		return AGENT_PARSE_ERROR;
	pkt->l3 = pos;
	pkt->ip_version = 4;
	agent_map_v4(pkt->saddr, ip->saddr);
	agent_map_v4(pkt->daddr, ip->daddr);
	frag = AGENT_NTOHS(ip->frag_off);
	if (frag & AGENT_IP_OFFSET)
		return AGENT_PARSE_LATER_FRAGMENT;
	if (frag & AGENT_IP_MF)
		pkt->fragment = 1;
	if (ip->protocol != AGENT_IPPROTO_UDP)
		return AGENT_PARSE_NOT_UDP;
	return agent_parse_udp(pos + hlen, end, ip_end, pkt);
}

AGENT_INLINE int agent_parse_ipv6(const __u8 *pos, const __u8 *end, struct agent_pkt *pkt)
{
	const struct agent_ip6_hdr *ip6 = (const struct agent_ip6_hdr *)pos;
	const __u8 *ip_end;
	__u8 nexthdr;
	int i;

	if ((const __u8 *)(ip6 + 1) > end)
		return AGENT_PARSE_ERROR;
	if ((*(const __u8 *)ip6 >> 4) != 6)
		return AGENT_PARSE_ERROR;
	ip_end = (const __u8 *)(ip6 + 1) + AGENT_NTOHS(ip6->payload_len);
	if (ip_end > end)
		return AGENT_PARSE_ERROR;
	pkt->l3 = pos;
	pkt->ip_version = 6;
	__builtin_memcpy(pkt->saddr, ip6->saddr, 16);
	__builtin_memcpy(pkt->daddr, ip6->daddr, 16);
	nexthdr = ip6->nexthdr;
	pos = (const __u8 *)(ip6 + 1);

#ifdef __bpf__
#pragma unroll
#endif
	for (i = 0; i < AGENT_MAX_IPV6_EXT; i++) {
		const struct agent_ip6_opt_hdr *opt = (const struct agent_ip6_opt_hdr *)pos;
		const struct agent_ip6_frag_hdr *fh = (const struct agent_ip6_frag_hdr *)pos;

		switch (nexthdr) {
		case AGENT_IPPROTO_UDP:
			return agent_parse_udp(pos, end, ip_end, pkt);
		case AGENT_IPPROTO_HOPOPTS:
		case AGENT_IPPROTO_ROUTING:
		case AGENT_IPPROTO_DSTOPTS:
			if ((const __u8 *)(opt + 1) > end || (const __u8 *)(opt + 1) > ip_end)
				return AGENT_PARSE_ERROR;
			nexthdr = opt->nexthdr;
			pos += ((__u32)opt->hdrlen + 1) * 8;
			break;
		case AGENT_IPPROTO_AH: /* RFC 4302: length in 4-byte units, minus 2 */
			if ((const __u8 *)(opt + 1) > end || (const __u8 *)(opt + 1) > ip_end)
				return AGENT_PARSE_ERROR;
			nexthdr = opt->nexthdr;
			pos += ((__u32)opt->hdrlen + 2) * 4;
			break;
		case AGENT_IPPROTO_FRAGMENT:
			if ((const __u8 *)(fh + 1) > end || (const __u8 *)(fh + 1) > ip_end)
				return AGENT_PARSE_ERROR;
			if (AGENT_NTOHS(fh->frag_off) & AGENT_IP6_OFFSET)
				return AGENT_PARSE_LATER_FRAGMENT;
			/* M set: first fragment. M clear at offset 0: an atomic fragment, which the
			 * kernel handles; either way it is not a plain datagram. */
			pkt->fragment = 1;
			nexthdr = fh->nexthdr;
			pos = (const __u8 *)(fh + 1);
			break;
		default:
			return AGENT_PARSE_NOT_UDP;
		}
	}
	if (nexthdr == AGENT_IPPROTO_UDP)
		return agent_parse_udp(pos, end, ip_end, pkt);
	/* Still inside extension headers after AGENT_MAX_IPV6_EXT of them. */
	switch (nexthdr) {
	case AGENT_IPPROTO_HOPOPTS:
	case AGENT_IPPROTO_ROUTING:
	case AGENT_IPPROTO_DSTOPTS:
	case AGENT_IPPROTO_AH:
	case AGENT_IPPROTO_FRAGMENT:
		return AGENT_PARSE_ERROR;
	default:
		return AGENT_PARSE_NOT_UDP;
	}
}

/* Classifies the frame [data, end). On AGENT_PARSE_UDP, pkt describes the UDP datagram. */
AGENT_INLINE int agent_parse_frame(const __u8 *data, const __u8 *end, struct agent_pkt *pkt)
{
	const struct ethhdr *eth = (const struct ethhdr *)data;
	const __u8 *pos;
	__be16 proto;
	int i;

	if ((const __u8 *)(eth + 1) > end)
		return AGENT_PARSE_ERROR;
	proto = eth->h_proto;
	pos = (const __u8 *)(eth + 1);

#ifdef __bpf__
#pragma unroll
#endif
	for (i = 0; i < AGENT_MAX_VLAN_TAGS; i++) {
		const struct agent_vlan_hdr *vlan = (const struct agent_vlan_hdr *)pos;

		if (proto != AGENT_HTONS(ETH_P_8021Q) && proto != AGENT_HTONS(ETH_P_8021AD))
			break;
		if ((const __u8 *)(vlan + 1) > end)
			return AGENT_PARSE_ERROR;
		proto = vlan->encap_proto;
		pos = (const __u8 *)(vlan + 1);
	}

	if (proto == AGENT_HTONS(ETH_P_IP))
		return agent_parse_ipv4(pos, end, pkt);
	if (proto == AGENT_HTONS(ETH_P_IPV6))
		return agent_parse_ipv6(pos, end, pkt);
	return AGENT_PARSE_NOT_UDP;
}

#endif /* AGENT_PARSE_H */
