// Package pyinterop proves that leaselock, in dynamostore's FormatPython,
// and the Python python_dynamodb_lock 0.9.1 can contend on one DynamoDB
// table. It holds tests only.
//
// Each test starts the real Python client (installed from its pin,
// requirements.txt here, into the test virtualenv .cache/venv by
// scripts/install-test-servers.sh) through driver.py, a small program that
// reads one command per line and answers with one line, against the
// loopback DynamoDB emulators (dynalite, moto) the other packages use, each
// test on its own table. The tests check what each side sees of the other:
// who holds a key, how long a crashed holder (SIGKILL) blocks the other
// side, that releases cross over at once, data and additional attributes,
// tables created by either side, races for a free key, and what happens to
// fencing tokens. docs/python-interop.md reports the results.
//
// Without the virtualenv, the library or the emulators the tests skip with
// a message naming the install script; with LEASELOCK_REQUIRE_SERVERS=1
// (as CI sets it) they fail instead.
package pyinterop
