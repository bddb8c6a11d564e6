package testservers

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
)

// libraryModule starts the library's go.mod; nested modules' go.mod files
// (otelock, internal/dynamodblocal) are passed over on the way up.
var libraryModule = []byte("module github.com/leaselock/leaselock\n")

var repoRoot = sync.OnceValues(func() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if mod, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(mod, libraryModule) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testservers: no go.mod of github.com/leaselock/leaselock above the working directory")
		}
		dir = parent
	}
})

// RepoRoot returns the directory holding the library's go.mod, found by
// walking up from the working directory (a test's working directory is its
// package folder, possibly in a nested module).
func RepoRoot() (string, error) { return repoRoot() }
