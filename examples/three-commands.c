/* Starts a VM from an image, writes a file into it, runs three commands, reads a file
 * back, stops it.
 * Uses only the public API (include/supermachine.h); build against the installed library:
 *
 *   cc three-commands.c $(pkg-config --cflags --libs supermachine) -o three-commands
 *   ./three-commands busybox:latest
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <supermachine.h>

static int fail(sm_error_t *err)
{
    fprintf(stderr, "three-commands: %s\n", sm_error_message(*err));
    sm_error_release(err);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s IMAGE\n", argv[0]);
        return 2;
    }
    sm_error_t err = NULL;
    /* A VM that keeps running (detached) until we stop it. */
    const char *const keep_alive[] = {"sleep", "3600", NULL};
    struct sm_run_options run = {
        .image = argv[1],
        .cmd = keep_alive,
        .detach = 1,
        .stdin_fd = -1,
        .stdout_fd = -1,
        .stderr_fd = -1,
    };
    char *id = NULL;
    int status = 0;
    if (sm_run(&run, &id, &status, &err) < 0)
        return fail(&err);
    printf("VM %.12s is running\n", id);

    /* A file from the host, then three commands; the last leaves a file we read back. */
    const char greeting[] = "hello from the host\n";
    if (sm_vm_write_file(id, "/tmp/greeting", greeting, sizeof(greeting) - 1, 0644, &err) < 0)
        return fail(&err);
    const char *const *commands[] = {
        (const char *const[]){"uname", "-a", NULL},
        (const char *const[]){"cat", "/tmp/greeting", NULL},
        (const char *const[]){"sh", "-c", "echo written-in-the-guest > /tmp/note", NULL},
    };
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        struct sm_process_stats stats;
        struct sm_exec_options ex = {
            .argv = commands[i], .stdin_fd = -1, .stdout_fd = 1, .stderr_fd = 2, .stats = &stats};
        if (sm_vm_exec(id, &ex, &status, &err) < 0)
            return fail(&err);
        printf("-> %s exited %d (%lld ms, peak RSS %lld KiB)\n", commands[i][0], status,
               (long long)stats.duration_ms, (long long)stats.peak_rss_kib);
    }
    void *note = NULL;
    size_t len = 0;
    if (sm_vm_read_file(id, "/tmp/note", 1 << 20, &note, &len, &err) < 0)
        return fail(&err);
    printf("read back: %s", (char *)note);
    free(note);
    if (sm_vm_stop(id, 5, &err) < 0 || sm_vm_remove(id, 0, &err) < 0)
        return fail(&err);
    free(id);
    return 0;
}
