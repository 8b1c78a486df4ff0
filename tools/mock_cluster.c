/*
 * mock_cluster: a Kafka test cluster over librdkafka's mock cluster API.
 *
 * Owns one rd_kafka_mock_cluster_t for the life of the process. Prints
 * "BOOTSTRAP <host:port,...>" on stdout once the brokers listen, then reads
 * one command per line on stdin and answers each with exactly one line,
 * "OK" or "ERR <message>". The line protocol is documented in
 * docs/test-cluster.md. Exits 0 on "quit", on EOF of stdin (so a launcher
 * whose parent died goes away by itself) and on SIGTERM/SIGINT/SIGHUP.
 *
 * Build: gcc -Wall -Wextra -Werror -O2 tools/mock_cluster.c -o mock_cluster \
 *            $(pkg-config --cflags --libs rdkafka)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MAX_ARGS 64
#define LINE_MAX_LEN 4096

static rd_kafka_mock_cluster_t *mcluster;
static int broker_cnt = 3;

/* ---- accepted connections -------------------------------------------- */

/*
 * Kafka brokers set TCP_NODELAY on every connection they accept (the
 * Acceptor of Kafka's SocketServer); librdkafka's mock does not. Without it
 * the second of two writes of a response waits for the client's ACK of the
 * first, which Linux delays by up to 40 ms when the client has nothing to
 * send back: a flush's last batches and a synchronous send stalled that long
 * (docs/test-cluster.md). This definition takes the place of libc's accept()
 * for the mock, which accepts every broker connection through it (the
 * program's own symbols come first in the dynamic linker's search), so that
 * the mock's connections behave as a broker's.
 */
int accept(int listen_fd, __SOCKADDR_ARG peer, socklen_t *restrict peer_len) {
        int connection = accept4(listen_fd, peer, peer_len, 0);
        if (connection >= 0) {
                int on = 1;
                /* A connection that refuses the option still works, as one of
                 * the mock's own would. */
                (void)setsockopt(connection, IPPROTO_TCP, TCP_NODELAY, &on,
                                 sizeof(on));
        }
        return connection;
}

/* ---- replies ---------------------------------------------------------- */

static void reply_ok(void) {
        fputs("OK\n", stdout);
        fflush(stdout);
}

static void reply_err(const char *fmt, ...) {
        va_list ap;
        fputs("ERR ", stdout);
        va_start(ap, fmt);
        vfprintf(stdout, fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
        fflush(stdout);
}

static void reply_resp(rd_kafka_resp_err_t err) {
        if (err)
                reply_err("%s: %s", rd_kafka_err2name(err),
                          rd_kafka_err2str(err));
        else
                reply_ok();
}

/* ---- argument parsing -------------------------------------------------- */

/* Parses a whole decimal integer in [min, max]; returns 0 on success. */
static int parse_int(const char *s, long min, long max, long *out) {
        char *end;
        long v;
        errno = 0;
        v     = strtol(s, &end, 10);
        if (errno || end == s || *end || v < min || v > max)
                return -1;
        *out = v;
        return 0;
}

#define ARG_INT(var, idx, min, max, what)                                      \
        long var;                                                              \
        if (parse_int(argv[idx], min, max, &var)) {                            \
                reply_err("bad %s: %s", what, argv[idx]);                      \
                return;                                                        \
        }

#define NEED_ARGS(lo, hi, usage)                                               \
        if (argc < (lo) || argc > (hi)) {                                      \
                reply_err("usage: %s", usage);                                 \
                return;                                                        \
        }

/* ---- commands --------------------------------------------------------- */

static int default_replication(void) {
        return broker_cnt < 3 ? broker_cnt : 3;
}

static void cmd_topic(int argc, char **argv) {
        NEED_ARGS(3, 4, "topic <name> <partitions> [replication]");
        ARG_INT(parts, 2, 1, 100000, "partition count");
        long repl = default_replication();
        if (argc == 4 && parse_int(argv[3], 1, broker_cnt, &repl)) {
                reply_err("bad replication factor (1..%d): %s", broker_cnt,
                          argv[3]);
                return;
        }
        reply_resp(rd_kafka_mock_topic_create(mcluster, argv[1], (int)parts,
                                              (int)repl));
}

static void cmd_leader(int argc, char **argv) {
        NEED_ARGS(4, 4, "leader <topic> <partition> <broker_id|-1>");
        ARG_INT(part, 2, 0, INT32_MAX, "partition");
        ARG_INT(broker, 3, -1, INT32_MAX, "broker id");
        reply_resp(rd_kafka_mock_partition_set_leader(
            mcluster, argv[1], (int32_t)part, (int32_t)broker));
}

static void cmd_follower(int argc, char **argv) {
        NEED_ARGS(4, 4, "follower <topic> <partition> <broker_id>");
        ARG_INT(part, 2, 0, INT32_MAX, "partition");
        ARG_INT(broker, 3, -1, INT32_MAX, "broker id");
        reply_resp(rd_kafka_mock_partition_set_follower(
            mcluster, argv[1], (int32_t)part, (int32_t)broker));
}

static void cmd_down_up(int argc, char **argv, int down) {
        NEED_ARGS(2, 2, down ? "down <broker_id|-1>" : "up <broker_id|-1>");
        ARG_INT(broker, 1, -1, INT32_MAX, "broker id");
        reply_resp(down ? rd_kafka_mock_broker_set_down(mcluster,
                                                        (int32_t)broker)
                        : rd_kafka_mock_broker_set_up(mcluster,
                                                      (int32_t)broker));
}

static void cmd_errors(int argc, char **argv) {
        rd_kafka_resp_err_t errs[MAX_ARGS];
        int i;
        NEED_ARGS(3, MAX_ARGS, "errors <api_key> <err> [<err>...]");
        ARG_INT(api, 1, 0, INT16_MAX, "api key");
        for (i = 2; i < argc; i++) {
                long code;
                if (parse_int(argv[i], INT_MIN, INT_MAX, &code)) {
                        reply_err("bad error code: %s", argv[i]);
                        return;
                }
                errs[i - 2] = (rd_kafka_resp_err_t)code;
        }
        rd_kafka_mock_push_request_errors_array(mcluster, (int16_t)api,
                                                (size_t)(argc - 2), errs);
        reply_ok();
}

/* Each <err> may carry a delay: "<err>[:<rtt_ms>]". The API is variadic, so
 * entries are pushed one at a time; each push appends, keeping the order. */
static void cmd_broker_errors(int argc, char **argv) {
        int i;
        NEED_ARGS(4, MAX_ARGS,
                  "broker_errors <broker_id> <api_key> <err>[:<rtt_ms>]...");
        ARG_INT(broker, 1, 0, INT32_MAX, "broker id");
        ARG_INT(api, 2, 0, INT16_MAX, "api key");
        for (i = 3; i < argc; i++) {
                long code, rtt = 0;
                char *colon = strchr(argv[i], ':');
                if (colon) {
                        *colon = '\0';
                        if (parse_int(colon + 1, 0, INT_MAX, &rtt)) {
                                reply_err("bad rtt: %s", colon + 1);
                                return;
                        }
                }
                if (parse_int(argv[i], INT_MIN, INT_MAX, &code)) {
                        reply_err("bad error code: %s", argv[i]);
                        return;
                }
                rd_kafka_resp_err_t err =
                    rd_kafka_mock_broker_push_request_error_rtts(
                        mcluster, (int32_t)broker, (int16_t)api, 1,
                        (rd_kafka_resp_err_t)code, (int)rtt);
                if (err) {
                        reply_resp(err);
                        return;
                }
        }
        reply_ok();
}

static void cmd_clear_errors(int argc, char **argv) {
        NEED_ARGS(2, 2, "clear_errors <api_key>");
        ARG_INT(api, 1, 0, INT16_MAX, "api key");
        rd_kafka_mock_clear_request_errors(mcluster, (int16_t)api);
        reply_ok();
}

static void cmd_topic_error(int argc, char **argv) {
        NEED_ARGS(3, 3, "topic_error <topic> <err>");
        ARG_INT(code, 2, INT_MIN, INT_MAX, "error code");
        rd_kafka_mock_topic_set_error(mcluster, argv[1],
                                      (rd_kafka_resp_err_t)code);
        reply_ok();
}

static void cmd_rtt(int argc, char **argv) {
        NEED_ARGS(3, 3, "rtt <broker_id|-1> <ms>");
        ARG_INT(broker, 1, -1, INT32_MAX, "broker id");
        ARG_INT(ms, 2, 0, INT_MAX, "rtt");
        reply_resp(rd_kafka_mock_broker_set_rtt(mcluster, (int32_t)broker,
                                                (int)ms));
}

static void cmd_rack(int argc, char **argv) {
        NEED_ARGS(3, 3, "rack <broker_id|-1> <rack>");
        ARG_INT(broker, 1, -1, INT32_MAX, "broker id");
        reply_resp(
            rd_kafka_mock_broker_set_rack(mcluster, (int32_t)broker, argv[2]));
}

static void cmd_coordinator(int argc, char **argv) {
        NEED_ARGS(4, 4, "coordinator <group|transaction> <key> <broker_id>");
        if (strcmp(argv[1], "group") && strcmp(argv[1], "transaction")) {
                reply_err("coordinator type must be group or transaction: %s",
                          argv[1]);
                return;
        }
        ARG_INT(broker, 3, 0, INT32_MAX, "broker id");
        reply_resp(rd_kafka_mock_coordinator_set(mcluster, argv[1], argv[2],
                                                 (int32_t)broker));
}

static void cmd_apiversion(int argc, char **argv) {
        NEED_ARGS(4, 4, "apiversion <api_key> <min|-1> <max|-1>");
        ARG_INT(api, 1, 0, INT16_MAX, "api key");
        ARG_INT(min, 2, -1, INT16_MAX, "min version");
        ARG_INT(max, 3, -1, INT16_MAX, "max version");
        reply_resp(rd_kafka_mock_set_apiversion(mcluster, (int16_t)api,
                                                (int16_t)min, (int16_t)max));
}

static void cmd_bootstrap(int argc, char **argv) {
        (void)argv;
        NEED_ARGS(1, 1, "bootstrap");
        printf("OK %s\n", rd_kafka_mock_cluster_bootstraps(mcluster));
        fflush(stdout);
}

static void cmd_version(int argc, char **argv) {
        (void)argv;
        NEED_ARGS(1, 1, "version");
        printf("OK %s\n", rd_kafka_version_str());
        fflush(stdout);
}

static void cmd_ping(int argc, char **argv) {
        (void)argv;
        NEED_ARGS(1, 1, "ping");
        reply_ok();
}

/* Returns 1 when the process should exit. */
static int run_command(char *line) {
        char *argv[MAX_ARGS + 1];
        int argc = 0;
        char *save, *tok;

        for (tok = strtok_r(line, " \t\r\n", &save); tok;
             tok = strtok_r(NULL, " \t\r\n", &save)) {
                if (argc == MAX_ARGS + 1) {
                        reply_err("too many arguments (max %d)", MAX_ARGS);
                        return 0;
                }
                argv[argc++] = tok;
        }
        if (argc == 0 || argv[0][0] == '#')
                return 0; /* blank lines and comments get no answer */

        const char *c = argv[0];
        if (!strcmp(c, "quit")) {
                reply_ok();
                return 1;
        } else if (!strcmp(c, "topic"))
                cmd_topic(argc, argv);
        else if (!strcmp(c, "leader"))
                cmd_leader(argc, argv);
        else if (!strcmp(c, "follower"))
                cmd_follower(argc, argv);
        else if (!strcmp(c, "down"))
                cmd_down_up(argc, argv, 1);
        else if (!strcmp(c, "up"))
                cmd_down_up(argc, argv, 0);
        else if (!strcmp(c, "errors"))
                cmd_errors(argc, argv);
        else if (!strcmp(c, "broker_errors"))
                cmd_broker_errors(argc, argv);
        else if (!strcmp(c, "clear_errors"))
                cmd_clear_errors(argc, argv);
        else if (!strcmp(c, "topic_error"))
                cmd_topic_error(argc, argv);
        else if (!strcmp(c, "rtt"))
                cmd_rtt(argc, argv);
        else if (!strcmp(c, "rack"))
                cmd_rack(argc, argv);
        else if (!strcmp(c, "coordinator"))
                cmd_coordinator(argc, argv);
        else if (!strcmp(c, "apiversion"))
                cmd_apiversion(argc, argv);
        else if (!strcmp(c, "bootstrap"))
                cmd_bootstrap(argc, argv);
        else if (!strcmp(c, "version"))
                cmd_version(argc, argv);
        else if (!strcmp(c, "ping"))
                cmd_ping(argc, argv);
        else
                reply_err("unknown command: %s", c);
        return 0;
}

/* ---- startup ---------------------------------------------------------- */

static void silent_log(const rd_kafka_t *rk, int level, const char *fac,
                       const char *buf) {
        (void)rk;
        (void)level;
        (void)fac;
        (void)buf;
}

static void usage(const char *prog) {
        fprintf(stderr,
                "usage: %s [--brokers N] [--topic name:partitions[:repl]]...\n"
                "Prints BOOTSTRAP <servers>, then takes commands on stdin "
                "(see docs/test-cluster.md).\n",
                prog);
        exit(2);
}

/* Creates "name:partitions[:replication]" given on the command line. Parses
 * a copy: argv stays intact for ps. */
static int create_topic_arg(const char *arg) {
        char spec[LINE_MAX_LEN];
        if (snprintf(spec, sizeof(spec), "%s", arg) >= (int)sizeof(spec))
                return -1;
        char *parts_s = strchr(spec, ':');
        long parts, repl = default_replication();
        if (!parts_s)
                return -1;
        *parts_s++ = '\0';
        char *repl_s = strchr(parts_s, ':');
        if (repl_s) {
                *repl_s++ = '\0';
                if (parse_int(repl_s, 1, broker_cnt, &repl))
                        return -1;
        }
        if (!*spec || parse_int(parts_s, 1, 100000, &parts))
                return -1;
        rd_kafka_resp_err_t err =
            rd_kafka_mock_topic_create(mcluster, spec, (int)parts, (int)repl);
        if (err) {
                fprintf(stderr, "mock_cluster: topic %s: %s\n", spec,
                        rd_kafka_err2str(err));
                return -1;
        }
        return 0;
}

int main(int argc, char **argv) {
        char errstr[512];
        char *topics[MAX_ARGS];
        int topic_cnt = 0, i;
        long n;

        for (i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--brokers") && i + 1 < argc) {
                        if (parse_int(argv[++i], 1, 1000, &n))
                                usage(argv[0]);
                        broker_cnt = (int)n;
                } else if (!strcmp(argv[i], "--topic") && i + 1 < argc &&
                           topic_cnt < MAX_ARGS) {
                        topics[topic_cnt++] = argv[++i];
                } else {
                        usage(argv[0]);
                }
        }

        /* Block the exit signals before librdkafka starts its threads (they
         * inherit the mask), and take them through a signalfd in the main
         * loop instead of an async handler. */
        sigset_t exit_sigs;
        sigemptyset(&exit_sigs);
        sigaddset(&exit_sigs, SIGTERM);
        sigaddset(&exit_sigs, SIGINT);
        sigaddset(&exit_sigs, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &exit_sigs, NULL);
        int sfd = signalfd(-1, &exit_sigs, SFD_CLOEXEC);
        if (sfd < 0) {
                perror("mock_cluster: signalfd");
                return 1;
        }
        /* A reader that went away must not kill us mid-reply: the write
         * fails, and stdin EOF follows. */
        signal(SIGPIPE, SIG_IGN);

        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set_log_cb(conf, silent_log);
        if (rd_kafka_conf_set(conf, "log_level", "0", errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK) {
                fprintf(stderr, "mock_cluster: %s\n", errstr);
                return 1;
        }
        rd_kafka_t *rk =
            rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!rk) {
                fprintf(stderr, "mock_cluster: rd_kafka_new: %s\n", errstr);
                return 1;
        }
        mcluster = rd_kafka_mock_cluster_new(rk, broker_cnt);
        if (!mcluster) {
                fprintf(stderr, "mock_cluster: cannot create mock cluster\n");
                return 1;
        }
        for (i = 0; i < topic_cnt; i++) {
                if (create_topic_arg(topics[i])) {
                        fprintf(stderr, "mock_cluster: bad --topic %s\n",
                                topics[i]);
                        return 2;
                }
        }

        printf("BOOTSTRAP %s\n", rd_kafka_mock_cluster_bootstraps(mcluster));
        fflush(stdout);

        /* Read stdin in raw chunks (not stdio) so poll() sees every byte. */
        char buf[LINE_MAX_LEN];
        size_t len  = 0;
        int done    = 0;
        int discard = 0; /* skipping the rest of an over-long line */
        struct pollfd fds[2] = {{.fd = STDIN_FILENO, .events = POLLIN},
                                {.fd = sfd, .events = POLLIN}};
        while (!done) {
                if (poll(fds, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        perror("mock_cluster: poll");
                        break;
                }
                if (fds[1].revents)
                        break; /* exit signal */
                if (!fds[0].revents)
                        continue;
                ssize_t r = read(STDIN_FILENO, buf + len, sizeof(buf) - len);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        break; /* EOF or error: our parent is gone */
                len += (size_t)r;
                char *nl;
                while (!done && (nl = memchr(buf, '\n', len))) {
                        *nl         = '\0';
                        size_t used = (size_t)(nl - buf) + 1;
                        if (!discard)
                                done = run_command(buf);
                        discard = 0;
                        memmove(buf, buf + used, len - used);
                        len -= used;
                }
                if (len == sizeof(buf)) {
                        if (!discard)
                                reply_err("line too long (max %d bytes)",
                                          LINE_MAX_LEN - 1);
                        discard = 1;
                        len     = 0;
                }
                if (ferror(stdout))
                        break; /* nobody reads our answers any more */
        }

        rd_kafka_mock_cluster_destroy(mcluster);
        rd_kafka_destroy(rk);
        close(sfd);
        return 0;
}
