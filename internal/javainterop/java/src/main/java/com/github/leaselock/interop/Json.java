package com.github.leaselock.interop;

import com.amazonaws.services.dynamodbv2.LockItem;
import java.nio.ByteBuffer;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;
import software.amazon.awssdk.services.dynamodb.model.AttributeValue;

/** Renders what the Java client reports about a lock as one line of JSON. */
final class Json {
    private Json() {}

    /**
     * Renders lock; released is passed in because LockItem keeps it package-private.
     * {"key":..,"sortKey":..|null,"owner":..,"recordVersionNumber":..,"leaseDurationMs":N,
     * "released":bool,"data":HEX|null,"attributes":{NAME:{"S"|"N"|"B"(hex)|"BOOL"|"other":..}}}
     */
    static String lock(LockItem lock, boolean released) {
        StringBuilder b = new StringBuilder("{");
        field(b, "key", str(lock.getPartitionKey()));
        field(b, "sortKey", lock.getSortKey().map(Json::str).orElse("null"));
        field(b, "owner", str(lock.getOwnerName()));
        field(b, "recordVersionNumber", str(lock.getRecordVersionNumber()));
        field(b, "leaseDurationMs", Long.toString(lock.getLeaseDuration()));
        field(b, "released", Boolean.toString(released));
        field(b, "data", lock.getData().map(d -> str(hex(d))).orElse("null"));
        StringBuilder attrs = new StringBuilder("{");
        for (Map.Entry<String, AttributeValue> e : new TreeMap<>(lock.getAdditionalAttributes()).entrySet()) {
            field(attrs, e.getKey(), attribute(e.getValue()));
        }
        field(b, "attributes", attrs.append('}').toString());
        return b.append('}').toString();
    }

    private static String attribute(AttributeValue v) {
        switch (v.type()) {
            case S: return "{\"S\":" + str(v.s()) + "}";
            case N: return "{\"N\":" + str(v.n()) + "}";
            case B: return "{\"B\":" + str(hex(v.b().asByteBuffer())) + "}";
            case BOOL: return "{\"BOOL\":" + v.bool() + "}";
            default: return "{\"other\":" + str(v.type().toString()) + "}";
        }
    }

    private static void field(StringBuilder b, String name, String rawValue) {
        if (b.length() > 1) {
            b.append(',');
        }
        b.append(str(name)).append(':').append(rawValue);
    }

    private static String hex(ByteBuffer data) {
        ByteBuffer d = data.duplicate();
        byte[] bytes = new byte[d.remaining()];
        d.get(bytes);
        return HexFormat.of().formatHex(bytes);
    }

    static String str(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                default:
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
            }
        }
        return b.append('"').toString();
    }
}
