/* EROFS on-disk format, as far as our writer uses it (uncompressed, 4 KiB blocks). The
 * layout follows the kernel's fs/erofs/erofs_fs.h of Linux 6.1, which Debian 12 mounts. */
#ifndef SM_OCI_EROFS_H
#define SM_OCI_EROFS_H

#include <stdint.h>

#define EROFS_MAGIC        0xE0F5E1E2u
#define EROFS_SUPER_OFFSET 1024
#define EROFS_BLKSZ_BITS   12
#define EROFS_BLKSZ        (1u << EROFS_BLKSZ_BITS) /* must equal PAGE_SIZE for 6.1 */
#define EROFS_ISLOT        32 /* nid = byte offset in the metadata area / 32 */
#define EROFS_NAME_LEN     255

/* i_format: bit 0 inode version, bits 1-3 data layout */
#define EROFS_INODE_COMPACT     0
#define EROFS_INODE_EXTENDED    1
#define EROFS_INODE_FLAT_PLAIN  0
#define EROFS_INODE_FLAT_INLINE 2

enum {
    EROFS_FT_UNKNOWN,
    EROFS_FT_REG,
    EROFS_FT_DIR,
    EROFS_FT_CHR,
    EROFS_FT_BLK,
    EROFS_FT_FIFO,
    EROFS_FT_SOCK,
    EROFS_FT_LNK
};

enum {
    EROFS_XATTR_INDEX_USER = 1,
    EROFS_XATTR_INDEX_POSIX_ACL_ACCESS = 2,
    EROFS_XATTR_INDEX_POSIX_ACL_DEFAULT = 3,
    EROFS_XATTR_INDEX_TRUSTED = 4,
    EROFS_XATTR_INDEX_SECURITY = 6
};

struct erofs_super_block {
    uint32_t magic;
    uint32_t checksum;
    uint32_t feature_compat;
    uint8_t blkszbits;
    uint8_t sb_extslots;
    uint16_t root_nid;
    uint64_t inos;
    uint64_t build_time; /* mtime of every compact inode */
    uint32_t build_time_nsec;
    uint32_t blocks;
    uint32_t meta_blkaddr;
    uint32_t xattr_blkaddr;
    uint8_t uuid[16];
    uint8_t volume_name[16];
    uint32_t feature_incompat;
    uint16_t u1;
    uint16_t extra_devices;
    uint16_t devt_slotoff;
    uint8_t reserved2[38];
} __attribute__((packed));

struct erofs_inode_compact {
    uint16_t i_format;
    uint16_t i_xattr_icount;
    uint16_t i_mode;
    uint16_t i_nlink;
    uint32_t i_size;
    uint32_t i_reserved;
    uint32_t i_u; /* raw_blkaddr, or rdev for devices */
    uint32_t i_ino;
    uint16_t i_uid;
    uint16_t i_gid;
    uint32_t i_reserved2;
} __attribute__((packed));

struct erofs_inode_extended {
    uint16_t i_format;
    uint16_t i_xattr_icount;
    uint16_t i_mode;
    uint16_t i_reserved;
    uint64_t i_size;
    uint32_t i_u;
    uint32_t i_ino;
    uint32_t i_uid;
    uint32_t i_gid;
    uint64_t i_mtime; /* "i_ctime" in 6.1's header; the kernel uses it for all three times */
    uint32_t i_mtime_nsec;
    uint32_t i_nlink;
    uint8_t i_reserved2[16];
} __attribute__((packed));

struct erofs_xattr_ibody_header {
    uint32_t h_reserved;
    uint8_t h_shared_count;
    uint8_t h_reserved2[7];
} __attribute__((packed));

struct erofs_xattr_entry {
    uint8_t e_name_len;
    uint8_t e_name_index;
    uint16_t e_value_size;
} __attribute__((packed));

struct erofs_dirent {
    uint64_t nid;
    uint16_t nameoff;
    uint8_t file_type;
    uint8_t reserved;
} __attribute__((packed));

_Static_assert(sizeof(struct erofs_super_block) == 128, "erofs sb");
_Static_assert(sizeof(struct erofs_inode_compact) == 32, "erofs compact inode");
_Static_assert(sizeof(struct erofs_inode_extended) == 64, "erofs extended inode");
_Static_assert(sizeof(struct erofs_xattr_ibody_header) == 12, "erofs xattr header");
_Static_assert(sizeof(struct erofs_dirent) == 12, "erofs dirent");

#endif
