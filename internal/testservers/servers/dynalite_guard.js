// dynalite_guard.js keeps dynalite alive when a client aborts a request.
//
// dynalite 4.0.0 rethrows every request error from the request's 'error'
// listener (index.js: req.on('error', function (err) { throw err })). When a
// client closes its connection while dynalite is still reading the body (an
// SDK call cancelled on a deadline does that, and under load it happens
// often), Node emits 'aborted' as a request error, nothing catches the throw,
// and the whole server exits: every later test then fails or waits on a
// dead endpoint.
//
// The aborted request has no one left to answer, so there is nothing to
// recover: log the error (the test harness keeps the server's output and
// shows its tail when something fails) and go on serving the other
// connections. Preloaded with node's -r flag:
//
//     node -r testservers/dynalite_guard.js node_modules/dynalite/cli.js ...
'use strict'

process.on('uncaughtException', function (err) {
  var what = (err && err.stack) || String(err)
  console.error('dynalite_guard: ignored uncaught exception: ' + what)
})

console.error('dynalite_guard: installed (pid ' + process.pid + ')')
