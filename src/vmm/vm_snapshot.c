/* Saving a paused VM to a snapshot directory and creating a VM from one.
 *
 * Save: every vCPU's architectural state, the in-kernel irqchip, PIT and clock, each
 * device's own state struct, and guest RAM into a sparse file (zero pages are holes).
 * Restore: guest RAM is the memory file mapped MAP_PRIVATE, so pages load lazily and
 * copy-on-write, and many clones share the page cache; then the state goes back in the
 * order KVM needs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/trace.h"
#include "common/util.h"
#include "vmm/arch/x86_64/cpu.h"
#include "vmm/snapshot.h"
#include "vmm/vm_internal.h"

#define PAGE 4096ull

struct snap_vcpu {
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_xsave xsave;
    struct kvm_xcrs xcrs;
    struct kvm_lapic_state lapic;
    struct kvm_vcpu_events events;
    struct kvm_mp_state mp_state;
    struct kvm_debugregs debugregs;
    uint32_t tsc_khz;
    uint32_t pad;
};

struct snap_platform {
    uint32_t ged_pending;
    uint32_t pad;
};

static uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int save_vcpu(struct vcpu *v, struct snap_writer *w, uint32_t *tsc_khz, sm_error_t *err)
{
    struct hv_vcpu *h = v->hv;
    struct snap_vcpu s;
    memset(&s, 0, sizeof(s));
    if (hv_x86_get_regs(h, &s.regs, err) < 0 || hv_x86_get_sregs(h, &s.sregs, err) < 0 ||
        hv_x86_get_xsave(h, &s.xsave, err) < 0 || hv_x86_get_xcrs(h, &s.xcrs, err) < 0 ||
        hv_x86_get_lapic(h, &s.lapic, err) < 0 || hv_x86_get_events(h, &s.events, err) < 0 ||
        hv_x86_get_mp_state(h, &s.mp_state, err) < 0 ||
        hv_x86_get_debugregs(h, &s.debugregs, err) < 0 ||
        hv_x86_get_tsc_khz(h, &s.tsc_khz, err) < 0)
        return -1;
    *tsc_khz = s.tsc_khz;
    snap_writer_add(w, SNAP_SEC_VCPU, v->index, &s, sizeof(s));

    uint32_t *idx = NULL, n = 0;
    if (hv_x86_saveable_msrs(h, &idx, &n, err) < 0)
        return -1;
    struct kvm_msr_entry *msrs = xcalloc(n, sizeof(*msrs));
    for (uint32_t i = 0; i < n; i++)
        msrs[i].index = idx[i];
    free(idx);
    int r = hv_x86_get_msrs(h, msrs, n, err);
    if (r == 0)
        snap_writer_add(w, SNAP_SEC_MSRS, v->index, msrs, (uint64_t)n * sizeof(*msrs));
    free(msrs);
    return r;
}

/* Gives back resident zero pages of anonymous guest RAM: a later read of them faults in
 * a fresh zero page, so the guest sees no change. The guest kernel zeroes what it frees
 * (init_on_free=1), its whole RAM once at boot, which left every page resident. */
static void drop_zero_run(struct vm *vm, uint8_t *start, uint64_t len)
{
    if (len && !vm->mem.from_file)
        madvise(start, len, MADV_DONTNEED);
}

/* Writes guest RAM with zero pages left as holes. Pages never touched are not even read:
 * mincore says they are not resident, and an untouched anonymous page is zero. Nothing
 * writes guest memory meanwhile: the vCPUs are paused and vsock and net frozen. */
static int save_memory(struct vm *vm, const char *path, sm_error_t *err)
{
    cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    if (fd < 0)
        return sm_error_set(err, errno, "create %s", path);
    if (ftruncate(fd, (off_t)vm->mem.size) < 0)
        return sm_error_set(err, errno, "size %s", path);
    const uint64_t chunk = 2ull << 20;
    cleanup_free unsigned char *resident = xmalloc(chunk / PAGE);
    static const uint8_t zero[PAGE];
    for (uint64_t off = 0; off < vm->mem.size; off += chunk) {
        uint64_t len = vm->mem.size - off < chunk ? vm->mem.size - off : chunk;
        uint8_t *base = vm->mem.host + off;
        bool know = mincore(base, len, resident) == 0;
        uint64_t run_start = 0, run_len = 0, zero_start = 0, zero_len = 0;
        for (uint64_t p = 0; p < len; p += PAGE) {
            bool in_core = !know || (resident[p / PAGE] & 1);
            bool data = in_core && memcmp(base + p, zero, PAGE) != 0;
            if (in_core && !data) {
                if (zero_len == 0)
                    zero_start = p;
                zero_len += PAGE;
            } else {
                drop_zero_run(vm, base + zero_start, zero_len);
                zero_len = 0;
            }
            if (data) {
                if (run_len == 0)
                    run_start = p;
                run_len += PAGE;
                if (p + PAGE < len)
                    continue;
            }
            if (run_len) {
                if (pwrite(fd, base + run_start, run_len, (off_t)(off + run_start)) !=
                    (ssize_t)run_len)
                    return sm_error_set(err, errno, "write %s", path);
                run_len = 0;
            }
        }
        drop_zero_run(vm, base + zero_start, zero_len);
    }
    if (fsync(fd) < 0)
        return sm_error_set(err, errno, "fsync %s", path);
    return 0;
}

/* vsock and the network have threads of their own that host sockets keep busy: frozen,
 * they leave guest memory and their queues alone (a save writes, a reset reloads them). */
void vm_freeze_devices(struct vm *vm, bool frozen)
{
    if (vm->vsock)
        virtio_vsock_freeze(vm->vsock, frozen);
    if (vm->net)
        virtio_net_freeze(vm->net, frozen);
}

static int fingerprint(struct vm *vm, char out[65], sm_error_t *err)
{
    cleanup_free struct kvm_cpuid2 *supported = NULL;
    if (hv_x86_supported_cpuid(vm->hv, &supported, err) < 0)
        return -1;
    cleanup_free struct kvm_cpuid2 *guest = x86_cpuid_for_vcpu(supported, 0, vm->ncpus);
    return hv_x86_host_fingerprint(vm->hv, guest, out, err);
}

static int remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        cleanup_free char *p = xasprintf("%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    return rmdir(dir);
}

/* The name a snapshot in dir is saved and checked under: dir's last component (a new
 * string; trailing slashes ignored). */
static char *snapshot_name(const char *dir)
{
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    const char *start = dir + len;
    while (start > dir && start[-1] != '/')
        start--;
    return xasprintf("%.*s", (int)(dir + len - start), start);
}

char *vm_snapshot_staging_dir(const char *dir)
{
    return xasprintf("%s.tmp-%d", dir, (int)getpid());
}

/* The staging directory, made now or made empty beforehand. */
static int make_staging_dir(const char *tmp, sm_error_t *err)
{
    if (mkdir(tmp, 0755) == 0)
        return 0;
    int e = errno;
    DIR *d = e == EEXIST ? opendir(tmp) : NULL;
    if (d == NULL)
        return sm_error_set(err, e, "create %s", tmp);
    struct dirent *ent;
    bool empty = true;
    while (empty && (ent = readdir(d)) != NULL)
        empty = strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0;
    closedir(d);
    return empty ? 0 : sm_error_set(err, EEXIST, "create %s", tmp);
}

int vm_snapshot_save(struct vm *vm, const char *dir, sm_error_t *err)
{
    struct stat st;
    cleanup_free char *tmp = vm_snapshot_staging_dir(dir);
    cleanup_free char *name = snapshot_name(dir); /* declared before any goto fail */
    if (stat(dir, &st) == 0) {
        rmdir(tmp); /* made beforehand, and now not needed */
        return sm_error_set(err, EEXIST, "snapshot %s", dir);
    }
    if (make_staging_dir(tmp, err) < 0)
        return -1;

    struct snap_writer w;
    snap_writer_init(&w);
    struct snap_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.ncpus = vm->ncpus;
    cfg.memory_bytes = vm->mem.size;
    cfg.nvirtio = vm->nvirtio;
    cfg.has_disk = vm->disk != NULL;
    memcpy(cfg.kernel_sha256, vm->kernel_sha256, sizeof(cfg.kernel_sha256));
    memcpy(cfg.initrd_sha256, vm->initrd_sha256, sizeof(cfg.initrd_sha256));
    cleanup_free uint8_t *meta = NULL;
    size_t meta_len = 0;
    cleanup_free char *meta_path = xasprintf("%s/%s", tmp, SNAP_META_FILE);
    cleanup_free char *mem_path = xasprintf("%s/%s", tmp, SNAP_MEMORY_FILE);

    /* The vCPUs are paused, but host sockets keep the device thread busy: vsock must not
     * touch guest memory or its queues until the memory file is written. */
    vm_freeze_devices(vm, true);
    if (fingerprint(vm, cfg.host_fingerprint, err) < 0)
        goto fail;
    for (unsigned i = 0; i < vm->ncpus; i++)
        if (save_vcpu(&vm->vcpus[i], &w, &cfg.tsc_khz, err) < 0)
            goto fail;
    struct kvm_irqchip chips[HV_X86_IRQCHIPS];
    struct kvm_pit_state2 pit;
    struct kvm_clock_data clock;
    if (hv_x86_get_irqchip(vm->hv, chips, err) < 0 || hv_x86_get_pit(vm->hv, &pit, err) < 0 ||
        hv_x86_get_clock(vm->hv, &clock, err) < 0)
        goto fail;
    struct snap_clock sclock = {.kvmclock_ns = clock.clock, .host_realtime_ns = realtime_ns()};
    snap_writer_add(&w, SNAP_SEC_IRQCHIP, 0, chips, sizeof(chips));
    snap_writer_add(&w, SNAP_SEC_PIT, 0, &pit, sizeof(pit));
    snap_writer_add(&w, SNAP_SEC_CLOCK, 0, &sclock, sizeof(sclock));
    struct serial_state serial;
    serial_save(&vm->serial, &serial);
    snap_writer_add(&w, SNAP_SEC_DEVICE, SNAP_DEV_SERIAL, &serial, sizeof(serial));
    pthread_mutex_lock(&vm->platform.lock);
    struct snap_platform plat = {.ged_pending = vm->platform.ged_pending};
    pthread_mutex_unlock(&vm->platform.lock);
    snap_writer_add(&w, SNAP_SEC_DEVICE, SNAP_DEV_PLATFORM, &plat, sizeof(plat));
    for (unsigned i = 0; i < vm->nvirtio; i++) {
        pthread_mutex_lock(&vm->virtio[i].lock);
        struct virtio_mmio_state vs = vm->virtio[i].s;
        for (unsigned q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++)
            vs.queues[q] = vm->virtio[i].vq[q].s;
        pthread_mutex_unlock(&vm->virtio[i].lock);
        snap_writer_add(&w, SNAP_SEC_DEVICE, SNAP_DEV_VIRTIO + i, &vs, sizeof(vs));
    }
    if (vm->vsock) {
        struct virtio_vsock_state vss;
        virtio_vsock_save(vm->vsock, &vss);
        snap_writer_add(&w, SNAP_SEC_DEVICE, SNAP_DEV_VSOCK, &vss, sizeof(vss));
    }
    if (vm->net) {
        struct virtio_net_state ns;
        virtio_net_save(vm->net, &ns);
        snap_writer_add(&w, SNAP_SEC_DEVICE, SNAP_DEV_NET, &ns, sizeof(ns));
    }
    snap_writer_add(&w, SNAP_SEC_NAME, 0, name, strlen(name));
    /* The config goes last so that every other section was gathered without error. */
    snap_writer_add(&w, SNAP_SEC_CONFIG, 0, &cfg, sizeof(cfg));
    meta = snap_writer_finish(&w, &meta_len);

    if (save_memory(vm, mem_path, err) < 0)
        goto fail;
    if (sm_write_file_atomic(meta_path, meta, meta_len, 0444, err) < 0)
        goto fail;
    if (rename(tmp, dir) < 0) {
        sm_error_set(err, errno, "rename %s to %s", tmp, dir);
        goto fail;
    }
    vm_freeze_devices(vm, false);
    return 0;
fail:
    vm_freeze_devices(vm, false);
    free(w.buf);
    remove_tree(tmp);
    return sm_error_wrap(err, "save snapshot %s", dir);
}

/* ---- restore ---------------------------------------------------------------- */

static const void *section(const struct snap_section *s, uint32_t n, uint32_t type, uint32_t index,
                           uint64_t len, const char *what, sm_error_t *err)
{
    const struct snap_section *sec = snap_find(s, n, type, index);
    if (sec == NULL) {
        sm_error_set(err, 0, "snapshot metadata: no %s", what);
        return NULL;
    }
    if (len && sec->len != len) {
        sm_error_set(err, 0, "snapshot metadata: %s is %llu bytes, want %llu", what,
                     (unsigned long long)sec->len, (unsigned long long)len);
        return NULL;
    }
    return sec->data;
}

static int restore_vcpu(struct vcpu *v, const struct snap_section *secs, uint32_t n,
                        sm_error_t *err)
{
    struct snap_vcpu s;
    const void *p = section(secs, n, SNAP_SEC_VCPU, v->index, sizeof(s), "vCPU state", err);
    if (p == NULL)
        return -1;
    memcpy(&s, p, sizeof(s));
    const struct snap_section *m = snap_find(secs, n, SNAP_SEC_MSRS, v->index);
    if (m == NULL || m->len % sizeof(struct kvm_msr_entry) != 0)
        return sm_error_set(err, 0, "snapshot metadata: bad MSR list for vCPU %u", v->index);
    uint32_t nmsrs = (uint32_t)(m->len / sizeof(struct kvm_msr_entry));
    cleanup_free struct kvm_msr_entry *msrs = xmalloc(m->len ? m->len : 1);
    memcpy(msrs, m->data, m->len);

    struct hv_vcpu *h = v->hv;
    /* The order KVM needs: the TSC rate before anything derived from it; sregs (CR/EFER,
     * APIC base) before the LAPIC; the LAPIC before MSRs (TSC deadline); events last. */
    s.events.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
    if (hv_x86_set_tsc_khz(h, s.tsc_khz, err) < 0 || hv_x86_set_sregs(h, &s.sregs, err) < 0 ||
        hv_x86_set_regs(h, &s.regs, err) < 0 || hv_x86_set_xsave(h, &s.xsave, err) < 0 ||
        hv_x86_set_xcrs(h, &s.xcrs, err) < 0 || hv_x86_set_lapic(h, &s.lapic, err) < 0 ||
        hv_x86_set_msrs(h, msrs, nmsrs, err) < 0 || hv_x86_set_mp_state(h, &s.mp_state, err) < 0 ||
        hv_x86_set_events(h, &s.events, err) < 0 || hv_x86_set_debugregs(h, &s.debugregs, err) < 0)
        return sm_error_wrap(err, "restore vCPU %u", v->index);
    return 0;
}

static int map_memory_file(struct vm *vm, const char *path, uint64_t size, sm_error_t *err)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sm_error_set(err, errno, "open %s", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return sm_error_set(err, errno, "stat %s", path);
    if ((uint64_t)st.st_size != size)
        return sm_error_set(err, 0, "%s: %llu bytes, the snapshot says %llu (truncated?)", path,
                            (unsigned long long)st.st_size, (unsigned long long)size);
    if (vm_memory_map_file(&vm->mem, fd, size, err) < 0)
        return sm_error_wrap(err, "%s", path);
    if (getenv("SUPERMACHINE_SNAPSHOT_READAHEAD"))
        madvise(vm->mem.host, size, 22 /* MADV_POPULATE_READ */);
    return 0;
}

/* The snapshot in dir was saved as dir's name (vm_config.snapshot_name_checked). */
static int check_name(const struct snap_section *secs, uint32_t n, const char *dir, sm_error_t *err)
{
    cleanup_free char *name = snapshot_name(dir);
    const struct snap_section *s = snap_find(secs, n, SNAP_SEC_NAME, 0);
    if (s == NULL)
        return sm_error_set(err, 0, "snapshot metadata: no name (saved by an older supermachine)");
    if (s->len != strlen(name) || memcmp(s->data, name, s->len) != 0)
        return sm_error_set(err, 0, "snapshot %s was saved under another name", name);
    return 0;
}

/* Everything but memory, from the snapshot's sections into the VM's hypervisor objects
 * and devices: at a restore, into new ones; at a reset, over the running VM's (paused). */
static int load_state(struct vm *vm, const struct snap_section *secs, uint32_t n, sm_error_t *err)
{
    const void *p;
    /* VM-wide state first: interrupt controllers, timer, clock. */
    struct kvm_irqchip chips[HV_X86_IRQCHIPS];
    struct kvm_pit_state2 pit;
    struct snap_clock clock;
    if ((p = section(secs, n, SNAP_SEC_IRQCHIP, 0, sizeof(chips), "irqchip", err)) == NULL)
        return -1;
    memcpy(chips, p, sizeof(chips));
    if ((p = section(secs, n, SNAP_SEC_PIT, 0, sizeof(pit), "PIT", err)) == NULL)
        return -1;
    memcpy(&pit, p, sizeof(pit));
    if ((p = section(secs, n, SNAP_SEC_CLOCK, 0, sizeof(clock), "clock", err)) == NULL)
        return -1;
    memcpy(&clock, p, sizeof(clock));
    if (hv_x86_set_irqchip(vm->hv, chips, err) < 0 || hv_x86_set_pit(vm->hv, &pit, err) < 0)
        return -1;
    for (unsigned i = 0; i < vm->ncpus; i++)
        if (restore_vcpu(&vm->vcpus[i], secs, n, err) < 0)
            return -1;
    /* The guest clock goes on from where it was, moved forward by the wall-clock time the
     * snapshot spent on disk, so the guest's wall clock is right again. */
    uint64_t now = realtime_ns();
    uint64_t passed = now > clock.host_realtime_ns ? now - clock.host_realtime_ns : 0;
    struct kvm_clock_data kc = {.clock = clock.kvmclock_ns + passed};
    if (hv_x86_set_clock(vm->hv, &kc, err) < 0)
        return -1;
    for (unsigned i = 0; i < vm->ncpus; i++)
        if (hv_x86_kvmclock_ctrl(vm->vcpus[i].hv, err) < 0)
            return -1;

    struct serial_state serial;
    if ((p = section(secs, n, SNAP_SEC_DEVICE, SNAP_DEV_SERIAL, sizeof(serial), "serial", err)) ==
        NULL)
        return -1;
    memcpy(&serial, p, sizeof(serial));
    serial_restore(&vm->serial, &serial);
    struct snap_platform plat;
    if ((p = section(secs, n, SNAP_SEC_DEVICE, SNAP_DEV_PLATFORM, sizeof(plat), "platform", err)) ==
        NULL)
        return -1;
    memcpy(&plat, p, sizeof(plat));
    vm->platform.ged_pending = plat.ged_pending;
    /* Every restore is a clone of the snapshot: a new VM generation ID, announced through
     * the GED, has the guest's vmgenid driver reseed its RNG before anything else runs
     * (the agent reseeds again with host entropy at its hello). */
    uint8_t genid[16];
    if (getrandom(genid, sizeof(genid), 0) != (ssize_t)sizeof(genid))
        return sm_error_set(err, errno, "getrandom");
    vm_mem_write(&vm->mem, X86_VMGENID_ADDR, genid, sizeof(genid));
    platform_ged_notify(&vm->platform, X86_GED_EVT_VMGENID);
    for (unsigned i = 0; i < vm->nvirtio; i++) {
        struct virtio_mmio_state vs;
        char what[32];
        snprintf(what, sizeof(what), "virtio device %u", i);
        if ((p = section(secs, n, SNAP_SEC_DEVICE, SNAP_DEV_VIRTIO + i, sizeof(vs), what, err)) ==
            NULL)
            return -1;
        memcpy(&vs, p, sizeof(vs));
        if (virtio_mmio_restore(&vm->virtio[i], &vs, err) < 0)
            return sm_error_wrap(err, "%s", what);
    }
    if (vm->vsock) {
        struct virtio_vsock_state vss;
        if ((p = section(secs, n, SNAP_SEC_DEVICE, SNAP_DEV_VSOCK, sizeof(vss), "vsock", err)) ==
            NULL)
            return -1;
        memcpy(&vss, p, sizeof(vss));
        if (virtio_vsock_restore(vm->vsock, &vss, err) < 0)
            return -1;
    }
    if (vm->net) {
        struct virtio_net_state ns;
        if ((p = section(secs, n, SNAP_SEC_DEVICE, SNAP_DEV_NET, sizeof(ns), "network device",
                         err)) == NULL)
            return -1;
        memcpy(&ns, p, sizeof(ns));
        if (virtio_net_restore(vm->net, &ns, err) < 0)
            return -1;
    }
    /* Requests the guest queued while the snapshot was taken were never seen by the
     * device (it was parked): each device looks at its rings once when the loop starts. */
    for (unsigned i = 0; i < vm->nvirtio; i++)
        if (vm->virtio[i].notify_fd >= 0)
            virtio_mmio_renotify(&vm->virtio[i]);
    return 0;
}

int vm_create_from_snapshot(const struct vm_config *cfg, const char *dir, struct vm **out,
                            sm_error_t *err)
{
    cleanup_free char *meta_path = xasprintf("%s/%s", dir, SNAP_META_FILE);
    cleanup_free char *mem_path = xasprintf("%s/%s", dir, SNAP_MEMORY_FILE);
    cleanup_free char *meta = NULL;
    cleanup_free struct snap_section *secs = NULL;
    size_t meta_len = 0;
    uint32_t n = 0;
    struct vm *vm = NULL;
    if (sm_read_file(meta_path, SNAP_MAX_META, &meta, &meta_len, err) < 0 ||
        snap_parse((const uint8_t *)meta, meta_len, &secs, &n, err) < 0)
        goto fail;
    struct snap_config sc;
    const void *p = section(secs, n, SNAP_SEC_CONFIG, 0, sizeof(sc), "config", err);
    if (p == NULL)
        goto fail;
    memcpy(&sc, p, sizeof(sc));
    sc.host_fingerprint[64] = sc.kernel_sha256[64] = sc.initrd_sha256[64] = '\0';
    if (sc.ncpus < 1 || sc.ncpus > VM_MAX_CPUS || sc.memory_bytes < (VM_MIN_MEMORY_MIB << 20) ||
        sc.memory_bytes > ((uint64_t)VM_MAX_MEMORY_MIB << 20) || sc.memory_bytes % PAGE) {
        sm_error_set(err, 0, "snapshot config out of range (%u vCPUs, %llu bytes)", sc.ncpus,
                     (unsigned long long)sc.memory_bytes);
        goto fail;
    }
    if (cfg->snapshot_name_checked && check_name(secs, n, dir, err) < 0)
        goto fail;
    if (cfg->kernel_path) {
        char sha[65];
        if (sm_sha256_file(cfg->kernel_path, sha, err) < 0)
            goto fail;
        if (strcmp(sha, sc.kernel_sha256) != 0) {
            sm_error_set(err, 0, "snapshot was made with another kernel than %s", cfg->kernel_path);
            goto fail;
        }
    }
    struct vm_config vcfg = *cfg;
    vcfg.ncpus = sc.ncpus;
    vcfg.memory_mib = sc.memory_bytes >> 20;
    vm = vm_alloc(&vcfg, err);
    if (vm == NULL)
        goto fail;
    memcpy(vm->kernel_sha256, sc.kernel_sha256, sizeof(vm->kernel_sha256));
    memcpy(vm->initrd_sha256, sc.initrd_sha256, sizeof(vm->initrd_sha256));
    if (map_memory_file(vm, mem_path, sc.memory_bytes, err) < 0 || vm_add_devices(vm, err) < 0)
        goto fail;
    sm_trace("restore: memory mapped, devices added");
    bool snap_vsock = snap_find(secs, n, SNAP_SEC_DEVICE, SNAP_DEV_VSOCK) != NULL;
    if ((vm->vsock != NULL) != snap_vsock) {
        sm_error_set(err, 0, "snapshot was made %s a vsock device; restore it %s",
                     snap_vsock ? "with" : "without",
                     snap_vsock ? "with a vsock socket path" : "without one");
        goto fail;
    }
    bool snap_net = snap_find(secs, n, SNAP_SEC_DEVICE, SNAP_DEV_NET) != NULL;
    if ((vm->net != NULL) != snap_net) {
        sm_error_set(err, 0, "snapshot was made %s a network device; restore it %s",
                     snap_net ? "with" : "without", snap_net ? "with a network" : "without one");
        goto fail;
    }
    if (vm->nvirtio != sc.nvirtio || (vm->disk != NULL) != (sc.has_disk != 0)) {
        sm_error_set(err, 0, "snapshot was made %s a disk; restore it the same way",
                     sc.has_disk ? "with" : "without");
        goto fail;
    }
    if (vm_setup_hypervisor(vm, err) < 0)
        goto fail;
    sm_trace("restore: hypervisor set up");
    char fp[65];
    if (fingerprint(vm, fp, err) < 0)
        goto fail;
    if (strcmp(fp, sc.host_fingerprint) != 0) {
        sm_error_set(err, 0,
                     "snapshot was made on a host with other CPU features or hypervisor "
                     "(fingerprint %.12s, this host %.12s)",
                     sc.host_fingerprint, fp);
        goto fail;
    }

    sm_trace("restore: fingerprint checked");
    if (load_state(vm, secs, n, err) < 0)
        goto fail;
    sm_trace("restore: state loaded");
    if (cfg->control_path && vm_control_listen(vm, err) < 0)
        goto fail;
    /* Kept for resets: the sections point into the metadata. */
    vm->snap_meta = meta;
    vm->snap_secs = secs;
    vm->snap_nsecs = n;
    meta = NULL;
    secs = NULL;
    *out = vm;
    return 0;
fail:
    vm_destroy(vm);
    return sm_error_wrap(err, "restore %s", dir);
}

int vm_quiesce(struct vm *vm, sm_error_t *err)
{
    if (vm_pause(vm, err) < 0)
        return -1;
    ioloop_pause(&vm->io);
    vm_freeze_devices(vm, true);
    return 0;
}

void vm_quiesce_end(struct vm *vm)
{
    vm_freeze_devices(vm, false);
    ioloop_resume(&vm->io);
}

int vm_reset_to_snapshot(struct vm *vm, sm_error_t *err)
{
    if (vm->snap_secs == NULL || !vm->mem.from_file)
        return sm_error_set(err, ENOTSUP, "reset: this VM was not restored from a snapshot");
    console_flush(&vm->console);
    /* The device thread parked between two requests (so no disk request is half done)
     * and vsock and the network kept off guest memory, as for a save. */
    if (vm_quiesce(vm, err) < 0)
        return sm_error_wrap(err, "reset");
    /* Every page the guest wrote is a private copy of the file's: dropped, the mapping
     * shows the file again, and KVM's own mappings of those pages are invalidated
     * through its MMU notifier. The page cache the clones share is untouched. */
    int r = 0;
    if (madvise(vm->mem.host, vm->mem.size, MADV_DONTNEED) < 0)
        r = sm_error_set(err, errno, "madvise guest memory");
    if (r == 0)
        r = load_state(vm, vm->snap_secs, vm->snap_nsecs, err);
    if (r == 0 && vm->cfg.on_reset)
        r = vm->cfg.on_reset(vm->cfg.reset_opaque, err);
    vm_quiesce_end(vm);
    if (r < 0) {
        sm_error_wrap(err, "reset");
        vm_finish(vm, VM_EXIT_ERROR, "%s", sm_error_message(*err));
        return -1;
    }
    vm_trim_start(vm);
    vm_resume(vm);
    return 0;
}
