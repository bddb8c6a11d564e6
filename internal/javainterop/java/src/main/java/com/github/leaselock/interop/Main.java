package com.github.leaselock.interop;

import com.amazonaws.services.dynamodbv2.AmazonDynamoDBLockClient;
import com.amazonaws.services.dynamodbv2.AmazonDynamoDBLockClientOptions;
import com.amazonaws.services.dynamodbv2.CreateDynamoDBTableOptions;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.http.apache.ApacheHttpClient;
import software.amazon.awssdk.http.apache.ProxyConfiguration;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.dynamodb.DynamoDbClient;
import software.amazon.awssdk.services.dynamodb.model.ProvisionedThroughput;

/**
 * Starts one AmazonDynamoDBLockClient against a DynamoDB endpoint and serves
 * the line protocol of {@link Driver} on stdin/stdout.
 *
 * <pre>
 * java -jar leaselock-java-interop.jar --endpoint http://127.0.0.1:PORT --table T --owner NAME
 *      [--lease-ms 20000] [--heartbeat-ms 5000] [--partition-key key] [--sort-key NAME]
 *      [--region us-east-1] [--create-table true]
 * </pre>
 *
 * With --create-table true it first creates the table with the Java client's
 * own createLockTableInDynamoDB. It prints "ready OWNER" once the table answers, then one answer line per
 * command. Credentials are fixed fake ones: it is meant for loopback
 * emulators only. Exit codes: 0 after quit or end of input, 2 for bad
 * arguments or a missing table.
 */
public final class Main {
    private Main() {}

    public static void main(String[] argv) throws Exception {
        Map<String, String> args = parse(argv);
        String endpoint = require(args, "endpoint");
        String table = require(args, "table");
        String owner = require(args, "owner");
        long leaseMs = Long.parseLong(args.getOrDefault("lease-ms", "20000"));
        long heartbeatMs = Long.parseLong(args.getOrDefault("heartbeat-ms", "5000"));
        String partitionKey = args.getOrDefault("partition-key", "key");
        String sortKey = args.get("sort-key");
        String region = args.getOrDefault("region", "us-east-1");
        boolean createTable = Boolean.parseBoolean(args.getOrDefault("create-table", "false"));

        // The emulators listen on loopback: never route through a proxy the
        // environment may name, and fail fast if the server is gone.
        ApacheHttpClient.Builder http = ApacheHttpClient.builder()
                .proxyConfiguration(ProxyConfiguration.builder()
                        .useSystemPropertyValues(false)
                        .useEnvironmentVariableValues(false)
                        .build())
                .connectionTimeout(Duration.ofSeconds(5))
                .socketTimeout(Duration.ofSeconds(30));
        DynamoDbClient dynamo = DynamoDbClient.builder()
                .endpointOverride(URI.create(endpoint))
                .region(Region.of(region))
                .credentialsProvider(StaticCredentialsProvider.create(
                        AwsBasicCredentials.create("AKIDLEASELOCKJAVA", "leaselock-java-test-secret")))
                .httpClient(http.build())
                .build();

        AmazonDynamoDBLockClientOptions.AmazonDynamoDBLockClientOptionsBuilder options =
                AmazonDynamoDBLockClientOptions.builder(dynamo, table)
                        .withOwnerName(owner)
                        .withLeaseDuration(leaseMs)
                        .withHeartbeatPeriod(heartbeatMs)
                        .withTimeUnit(TimeUnit.MILLISECONDS)
                        .withCreateHeartbeatBackgroundThread(true)
                        .withPartitionKeyName(partitionKey);
        if (sortKey != null) {
            options.withSortKeyName(sortKey);
        }

        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        if (createTable) {
            CreateDynamoDBTableOptions.CreateDynamoDBTableOptionsBuilder create = CreateDynamoDBTableOptions
                    .builder(dynamo, ProvisionedThroughput.builder().readCapacityUnits(5L).writeCapacityUnits(5L).build(), table)
                    .withPartitionKeyName(partitionKey);
            if (sortKey != null) {
                create.withSortKeyName(sortKey);
            }
            AmazonDynamoDBLockClient.createLockTableInDynamoDB(create.build());
        }
        AmazonDynamoDBLockClient client = new AmazonDynamoDBLockClient(options.build());
        // Also warms up the SDK before the first timed command. The Java
        // client does not wait for a table it created to become ACTIVE.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(createTable ? 30 : 0);
        while (!client.lockTableExists()) {
            if (System.nanoTime() > deadline) {
                out.println("error table " + table + " does not exist");
                System.exit(2);
            }
            Thread.sleep(50);
        }
        out.println("ready " + owner);

        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        new Driver(client, sortKey != null, out).serve(in);
        client.close(); // releases whatever is still held, like an orderly shutdown
        dynamo.close();
        System.exit(0); // the SDK's idle-connection reaper is not a daemon thread
    }

    private static Map<String, String> parse(String[] argv) {
        Map<String, String> args = new HashMap<>();
        for (int i = 0; i < argv.length; i++) {
            if (!argv[i].startsWith("--") || i + 1 >= argv.length) {
                usage("unexpected argument " + argv[i]);
            }
            args.put(argv[i].substring(2), argv[++i]);
        }
        return args;
    }

    private static String require(Map<String, String> args, String name) {
        String v = args.get(name);
        if (v == null || v.isEmpty()) {
            usage("missing --" + name);
        }
        return v;
    }

    private static void usage(String problem) {
        System.err.println("leaselock-java-interop: " + problem);
        System.err.println("usage: --endpoint URL --table NAME --owner NAME [--lease-ms N] [--heartbeat-ms N]"
                + " [--partition-key NAME] [--sort-key NAME] [--region NAME] [--create-table true]");
        System.exit(2);
    }
}
