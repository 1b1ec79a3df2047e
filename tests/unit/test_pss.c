/* A VM's proportional set size, as `ps` shows it: the parser of /proc/PID/smaps_rollup
 * against real and malformed text, and the figure of a live process. And what the
 * library itself adds to each thread of a process that loads it. */
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#include "check.h"
#include "runtime/instance.h"

static void test_parse(void)
{
    const char *real = "5565f1a0b000-7ffc0be3a000 ---p 00000000 00:00 0          [rollup]\n"
                       "Rss:                1764 kB\n"
                       "Pss:                 380 kB\n"
                       "Pss_Dirty:           112 kB\n"
                       "Pss_Anon:            112 kB\n"
                       "Swap:                  0 kB\n";
    CHECK(instance_parse_pss_kib(real) == 380);
    /* Pss_* lines before it are not it; the last line needs no newline. */
    CHECK(instance_parse_pss_kib("Pss_Anon: 7 kB\nPss_File: 8 kB\nPss: 9 kB") == 9);
    CHECK(instance_parse_pss_kib("Pss:\t0 kB\n") == 0);
    CHECK(instance_parse_pss_kib("Pss: 1073741824 kB\n") == 1073741824);
    CHECK(instance_parse_pss_kib("") == -1);
    CHECK(instance_parse_pss_kib("Rss: 5 kB\n") == -1);
    CHECK(instance_parse_pss_kib("Pss_Anon: 5 kB\n") == -1);
    CHECK(instance_parse_pss_kib("Pss: kB\n") == -1);
    CHECK(instance_parse_pss_kib("Pss: -5 kB\n") == -1);
    CHECK(instance_parse_pss_kib("Pss: 5 MB\n") == -1);
    CHECK(instance_parse_pss_kib("Pss: 5 kBx\n") == -1);
    CHECK(instance_parse_pss_kib("Pss: 5") == -1);
    CHECK(instance_parse_pss_kib("Pss: 99999999999999999999999 kB\n") == -1);
    CHECK(instance_parse_pss_kib(" Pss: 5 kB\n") == -1);
}

/* A running instance (its lock held: here by this process, standing in for its VMM) has
 * the figure of its VMM's pid; one not running, or with no pid recorded, has none. */
static void test_instance(void)
{
    char dir[] = "/tmp/sm-test-pss-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    struct instance in = {.dir = dir, .vmm_pid = getpid()};
    CHECK(instance_pss_kib(&in) == -1); /* no lock file */
    char *lock = instance_path(&in, "lock");
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    CHECK(instance_pss_kib(&in) == -1); /* a lock nobody holds */
    CHECK(flock(fd, LOCK_EX | LOCK_NB) == 0);
    int64_t pss = instance_pss_kib(&in);
    CHECK(pss > 0 && pss < (4 << 20)); /* this test program: more than nothing, < 4 GiB */
    in.vmm_pid = 0;
    CHECK(instance_pss_kib(&in) == -1);
    close(fd);
    unlink(lock);
    free(lock);
    rmdir(dir);
}

static int add_library_tls(struct dl_phdr_info *info, size_t size, void *arg)
{
    if (strstr(info->dlpi_name, "libsupermachine.so") == NULL)
        return 0;
    size_t *tls = arg;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_TLS)
            *tls += info->dlpi_phdr[i].p_memsz;
    return 1;
}

/* Static thread-local storage is set up, and so written, at every thread's start: in
 * each VMM's five threads, each pool thread and each thread of a program that links the
 * library, every page of it is private memory. A 64 KiB buffer once cost 64 KiB in each
 * thread of every idle VMM (docs/memory.md). */
static void test_library_tls(void)
{
    size_t tls = 0;
    CHECK(dl_iterate_phdr(add_library_tls, &tls) == 1); /* the library is loaded */
    if (tls > 1024)
        fprintf(stderr, "libsupermachine.so: %zu bytes of static TLS per thread\n", tls);
    CHECK(tls <= 1024);
}

int main(void)
{
    test_parse();
    test_instance();
    test_library_tls();
    return check_summary("pss");
}
