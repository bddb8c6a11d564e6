package com.github.leaselock.interop;

import com.amazonaws.services.dynamodbv2.AcquireLockOptions;
import com.amazonaws.services.dynamodbv2.AmazonDynamoDBLockClient;
import com.amazonaws.services.dynamodbv2.GetLockOptions;
import com.amazonaws.services.dynamodbv2.LockItem;
import com.amazonaws.services.dynamodbv2.ReleaseLockOptions;
import com.amazonaws.services.dynamodbv2.SendHeartbeatOptions;
import com.amazonaws.services.dynamodbv2.model.LockCurrentlyUnavailableException;
import com.amazonaws.services.dynamodbv2.model.LockNotGrantedException;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import software.amazon.awssdk.services.dynamodb.model.AttributeValue;

/**
 * The line protocol: one command per line on stdin, one answer per line on
 * stdout. Words are separated by single spaces; keys and values never hold
 * spaces; binary data travels as hex.
 *
 * <pre>
 * acquire KEY [FLAG...]          acquireLock       -> ok {lock} | notgranted MSG | unavailable MSG
 * try KEY [FLAG...]              tryAcquireLock    -> ok {lock} | none | unavailable MSG
 * heartbeat KEY [sort=S] [data=HEX]                -> ok {lock} | notgranted MSG
 * release KEY [sort=S] [mode=default|delete|mark] [data=HEX] -> released | refused
 * get KEY [sort=S]               getLockFromDynamoDB (released records too) -> ok {lock} | none
 *                                ("released" comes from getLock, which hides released records)
 * held KEY [sort=S]              hasLock           -> true | false
 * halt                           exit at once: no release, heartbeats stop (a crash)
 * quit                           close the client (releasing what it holds) and exit
 *
 * acquire/try FLAGs: sort=S data=HEX wait=MS (additionalTimeToWaitForLock)
 *   refresh=MS delete=true|false (deleteLockOnRelease) replacedata=true|false
 *   update=true|false (updateExistingLockRecord) skipwait onlyifexists
 *   attr.NAME=VALUE (an additional S attribute)
 * </pre>
 *
 * {lock} is a JSON object (see {@link Json#lock}). Any other failure answers
 * "error CLASS: MESSAGE" and the driver goes on serving.
 */
final class Driver {
    private final AmazonDynamoDBLockClient client;
    private final boolean sortKeyed;
    private final PrintStream out;
    private final Map<String, LockItem> held = new HashMap<>();

    Driver(AmazonDynamoDBLockClient client, boolean sortKeyed, PrintStream out) {
        this.client = client;
        this.sortKeyed = sortKeyed;
        this.out = out;
    }

    /** Serves commands until quit or the end of input. */
    void serve(BufferedReader in) throws IOException {
        String line;
        while ((line = in.readLine()) != null) {
            line = line.strip();
            if (line.isEmpty()) {
                continue;
            }
            if (line.equals("quit")) {
                out.println("bye");
                return;
            }
            if (line.equals("halt")) {
                out.println("halting");
                out.flush();
                Runtime.getRuntime().halt(137);
            }
            String answer;
            try {
                answer = handle(Command.parse(line));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                answer = "error interrupted";
            } catch (RuntimeException e) {
                answer = "error " + oneLine(e.getClass().getSimpleName() + ": " + e.getMessage());
            }
            out.println(answer);
        }
    }

    private String handle(Command c) throws InterruptedException {
        switch (c.verb) {
            case "acquire":
                try {
                    return ok(remember(client.acquireLock(acquireOptions(c))));
                } catch (LockCurrentlyUnavailableException e) {
                    return "unavailable " + oneLine(e.getMessage());
                } catch (LockNotGrantedException e) {
                    return "notgranted " + oneLine(e.getMessage());
                }
            case "try":
                try {
                    Optional<LockItem> lock = client.tryAcquireLock(acquireOptions(c));
                    return lock.isPresent() ? ok(remember(lock.get())) : "none";
                } catch (LockCurrentlyUnavailableException e) {
                    return "unavailable " + oneLine(e.getMessage());
                }
            case "heartbeat": {
                LockItem lock = heldLock(c);
                SendHeartbeatOptions.SendHeartbeatOptionsBuilder hb = SendHeartbeatOptions.builder(lock);
                if (c.flags.containsKey("data")) {
                    hb.withData(ByteBuffer.wrap(hex(c.flags.get("data"))));
                }
                try {
                    client.sendHeartbeat(hb.build());
                    return ok(lock);
                } catch (LockNotGrantedException e) {
                    return "notgranted " + oneLine(e.getMessage());
                }
            }
            case "release": {
                LockItem lock = heldLock(c);
                String mode = c.flags.getOrDefault("mode", "default");
                boolean delete;
                switch (mode) {
                    case "default": delete = lock.getDeleteLockItemOnClose(); break;
                    case "delete": delete = true; break;
                    case "mark": delete = false; break;
                    default: throw new IllegalArgumentException("unknown release mode " + mode);
                }
                ReleaseLockOptions.ReleaseLockOptionsBuilder rel = ReleaseLockOptions.builder(lock).withDeleteLock(delete);
                if (c.flags.containsKey("data")) {
                    rel.withData(ByteBuffer.wrap(hex(c.flags.get("data"))));
                }
                boolean released = client.releaseLock(rel.build());
                held.remove(c.id());
                return released ? "released" : "refused";
            }
            case "get": {
                GetLockOptions.GetLockOptionsBuilder get = GetLockOptions.builder(c.key);
                if (c.sort() != null) {
                    get.withSortKey(c.sort());
                }
                Optional<LockItem> lock = client.getLockFromDynamoDB(get.build());
                if (lock.isEmpty()) {
                    return "none";
                }
                // LockItem.isReleased is not public; getLock's public contract
                // is to report a released record as no lock at all.
                boolean released = client.getLock(c.key, Optional.ofNullable(c.sort())).isEmpty();
                return "ok " + Json.lock(lock.get(), released);
            }
            case "held":
                return Boolean.toString(client.hasLock(c.key, Optional.ofNullable(c.sort())));
            default:
                throw new IllegalArgumentException("unknown command " + c.verb);
        }
    }

    private AcquireLockOptions acquireOptions(Command c) {
        AcquireLockOptions.AcquireLockOptionsBuilder b = AcquireLockOptions.builder(c.key)
                .withTimeUnit(TimeUnit.MILLISECONDS);
        Map<String, AttributeValue> attrs = new HashMap<>();
        for (Map.Entry<String, String> f : c.flags.entrySet()) {
            String v = f.getValue();
            switch (f.getKey()) {
                case "sort": b.withSortKey(v); break;
                case "data": b.withData(ByteBuffer.wrap(hex(v))); break;
                case "wait": b.withAdditionalTimeToWaitForLock(Long.parseLong(v)); break;
                case "refresh": b.withRefreshPeriod(Long.parseLong(v)); break;
                case "delete": b.withDeleteLockOnRelease(bool(v)); break;
                case "replacedata": b.withReplaceData(bool(v)); break;
                case "update": b.withUpdateExistingLockRecord(bool(v)); break;
                case "skipwait": b.withShouldSkipBlockingWait(true); break;
                case "onlyifexists": b.withAcquireOnlyIfLockAlreadyExists(true); break;
                default:
                    if (!f.getKey().startsWith("attr.")) {
                        throw new IllegalArgumentException("unknown flag " + f.getKey());
                    }
                    attrs.put(f.getKey().substring(5), AttributeValue.builder().s(v).build());
            }
        }
        if (!attrs.isEmpty()) {
            b.withAdditionalAttributes(attrs);
        }
        if (sortKeyed && c.sort() == null) {
            throw new IllegalArgumentException("the table has a sort key: give sort=S");
        }
        return b.build();
    }

    private LockItem remember(LockItem lock) {
        held.put(Command.id(lock.getPartitionKey(), lock.getSortKey().orElse(null)), lock);
        return lock;
    }

    private LockItem heldLock(Command c) {
        LockItem lock = held.get(c.id());
        if (lock == null) {
            throw new IllegalStateException("this driver holds no lock on " + c.id());
        }
        return lock;
    }

    private static String ok(LockItem lock) {
        return "ok " + Json.lock(lock, false);
    }

    private static boolean bool(String v) {
        if (!v.equals("true") && !v.equals("false")) {
            throw new IllegalArgumentException("not a boolean: " + v);
        }
        return Boolean.parseBoolean(v);
    }

    private static byte[] hex(String v) {
        return HexFormat.of().parseHex(v);
    }

    private static String oneLine(String s) {
        return String.valueOf(s).replaceAll("\\s+", " ");
    }
}
