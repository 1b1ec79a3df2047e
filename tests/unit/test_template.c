/* docker's --format: the Go template engine (src/cli/template*.c) over inspect JSON of the
 * shape sm_vm_inspect writes (src/runtime/vm_inspect.c), docker's tabwriter, ages and the
 * list formatter of ps and images (src/cli/format.c). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "cli/commands.h"
#include "cli/template.h"

/* A VM's record as sm_vm_inspect makes it: docker's keys in docker's order. */
static const char vm_json[] =
    "{\"Id\": \"3f9c2a1b7d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8\","
    " \"Name\": \"web\", \"Created\": \"2026-12-07T10:00:00Z\", \"Image\": \"busybox:latest\","
    " \"ImageDigest\": \"sha256:0123456789abcdef\", \"Command\": \"httpd -f -p 8080\","
    " \"State\": {\"Status\": \"running\", \"Running\": true, \"ExitCode\": 0, \"Pid\": 4242,"
    "   \"FinishedAt\": \"0001-01-01T00:00:00Z\"},"
    " \"Config\": {\"Hostname\": \"3f9c2a1b7d4e\", \"Image\": \"busybox:latest\","
    "   \"StopSignal\": \"SIGQUIT\", \"StopTimeout\": 30,"
    "   \"Labels\": {\"team\": \"core\", \"org.example.origin\": \"ci\"}},"
    " \"HostConfig\": {\"AutoRemove\": false, \"ExtraHosts\": [\"db:10.0.0.5\", "
    "\"cache:10.0.0.6\"],"
    "   \"ReadonlyRootfs\": true, \"ShmSize\": 0, \"Tmpfs\": null, \"Dns\": [], \"DnsSearch\": [],"
    "   \"DnsOptions\": [], \"Cpus\": 2, \"MemoryMiB\": 512, \"NetworkMode\": \"user\"},"
    " \"NetworkSettings\": {\"Ports\": {\"80/tcp\": [{\"HostIp\": \"0.0.0.0\", \"HostPort\": "
    "\"8080\"}, {\"HostIp\": \"::\", \"HostPort\": \"8081\"}], \"53/udp\": [{\"HostIp\": "
    "\"127.0.0.1\", \"HostPort\": \"5353\"}]}},"
    " \"MemoryPssKiB\": 24002}";

/* Values of every JSON kind, for the printing rules. */
static const char values_json[] =
    "{\"half\": 1.5, \"million\": 1000000.0, \"three\": 3.0, \"small\": 0.0001, \"tiny\": 0.00001,"
    " \"big\": 123456.0, \"bigger\": 1234567.0, \"neg\": -2, \"yes\": true, \"no\": false,"
    " \"nothing\": null, \"mixed\": [1, \"a\", true, null, [2, 3], {\"k\": \"v\"}],"
    " \"empty\": [], \"nomap\": {}, \"text\": \"x\\ty\", \"deep\": {\"a\": {\"b\": {\"c\": 7}}}}";

static json_object *vm, *values;

/* The template's output for data, or "ERR: " and its error. */
static char *run(const char *text, json_object *data, unsigned flags)
{
    char err[512];
    struct cli_template *t = cli_template_parse(text, err, sizeof(err));
    char *out = NULL;
    if (t == NULL) {
        if (asprintf(&out, "PARSE: %s", err) < 0)
            abort();
        return out;
    }
    struct cli_template_buf b = {0};
    if (cli_template_exec(t, data, flags, &b, err, sizeof(err)) < 0) {
        if (asprintf(&out, "ERR: %s", err) < 0)
            abort();
        cli_template_buf_free(&b);
    } else {
        out = b.data ? b.data : strdup("");
    }
    cli_template_free(t);
    return out;
}

#define EXPECT(text, data, want)                                                                   \
    do {                                                                                           \
        char *got_ = run(text, data, 0);                                                           \
        CHECK_STR(got_, want);                                                                     \
        free(got_);                                                                                \
    } while (0)

/* An error: the output starts with what (PARSE: or ERR:) and contains part. */
#define EXPECT_FAIL(text, data, what, part)                                                        \
    do {                                                                                           \
        char *got_ = run(text, data, 0);                                                           \
        check_count++;                                                                             \
        if (strncmp(got_, what, strlen(what)) != 0 || strstr(got_, part) == NULL) {                \
            check_failures++;                                                                      \
            fprintf(stderr, "%s:%d: %s: want %s ...%s..., got \"%s\"\n", __FILE__, __LINE__, text, \
                    what, part, got_);                                                             \
        }                                                                                          \
        free(got_);                                                                                \
    } while (0)

/* What docker users write against inspect. */
static void test_docker_scripts(void)
{
    EXPECT("{{.State.ExitCode}}", vm, "0");
    EXPECT("{{.State.Pid}} {{.State.Running}} {{.Name}}", vm, "4242 true web");
    EXPECT("{{json .State}}", vm,
           "{\"Status\":\"running\",\"Running\":true,\"ExitCode\":0,\"Pid\":4242,"
           "\"FinishedAt\":\"0001-01-01T00:00:00Z\"}");
    EXPECT("{{json .Config.Labels}}", vm, "{\"team\":\"core\",\"org.example.origin\":\"ci\"}");
    EXPECT("{{json .HostConfig.Tmpfs}} {{json .Name}} {{json .Nope}}", vm, "null \"web\" null");
    EXPECT("{{range $p, $b := .NetworkSettings.Ports}}{{$p}} -> {{(index $b 0).HostPort}}\n{{end}}",
           vm, "53/udp -> 5353\n80/tcp -> 8080\n");
    EXPECT("{{range $p, $conf := .NetworkSettings.Ports}} {{$p}} -> {{(index $conf 0).HostIp}}"
           "{{end}}",
           vm, " 53/udp -> 127.0.0.1 80/tcp -> 0.0.0.0");
    EXPECT("{{(index (index .NetworkSettings.Ports \"80/tcp\") 1).HostPort}}", vm, "8081");
    EXPECT("{{index .NetworkSettings.Ports \"80/tcp\" 1 \"HostIp\"}}", vm, "::");
    EXPECT("{{if eq .State.Status \"running\"}}up{{end}}", vm, "up");
    EXPECT(
        "{{if eq .State.Status \"exited\"}}down{{else if .State.Running}}running{{else}}?{{end}}",
        vm, "running");
    EXPECT("{{if ne .State.Status \"running\"}}a{{else if eq .Name \"x\"}}b{{else}}c{{end}}", vm,
           "c");
    EXPECT("{{index .Config.Labels \"team\"}}|{{index .Config.Labels \"absent\"}}|", vm, "core||");
    EXPECT("{{.Config.Labels.team}} {{.Config.Labels.absent}}", vm, "core <no value>");
    EXPECT("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}", vm,
           "org.example.origin=ci;team=core;");
    EXPECT("{{with .Config.StopSignal}}signal {{.}}{{else}}none{{end}}", vm, "signal SIGQUIT");
    EXPECT("{{with .State.Health}}{{.Status}}{{else}}no health{{end}}", vm, "no health");
    EXPECT("{{join .HostConfig.ExtraHosts \",\"}}", vm, "db:10.0.0.5,cache:10.0.0.6");
    EXPECT("{{range .HostConfig.ExtraHosts}}{{$.Name}}:{{.}} {{end}}", vm,
           "web:db:10.0.0.5 web:cache:10.0.0.6 ");
    EXPECT("{{range .HostConfig.Dns}}{{.}}{{else}}no dns{{end}}", vm, "no dns");
    EXPECT("{{len .NetworkSettings.Ports}} {{len .HostConfig.ExtraHosts}} {{len .Name}}", vm,
           "2 2 3");
    EXPECT("{{.Name | printf \"%s!\"}} {{.Name | upper | printf \"<%s>\"}}", vm, "web! <WEB>");
    EXPECT("{{printf \"%-8s|%5d|%q\" .Name .HostConfig.MemoryMiB .Command}}", vm,
           "web     |  512|\"httpd -f -p 8080\"");
    EXPECT("{{.HostConfig.ExtraHosts}} {{.HostConfig.Dns}} {{.HostConfig.Tmpfs}}", vm,
           "[db:10.0.0.5 cache:10.0.0.6] [] <nil>");
    EXPECT("{{.Config.Labels}}", vm, "map[org.example.origin:ci team:core]");
    EXPECT("{{.NetworkSettings.Ports}}", vm,
           "map[53/udp:[map[HostIp:127.0.0.1 HostPort:5353]] 80/tcp:[map[HostIp:0.0.0.0 "
           "HostPort:8080] map[HostIp::: HostPort:8081]]]");
    EXPECT("{{.State.Missing}} {{.Nope.Deeper}}", vm, "<no value> <no value>");
    EXPECT("{{$.Id | printf \"%.12s\"}}", vm, "3f9c2a1b7d4e");
}

static void test_syntax(void)
{
    /* text, trimming, comments: \t in text is not special in Go (inspect keeps it) */
    EXPECT("a\\tb {{.Name}}\n", vm, "a\\tb web\n");
    EXPECT("a  \n {{- .Name -}} \n  b", vm, "awebb");
    EXPECT("{{- /* a comment */ -}} x {{/* another */}}y", vm, "x y");
    EXPECT("[{{-3}}]", vm, "[-3]");
    EXPECT("plain text", vm, "plain text");
    EXPECT("", vm, "");
    /* literals */
    EXPECT("{{\"a\\tb\\u00e9\\x41\\101\\\\\\\"\"}}", vm,
           "a\tb\xc3\xa9"
           "AA\\\"");
    EXPECT("{{`raw \\t {{ }}`}}", vm, "raw \\t {{ }}");
    EXPECT("{{42}} {{-7}} {{0x10}} {{1.5}} {{true}} {{false}} {{'a'}}", vm,
           "42 -7 16 1.5 true false 97");
    /* . and $ and variables */
    EXPECT("{{with .State}}{{.Status}} {{$.Name}}{{end}}", vm, "running web");
    EXPECT("{{$x := .Name}}{{$x}}-{{$x | len}}", vm, "web-3");
    EXPECT("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", vm, "2");
    EXPECT("{{$s := .State}}{{$s.Status}} {{$s.Pid}}", vm, "running 4242");
    EXPECT("{{if $r := .State.Running}}{{$r}}{{end}}", vm, "true");
    EXPECT("{{with $h := .Config.Hostname}}{{$h}}{{end}}", vm, "3f9c2a1b7d4e");
    /* range: arrays, objects (sorted keys), integers, $i and $v, break and continue */
    EXPECT("{{range $i, $v := split \"a b c\" \" \"}}{{$i}}={{$v}} {{end}}", vm, "0=a 1=b 2=c ");
    EXPECT("{{range $v := .HostConfig.ExtraHosts}}<{{$v}}>{{end}}", vm,
           "<db:10.0.0.5><cache:10.0.0.6>");
    EXPECT("{{range .State}}{{.}},{{end}}", vm, "0,0001-01-01T00:00:00Z,4242,true,running,");
    EXPECT("{{range 3}}{{.}}{{end}}", vm, "012");
    EXPECT("{{range $i, $e := split \"a b c d\" \" \"}}{{if eq $i 2}}{{break}}{{end}}{{$e}}{{end}}",
           vm, "ab");
    EXPECT("{{range split \"a b c\" \" \"}}{{if eq . \"b\"}}{{continue}}{{end}}{{.}}{{end}}", vm,
           "ac");
    EXPECT("{{range .Nope}}x{{else}}nothing{{end}} {{range .HostConfig.Tmpfs}}x{{else}}null{{end}}",
           vm, "nothing null");
    EXPECT("{{range .Config.Labels}}{{.}} {{end}}", vm, "ci core ");
    /* pipelines and parentheses */
    EXPECT("{{\"abc\" | upper | printf \"%s-%s\" \"x\"}}", vm, "x-ABC");
    EXPECT("{{(len .Name) | printf \"%03d\"}}", vm, "003");
    EXPECT("{{if and (eq .State.ExitCode 0) (not .HostConfig.AutoRemove)}}kept{{end}}", vm, "kept");
}

static void test_functions(void)
{
    /* and, or: Go's deciding value */
    EXPECT("{{and 1 0 2}} {{and 1 2}} {{or 0 \"\" \"x\"}} {{or 0 \"\"}}|", vm, "0 2 x |");
    EXPECT("{{or .Nope \"default\"}} {{and .Nope 1}}", vm, "default <nil>");
    EXPECT("{{not .State.Running}} {{not 0}} {{not \"\"}} {{not .HostConfig.Dns}}", vm,
           "false true true true");
    /* comparisons */
    EXPECT("{{eq .State.ExitCode 1 0}} {{eq \"a\" \"b\" \"c\"}} {{eq .Nope .HostConfig.Tmpfs}}", vm,
           "true false true");
    EXPECT("{{eq .Nope \"x\"}} {{ne 1 2}} {{eq 1 1.0}}", vm, "false true true");
    EXPECT("{{lt 1 2}} {{le 2 2}} {{gt \"b\" \"a\"}} {{ge 1.5 2}} {{lt \"ab\" \"abc\"}}", vm,
           "true true true false true");
    /* strings */
    EXPECT("{{upper \"abc\"}} {{lower \"ABC Déf\"}} {{title \"hello wide-world_x 2nd\"}}", vm,
           "ABC abc d\xc3\xa9"
           "f Hello Wide-World_x 2nd");
    EXPECT("{{split \"a,b,,c,\" \",\"}} {{len (split \"\" \",\")}} {{split \"h\xc3\xa9\" \"\"}}",
           vm, "[a b  c ] 1 [h \xc3\xa9]");
    EXPECT("{{join (split \"a b c\" \" \") \"+\"}} {{join .Nope \",\"}}|", vm, "a+b+c |");
    EXPECT("[{{pad \"x\" 2 1}}][{{pad \"\" 2 1}}] {{truncate \"h\xc3\xa9llo\" 2}}", vm,
           "[  x ][] h\xc3\xa9");
    /* print, println */
    EXPECT("{{print 1 2 \"a\" \"b\" 3 .State.Running}}", vm, "1 2ab3 true");
    EXPECT("{{println \"a\" 1}}", vm, "a 1\n");
    EXPECT("{{print .HostConfig.Tmpfs .Nope}}", vm, "<nil> <nil>");
    /* printf */
    EXPECT("{{printf \"%5d|%-5d|%05d|%+d|%x|%X|%o|%b|%c\" 42 42 -42 42 255 255 8 5 0x263A}}", vm,
           "   42|42   |-0042|+42|ff|FF|10|101|\xe2\x98\xba");
    EXPECT("{{printf \"%s|%10s|%-4s|%.2s|%q|%v|%t|%%\" \"a\" \"right\" \"l\" \"abc\" \"a\\\"b\\n\" "
           ".State.Running false}}",
           vm, "a|     right|l   |ab|\"a\\\"b\\n\"|true|false|%");
    EXPECT("{{printf \"%v %v %.2f %6.1f %e %g\" 1.5 .HostConfig.ExtraHosts 3.14159 2.5 1000.0 "
           "0.5}}",
           vm, "1.5 [db:10.0.0.5 cache:10.0.0.6] 3.14    2.5 1.000000e+03 0.5");
    EXPECT("{{printf \"%d %s %t\" \"x\" 5 1}}", vm, "%!d(string=x) %!s(int=5) %!t(int=1)");
    EXPECT("{{printf \"%s %d\" .Nope}}", vm, "%!s(<nil>) %!d(MISSING)");
    EXPECT("{{printf \"a\" 1 \"b\"}}", vm, "a%!(EXTRA int=1, string=b)");
    EXPECT("{{printf \"%\"}}|{{printf \"%99999999d\" 1}}", vm, "%!(NOVERB)|%!(BADWIDTH)");
    EXPECT("{{printf \"%q %x %c|\" 'x' \"hi\" -1}}", vm, "'x' 6869 \xef\xbf\xbd|");
    /* index and len */
    EXPECT("{{index .HostConfig.ExtraHosts 1}} {{index .Name 0}} {{index .Config.Labels \"x\"}}|",
           vm, "cache:10.0.0.6 119 |");
    EXPECT("{{index .State}} {{len .Config.Labels}} {{len \"h\xc3\xa9\"}}", vm,
           "map[ExitCode:0 FinishedAt:0001-01-01T00:00:00Z Pid:4242 Running:true "
           "Status:running] 2 3");
    /* json of every kind */
    EXPECT("{{json .HostConfig.ExtraHosts}} {{json 1}} {{json \"a/b\"}} {{json true}}", vm,
           "[\"db:10.0.0.5\",\"cache:10.0.0.6\"] 1 \"a/b\" true");
}

/* Go's %v: what an action prints for each kind of value. */
static void test_printing(void)
{
    EXPECT("{{.half}} {{.million}} {{.three}} {{.small}} {{.tiny}} {{.big}} {{.bigger}}", values,
           "1.5 1e+06 3 0.0001 1e-05 123456 1.234567e+06");
    EXPECT("{{.neg}} {{.yes}} {{.no}} {{.nothing}} {{.absent}}", values,
           "-2 true false <nil> <no value>");
    EXPECT("{{.mixed}}", values, "[1 a true <nil> [2 3] map[k:v]]");
    EXPECT("{{.empty}} {{.nomap}} {{.text}}", values, "[] map[] x\ty");
    EXPECT("{{.deep}} {{.deep.a.b.c}}", values, "map[a:map[b:map[c:7]]] 7");
    EXPECT("{{0.1}} {{100000.0}} {{1e21}} {{-0.5}}", values, "0.1 100000 1e+21 -0.5");
}

static void test_errors(void)
{
    /* parse errors: before any output, naming the text */
    EXPECT_FAIL("{{.Name", vm, "PARSE:", "at '{{.Name': unclosed action");
    EXPECT_FAIL("x {{foo .X}}", vm, "PARSE:", "at '{{foo .X}}': function \"foo\" not defined");
    EXPECT_FAIL("{{end}}", vm, "PARSE:", "unexpected {{end}}");
    EXPECT_FAIL("a{{else}}b", vm, "PARSE:", "unexpected {{else}}");
    EXPECT_FAIL("{{if .X}}a", vm,
                "PARSE:", "at '{{if .X}}': unexpected EOF: {{if}} without {{end}}");
    EXPECT_FAIL("{{range .X}}a{{else}}b{{else}}c{{end}}", vm, "PARSE:", "{{else}} after {{else}}");
    EXPECT_FAIL("{{html .X}}", vm, "PARSE:", "function \"html\" is not supported");
    EXPECT_FAIL("{{template \"x\"}}", vm, "PARSE:", "{{template}} is not supported");
    EXPECT_FAIL("{{define \"x\"}}{{end}}", vm, "PARSE:", "{{define}} is not supported");
    EXPECT_FAIL("{{$x}}", vm, "PARSE:", "undefined variable \"$x\"");
    EXPECT_FAIL("{{if 1}}{{$y := 1}}{{end}}{{$y}}", vm, "PARSE:", "undefined variable \"$y\"");
    EXPECT_FAIL("{{$z = 1}}", vm, "PARSE:", "undefined variable \"$z\"");
    EXPECT_FAIL("{{break}}", vm, "PARSE:", "{{break}} outside {{range}}");
    EXPECT_FAIL("{{len}}", vm, "PARSE:", "wrong number of args for len: want 1 got 0");
    EXPECT_FAIL("{{eq 1}}", vm, "PARSE:", "wrong number of args for eq: want at least 2 got 1");
    EXPECT_FAIL("{{.Name | len 1}}", vm, "PARSE:", "wrong number of args for len");
    EXPECT_FAIL("{{.A 1}}", vm, "PARSE:", "can't give argument to non-function .A");
    EXPECT_FAIL("{{.A | .B}}", vm, "PARSE:", "can't give argument to non-function .B");
    EXPECT_FAIL("{{3 4}}", vm, "PARSE:", "can't give argument to non-function 3");
    EXPECT_FAIL("{{\"abc}}", vm, "PARSE:", "unterminated quoted string");
    EXPECT_FAIL("{{`abc}}", vm, "PARSE:", "unterminated raw quoted string");
    EXPECT_FAIL("{{\"\\q\"}}", vm, "PARSE:", "invalid escape");
    EXPECT_FAIL("{{(.A}}", vm, "PARSE:", "unclosed left paren");
    EXPECT_FAIL("{{.A)}}", vm, "PARSE:", "unexpected ')' in command");
    EXPECT_FAIL("{{.A\"x\"}}", vm, "PARSE:", "missing space");
    EXPECT_FAIL("{{nil}}", vm, "PARSE:", "nil is not a command");
    EXPECT_FAIL("{{1.2.3}}", vm, "PARSE:", "bad number syntax");
    EXPECT_FAIL("{{@}}", vm, "PARSE:", "unexpected character");
    EXPECT_FAIL("{{}}", vm, "PARSE:", "missing value for command");
    EXPECT_FAIL("{{/* open", vm, "PARSE:", "unclosed comment");
    EXPECT_FAIL("{{\"x\".Y}}", vm, "PARSE:", "unexpected '.Y'");
    EXPECT_FAIL("{{range $i, $v, $w := .}}{{end}}", vm, "PARSE:", "");
    /* nesting and length bounds */
    char deep[4096] = "";
    for (int i = 0; i <= CLI_TEMPLATE_MAX_DEPTH; i++)
        strcat(deep, "{{if 1}}");
    EXPECT_FAIL(deep, vm, "PARSE:", "nested deeper than 64");
    strcpy(deep, "{{");
    for (int i = 0; i <= CLI_TEMPLATE_MAX_DEPTH; i++)
        strcat(deep, "(");
    EXPECT_FAIL(deep, vm, "PARSE:", "nested deeper than 64");
    char *shallow = calloc(1, 4096);
    for (int i = 0; i < CLI_TEMPLATE_MAX_DEPTH; i++)
        strcat(shallow, "{{with .}}");
    strcat(shallow, "{{.Name}}");
    for (int i = 0; i < CLI_TEMPLATE_MAX_DEPTH; i++)
        strcat(shallow, "{{end}}");
    EXPECT(shallow, vm, "web");
    free(shallow);
    char *huge = malloc(CLI_TEMPLATE_MAX_TEXT + 2);
    memset(huge, 'x', CLI_TEMPLATE_MAX_TEXT + 1);
    huge[CLI_TEMPLATE_MAX_TEXT + 1] = '\0';
    EXPECT_FAIL(huge, vm, "PARSE:", "longer than 65536 bytes");
    free(huge);

    /* execution errors: one line naming the action */
    EXPECT_FAIL("{{.State.Status.X}}", vm,
                "ERR:", "executing at <.State.Status.X>: can't evaluate field X in a string");
    EXPECT_FAIL("{{.HostConfig.Tmpfs.X}}", vm, "ERR:", "can't evaluate field X in null");
    EXPECT_FAIL("{{.HostConfig.Dns.X}}", vm, "ERR:", "can't evaluate field X in an array");
    EXPECT_FAIL("{{index .HostConfig.ExtraHosts 5}}", vm, "ERR:",
                "executing at <index .HostConfig.ExtraHosts 5>: error calling index: index out "
                "of range: 5");
    EXPECT_FAIL("{{index .Nope 1}}", vm, "ERR:", "index of untyped nil");
    EXPECT_FAIL("{{index .Config.Labels 1}}", vm, "ERR:", "value has type int; should be string");
    EXPECT_FAIL("{{range .Name}}{{end}}", vm, "ERR:", "range can't iterate over web");
    EXPECT_FAIL("{{len 3}}", vm, "ERR:", "len of type int");
    EXPECT_FAIL("{{len .Nope}}", vm, "ERR:", "len of nil pointer");
    EXPECT_FAIL("{{upper 3}}", vm, "ERR:", "upper: wrong type for value; expected string; got int");
    EXPECT_FAIL("{{join .Config.Labels \",\"}}", vm, "ERR:", "expected []string");
    EXPECT_FAIL("{{eq 1 \"1\"}}", vm, "ERR:", "incompatible types for comparison");
    EXPECT_FAIL("{{eq .HostConfig.Dns .HostConfig.Dns}}", vm, "ERR:", "non-comparable type");
    EXPECT_FAIL("{{lt true false}}", vm, "ERR:", "invalid type for comparison");
    EXPECT_FAIL("{{range 2000000}}{{end}}", vm, "ERR:", "more than 1000000 steps");
    EXPECT_FAIL("{{range 1000}}{{range 1000}}{{range 1000}}{{end}}{{end}}{{end}}", vm,
                "ERR:", "more than 1000000 steps");
    /* every iteration counts, even of an empty body */
    EXPECT_FAIL(
        "{{$a := split (printf \"%2000s\" \"\") \"\"}}{{range $a}}{{range $a}}{{end}}{{end}}", vm,
        "ERR:", "more than 1000000 steps");
    /* messages are one line, whatever the template or the data hold */
    EXPECT_FAIL("{{range \"a\\nb\"}}{{end}}", vm, "ERR:", "range can't iterate over a b");
    EXPECT_FAIL("{{if 1}}\n{{`x\ny` 1}}", vm,
                "PARSE:", "can't give argument to non-function `x y`");
    EXPECT_FAIL("{{range 20000}}{{printf \"%1000s\" \"\"}}{{end}}", vm,
                "ERR:", "output larger than 16777216 bytes");
    /* a value nested deeper than the printer goes */
    json_object *nest = json_object_new_array(), *top = nest;
    for (int i = 0; i < CLI_TEMPLATE_MAX_DEPTH + 2; i++) {
        json_object *inner = json_object_new_array();
        json_object_array_add(nest, inner);
        nest = inner;
    }
    EXPECT_FAIL("{{.}}", top, "ERR:", "value nested deeper than 64");
    json_object_put(top);

    /* fprint: nothing of an object whose template fails */
    char err[512], *mem = NULL;
    size_t memlen = 0;
    FILE *f = open_memstream(&mem, &memlen);
    struct cli_template *t = cli_template_parse("{{.Name}} {{.State.Status.X}}", err, sizeof(err));
    CHECK(t != NULL);
    CHECK(cli_template_fprint(t, vm, 0, f, err, sizeof(err)) < 0);
    cli_template_free(t);
    t = cli_template_parse("{{.Name}}", err, sizeof(err));
    CHECK(cli_template_fprint(t, vm, 0, f, err, sizeof(err)) == 0);
    cli_template_free(t);
    fclose(f);
    CHECK_STR(mem, "web");
    free(mem);
}

/* Flags: docker's rows (a missing field is an error) and table headers. */
static void test_flags(void)
{
    json_object *header = json_tokener_parse("{\"Names\": \"NAMES\", \"Labels\": \"LABELS\"}");
    char *got = run("{{upper .Names}}\t{{json .Labels}}\t{{split .Labels \",\"}}\t{{lower .Names}}",
                    header, CLI_TEMPLATE_HEADER);
    CHECK_STR(got, "NAMES\tLABELS\tLABELS\tNAMES");
    free(got);
    got = run("{{upper .Names}}", header, 0);
    CHECK_STR(got, "NAMES");
    free(got);
    got = run("{{lower .Names}}", header, 0);
    CHECK_STR(got, "names");
    free(got);
    got = run("{{.Nope}}", header, CLI_TEMPLATE_STRICT);
    CHECK_STR(got, "ERR: executing at <.Nope>: can't evaluate field Nope");
    free(got);
    got = run("{{.Nope}}", header, 0);
    CHECK_STR(got, "<no value>");
    free(got);
    json_object_put(header);
    char *q = cli_template_quote("sh -c \"echo\thi\" \x01 \xff é");
    CHECK_STR(q, "\"sh -c \\\"echo\\thi\\\" \\x01 \\xff é\"");
    free(q);
}

static char *tabwrite(const char *text)
{
    char *mem = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&mem, &len);
    cli_tabwrite(f, text, strlen(text));
    fclose(f);
    return mem;
}

static void test_tabwriter(void)
{
    char *got = tabwrite("VM ID\tNAMES\nabc\tweb\n");
    CHECK_STR(got, "VM ID     NAMES\nabc       web\n");
    free(got);
    /* a cell longer than the others widens its whole column, runes counted */
    got = tabwrite("A\tCREATED\tSTATUS\nx\tLess than a second ago\tUp 1 second\n"
                   "y\t5 minutes ago\t\xe2\x80\xa6\n");
    CHECK_STR(got, "A         CREATED                  STATUS\n"
                   "x         Less than a second ago   Up 1 second\n"
                   "y         5 minutes ago            \xe2\x80\xa6\n");
    free(got);
    /* a line without the column ends its block: the lines after align anew */
    got = tabwrite("a\tb\n-\nlonger cell here\tc\nd\te");
    CHECK_STR(got, "a         b\n-\nlonger cell here   c\nd                  e");
    free(got);
    got = tabwrite("no tabs\n");
    CHECK_STR(got, "no tabs\n");
    free(got);
    got = tabwrite("");
    CHECK_STR(got, "");
    free(got);
}

static void test_ages(void)
{
    static const struct {
        int64_t s;
        const char *want;
    } cases[] = {
        {0, "Less than a second"},
        {1, "1 second"},
        {45, "45 seconds"},
        {59, "59 seconds"},
        {60, "About a minute"},
        {119, "About a minute"},
        {180, "3 minutes"},
        {35 * 60 + 40, "35 minutes"},
        {59 * 60 + 59, "59 minutes"},
        {3600, "About an hour"},
        {3600 + 29 * 60, "About an hour"},
        {3600 + 31 * 60, "2 hours"},
        {3 * 3600 + 29 * 60, "3 hours"},
        {3 * 3600 + 31 * 60, "4 hours"},
        {24 * 3600, "24 hours"},
        {36 * 3600, "36 hours"},
        {2 * 86400, "2 days"},
        {13 * 86400 + 5 * 3600, "13 days"},
        {14 * 86400, "2 weeks"},
        {30 * 86400, "4 weeks"},
        {44 * 86400, "6 weeks"},
        {60 * 86400, "2 months"},
        {3 * 30 * 86400 + 7 * 86400, "3 months"},
        {24 * 30 * 86400, "24 months"},
        {24 * 30 * 86400 + 14 * 86400, "2 years"},
        {3 * 365 * 86400 + 60 * 86400, "3 years"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[64];
        cli_human_duration(cases[i].s, out, sizeof(out));
        CHECK_STR(out, cases[i].want);
    }
    char out[64];
    cli_human_age(0, out, sizeof(out));
    CHECK_STR(out, "N/A");
    cli_human_age((int64_t)time(NULL) - 300, out, sizeof(out));
    CHECK_STR(out, "5 minutes ago");
}

/* format.c's errors go through cli_usage_error (main.c in the CLI): kept here. */
static char usage_error[512];
int cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(usage_error, sizeof(usage_error), fmt, ap);
    va_end(ap);
    return 125;
}

/* The list formatter as ps uses it over the first n of these rows: its status and
 * output are checked, and usage_error keeps what it said. */
static const char *const rows[] = {
    "{\"ID\": \"3f9c2a1b7d4e\", \"Names\": \"web\", \"Status\": \"Up Less than a second\"}",
    "{\"ID\": \"0a1b2c3d4e5f\", \"Names\": \"a-much-longer-name\", \"Status\": \"Exited (0) "
    "About a minute ago\"}",
};

#define EXPECT_LIST(format, n, status, want)                                                       \
    do {                                                                                           \
        int status_;                                                                               \
        char *got_ = list(format, n, &status_);                                                    \
        CHECK(status_ == (status));                                                                \
        CHECK_STR(got_, want);                                                                     \
        free(got_);                                                                                \
    } while (0)

static char *list(const char *format, size_t n, int *status)
{
    json_object *header = json_tokener_parse("{\"ID\": \"VM ID\", \"Names\": \"NAMES\","
                                             " \"Status\": \"STATUS\"}");
    struct cli_list l;
    char *mem = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&mem, &len);
    usage_error[0] = '\0';
    *status = cli_list_begin(&l, "ps", format, "table {{.ID}}\t{{.Status}}\t{{.Names}}", header);
    for (size_t i = 0; i < n && *status == 0; i++) {
        json_object *row = json_tokener_parse(rows[i]);
        *status = cli_list_row(&l, row);
        json_object_put(row);
    }
    if (*status == 0 || l.tmpl)
        cli_list_end(&l, *status == 0 ? f : NULL);
    fclose(f);
    json_object_put(header);
    return mem;
}

static void test_list(void)
{
    EXPECT_LIST(NULL, 2, 0,
                "VM ID          STATUS                          NAMES\n"
                "3f9c2a1b7d4e   Up Less than a second           web\n"
                "0a1b2c3d4e5f   Exited (0) About a minute ago   a-much-longer-name\n");
    /* ps's \t is a tab, without a table no alignment */
    EXPECT_LIST("{{.Names}}\\t{{.ID}}\\n", 1, 0, "web\t3f9c2a1b7d4e\n\n");
    EXPECT_LIST("table {{.ID}}\\t{{.Names | upper}}  ", 2, 0,
                "VM ID          NAMES\n3f9c2a1b7d4e   WEB\n0a1b2c3d4e5f   A-MUCH-LONGER-NAME\n");
    /* docker: "table" must come first, spaces are trimmed after that test */
    EXPECT_LIST("  table {{.ID}}  ", 1, 0, "table 3f9c2a1b7d4e\n");
    EXPECT_LIST("table", 0, 0, "VM ID     STATUS    NAMES\n");
    EXPECT_LIST(
        "json", 1, 0,
        "{\"ID\":\"3f9c2a1b7d4e\",\"Names\":\"web\",\"Status\":\"Up Less than a second\"}\n");
    /* a field rows lack: nothing printed, one line said, 125 */
    EXPECT_LIST("{{.Names}} {{.Nope}}", 2, 125, "");
    CHECK_STR(usage_error, "ps: --format: executing at <.Nope>: can't evaluate field Nope");
    /* a header names a field rows lack as docker's does; the rows fail */
    EXPECT_LIST("table {{.ID}}\\t{{.Nope}}", 0, 0, "VM ID     <no value>\n");
    EXPECT_LIST("table {{.ID}}\\t{{.Nope}}", 1, 125, "");
    EXPECT_LIST("{{.Names", 2, 125, "");
    CHECK_STR(usage_error, "ps: --format: at '{{.Names': unclosed action");
}

int main(void)
{
    vm = json_tokener_parse(vm_json);
    values = json_tokener_parse(values_json);
    CHECK(vm != NULL && values != NULL);
    test_docker_scripts();
    test_syntax();
    test_functions();
    test_printing();
    test_errors();
    test_flags();
    test_tabwriter();
    test_ages();
    test_list();
    json_object_put(vm);
    json_object_put(values);
    return check_summary("template");
}
