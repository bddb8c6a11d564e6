package com.github.leaselock.interop;

import java.util.LinkedHashMap;
import java.util.Map;

/** One parsed protocol line: a verb, usually a key, then flags (name=value, or a bare name for true). */
final class Command {
    final String verb;
    final String key;
    final Map<String, String> flags = new LinkedHashMap<>();

    private Command(String verb, String key) {
        this.verb = verb;
        this.key = key;
    }

    static Command parse(String line) {
        String[] words = line.split(" ");
        if (words.length < 2) {
            throw new IllegalArgumentException("expected: VERB KEY [FLAG...], got " + line);
        }
        Command c = new Command(words[0], words[1]);
        for (int i = 2; i < words.length; i++) {
            int eq = words[i].indexOf('=');
            if (eq < 0) {
                c.flags.put(words[i], "true");
            } else {
                c.flags.put(words[i].substring(0, eq), words[i].substring(eq + 1));
            }
        }
        return c;
    }

    String sort() {
        return flags.get("sort");
    }

    String id() {
        return id(key, sort());
    }

    /** Identifies a lock by partition and optional sort key. */
    static String id(String key, String sort) {
        return sort == null ? key : key + "\u0000" + sort;
    }
}
