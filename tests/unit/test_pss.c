/* A VM's proportional set size, as `ps` shows it: the parser of /proc/PID/smaps_rollup
 * against real and malformed text, and the figure of a live process. */
#include <fcntl.h>
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

int main(void)
{
    test_parse();
    test_instance();
    return check_summary("pss");
}
