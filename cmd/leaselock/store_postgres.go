package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/leaselock/leaselock/backend"
	"github.com/leaselock/leaselock/pgstore"
)

// postgresURLHelp spells a PostgreSQL store URL.
const postgresURLHelp = `postgres://USER:PASSWORD@HOST:PORT/DATABASE?table=NAME&sslmode=MODE`

// pgOwnParams are leaselock's parameters of a postgres:// URL; they are
// taken out before the URL goes to pgx.
var pgOwnParams = []string{"table"}

// pgxParams are the parameters pgx reads itself (pgconn, pgx and pgxpool).
// pgx would send any other name to the server as a setting, which fails
// the connection ("unrecognized configuration parameter"); leaselock
// refuses such names up front, as libpq does, so a misspelt table= is a
// usage error. Server settings go in options=-c NAME=VALUE.
var pgxParams = []string{
	"host", "port", "dbname", "user", "password", "passfile", "connect_timeout",
	"sslmode", "ssl", "sslkey", "sslcert", "sslcertmode", "sslrootcert", "sslnegotiation", "sslpassword", "sslsni",
	"krbspn", "krbsrvname", "target_session_attrs", "service", "servicefile",
	"min_protocol_version", "max_protocol_version", "channel_binding", "require_auth",
	"application_name", "options",
	"statement_cache_capacity", "description_cache_capacity", "default_query_exec_mode",
	"pool_max_conns", "pool_min_conns", "pool_min_idle_conns", "pool_max_conn_lifetime", "pool_max_conn_idle_time",
	"pool_health_check_period", "pool_max_conn_lifetime_jitter", "pool_ping_timeout",
}

// maxIdentBytes is PostgreSQL's limit on a name (NAMEDATALEN - 1): a
// longer one is cut silently, so two long table names could meet.
const maxIdentBytes = 63

// identRE is a plain SQL identifier, as pgstore takes a table name.
var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// pgSpec is a parsed postgres:// (or postgresql://) store URL.
type pgSpec struct {
	masked string          // the URL for messages, its passwords masked
	table  string          // the lock table as table= names it, maybe schema-qualified
	conn   *pgxpool.Config // pgx's reading of the rest, PG* environment variables included
}

// parsePostgresURL parses postgres://USER:PASSWORD@HOST:PORT/DATABASE?query.
// table= is leaselock's; everything else is pgx's, which splits the URL as
// libpq does (several hosts, a '@' or '?' in a password...). Unknown,
// repeated and empty parameters are errors: pgx would silently take the
// last of repeated ones, and send an unknown one to the server as a
// setting.
// Messages show the URL with its password masked.
func parsePostgresURL(raw string) (pgSpec, error) {
	spec := pgSpec{masked: maskPassword(raw), table: pgstore.DefaultTable}
	bad := func(format string, args ...any) (pgSpec, error) {
		return spec, fmt.Errorf("bad store URL %s: %s", shown(spec.masked, msgWidth), fmt.Sprintf(format, args...))
	}
	base, query := splitQuery(raw)
	var pairs, kept []string
	if query != "" {
		pairs = strings.Split(query, "&")
	}
	seen := map[string]bool{}
	for _, pair := range pairs {
		rawName, rawValue, _ := strings.Cut(pair, "=")
		name, err := url.PathUnescape(rawName)
		if err != nil {
			return bad("parameter %s: %v", shown(rawName, msgWidth), err)
		}
		value, err := url.PathUnescape(rawValue)
		if err != nil {
			if !secretParam(name) {
				return bad("%s=: %v", shown(name, msgWidth), err)
			}
			value = rawValue // pgx says what is wrong with it, without quoting it
		}
		switch {
		case name == "":
			return bad("a parameter without a name")
		case !slices.Contains(pgOwnParams, name) && !slices.Contains(pgxParams, name):
			if slices.Contains(dynamoParams, name) {
				return bad("%s= is a parameter of dynamodb:// URLs", name)
			}
			return bad("unknown parameter %q (leaselock's: %s; pgx's connection parameters, like sslmode= and "+
				"connect_timeout=, pass through; server settings go in options=-c NAME=VALUE)",
				shown(name, msgWidth), strings.Join(pgOwnParams, ", "))
		case seen[name]:
			return bad("%s= given more than once", name)
		case strings.TrimSpace(value) == "":
			return bad("%s= is empty: give a value or leave the parameter out", name)
		}
		seen[name] = true
		if name == "table" {
			spec.table = value
			continue
		}
		kept = append(kept, pair)
	}
	if err := checkTableName(spec.table); err != nil {
		return bad("table=%s %v", shown(spec.table, msgWidth), err)
	}
	connString := base
	if len(kept) > 0 {
		connString += "?" + strings.Join(kept, "&")
	}
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		var pe *pgconn.ParseConfigError
		msg := err.Error()
		if errors.As(err, &pe) {
			// "cannot parse `URL`: what": the URL is ours to show, masked.
			if i := strings.LastIndex(msg, "`: "); i >= 0 {
				msg = msg[i+3:]
			}
		}
		msg = scrubPasswords(raw, msg)
		var pathErr *fs.PathError
		if errors.As(err, &pathErr) {
			return spec, fail(exitConfig, fmt.Errorf("store URL %s: %s", shown(spec.masked, msgWidth), msg),
				"Check the files the store URL or the PG* environment variables name (sslrootcert=, sslcert=, sslkey=, passfile=).")
		}
		return bad("%s", msg)
	}
	spec.conn = cfg
	return spec, nil
}

// splitQuery splits a postgres:// URL before its query, as libpq does:
// the user information ends at the first '@' before any '/', so a '?' in
// a password does not start the query. The scheme comes back in lower
// case, the only case pgx reads.
func splitQuery(raw string) (base, query string) {
	scheme, rest, _ := strings.Cut(raw, "://")
	scheme = strings.ToLower(scheme)
	from := 0
	if i := strings.IndexAny(rest, "@/"); i >= 0 && rest[i] == '@' {
		from = i + 1
	}
	q := strings.IndexByte(rest[from:], '?')
	if q < 0 {
		return scheme + "://" + rest, ""
	}
	return scheme + "://" + rest[:from+q], rest[from+q+1:]
}

// checkTableName applies pgstore's rule for a table name (at most
// schema.table, each part a plain identifier) and PostgreSQL's length
// limit; the error completes "table=NAME ...".
func checkTableName(name string) error {
	parts := strings.Split(name, ".")
	if len(parts) > 2 {
		return errors.New("is not TABLE or SCHEMA.TABLE")
	}
	for _, p := range parts {
		switch {
		case !identRE.MatchString(p):
			return fmt.Errorf("is not TABLE or SCHEMA.TABLE with plain identifiers (%q: letters, digits and _, not starting with a digit)", p)
		case len(p) > maxIdentBytes:
			return fmt.Errorf("is too long: PostgreSQL names have at most %d bytes (%q)", maxIdentBytes, p)
		}
	}
	return nil
}

func secretParam(name string) bool { return name == "password" || name == "sslpassword" }

// maskPassword masks the password of a store URL, and any password= or
// sslpassword= parameter, for messages.
func maskPassword(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	if from, to, ok := passwordSpan(rest); ok {
		rest = rest[:from] + "xxxxx" + rest[to:]
	}
	base, query, hasQuery := strings.Cut(rest, "?")
	if !hasQuery {
		return scheme + "://" + rest
	}
	pairs := strings.Split(query, "&")
	for i, pair := range pairs {
		if name, _, ok := strings.Cut(pair, "="); ok {
			if n, err := url.PathUnescape(name); err == nil && secretParam(n) {
				pairs[i] = name + "=xxxxx"
			}
		}
	}
	return scheme + "://" + base + "?" + strings.Join(pairs, "&")
}

// passwordSpan finds the password in what follows a URL's "://". It does
// not trust the URL to be well formed, nor read it as any one parser
// would: the password runs from the first ':' to the last '@', which
// covers it however a '@', '/' or '?' in it would have split the URL. A
// '@' in the query (application_name=me@host) makes it take more than the
// password, never less.
func passwordSpan(rest string) (from, to int, ok bool) {
	colon := strings.IndexByte(rest, ':')
	at := strings.LastIndexByte(rest, '@')
	if colon < 0 || at < colon {
		return 0, 0, false
	}
	return colon + 1, at, true
}

// scrubPasswords masks in msg every password raw carries, in case a
// parser's message quoted one.
func scrubPasswords(raw, msg string) string {
	var secrets []string
	if _, rest, ok := strings.Cut(raw, "://"); ok {
		if from, to, ok := passwordSpan(rest); ok {
			secrets = append(secrets, rest[from:to])
		}
		// The password as libpq and pgx read it: up to the first '@'
		// before any '/'.
		if i := strings.IndexAny(rest, "@/"); i >= 0 && rest[i] == '@' {
			if _, pw, ok := strings.Cut(rest[:i], ":"); ok {
				secrets = append(secrets, pw)
			}
		}
		if _, query, ok := strings.Cut(rest, "?"); ok {
			for _, pair := range strings.Split(query, "&") {
				if name, value, ok := strings.Cut(pair, "="); ok && secretParam(name) {
					secrets = append(secrets, value)
				}
			}
		}
	}
	for _, s := range slices.Clone(secrets) {
		if d, err := url.PathUnescape(s); err == nil {
			secrets = append(secrets, d)
		}
	}
	// Longest first, so a password that holds another is masked whole.
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
		}
	}
	return msg
}

// keyRules: pgstore's key limit; any key may have a sort key or none;
// PostgreSQL text holds no NUL byte.
func (spec pgSpec) keyRules() keyRules {
	return keyRules{store: "the PostgreSQL store", maxPartition: pgstore.MaxKeyBytes, maxSort: pgstore.MaxKeyBytes,
		sortOptional: true, nulRefused: "PostgreSQL text cannot hold one"}
}

// pgStore is an opened PostgreSQL store with its pool.
type pgStore struct {
	*pgstore.Store
	spec pgSpec
	pool *pgxpool.Pool
}

var _ store = (*pgStore)(nil)

// open makes the pool; it connects on the first request. A connection
// attempt is bounded by attempt unless connect_timeout= (or
// PGCONNECT_TIMEOUT) says otherwise.
func (spec pgSpec) open(ctx context.Context, e *env, attempt time.Duration) (store, error) {
	cfg := spec.conn.Copy()
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = attempt
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fail(exitUsage, fmt.Errorf("bad store URL %s: %w", shown(spec.masked, msgWidth), err), "")
	}
	st, err := pgstore.New(pool, pgstore.Options{Table: spec.table})
	if err != nil {
		pool.Close()
		return nil, fail(exitUsage, fmt.Errorf("bad store URL %s: %w", shown(spec.masked, msgWidth), err), "")
	}
	s := &pgStore{Store: st, spec: spec, pool: pool}
	e.where = s.where()
	return s, nil
}

func (s *pgStore) close() { s.pool.Close() }

// where names table, database and server.
func (s *pgStore) where() string {
	return fmt.Sprintf("table %q in database %q at %s", s.spec.table, s.spec.database(), s.spec.server())
}

// server names the first server pgx tries: host and port, or the socket
// directory.
func (spec pgSpec) server() string {
	c := spec.conn.ConnConfig
	if strings.HasPrefix(c.Host, "/") {
		return "the socket in " + c.Host
	}
	return net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port)))
}

// database is the database pgx connects to: the server takes the user's
// name when none is given.
func (spec pgSpec) database() string {
	if c := spec.conn.ConnConfig; c.Database != "" {
		return c.Database
	}
	return spec.conn.ConnConfig.User
}

// check makes sure the table exists with pgstore's layout. Its first
// request is also where a failure to connect shows: one that may pass
// (the server is starting up, out of connections) is marked
// backend.ErrUnavailable, so that run and hold retry it.
func (s *pgStore) check(ctx context.Context) error {
	err := s.CheckTable(ctx)
	switch {
	case err == nil:
		return nil
	case transientPG(err):
		return fmt.Errorf("%w: %w", backend.ErrUnavailable, err)
	case !errors.Is(err, pgstore.ErrSchema):
		return err
	}
	if exists, xerr := s.exists(ctx); xerr == nil && !exists {
		return &pgTableMissingError{where: s.where()}
	}
	return err
}

// transientPG reports a server's answer that says "later": connection
// exceptions (08), insufficient resources (53: too many connections),
// operator intervention (57: shutting down, starting up) and transaction
// rollbacks (40: serialization failures, deadlocks).
func transientPG(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code[:min(2, len(pgErr.Code))] {
	case "08", "53", "57", "40":
		return true
	}
	return false
}

// exists reports whether the table is there (in search_path, for a name
// without a schema).
func (s *pgStore) exists(ctx context.Context) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, s.quoted()).Scan(&ok)
	return ok, err
}

// quoted is the table name as SQL spells it.
func (s *pgStore) quoted() string {
	return pgx.Identifier(strings.Split(s.spec.table, ".")).Sanitize()
}

// pgTableMissingError: no table of that name where the store URL points.
type pgTableMissingError struct {
	where string
}

func (e *pgTableMissingError) Error() string { return e.where + ": table not found" }

const (
	hintPGTableMissing = "Check table= and the database in the store URL (and search_path, for a table name without " +
		"a schema). Create the table with 'leaselock table create' only if it exists nowhere yet: a table made in " +
		"another database or schema holds locks that nobody else sees."
	hintPGSchema = "table= names a table that is not a lock table of pgstore's layout: point table= at the lock " +
		"table ('leaselock table describe' shows the differences)."
	hintPGUnreachable = "Cannot reach PostgreSQL: check the host and port in the store URL (or PGHOST and PGPORT), " +
		"and that the server is running and accepts TCP connections."
	hintPGNoSuchHost = "No such host: check the host in the store URL (or PGHOST)."
	hintPGAuth       = "Check the user and password: in the store URL, PGUSER and PGPASSWORD, or ~/.pgpass " +
		"(PGPASSFILE); and the server's pg_hba.conf."
	hintPGDatabase = "Check the database in the store URL's path (or PGDATABASE); leaselock creates tables, not databases."
	hintPGSettings = "The server refused a setting: check options= in the store URL (and PGOPTIONS)."
	hintPGConnect  = "Check the connection parameters of the store URL (sslmode=, sslrootcert=...) and the PG* environment variables."
	hintPGGrant    = "The store URL's user needs SELECT, INSERT, UPDATE and DELETE on the lock table, and CREATE on its " +
		"schema for 'leaselock table create'."
)

// classifyPostgres reads the errors of pgstore and pgx; nil for any
// other error.
func classifyPostgres(err error) *exitError {
	var (
		missing *pgTableMissingError
		pgErr   *pgconn.PgError
		connErr *pgconn.ConnectError
		dnsErr  *net.DNSError
	)
	switch {
	case errors.As(err, &missing):
		return &exitError{exitConfig, err, hintPGTableMissing}
	case errors.Is(err, pgstore.ErrSchema):
		return &exitError{exitConfig, err, hintPGSchema}
	case errors.As(err, &pgErr):
		switch code := pgErr.Code; {
		case strings.HasPrefix(code, "28"): // invalid authorization: password, pg_hba.conf
			return &exitError{exitConfig, err, hintPGAuth}
		case code == "3D000": // invalid_catalog_name: no such database
			return &exitError{exitConfig, err, hintPGDatabase}
		case code == "42P01": // undefined_table: dropped since the check
			return &exitError{exitConfig, err, hintPGTableMissing}
		case code == "42501": // insufficient_privilege
			return &exitError{exitConfig, err, hintPGGrant}
		case errors.As(err, &connErr) && (strings.HasPrefix(code, "42") || strings.HasPrefix(code, "22")):
			return &exitError{exitConfig, err, hintPGSettings}
		case transientPG(err):
			return &exitError{exitUnavailable, err, hintFailing}
		}
	case errors.As(err, &connErr):
		switch {
		case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
			return &exitError{exitConfig, err, hintPGNoSuchHost}
		case unavailable(err):
			return &exitError{exitUnavailable, err, hintPGUnreachable}
		}
		return &exitError{exitConfig, err, hintPGConnect}
	}
	return nil
}
