/* What a boot that will be snapshotted looks up before it says ready, so that the snapshot
 * holds it and no clone looks it up again (docs/guest.md).
 *
 * A clone's first command is found through PATH: a lookup in each directory until one has
 * the name, then the program's inode. In a fresh boot none of that is in the kernel's
 * dentry and inode caches, so it reads the root image's directories and inodes over
 * virtio-blk, in every clone, after its restore. Looking up every entry of the usual PATH
 * directories once fills those caches with pages every clone shares.
 *
 * The same holds for file contents in the page cache: every exec reads the image's
 * /etc/passwd and /etc/group (the user), and nearly every command of an image runs its
 * shell or loads the same dynamic loader and C library. Those are read once, whole. */
#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest.h"

/* docker's default PATH: what images set, or inherit when they set none. */
static const char *const warm_dirs[] = {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
                                        "/usr/bin",        "/sbin",          "/bin"};

/* Bounds the bake's extra work and the snapshot's extra memory (a dentry and an inode,
 * about 1 KiB, per name) for images with very large directories. */
#define WARM_MAX_NAMES 4096

/* A file bigger than this is not read: its pages would weigh on every snapshot more than
 * the reads save. */
#define WARM_MAX_FILE (8u << 20)

/* Reads a regular file whole (following links), so that its pages are in the page cache. */
static void warm_read(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat st;
    char buf[16384];
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= WARM_MAX_FILE)
        while (read(fd, buf, sizeof(buf)) > 0)
            ;
    close(fd);
}

/* The ELF interpreter a program names (PT_INTERP), into out; false if none. Every value
 * comes from the image and is checked against the file's size and out's. */
static bool elf_interpreter(const char *path, char *out, size_t size)
{
    bool found = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    Elf64_Ehdr eh;
    if (pread(fd, &eh, sizeof(eh), 0) == (ssize_t)sizeof(eh) &&
        memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 && eh.e_ident[EI_CLASS] == ELFCLASS64 &&
        eh.e_phentsize == sizeof(Elf64_Phdr) && eh.e_phnum <= 64) {
        for (unsigned i = 0; i < eh.e_phnum && !found; i++) {
            Elf64_Phdr ph;
            if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * sizeof(ph))) !=
                (ssize_t)sizeof(ph))
                break;
            if (ph.p_type != PT_INTERP || ph.p_filesz < 2 || ph.p_filesz > size)
                continue;
            found = pread(fd, out, ph.p_filesz, (off_t)ph.p_offset) == (ssize_t)ph.p_filesz &&
                    out[ph.p_filesz - 1] == '\0' && out[0] == '/';
        }
    }
    close(fd);
    return found;
}

/* The shell, its dynamic loader and, beside that (glibc's layout), the C library. musl's
 * loader is its C library; a static shell (busybox) has neither. */
static void warm_shell(void)
{
    warm_read("/bin/sh");
    char interp[PATH_MAX];
    if (!elf_interpreter("/bin/sh", interp, sizeof(interp)))
        return;
    warm_read(interp);
    char real[PATH_MAX];
    if (realpath(interp, real) == NULL)
        return;
    char *slash = strrchr(real, '/');
    if (slash && (size_t)(slash - real) + sizeof("/libc.so.6") <= sizeof(real)) {
        strcpy(slash, "/libc.so.6");
        warm_read(real);
    }
}

void guest_warm_lookups(void)
{
    warm_read("/etc/passwd");
    warm_read("/etc/group");
    warm_shell();
    enum { NDIRS = sizeof(warm_dirs) / sizeof(warm_dirs[0]) };
    struct stat seen[NDIRS];
    size_t nseen = 0;
    unsigned left = WARM_MAX_NAMES;
    for (size_t i = 0; i < NDIRS && left > 0; i++) {
        DIR *d = opendir(warm_dirs[i]);
        if (d == NULL)
            continue;
        /* Where /bin is a link to usr/bin (merged /usr), that directory once. */
        bool again = fstat(dirfd(d), &seen[nseen]) < 0;
        for (size_t j = 0; j < nseen && !again; j++)
            again = seen[j].st_dev == seen[nseen].st_dev && seen[j].st_ino == seen[nseen].st_ino;
        if (again) {
            closedir(d);
            continue;
        }
        nseen++;
        struct dirent *e;
        while (left > 0 && (e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            struct stat st;
            /* Following links, as exec does: /bin/true -> busybox caches busybox too. */
            fstatat(dirfd(d), e->d_name, &st, 0);
            left--;
        }
        closedir(d);
    }
}
