package testservers

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
)

// rootModule is the module path of the repository root. Nested modules
// (benchmarks/, internal/dynamodblocal/) have go.mod files of their own and
// may use this package too, so the walk up skips every other go.mod.
const rootModule = "github.com/leaselock/leaselock"

var repoRoot = sync.OnceValues(func() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if modulePath(filepath.Join(dir, "go.mod")) == rootModule {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testservers: no go.mod of module " + rootModule + " above the working directory")
		}
		dir = parent
	}
})

// modulePath returns the module path a go.mod declares, "" if the file is
// missing or declares none.
func modulePath(gomod string) string {
	data, err := os.ReadFile(gomod)
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) == 2 && string(f[0]) == "module" {
			return string(bytes.Trim(f[1], `"`))
		}
	}
	return ""
}

// RepoRoot returns the repository root: the directory holding the go.mod of
// module github.com/leaselock/leaselock, found by walking up from the working
// directory (a test's working directory is its package folder, possibly in
// a nested module).
func RepoRoot() (string, error) { return repoRoot() }
