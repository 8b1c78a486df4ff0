/*
 * examples-c/discovery.c: find topics by pattern across two Kafka clusters.
 *
 * This is the discovery step of a typical yelp_kafka service: before it
 * consumes, a service asks every cluster it knows which topics match a
 * pattern. Here the pattern is ".*mytopic" (every topic whose name ends in
 * "mytopic"; like Python's re.match, a pattern matches at the start of a
 * name). For each cluster with a match, the program prints each topic and
 * its partitions:
 *
 *     cluster1: mytopic partitions [0, 1, 2]
 *     cluster1: xmytopic partitions [0, 1]
 *     cluster2: team.mytopic partitions [0, 1, 2, 3]
 *
 * Usage:
 *     discovery [BOOTSTRAP1 BOOTSTRAP2]
 * where each BOOTSTRAP is a comma-separated host:port list. Without
 * arguments the lists come from the environment variables YK_KAFKA1 and
 * YK_KAFKA2, which the local test cluster writes for you:
 *     scripts/cluster.sh up && . target/cluster/env && discovery
 *
 * Build (from the repository root, after cargo build --release):
 *     gcc -std=c11 -Wall -Wextra -Werror -Iinclude examples-c/discovery.c \
 *         -Ltarget/release -lyelp_kafka -Wl,-rpath,$PWD/target/release -o discovery
 *
 * How the API works, in three rules you will see below:
 * - Every function that can fail returns a yk_error; YK_ERROR_OK (0) is
 *   success. After a failure, yk_error_name(code) names the error and
 *   yk_last_error_message() says what went wrong.
 * - Results come back through out-parameters (the last argument), which
 *   are only written on success.
 * - Everything you create with a *_new function (or get from a function
 *   with an out-parameter) you free with the matching *_free function.
 *   Strings and arrays you read from a handle belong to that handle: do
 *   not free them, and do not use them after the handle is freed.
 */
#include "yelp_kafka.h"

#include <stdio.h>
#include <stdlib.h>

/* Prints why a call failed, e.g. "yk_search_topics_by_regex failed: DiscoveryError: ...". */
static void print_error(const char *what, yk_error code)
{
    fprintf(stderr, "%s failed: %s: %s\n", what, yk_error_name(code), yk_last_error_message());
}

/* Prints every topic of cluster number `index` in `result`, one line each. */
static void print_cluster_topics(const yk_discovery_result *result, size_t index)
{
    /* The cluster configuration is owned by the result: read it, never free it. */
    const yk_cluster_config *cluster = yk_discovery_result_cluster(result, index);
    const char *cluster_name = yk_cluster_config_name(cluster);

    size_t topic_count = yk_discovery_result_topic_count(result, index);
    for (size_t t = 0; t < topic_count; t++) {
        size_t partition_count = 0;
        const int32_t *partitions = yk_discovery_result_partitions(result, index, t, &partition_count);

        printf("%s: %s partitions [", cluster_name, yk_discovery_result_topic(result, index, t));
        for (size_t p = 0; p < partition_count; p++)
            printf("%s%d", p > 0 ? ", " : "", (int)partitions[p]);
        printf("]\n");
    }
}

int main(int argc, char **argv)
{
    /* 1. Where are the clusters? From the command line, else the environment. */
    const char *bootstrap1 = argc == 3 ? argv[1] : getenv("YK_KAFKA1");
    const char *bootstrap2 = argc == 3 ? argv[2] : getenv("YK_KAFKA2");
    if ((argc != 1 && argc != 3) || bootstrap1 == NULL || bootstrap2 == NULL) {
        fprintf(stderr,
                "usage: %s [BOOTSTRAP1 BOOTSTRAP2]\n"
                "  BOOTSTRAP: comma-separated host:port list of a Kafka cluster;\n"
                "  without arguments, taken from YK_KAFKA1 and YK_KAFKA2\n",
                argv[0]);
        return 2;
    }

    int exit_code = EXIT_FAILURE;
    yk_error code;
    /* Start every handle at NULL: the cleanup at the end frees whatever was
     * created, and freeing NULL does nothing. */
    yk_cluster_config *cluster1 = NULL;
    yk_cluster_config *cluster2 = NULL;
    yk_config *options = NULL;
    yk_discovery_result *result = NULL;

    /* 2. Describe the clusters: type, name, brokers, ZooKeeper. Discovery
     * talks only to Kafka, so ZooKeeper may stay empty here. */
    code = yk_cluster_config_new("standard", "cluster1", bootstrap1, "", &cluster1);
    if (code != YK_ERROR_OK) {
        print_error("yk_cluster_config_new(cluster1)", code);
        goto cleanup;
    }
    code = yk_cluster_config_new("standard", "cluster2", bootstrap2, "", &cluster2);
    if (code != YK_ERROR_OK) {
        print_error("yk_cluster_config_new(cluster2)", code);
        goto cleanup;
    }

    /* 3. Options are string keys and values. Every option has a default, so
     * this step is optional (pass NULL instead): here the client names itself
     * to the brokers and gives up on a cluster that does not answer in 5 s. */
    code = yk_config_new(&options);
    if (code == YK_ERROR_OK)
        code = yk_config_set(options, "client_id", "yk-discovery-example");
    if (code == YK_ERROR_OK)
        code = yk_config_set(options, "metadata_timeout_ms", "5000");
    if (code != YK_ERROR_OK) {
        print_error("setting options", code);
        goto cleanup;
    }

    /* 4. Ask both clusters at once which topics match the pattern. */
    const yk_cluster_config *clusters[] = {cluster1, cluster2};
    code = yk_search_topics_by_regex(".*mytopic", clusters, 2, options, &result);
    if (code != YK_ERROR_OK) {
        print_error("yk_search_topics_by_regex", code);
        goto cleanup;
    }

    /* 5. Print what was found. Clusters without a matching topic are not in the result. */
    size_t cluster_count = yk_discovery_result_cluster_count(result);
    if (cluster_count == 0)
        printf("no topic matches .*mytopic\n");
    for (size_t c = 0; c < cluster_count; c++)
        print_cluster_topics(result, c);
    exit_code = EXIT_SUCCESS;

cleanup:
    /* 6. Free everything that was created, in any order. */
    yk_discovery_result_free(result);
    yk_config_free(options);
    yk_cluster_config_free(cluster2);
    yk_cluster_config_free(cluster1);
    return exit_code;
}
