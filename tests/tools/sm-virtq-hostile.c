/* sm-virtq-hostile: runs inside a guest, as root, and drives one of the VMM's virtio-mmio
 * devices by hand the way a hostile guest kernel could (tests/e2e/hostile-virtq.sh): it
 * unbinds the guest's driver from the entropy device (virtio-rng, which nothing else
 * needs), maps the device's registers through /dev/mem, puts its rings in pinned pages of
 * its own, and feeds the device descriptor loops, chains through addresses outside guest
 * RAM, an available index that jumps past the ring, indirect tables that loop, and storms
 * of notifications and register reads. One valid request first and after each attack
 * shows the device really serves this driver (and that a reset revives it).
 *
 *   sm-virtq-hostile COMMAND...   the commands in turn:
 *     attacks            each attack once; a line per attack
 *     fail-loop N        N times: reset, set up, a looping chain
 *     notify-storm SECS  QueueNotify as fast as it goes
 *     read-storm SECS    register reads (each one a VM exit) as fast as they go
 * (once unbound, the device stays the tool's: one run does all it is asked)
 *
 * Prints "result: ..." lines; exits 0 when the device behaved (refused what it should,
 * served what it should), 1 when not, 2 on a setup error. Static, no library but libc. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

/* virtio-mmio version 2 registers. */
enum {
    R_MAGIC = 0x000,
    R_VERSION = 0x004,
    R_DEVICE_ID = 0x008,
    R_DEVICE_FEATURES = 0x010,
    R_DEVICE_FEATURES_SEL = 0x014,
    R_DRIVER_FEATURES = 0x020,
    R_DRIVER_FEATURES_SEL = 0x024,
    R_QUEUE_SEL = 0x030,
    R_QUEUE_NUM_MAX = 0x034,
    R_QUEUE_NUM = 0x038,
    R_QUEUE_READY = 0x044,
    R_QUEUE_NOTIFY = 0x050,
    R_INTERRUPT_STATUS = 0x060,
    R_INTERRUPT_ACK = 0x064,
    R_STATUS = 0x070,
    R_QUEUE_DESC = 0x080,
    R_QUEUE_DRIVER = 0x090,
    R_QUEUE_DEVICE = 0x0a0,
    R_CONFIG_GENERATION = 0x0fc,
};
enum { S_ACK = 1, S_DRIVER = 2, S_DRIVER_OK = 4, S_FEATURES_OK = 8, S_NEEDS_RESET = 0x40 };
enum { D_NEXT = 1, D_WRITE = 2, D_INDIRECT = 4 };
#define F_INDIRECT (1u << 28)
#define QSIZE      8u

struct desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};

static volatile uint32_t *regs;
static uint8_t *ring, *data;        /* two pinned pages */
static uint64_t ring_gpa, data_gpa; /* their guest-physical addresses */
static uint16_t avail_idx, used_seen;
static bool indirect;

static void die(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sm-virtq-hostile: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(code);
}

static uint32_t rd(unsigned off)
{
    return regs[off / 4];
}
static void wr(unsigned off, uint32_t v)
{
    regs[off / 4] = v;
}
static void wr64(unsigned off, uint64_t v)
{
    wr(off, (uint32_t)v);
    wr(off + 4, (uint32_t)(v >> 32));
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int read_line(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    bool ok = fgets(buf, (int)size, f) != NULL;
    fclose(f);
    if (!ok)
        return -1;
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

/* The platform device of the guest's virtio-rng (device id 4), e.g. "LNRO0005:02". */
static void find_rng(char *platform, size_t size)
{
    DIR *d = opendir("/sys/bus/virtio/devices");
    if (d == NULL)
        die(2, "/sys/bus/virtio/devices: %s", strerror(errno));
    struct dirent *e;
    platform[0] = '\0';
    while ((e = readdir(d)) != NULL) {
        char path[512], id[32], target[512];
        snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%s/device", e->d_name);
        if (read_line(path, id, sizeof(id)) < 0 || strtoul(id, NULL, 0) != 4)
            continue;
        snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%s", e->d_name);
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        char *last = strrchr(target, '/'); /* .../platform/LNRO0005:02/virtio2 */
        if (last == NULL)
            continue;
        *last = '\0';
        char *parent = strrchr(target, '/');
        const char *name = parent ? parent + 1 : target;
        if (strlen(name) >= size)
            continue;
        memcpy(platform, name, strlen(name) + 1);
        break;
    }
    closedir(d);
}

/* /proc/iomem, opened. */
static FILE *open_iomem(void)
{
    FILE *f = fopen("/proc/iomem", "r");
    if (f == NULL)
        die(2, "/proc/iomem: %s", strerror(errno));
    return f;
}

/* The next named region of /proc/iomem ("d0002000-d0002fff : LNRO0005:02"): its start
 * and name; false at the end. */
static bool next_region(FILE *f, uint64_t *start, char name[128])
{
    char line[256];
    while (fgets(line, sizeof(line), f)) {
        uint64_t end;
        if (sscanf(line, " %" SCNx64 "-%" SCNx64 " : %127[^\n]", start, &end, name) == 3)
            return true;
    }
    return false;
}

static uint64_t find_window(const char *platform)
{
    FILE *f = open_iomem();
    uint64_t lo, base = 0;
    char name[128];
    while (base == 0 && next_region(f, &lo, name))
        if (strcmp(name, platform) == 0)
            base = lo;
    fclose(f);
    if (base == 0)
        die(2, "%s: not in /proc/iomem", platform);
    return base;
}

static void unbind(const char *platform)
{
    int fd = open("/sys/bus/platform/drivers/virtio-mmio/unbind", O_WRONLY);
    if (fd < 0 || write(fd, platform, strlen(platform)) < 0)
        die(2, "unbind %s from virtio-mmio: %s", platform, strerror(errno));
    close(fd);
}

/* A virtio-mmio window in /proc/iomem (its name: the ACPI id LNRO0005) that /dev/mem
 * maps (so no driver holds it) and that is an entropy device: this tool's own, unbound by
 * an earlier run. */
static bool map_unbound_rng(char *platform, size_t size, uint64_t *base_out)
{
    FILE *f = open_iomem();
    bool found = false;
    uint64_t lo;
    char name[128];
    while (!found && next_region(f, &lo, name)) {
        if (strncmp(name, "LNRO0005:", 9) != 0 || strlen(name) >= size)
            continue;
        int fd = open("/dev/mem", O_RDWR | O_SYNC);
        void *p = fd < 0 ? MAP_FAILED
                         : mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)lo);
        if (fd >= 0)
            close(fd);
        if (p == MAP_FAILED)
            continue; /* a driver holds it */
        volatile uint32_t *r = p;
        found = r[R_MAGIC / 4] == 0x74726976 && r[R_DEVICE_ID / 4] == 4;
        munmap(p, 4096);
        if (found) {
            memcpy(platform, name, strlen(name) + 1);
            *base_out = lo;
        }
    }
    fclose(f);
    return found;
}

static void make_dev_mem(void)
{
    if (access("/dev/mem", F_OK) < 0 && mknod("/dev/mem", S_IFCHR | 0600, makedev(1, 1)) < 0)
        die(2, "mknod /dev/mem: %s", strerror(errno));
}

static void map_registers(uint64_t base)
{
    int fd = open("/dev/mem", O_RDWR | O_SYNC);
    if (fd < 0)
        die(2, "/dev/mem: %s", strerror(errno));
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)base);
    if (p == MAP_FAILED)
        die(2, "map the registers at 0x%" PRIx64 " through /dev/mem: %s", base, strerror(errno));
    regs = p;
    if (rd(R_MAGIC) != 0x74726976 || rd(R_VERSION) != 2 || rd(R_DEVICE_ID) != 4)
        die(2, "0x%" PRIx64 ": not a virtio-mmio v2 entropy device", base);
}

static uint64_t gpa_of(void *page)
{
    int fd = open("/proc/self/pagemap", O_RDONLY);
    uint64_t entry = 0;
    off_t off = (off_t)((uintptr_t)page / 4096 * 8);
    if (fd < 0 || pread(fd, &entry, 8, off) != 8)
        die(2, "/proc/self/pagemap: %s", strerror(errno));
    close(fd);
    if (!(entry >> 63) || (entry & ((1ull << 55) - 1)) == 0)
        die(2, "no physical address for a pinned page (need root)");
    return (entry & ((1ull << 55) - 1)) * 4096;
}

static void pin_pages(void)
{
    uint8_t *p = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || mlock(p, 2 * 4096) < 0)
        die(2, "pin two pages: %s", strerror(errno));
    memset(p, 0, 2 * 4096);
    ring = p;
    data = p + 4096;
    ring_gpa = gpa_of(ring);
    data_gpa = gpa_of(data);
}

/* Ring layout in the ring page: descriptors, then the available ring, then the used. */
static struct desc *descs(void)
{
    return (struct desc *)ring;
}
static volatile uint16_t *avail(void)
{
    return (volatile uint16_t *)(ring + 0x400);
}
static volatile uint16_t *used_idx(void)
{
    return (volatile uint16_t *)(ring + 0x800 + 2);
}
static volatile uint32_t *used_elem(unsigned i)
{
    return (volatile uint32_t *)(ring + 0x800 + 4 + 8 * (i % QSIZE));
}

/* Reset and bring the device up as a driver would, with one queue of QSIZE. */
static void setup(void)
{
    wr(R_STATUS, 0);
    for (int i = 0; i < 1000 && rd(R_STATUS) != 0; i++)
        usleep(100);
    memset(ring, 0, 4096);
    avail_idx = used_seen = 0;
    wr(R_STATUS, S_ACK);
    wr(R_STATUS, S_ACK | S_DRIVER);
    wr(R_DEVICE_FEATURES_SEL, 0);
    uint32_t lo = rd(R_DEVICE_FEATURES);
    indirect = lo & F_INDIRECT;
    wr(R_DRIVER_FEATURES_SEL, 0);
    wr(R_DRIVER_FEATURES, lo & F_INDIRECT);
    wr(R_DRIVER_FEATURES_SEL, 1);
    wr(R_DRIVER_FEATURES, 1); /* VIRTIO_F_VERSION_1 */
    wr(R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
    if (!(rd(R_STATUS) & S_FEATURES_OK))
        die(1, "the device refused VERSION_1%s", indirect ? " and INDIRECT_DESC" : "");
    wr(R_QUEUE_SEL, 0);
    if (rd(R_QUEUE_NUM_MAX) < QSIZE)
        die(2, "queue too small (%u)", rd(R_QUEUE_NUM_MAX));
    wr(R_QUEUE_NUM, QSIZE);
    wr64(R_QUEUE_DESC, ring_gpa);
    wr64(R_QUEUE_DRIVER, ring_gpa + 0x400);
    wr64(R_QUEUE_DEVICE, ring_gpa + 0x800);
    wr(R_QUEUE_READY, 1);
    wr(R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
}

/* Makes descriptor head available and notifies. */
static void submit(uint16_t head)
{
    avail()[2 + avail_idx % QSIZE] = head;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    avail()[1] = ++avail_idx;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    wr(R_QUEUE_NOTIFY, 0);
}

enum outcome { SERVED, NEEDS_RESET, NOTHING };

/* What the device did within 2 s: used a buffer, or flagged itself for reset. */
static enum outcome await(uint32_t *len)
{
    double end = now() + 2;
    while (now() < end) {
        if (*used_idx() != used_seen) {
            *len = used_elem(used_seen)[1]; /* {id, len} */
            used_seen++;
            wr(R_INTERRUPT_ACK, rd(R_INTERRUPT_STATUS));
            return SERVED;
        }
        if (rd(R_STATUS) & S_NEEDS_RESET)
            return NEEDS_RESET;
        usleep(200);
    }
    return NOTHING;
}

static const char *outcome_name(enum outcome o)
{
    return o == SERVED ? "served" : o == NEEDS_RESET ? "refused (device needs reset)" : "ignored";
}

/* One valid request: 64 bytes of entropy. */
static int valid_request(const char *when)
{
    setup();
    memset(data, 0, 64);
    descs()[0] = (struct desc){.addr = data_gpa, .len = 64, .flags = D_WRITE};
    submit(0);
    uint32_t len = 0;
    enum outcome o = await(&len);
    bool nonzero = false;
    for (int i = 0; i < 64; i++)
        nonzero |= data[i] != 0;
    printf("result: valid request %s: %s, %u bytes%s\n", when, outcome_name(o), len,
           nonzero ? " of entropy" : "");
    return o == SERVED && len > 0 && len <= 64 && nonzero ? 0 : 1;
}

/* One attack: the descriptors are in place; expect the device to refuse (or, where the
 * spec lets a device ignore a bad buffer, at least not to serve garbage). */
static int attack(const char *name, uint16_t head, int avail_jump)
{
    if (avail_jump) {
        avail()[2] = head;
        avail_idx = (uint16_t)(avail_idx + avail_jump);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        avail()[1] = avail_idx;
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        wr(R_QUEUE_NOTIFY, 0);
    } else {
        submit(head);
    }
    uint32_t len = 0;
    enum outcome o = await(&len);
    printf("result: %s: %s\n", name, outcome_name(o));
    fflush(stdout);
    return o == SERVED ? 1 : 0;
}

static int attacks(void)
{
    int bad = valid_request("before");
    struct desc *d = descs();

    setup();
    d[0] = (struct desc){.addr = data_gpa, .len = 16, .flags = D_WRITE | D_NEXT, .next = 1};
    d[1] = (struct desc){.addr = data_gpa + 16, .len = 16, .flags = D_WRITE | D_NEXT, .next = 0};
    bad |= attack("descriptor loop", 0, 0);

    setup();
    for (unsigned i = 0; i < QSIZE; i++) /* the whole table chained, and back to itself */
        d[i] = (struct desc){.addr = data_gpa,
                             .len = 0xffffffffu,
                             .flags = D_WRITE | D_NEXT,
                             .next = (uint16_t)((i + 1) % QSIZE)};
    bad |= attack("huge looping chain", 3, 0);

    setup();
    d[0] = (struct desc){.addr = data_gpa, .len = 16, .flags = D_WRITE | D_NEXT, .next = 200};
    bad |= attack("next beyond the table", 0, 0);

    setup();
    d[0] = (struct desc){.addr = 0xfffffffffffff000ull, .len = 4096, .flags = D_WRITE};
    bad |= attack("buffer outside guest memory", 0, 0);

    setup();
    d[0] = (struct desc){.addr = ring_gpa + 0x7f0, .len = 0x80000000u, .flags = D_WRITE};
    bad |= attack("2 GiB buffer over the rings", 0, 0);

    setup();
    d[0] = (struct desc){.addr = data_gpa, .len = 16, .flags = D_WRITE};
    bad |= attack("available index jumps by 1000", 0, 1000);

    if (indirect) {
        setup();
        struct desc *table = (struct desc *)(data + 0x800);
        table[0] = (struct desc){.addr = data_gpa, .len = 16, .flags = D_WRITE | D_NEXT, .next = 1};
        table[1] = (struct desc){.addr = data_gpa, .len = 16, .flags = D_WRITE | D_NEXT, .next = 0};
        d[0] = (struct desc){
            .addr = data_gpa + 0x800, .len = 2 * sizeof(struct desc), .flags = D_INDIRECT};
        bad |= attack("indirect table that loops", 0, 0);

        setup();
        d[0] = (struct desc){.addr = data_gpa + 0x800, .len = 0xfffffff0u, .flags = D_INDIRECT};
        bad |= attack("indirect table of 4 GiB", 0, 0);

        setup();
        table[0] = (struct desc){.addr = data_gpa + 0x800, .len = 32, .flags = D_INDIRECT};
        d[0] = (struct desc){
            .addr = data_gpa + 0x800, .len = sizeof(struct desc), .flags = D_INDIRECT};
        bad |= attack("indirect table inside an indirect table", 0, 0);
    }
    bad |= valid_request("after");
    return bad;
}

static int fail_loop(long n)
{
    long refused = 0;
    double t0 = now();
    for (long i = 0; i < n; i++) {
        setup();
        descs()[0] =
            (struct desc){.addr = data_gpa, .len = 16, .flags = D_WRITE | D_NEXT, .next = 0};
        submit(0);
        uint32_t len;
        refused += await(&len) == NEEDS_RESET;
    }
    printf("result: fail-loop: %ld of %ld looping chains refused in %.1f s\n", refused, n,
           now() - t0);
    return valid_request("after the fail loop") | (refused != n);
}

static int storm(bool notify, double secs)
{
    setup();
    double end = now() + secs;
    unsigned long n = 0;
    volatile uint32_t sink = 0;
    while ((n & 1023) || now() < end) {
        if (notify)
            wr(R_QUEUE_NOTIFY, 0);
        else
            sink += rd(R_CONFIG_GENERATION);
        n++;
    }
    (void)sink;
    printf("result: %s storm: %lu in %.0f s\n", notify ? "notify" : "register read", n, secs);
    return valid_request(notify ? "after the notify storm" : "after the read storm");
}

int main(int argc, char **argv)
{
    const char *usage = "usage: sm-virtq-hostile [attacks | fail-loop N | notify-storm SECS | "
                        "read-storm SECS]...";
    if (argc < 2)
        die(2, "%s", usage);
    setvbuf(stdout, NULL, _IOLBF, 0);
    char platform[128];
    uint64_t base;
    make_dev_mem();
    find_rng(platform, sizeof(platform));
    if (platform[0]) {
        base = find_window(platform);
        unbind(platform);
    } else if (!map_unbound_rng(platform, sizeof(platform), &base)) {
        die(2, "no virtio-rng device in this guest");
    }
    map_registers(base);
    pin_pages();
    setup();
    printf("driving virtio-rng %s at 0x%" PRIx64 " (rings at 0x%" PRIx64 ", indirect %s)\n",
           platform, base, ring_gpa, indirect ? "offered" : "not offered");
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "attacks") == 0) {
            bad |= attacks();
        } else if (strcmp(argv[i], "fail-loop") == 0 && arg) {
            bad |= fail_loop(atol(arg));
            i++;
        } else if (strcmp(argv[i], "notify-storm") == 0 && arg) {
            bad |= storm(true, atof(arg));
            i++;
        } else if (strcmp(argv[i], "read-storm") == 0 && arg) {
            bad |= storm(false, atof(arg));
            i++;
        } else {
            die(2, "%s", usage);
        }
    }
    printf("result: %s\n",
           bad ? "the device misbehaved" : "every attack refused, the device still serves");
    return bad;
}
