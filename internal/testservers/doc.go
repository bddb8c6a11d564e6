// Package testservers starts real DynamoDB-compatible servers on loopback for
// tests: dynalite (Node.js) and moto (Python). Both are installed into the
// repository by scripts/install-test-servers.sh; nothing is downloaded here.
//
// Each server is started at most once per test binary, on first use, and
// shared by every test in the package; tests isolate themselves by giving
// each test its own table (see TableName). A package that uses the servers
// stops them from its TestMain:
//
//	func TestMain(m *testing.M) { testservers.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		srv := testservers.Get(t, testservers.Moto) // skips if not installed
//		client := srv.Client()
//		table := testservers.TableName(t)
//		ctx := srv.Context(t) // bounded; ends if the server dies
//		...
//	}
//
// dynalite runs with internal/testservers/servers/dynalite_guard.js preloaded: dynalite
// 4.0.0 exits when a client aborts a request mid-body, and the guard logs
// that and goes on.
//
// A server that dies anyway fails its tests within moments, with the end of
// its output: calls through Server.Client end at once (they are cancelled,
// so neither the SDK nor the lock engine retries them), Server.Context and
// Context give tests bounded contexts that also end when a server dies, and
// Get fails the tests that come after. Every request of NewHTTPClient has
// RequestTimeout as a last bound.
//
// When a server is not installed, Get skips the test with a message naming
// the install script, or fails it when LEASELOCK_REQUIRE_SERVERS=1 (as CI
// sets it): a skipped suite is not a passed suite.
package testservers
