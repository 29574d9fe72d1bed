/* SPDX-License-Identifier: GPL-2.0 */
/* dsm wire format: shared by the library and the fake-peer tests.
 *
 * Every message is a 16-byte header followed by `payload_len` bytes.  All
 * integers are big-endian (network byte order); nothing host-specific (no
 * pointers, no C enums, no struct padding) crosses the wire. */
#ifndef DSM_WIRE_H
#define DSM_WIRE_H

#include <stdint.h>

#define DSM_WIRE_MAGIC 0x44534d70u /* "DSMp" */
#define DSM_PROTO_VERSION 2u       /* the only version this code speaks (2: pages start Invalid) */
#define DSM_HDR_LEN 16u
#define DSM_HELLO_LEN 24u          /* minimum; later versions may append fields */
#define DSM_HELLO_MAX 1024u
#define DSM_MAP_LEN 24u
#define DSM_ERROR_MAX 256u         /* 4-byte code + at most 252 bytes of text */

enum dsm_msg_type {
	/* handshake */
	DSM_MSG_HELLO = 1,    /* payload: magic u32, ver_min u16, ver_max u16, flags u32, rsvd u32, nonce u64 */
	DSM_MSG_MAP = 2,      /* first -> second: page_size u32, rsvd u32, npages u64, addr u64 */
	DSM_MSG_MAP_OK = 3,   /* second -> first: region mapped and registered, no payload */
	DSM_MSG_ERROR = 4,    /* either way, then close: code u32, text */
	/* coherence session */
	DSM_MSG_REQ = 16,     /* flags = DSM_WANT_*; seq chosen by the requester */
	DSM_MSG_GRANT = 17,   /* answers REQ with the same page+seq; flags DSM_GRANT_DATA => page payload */
	DSM_MSG_PUSH = 18,    /* sender went M->S (dsm_sync); page payload; receiver I->S */
	DSM_MSG_PUSH_ACK = 19,/* receiver installed the pushed page */
	DSM_MSG_BYE = 20,     /* sender synced everything and leaves; receiver owns all pages */
};

#define DSM_WANT_SHARED 1u
#define DSM_WANT_EXCL 2u
#define DSM_GRANT_DATA 1u

enum dsm_error_code {
	DSM_ERR_VERSION = 1,
	DSM_ERR_MAP = 2,      /* second could not map/register the region */
	DSM_ERR_PROTOCOL = 3,
	DSM_ERR_ROLE = 4,
};

struct dsm_hdr {
	uint32_t payload_len;
	uint16_t type;
	uint16_t flags;
	uint32_t page;
	uint32_t seq;
};

static inline void dsm_put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}
static inline void dsm_put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}
static inline void dsm_put64(unsigned char *p, uint64_t v)
{
	dsm_put32(p, (uint32_t)(v >> 32));
	dsm_put32(p + 4, (uint32_t)v);
}
static inline uint16_t dsm_get16(const unsigned char *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t dsm_get32(const unsigned char *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t dsm_get64(const unsigned char *p)
{
	return ((uint64_t)dsm_get32(p) << 32) | dsm_get32(p + 4);
}

static inline void dsm_hdr_encode(unsigned char out[DSM_HDR_LEN], const struct dsm_hdr *h)
{
	dsm_put32(out, h->payload_len);
	dsm_put16(out + 4, h->type);
	dsm_put16(out + 6, h->flags);
	dsm_put32(out + 8, h->page);
	dsm_put32(out + 12, h->seq);
}
static inline void dsm_hdr_decode(struct dsm_hdr *h, const unsigned char in[DSM_HDR_LEN])
{
	h->payload_len = dsm_get32(in);
	h->type = dsm_get16(in + 4);
	h->flags = dsm_get16(in + 6);
	h->page = dsm_get32(in + 8);
	h->seq = dsm_get32(in + 12);
}

#endif
