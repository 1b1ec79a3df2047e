/* The guest's network (docs/networking.md): loopback always; eth0 with the addresses the
 * host put on the command line (sm.ip, sm.gw, sm.ip6, sm.gw6) when it gave the VM a
 * network device. Static, with ioctls: no DHCP to wait for, no tool in the image needed,
 * and done before "init ready" so that every snapshot has it. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "guest.h"

/* struct in6_ifreq of linux/ipv6.h, which does not mix with glibc's headers. */
struct guest_in6_ifreq {
    struct in6_addr addr;
    uint32_t prefixlen;
    int ifindex;
};

static int if_up(int fd, const char *name)
{
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
        return -1;
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    return ioctl(fd, SIOCSIFFLAGS, &ifr);
}

static void write_sysctl(const char *path, const char *value)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t w = write(fd, value, strlen(value));
    (void)w;
    close(fd);
}

/* "10.0.2.15/24" -> address and prefix length. */
static int parse_cidr(const char *text, int family, void *addr, unsigned *prefix)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", text);
    char *slash = strchr(buf, '/');
    *prefix = family == AF_INET ? 32 : 128;
    if (slash) {
        *slash = '\0';
        char *end;
        unsigned long p = strtoul(slash + 1, &end, 10);
        if (*end || p > *prefix)
            return -1;
        *prefix = (unsigned)p;
    }
    return inet_pton(family, buf, addr) == 1 ? 0 : -1;
}

static int setup_ipv4(int fd, const char *ip, const char *gw)
{
    struct in_addr a, g;
    unsigned prefix;
    if (parse_cidr(ip, AF_INET, &a, &prefix) < 0)
        return errno = EINVAL, -1;
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "eth0");
    struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
    sin->sin_family = AF_INET;
    sin->sin_addr = a;
    if (ioctl(fd, SIOCSIFADDR, &ifr) < 0)
        return -1;
    sin->sin_addr.s_addr = prefix ? htonl(~0u << (32 - prefix)) : 0;
    if (ioctl(fd, SIOCSIFNETMASK, &ifr) < 0 || if_up(fd, "eth0") < 0)
        return -1;
    if (gw == NULL)
        return 0;
    if (inet_pton(AF_INET, gw, &g) != 1)
        return errno = EINVAL, -1;
    struct rtentry rt = {0};
    struct sockaddr_in *dst = (struct sockaddr_in *)&rt.rt_dst,
                       *gate = (struct sockaddr_in *)&rt.rt_gateway,
                       *mask = (struct sockaddr_in *)&rt.rt_genmask;
    dst->sin_family = gate->sin_family = mask->sin_family = AF_INET;
    gate->sin_addr = g;
    rt.rt_flags = RTF_UP | RTF_GATEWAY;
    return ioctl(fd, SIOCADDRT, &rt);
}

static int setup_ipv6(const char *ip, const char *gw)
{
    struct guest_in6_ifreq r = {0};
    unsigned prefix;
    if (parse_cidr(ip, AF_INET6, &r.addr, &prefix) < 0)
        return errno = EINVAL, -1;
    int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    r.prefixlen = prefix;
    r.ifindex = (int)if_nametoindex("eth0");
    int rc = ioctl(fd, SIOCSIFADDR, &r);
    if (rc == 0 && gw) {
        struct in6_rtmsg rt = {0};
        if (inet_pton(AF_INET6, gw, &rt.rtmsg_gateway) != 1) {
            close(fd);
            return errno = EINVAL, -1;
        }
        rt.rtmsg_flags = RTF_UP | RTF_GATEWAY;
        rt.rtmsg_metric = 1;
        rt.rtmsg_ifindex = r.ifindex;
        rc = ioctl(fd, SIOCADDRT, &rt);
    }
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

static bool eth0_operstate_up(void)
{
    char state[16] = "";
    int fd = open("/sys/class/net/eth0/operstate", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t r = read(fd, state, sizeof(state) - 1);
    close(fd);
    return r >= 2 && strncmp(state, "up", 2) == 0;
}

/* Whether eth0 has its IPv6 link-local address, no longer tentative, which the kernel adds
 * only once it has handled the link's coming up (/proc/net/if_inet6: address, index,
 * prefix length, scope, flags, name; scope 20 is link-local, flag 40 tentative). Without
 * IPv6 there is nothing to wait for. */
static bool eth0_link_local_done(void)
{
    FILE *f = fopen("/proc/net/if_inet6", "re");
    if (f == NULL)
        return true;
    char line[128];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        unsigned scope, flags;
        char name[IF_NAMESIZE + 1];
        if (sscanf(line, "%*32s %*x %*x %x %x %16s", &scope, &flags, name) == 3)
            found = scope == 0x20 && !(flags & 0x40) && strcmp(name, "eth0") == 0;
    }
    fclose(f);
    return found;
}

/* The kernel announces a link that comes up through its linkwatch work, which it runs at
 * most once a second: eth0 can be up with its addresses for most of a second before the
 * kernel has handled the event (its operstate, the IPv6 link-local address, the routes,
 * the multicast reports). A snapshot taken before that makes every clone of it do that
 * work after its restore, on its first request: about 160 first touches of guest memory,
 * and pages the clone then no longer shares. So a boot that will be snapshotted waits for
 * it, bounded; only that boot pays. */
static void wait_for_link_settled(void)
{
    uint64_t deadline = guest_mono_ns() + 3000000000u;
    while (!(eth0_operstate_up() && eth0_link_local_done())) {
        if (guest_mono_ns() >= deadline) {
            guest_log("network: eth0 not announced after 3 s, snapshotted as it is");
            return;
        }
        usleep(5000);
    }
    /* The multicast reports the new addresses send are repeated once after
     * mldv2_unsolicited_report_interval, set short below: let that pass too. */
    usleep(30000);
}

void guest_net_setup(const char *ip, const char *gw, const char *ip6, const char *gw6, bool settle)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        guest_log("network: socket: %s", strerror(errno));
        return;
    }
    /* Loopback: up gives it 127.0.0.1 and ::1. */
    if (if_up(fd, "lo") < 0)
        guest_log("network: lo: %s", strerror(errno));
    if (ip == NULL) {
        close(fd);
        return;
    }
    /* The driver probes asynchronously after its module loads. */
    for (int i = 0; i < 500 && if_nametoindex("eth0") == 0; i++)
        usleep(10000);
    if (if_nametoindex("eth0") == 0) {
        guest_log("network: no eth0 appeared");
        close(fd);
        return;
    }
    /* Static addresses: no router advertisements (the host's stack sends them), and no
     * duplicate address detection, which would hold the IPv6 address back for a second
     * on a link where nobody else can be. */
    write_sysctl("/proc/sys/net/ipv6/conf/eth0/accept_ra", "0");
    write_sysctl("/proc/sys/net/ipv6/conf/eth0/accept_dad", "0");
    write_sysctl("/proc/sys/net/ipv6/conf/eth0/autoconf", "0");
    /* The unsolicited MLD report's repetition, 1 s by default: the only listener on this
     * link is the host's network stack, and a repetition still pending at a snapshot
     * would be sent by every clone. */
    write_sysctl("/proc/sys/net/ipv6/conf/eth0/mldv2_unsolicited_report_interval", "10");
    write_sysctl("/proc/sys/net/ipv6/conf/eth0/mldv1_unsolicited_report_interval", "10");
    if (setup_ipv4(fd, ip, gw) < 0)
        guest_log("network: eth0 %s via %s: %s", ip, gw ? gw : "-", strerror(errno));
    if (ip6 && setup_ipv6(ip6, gw6) < 0)
        guest_log("network: eth0 %s via %s: %s", ip6, gw6 ? gw6 : "-", strerror(errno));
    close(fd);
    if (settle)
        wait_for_link_settled();
}
