/* docker's --restart policies: what is accepted, when a process is started again, and
 * the delays between restarts (docker's: 100 ms doubled up to a minute, reset after a
 * run of 10 s). */
#include "check.h"
#include "runtime/run_restart.h"

int main(void)
{
    struct run_restart r;
    sm_error_t err = NULL;
    CHECK(run_restart_parse(NULL, &r, &err) == 0 && r.kind == RUN_RESTART_NO);
    CHECK(run_restart_parse("no", &r, &err) == 0 && r.kind == RUN_RESTART_NO);
    CHECK(run_restart_parse("always", &r, &err) == 0 && r.kind == RUN_RESTART_ALWAYS);
    CHECK(run_restart_parse("unless-stopped", &r, &err) == 0 &&
          r.kind == RUN_RESTART_UNLESS_STOPPED);
    CHECK(run_restart_parse("on-failure", &r, &err) == 0 && r.kind == RUN_RESTART_ON_FAILURE &&
          r.max_retries == 0);
    CHECK(run_restart_parse("on-failure:3", &r, &err) == 0 && r.max_retries == 3);
    CHECK_STR(run_restart_name(&r), "on-failure");
    static const char *const bad[] = {"",
                                      "sometimes",
                                      "on-failure:",
                                      "on-failure:-1",
                                      "on-failure:x",
                                      "on-failure:3x",
                                      "on-failure:1000001",
                                      "on-failures",
                                      "always:3",
                                      "Always"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(run_restart_parse(bad[i], &r, &err) < 0);
        CHECK(err != NULL && strstr(sm_error_message(err), "--restart") != NULL);
        sm_error_release(&err);
    }

    run_restart_parse("on-failure:2", &r, &err);
    CHECK(run_restart_wanted(&r, 1, 0) && run_restart_wanted(&r, 137, 1));
    CHECK(!run_restart_wanted(&r, 1, 2)); /* MAX reached */
    CHECK(!run_restart_wanted(&r, 0, 0)); /* a success */
    run_restart_parse("on-failure", &r, &err);
    CHECK(run_restart_wanted(&r, 1, 1000000));
    run_restart_parse("always", &r, &err);
    CHECK(run_restart_wanted(&r, 0, 5) && run_restart_wanted(&r, 143, 5));
    run_restart_parse("no", &r, &err);
    CHECK(!run_restart_wanted(&r, 1, 0));

    unsigned delay = 0;
    CHECK(run_restart_delay_ms(&delay, 5) == 100);
    CHECK(run_restart_delay_ms(&delay, 5) == 200);
    CHECK(run_restart_delay_ms(&delay, 5) == 400);
    for (int i = 0; i < 20; i++)
        run_restart_delay_ms(&delay, 5);
    CHECK(delay == 60000);                             /* capped at a minute */
    CHECK(run_restart_delay_ms(&delay, 10000) == 100); /* ran 10 s: starts over */
    return check_summary("run_restart");
}
