package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version may be set at link time (-ldflags "-X main.version=v1.2.3");
// otherwise the module version and VCS stamp Go records in the binary are
// shown.
var version = ""

const versionHelp = `
Usage: leaselock version   (or leaselock --version)

Prints leaselock's version, the commit it was built from when known, and
the Go version and platform.

Exit codes: 0.
`

func runVersion(ctx context.Context, e *env, args []string) error {
	fs := newFlags("version")
	pos, _, err := parse(e, fs, versionHelp, args, 0)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("version", "unexpected argument %s", shown(pos[0], msgWidth))
	}
	fmt.Fprintln(e.stdout, versionLine())
	return nil
}

// versionLine is "leaselock VERSION (commit C, DATE, modified) GO OS/ARCH".
func versionLine() string {
	stamp := ""
	if info, ok := debug.ReadBuildInfo(); ok {
		var rev, when, dirty string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = ", modified"
				}
			}
		}
		if rev != "" {
			stamp = fmt.Sprintf(" (commit %.12s", rev)
			if when != "" {
				stamp += ", " + when
			}
			stamp += dirty + ")"
		}
	}
	return fmt.Sprintf("leaselock %s%s %s %s/%s", versionName(), stamp, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// versionName is the version set at link time, else the module version
// Go recorded, else "devel".
func versionName() string {
	v := version
	if info, ok := debug.ReadBuildInfo(); ok && v == "" {
		v = info.Main.Version
	}
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	return v
}
