package testservers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// serversDir holds, under the repository root, the servers' pins (npm and
// pip), the scripts the tests start them with, and dynalite's node_modules
// once scripts/install-test-servers.sh has run.
var serversDir = filepath.Join("internal", "testservers", "servers")

// Kind names a DynamoDB-compatible server.
type Kind string

const (
	// Dynalite is dynalite 4.0.0 (Node.js, LevelDB in memory). It lacks
	// transactions and TTL and ignores ReturnValuesOnConditionCheckFailure.
	Dynalite Kind = "dynalite"
	// Moto is moto_server 5.2.5 (Python) with its requests serialised by
	// internal/testservers/servers/moto_serial.py. It has transactions and TTL.
	Moto Kind = "moto"
	// MotoThreaded is plain moto_server, which serves requests on
	// concurrent threads without locking its DynamoDB state: concurrent
	// conditional writes on one item can both succeed. Only for measuring
	// that gap; test against Moto.
	MotoThreaded Kind = "moto-threaded"
)

// ErrNotInstalled reports that a server's files are missing; run
// scripts/install-test-servers.sh.
var ErrNotInstalled = errors.New("testservers: server not installed; run scripts/install-test-servers.sh")

// ErrExited is matched by Server.Err once the server process has exited.
var ErrExited = errors.New("testservers: server process exited")

// startTimeout bounds how long a server may take to answer its health check.
const startTimeout = 60 * time.Second

// exitTailBytes is how much of a dead server's output its Err carries: the
// last few dozen lines, enough for a stack trace.
const exitTailBytes = 3 << 10

// Server is one running server process listening on loopback.
type Server struct {
	Kind     Kind
	Endpoint string // http://127.0.0.1:PORT

	cmd      *exec.Cmd
	out      *TailBuffer
	life     context.Context // cancelled once the process has exited and exitErr is set
	exitErr  error
	stopping atomic.Bool // Stop killed it: its exit is expected
	stop     sync.Once
}

// options are the knobs of Start that only this package's tests turn.
type options struct {
	noGuard bool // start dynalite without internal/testservers/servers/dynalite_guard.js
}

// command returns the argv that starts kind on port, or ErrNotInstalled.
func command(kind Kind, root string, port int, o options) ([]string, error) {
	p := strconv.Itoa(port)
	switch kind {
	case Dynalite:
		cli := filepath.Join(root, serversDir, "node_modules", "dynalite", "cli.js")
		if _, err := os.Stat(cli); err != nil {
			return nil, fmt.Errorf("%w (%s missing)", ErrNotInstalled, cli)
		}
		node, err := exec.LookPath("node")
		if err != nil {
			return nil, fmt.Errorf("%w (node not on PATH)", ErrNotInstalled)
		}
		// node directly, not npx: the PID we hold must be the server's.
		argv := []string{node}
		if !o.noGuard {
			// dynalite exits on a client's aborted request; see the script.
			argv = append(argv, "-r", filepath.Join(root, serversDir, "dynalite_guard.js"))
		}
		return append(argv, cli, "--host", "127.0.0.1", "--port", p,
			"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"), nil
	case Moto, MotoThreaded:
		bin := filepath.Join(root, ".cache", "venv", "bin", "moto_server")
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("%w (%s missing)", ErrNotInstalled, bin)
		}
		if kind == MotoThreaded {
			return []string{bin, "-H", "127.0.0.1", "-p", p}, nil
		}
		python := filepath.Join(root, ".cache", "venv", "bin", "python")
		wrapper := filepath.Join(root, serversDir, "moto_serial.py")
		return []string{python, wrapper, "-H", "127.0.0.1", "-p", p}, nil
	}
	return nil, fmt.Errorf("testservers: unknown server kind %q", kind)
}

// Start launches a server of the given kind on a free loopback port and
// waits until it answers its health check. Stop it with Stop.
func Start(ctx context.Context, kind Kind) (*Server, error) {
	return start(ctx, kind, options{})
}

func start(ctx context.Context, kind Kind, o options) (*Server, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	var lastErr error
	// The port is free when we pick it but could be taken before the server
	// binds it; try a few ports before giving up.
	for range 3 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		argv, err := command(kind, root, port, o)
		if err != nil {
			return nil, err
		}
		s, err := launch(ctx, kind, root, argv, port)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func launch(ctx context.Context, kind Kind, root string, argv []string, port int) (*Server, error) {
	life, ended := context.WithCancel(context.Background())
	s := &Server{
		Kind:     kind,
		Endpoint: "http://127.0.0.1:" + strconv.Itoa(port),
		out:      NewTailBuffer(16 << 10),
		life:     life,
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = root
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = s.out, s.out
	cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
	configureProcess(cmd)
	if err := cmd.Start(); err != nil {
		ended()
		return nil, fmt.Errorf("testservers: start %s: %w", kind, err)
	}
	s.cmd = cmd
	go func() {
		err := cmd.Wait()
		how := "exited"
		if s.stopping.Load() {
			how = "was stopped"
		}
		s.exitErr = fmt.Errorf("%w: %s (pid %d) %s: %v\n--- last output of %s ---\n%s--- end of %s output ---",
			ErrExited, kind, cmd.Process.Pid, how, err, kind, s.out.Tail(exitTailBytes), kind)
		ended()
	}()
	if err := s.awaitHealthy(ctx); err != nil {
		_ = s.Stop()
		return nil, fmt.Errorf("testservers: %s did not become ready: %w\n--- server output ---\n%s", kind, err, s.out.String())
	}
	return s, nil
}

// Done is closed once the server process has exited, whatever the reason.
func (s *Server) Done() <-chan struct{} { return s.life.Done() }

// Err is nil while the server process runs. Once it has exited, Err
// matches ErrExited and says how, followed by the last lines the server
// printed: the reason a crashed server gives is usually there.
func (s *Server) Err() error {
	if s.life.Err() == nil {
		return nil
	}
	return s.exitErr
}

// crashed reports whether the process exited without Stop being called.
func (s *Server) crashed() bool { return s.Err() != nil && !s.stopping.Load() }

// awaitHealthy polls the server's health endpoint: dynalite answers GET /
// with "healthy: ..."; moto answers GET /moto-api/ with 200.
func (s *Server) awaitHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	url := s.Endpoint + "/"
	if s.Kind != Dynalite {
		url = s.Endpoint + "/moto-api/"
	}
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if ok := probe(ctx, hc, url, s.Kind); ok {
			return nil
		}
		select {
		case <-s.Done():
			return s.Err()
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func probe(ctx context.Context, hc *http.Client, url string, kind Kind) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if kind == Dynalite {
		return strings.HasPrefix(string(body), "healthy")
	}
	return resp.StatusCode == http.StatusOK
}

// Stop kills the server process (and its process group) and waits for it to
// exit. It is safe to call more than once.
func (s *Server) Stop() error {
	s.stop.Do(func() {
		s.stopping.Store(true)
		killProcess(s.cmd)
		select {
		case <-s.Done():
		case <-time.After(10 * time.Second):
		}
	})
	select {
	case <-s.Done():
		return nil
	default:
		return fmt.Errorf("testservers: %s (pid %d) did not exit", s.Kind, s.cmd.Process.Pid)
	}
}

// Output returns the last few KiB the server printed, for failure messages.
func (s *Server) Output() string { return s.out.String() }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("testservers: pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// TailBuffer keeps the last bytes written to it: moto logs a line per
// request (and a JVM its stack traces), and only the end matters when a
// process fails. Safe for concurrent use.
type TailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

// NewTailBuffer keeps the last max bytes.
func NewTailBuffer(max int) *TailBuffer { return &TailBuffer{max: max} }

func (b *TailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *TailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(bytes.ToValidUTF8(b.buf, nil))
}

// Tail returns about the last n bytes kept, from the start of a line, and
// ending in a newline.
func (b *TailBuffer) Tail(n int) string {
	s := b.String()
	if len(s) > n {
		s = s[len(s)-n:]
		if i := strings.IndexByte(s, '\n'); i >= 0 && i < len(s)-1 {
			s = s[i+1:]
		}
	}
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return s
}
