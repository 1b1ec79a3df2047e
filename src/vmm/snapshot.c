#include "vmm/snapshot.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

/* File layout (little-endian):
 *   magic[8] version:u32 nsections:u32 payload_len:u64
 *   payload: nsections x { type:u32 index:u32 len:u64 data[len] pad-to-8 }
 *   sha256[32] over everything before it */
#define HEADER_LEN  24
#define SECTION_HDR 16
#define TRAILER_LEN 32

static void put(struct snap_writer *w, const void *p, size_t n)
{
    if (n == 0)
        return;
    if (w->len + n > w->cap) {
        w->cap = (w->len + n) * 2 + 4096;
        w->buf = xrealloc(w->buf, w->cap);
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

void snap_writer_init(struct snap_writer *w)
{
    memset(w, 0, sizeof(*w));
    uint8_t header[HEADER_LEN] = {0};
    put(w, header, sizeof(header)); /* filled in by finish */
}

void snap_writer_add(struct snap_writer *w, uint32_t type, uint32_t index, const void *data,
                     uint64_t len)
{
    uint8_t hdr[SECTION_HDR];
    memcpy(hdr, &type, 4);
    memcpy(hdr + 4, &index, 4);
    memcpy(hdr + 8, &len, 8);
    put(w, hdr, sizeof(hdr));
    put(w, data, len);
    static const uint8_t zeros[8];
    put(w, zeros, (8 - (len & 7)) & 7);
    w->nsections++;
}

uint8_t *snap_writer_finish(struct snap_writer *w, size_t *len)
{
    uint32_t version = SNAP_VERSION;
    uint64_t payload = w->len - HEADER_LEN;
    memcpy(w->buf, SNAP_MAGIC, 8);
    memcpy(w->buf + 8, &version, 4);
    memcpy(w->buf + 12, &w->nsections, 4);
    memcpy(w->buf + 16, &payload, 8);
    uint8_t md[TRAILER_LEN];
    sm_sha256(w->buf, w->len, md);
    put(w, md, sizeof(md));
    uint8_t *buf = w->buf;
    *len = w->len;
    memset(w, 0, sizeof(*w));
    return buf;
}

int snap_parse(const uint8_t *buf, size_t len, struct snap_section **sections, uint32_t *n,
               sm_error_t *err)
{
    if (len < HEADER_LEN + TRAILER_LEN || memcmp(buf, SNAP_MAGIC, 8) != 0)
        return sm_error_set(err, 0, "not a supermachine snapshot");
    uint32_t version, count;
    uint64_t payload;
    memcpy(&version, buf + 8, 4);
    memcpy(&count, buf + 12, 4);
    memcpy(&payload, buf + 16, 8);
    if (version != SNAP_VERSION)
        return sm_error_set(err, 0, "snapshot format version %u, this supermachine reads %u",
                            version, SNAP_VERSION);
    if (payload != len - HEADER_LEN - TRAILER_LEN)
        return sm_error_set(err, 0,
                            "snapshot metadata truncated or padded (%zu bytes, "
                            "header says %llu)",
                            len, (unsigned long long)(payload + HEADER_LEN + TRAILER_LEN));
    uint8_t md[TRAILER_LEN];
    sm_sha256(buf, len - TRAILER_LEN, md);
    if (memcmp(md, buf + len - TRAILER_LEN, sizeof(md)) != 0)
        return sm_error_set(err, 0, "snapshot metadata checksum mismatch (corrupt)");
    if (count > payload / SECTION_HDR)
        return sm_error_set(err, 0, "snapshot metadata: %u sections cannot fit", count);
    struct snap_section *s = xcalloc(count ? count : 1, sizeof(*s));
    uint64_t off = HEADER_LEN, end = HEADER_LEN + payload;
    for (uint32_t i = 0; i < count; i++) {
        if (end - off < SECTION_HDR) {
            free(s);
            return sm_error_set(err, 0, "snapshot metadata: section %u truncated", i);
        }
        memcpy(&s[i].type, buf + off, 4);
        memcpy(&s[i].index, buf + off + 4, 4);
        memcpy(&s[i].len, buf + off + 8, 8);
        off += SECTION_HDR;
        uint64_t padded = s[i].len + ((8 - (s[i].len & 7)) & 7);
        if (s[i].len > end - off || padded > end - off) {
            free(s);
            return sm_error_set(err, 0, "snapshot metadata: section %u overruns the file", i);
        }
        s[i].data = buf + off;
        off += padded;
    }
    if (off != end) {
        free(s);
        return sm_error_set(err, 0, "snapshot metadata: trailing bytes after the sections");
    }
    *sections = s;
    *n = count;
    return 0;
}

const struct snap_section *snap_find(const struct snap_section *s, uint32_t n, uint32_t type,
                                     uint32_t index)
{
    for (uint32_t i = 0; i < n; i++)
        if (s[i].type == type && s[i].index == index)
            return &s[i];
    return NULL;
}
