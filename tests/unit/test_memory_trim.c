/* memory_trim against this kernel's copy-on-write and pagemap: guest RAM mapped from a
 * real file as a restore maps it, pages written with other bytes, with the same bytes, and
 * written then put back; the scan must list exactly the ones holding the file's bytes,
 * the drop must give those back to the file (pagemap says so) and keep every other page's
 * content. And a page that changes between the scan and the drop is kept. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "vmm/memory_trim.h"

#define PAGE   4096u
#define NPAGES 64u

/* Whether the page is the process's own copy (present, not the file's). */
static bool own_page(int pagemap, const void *p)
{
    uint64_t e = 0;
    if (pread(pagemap, &e, 8, (off_t)((uintptr_t)p / PAGE * 8)) != 8)
        return false;
    return (e >> 63 & 1) && !(e >> 61 & 1);
}

static uint8_t expected_byte(unsigned page, unsigned i)
{
    return (uint8_t)(page * 31 + i * 7 + 1);
}

int main(void)
{
    char path[] = "/tmp/sm-trim-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    unlink(path);
    /* The file: pages of varied bytes, and page 5 and 6 holes (zeros, as a snapshot's
     * free memory). */
    static uint8_t buf[PAGE];
    for (unsigned p = 0; p < NPAGES; p++) {
        for (unsigned i = 0; i < PAGE; i++)
            buf[i] = p == 5 || p == 6 ? 0 : expected_byte(p, i);
        if (p != 5 && p != 6)
            CHECK(pwrite(fd, buf, PAGE, (off_t)p * PAGE) == PAGE);
    }
    CHECK(ftruncate(fd, (off_t)NPAGES * PAGE) == 0);

    struct vm_memory mem;
    sm_error_t err = NULL;
    CHECK(vm_memory_map_file(&mem, fd, NPAGES * PAGE, &err) == 0);
    close(fd); /* the mapping keeps its own */
    int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    CHECK(pagemap >= 0);
    struct memory_trim t;
    memory_trim_init(&t, open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));

    volatile uint8_t *ram = mem.host;
    (void)ram[0];                            /* read only: stays the file's */
    ram[1 * PAGE + 10] ^= 0xff;              /* changed */
    ram[2 * PAGE + 10] = ram[2 * PAGE + 10]; /* the same byte written back */
    ram[3 * PAGE] ^= 1;                      /* changed, then changed back */
    ram[3 * PAGE] ^= 1;
    ram[5 * PAGE + 100] = 0;           /* a hole written with zeros: the file's bytes */
    ram[6 * PAGE + 100] = 9;           /* a hole given data */
    for (unsigned p = 10; p < 20; p++) /* a run of pages, every one the same again */
        ram[p * PAGE + 1] = ram[p * PAGE + 1];
    ram[20 * PAGE + PAGE - 1] ^= 0x80; /* changed at its last byte */
    CHECK(!own_page(pagemap, mem.host));
    CHECK(own_page(pagemap, mem.host + 1 * PAGE));
    CHECK(own_page(pagemap, mem.host + 2 * PAGE));

    CHECK(memory_trim_scan(&t, &mem, &err) == 0);
    CHECK_EQ_U64(t.own_pages, 1 + 1 + 1 + 1 + 1 + 10 + 1);
    CHECK_EQ_U64(t.ncandidates, 1 + 1 + 1 + 10);
    /* Page 12 changes after the scan listed it: the drop must see it and keep it. */
    ram[12 * PAGE + 1] ^= 0x55;
    size_t dropped = memory_trim_drop(&t, &mem);
    CHECK_EQ_U64(dropped, 1 + 1 + 1 + 9);
    CHECK_EQ_U64(t.ncandidates, 0);

    /* Given back: the file's page again. Kept: still our own, with our bytes. */
    unsigned back[] = {2, 3, 5, 10, 11, 13, 14, 15, 16, 17, 18, 19};
    for (size_t i = 0; i < sizeof(back) / sizeof(back[0]); i++)
        CHECK(!own_page(pagemap, mem.host + back[i] * PAGE));
    unsigned kept[] = {1, 6, 12, 20};
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
        CHECK(own_page(pagemap, mem.host + kept[i] * PAGE));
    /* Every byte of every page is what it should be. */
    unsigned bad = 0;
    for (unsigned p = 0; p < NPAGES; p++) {
        for (unsigned i = 0; i < PAGE; i++) {
            uint8_t want = p == 5 || p == 6 ? 0 : expected_byte(p, i);
            if (p == 1 && i == 10)
                want ^= 0xff;
            if (p == 6 && i == 100)
                want = 9;
            if (p == 12 && i == 1)
                want ^= 0x55;
            if (p == 20 && i == PAGE - 1)
                want ^= 0x80;
            bad += ram[p * PAGE + i] != want;
        }
    }
    CHECK_EQ_U64(bad, 0);

    /* Nothing left to give back: a second scan lists nothing. */
    CHECK(memory_trim_scan(&t, &mem, &err) == 0);
    CHECK_EQ_U64(t.ncandidates, 0);
    CHECK_EQ_U64(t.own_pages, 4);

    /* An anonymous mapping (a cold boot's RAM) is never scanned. */
    struct vm_memory anon;
    CHECK(vm_memory_init(&anon, NPAGES * PAGE, &err) == 0);
    anon.host[0] = 1;
    CHECK(memory_trim_scan(&t, &anon, &err) == 0);
    CHECK_EQ_U64(t.own_pages, 0);
    vm_memory_release(&anon);

    vm_memory_release(&mem);

    /* More copies than one scan compares (32768): the first scan lists that many, the
     * next goes on from there and lists the rest, none twice. A sparse file of 160 MiB. */
    enum { BIG = 40960, WRITTEN = 33000 };
    char big_path[] = "/tmp/sm-trim-big-XXXXXX";
    fd = mkstemp(big_path);
    CHECK(fd >= 0);
    unlink(big_path);
    CHECK(ftruncate(fd, (off_t)BIG * PAGE) == 0);
    CHECK(vm_memory_map_file(&mem, fd, (uint64_t)BIG * PAGE, &err) == 0);
    close(fd);
    ram = mem.host;
    for (unsigned p = 0; p < WRITTEN; p++)
        ram[(uint64_t)p * PAGE] = 0; /* zeros over a hole: the file's bytes */
    CHECK(memory_trim_scan(&t, &mem, &err) == 0);
    CHECK_EQ_U64(t.own_pages, WRITTEN);
    size_t first_scan = t.ncandidates;
    CHECK_EQ_U64(first_scan, 32768);
    CHECK_EQ_U64(memory_trim_drop(&t, &mem), first_scan);
    CHECK(memory_trim_scan(&t, &mem, &err) == 0);
    CHECK_EQ_U64(t.own_pages, WRITTEN - first_scan);
    CHECK_EQ_U64(t.ncandidates, WRITTEN - first_scan);
    CHECK_EQ_U64(memory_trim_drop(&t, &mem), WRITTEN - first_scan);
    CHECK(memory_trim_scan(&t, &mem, &err) == 0);
    CHECK_EQ_U64(t.own_pages, 0);

    memory_trim_release(&t);
    vm_memory_release(&mem);
    close(pagemap);
    sm_error_release(&err);
    printf("memory_trim: %d checks, %d failed\n", check_count, check_failures);
    return check_failures;
}
