// Package javainterop proves that leaselock and Amazon's Java lock client
// (AmazonDynamoDBLockClient, Maven artifact com.amazonaws:dynamodb-lock-client
// 1.4.0) can contend on one DynamoDB table. It holds tests only.
//
// Each test starts the real Java client in a JVM (internal/javainterop/java, built by
// scripts/install-java-interop.sh) and drives it by a line protocol on its
// standard input and output, against the same loopback DynamoDB emulators
// (dynalite, moto) the other packages use, each test on its own table made
// by dynamostore's table management. The tests check what each side sees of
// the other's records: who holds a key, when a dead holder may be taken
// over, released and deleted records, data, extra attributes, composite keys
// and races for a free key. They also measure the limits, chiefly that a Java
// acquisition replaces the whole item and so restarts leaselock's fencing
// counter. docs/java-interop.md reports the results.
//
// Without the built driver, java on PATH or the emulators, the tests skip
// with a message naming the install script; with LEASELOCK_REQUIRE_SERVERS=1
// (as CI sets it) they fail instead.
package javainterop
