// Package dynamostore is a backend.Store on Amazon DynamoDB (aws-sdk-go-v2).
//
// Applications use it through package lock:
//
//	store, err := dynamostore.New(dynamodb.NewFromConfig(cfg), "locks", nil)
//	client, err := lock.New(store)
//
// # Item format
//
// Each lock is one item, written in the format of Amazon's Java
// AmazonDynamoDBLockClient 1.4.0 (key, ownerName, leaseDuration in
// milliseconds as S, recordVersionNumber, data as B, isReleased "1"), so
// Java services and leaselock can contend on one table. leaselock adds
// fencingToken (N) and, when Options.TTLAttribute is set, a TTL epoch (N);
// its versions are UUIDv7s that carry the write's time. The item format is
// written out once, attribute by attribute, in docs/dynamodb.md ("Items"),
// and pinned by golden tests; docs/java-interop.md says what each client
// writes differently.
//
// Options.Format = FormatPython writes the item of the Python
// python_dynamodb_lock 0.9.1 instead (lock_key, sort_key, owner_name,
// lease_duration in seconds, record_version_number, expiry_time). The
// Python client knows no released marker, so releases must delete
// (ReleaseByDelete), and the fencing counter lives in a counter item
// beside the lock (FencingCounterItem, fence.go), which costs an
// acquisition three requests. Everything that differs between the formats
// is in one itemFormat value (format.go).
//
// # Requests
//
// Every write is one conditional request:
//
//   - Acquire is one UpdateItem, conditional on the key being absent or
//     released (or on the expected version for a takeover); it adds 1 to
//     fencingToken and returns the old item, which tells exactly which
//     record it replaced. Acquiring a free key therefore costs one request,
//     not the Get+Put of the Java client.
//   - Update (heartbeat, data change, release by marking) is one UpdateItem
//     conditional on the version; Delete is one conditional DeleteItem.
//   - A refused write asks DynamoDB for the current item
//     (ReturnValuesOnConditionCheckFailure), so the conflict carries the
//     current holder at no extra cost. Only on servers that ignore that
//     parameter (dynalite) does the store fall back to one consistent
//     GetItem; it detects such servers by itself (see ConflictReads).
//   - Get is one strongly consistent GetItem.
//
// Expressions use placeholders only: no user string is ever part of an
// expression.
//
// # Errors
//
// A refused condition is a *backend.ConflictError. Throttling and 5xx are
// retried by the SDK's retryer (see Retries); a throttle that outlasts the
// retries is backend.ErrUnavailable. A write that may have been applied —
// the request was sent and then the connection failed, timed out or
// answered 5xx — is a *backend.AmbiguousError; the engine resolves it by
// reading the record. Note that the SDK retries a write whose response was
// lost by itself, so an applied conditional write can come back as a
// conflict whose Current carries the version the caller wrote; the engine
// checks for that. Requests DynamoDB rejects outright (key too long, item
// over 400 KB, missing table) wrap backend.ErrInvalid.
//
// # Guarded writes
//
// WriteGuarded commits the application's own TransactWriteItems together
// with a ConditionCheck that the lock is still held by the guard's owner
// with the guard's fencing token, and not released. It needs a server with
// transactions (DynamoDB, moto; not dynalite).
package dynamostore
