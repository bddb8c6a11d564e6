// Package netfault is a loopback TCP proxy that cuts connections at the two
// moments a network store must tell apart when it classifies a failure:
//
//   - CutBeforeRequest: the client's request never reaches the server. The
//     write was certainly not applied, though the client, which had sent
//     its bytes, cannot know that; backend.ErrUnavailable or
//     backend.ErrAmbiguous are both honest.
//   - CutAfterRequest: the server received the request and answered, and
//     the answer is dropped. The write WAS applied; the only honest reports
//     are success (if the store resolved it itself) or backend.ErrAmbiguous.
//     ErrUnavailable here tells the engine a write that landed did not,
//     and it may then give up a lock it holds, or think a key it holds free.
//
// A store author puts a Proxy between the store's client and a real server
// (Start(t, serverAddr), then point the client at p.Addr()), switches the
// mode around one call, and checks the error kind and, through a second
// client connected directly, what the server holds. conformance.RunStore
// does exactly that when the harness supplies NewStoresBehindProxy.
//
// The mode is read as each request begins, so pooled keep-alive
// connections opened while passing are cut too. SetModeAfter lets a number
// of requests pass first, so a write made of several exchanges (a SQL
// transaction) can be cut at each of them; the proxy knows no protocol and
// counts request-answer turns. Only 127.0.0.1 is used.
package netfault
