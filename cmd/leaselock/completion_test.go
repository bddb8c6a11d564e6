package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// helpFlags lists the flags a command's --help shows, independently of
// how completion finds them.
func helpFlags(t *testing.T, args ...string) []string {
	t.Helper()
	r := mustCLI(t, append(args, "--help")...)
	var flags []string
	for _, m := range regexp.MustCompile(`(?m)^  (--[a-z-]+)`).FindAllStringSubmatch(r.stdout, -1) {
		flags = append(flags, m[1])
	}
	return flags
}

// TestCompletionScripts: every command, table subcommand and flag that
// --help documents is in each shell's script.
func TestCompletionScripts(t *testing.T) {
	t.Parallel()
	cmds := [][]string{{"table", "create"}, {"table", "describe"}}
	for _, c := range commands() {
		if c.name != "table" {
			cmds = append(cmds, []string{c.name})
		}
	}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		script := mustCLI(t, "completion", shell).stdout
		for _, c := range commands() {
			requireContains(t, script, c.name)
		}
		for _, c := range cmds {
			flags := helpFlags(t, c...)
			if len(flags) == 0 && c[0] != "completion" && c[0] != "version" {
				t.Errorf("%v --help lists no flags", c)
			}
			for _, f := range flags {
				want := f
				if shell == "fish" {
					want = "-l " + strings.TrimPrefix(f, "--")
				}
				if !strings.Contains(script, want) {
					t.Errorf("%s script lacks %s of %v", shell, f, c)
				}
			}
		}
	}
	r := cli(t, nil, "completion", "tcsh")
	requireCode(t, r, exitUsage)
	requireContains(t, r.stderr, "unknown shell tcsh")
}

// completionCases are typed command lines (the last word is completed)
// and a completion each shell must offer.
var completionCases = []struct{ line, want string }{
	{"leaselock ho", "hold"},
	{"leaselock table d", "describe"},
	{"leaselock table create --bil", "--billing"},
	{"leaselock table create --billing pro", "provisioned"},
	{"leaselock run --store dynamodb://t --conflict", "--conflict-exit-code"},
	{"leaselock --store dynamodb://t run --gr", "--grace"},
	{"leaselock run --store dynamodb://t k -- ech", "echo"},
	{"leaselock ls --par", "--partition"},
	{"leaselock completion fi", "fish"},
	{"leaselock ls --store post", "postgres://"},
	{"leaselock run --store dyn", "dynamodb://"},
}

// TestCompletionInShells loads each script into its real shell, where the
// shell exists, and asks it for completions.
func TestCompletionInShells(t *testing.T) {
	t.Parallel()
	for _, shell := range []string{"bash", "zsh", "fish"} {
		t.Run(shell, func(t *testing.T) {
			t.Parallel()
			path, err := exec.LookPath(shell)
			if err != nil {
				// The test command installs them (scripts/install-shells.sh).
				if os.Getenv("LEASELOCK_REQUIRE_SERVERS") == "1" {
					t.Fatalf("no %s on this host: run scripts/install-shells.sh", shell)
				}
				t.Skipf("no %s on this host", shell)
			}
			file := filepath.Join(t.TempDir(), "leaselock."+shell)
			if err := os.WriteFile(file, []byte(mustCLI(t, "completion", shell).stdout), 0o600); err != nil {
				t.Fatal(err)
			}
			if shell != "bash" {
				if out, err := exec.Command(path, "-n", file).CombinedOutput(); err != nil {
					t.Fatalf("%s -n: %v\n%s", shell, err, out)
				}
			}
			for _, tc := range completionCases {
				words := strings.Fields(tc.line)
				var cmd *exec.Cmd
				switch shell {
				case "bash":
					cmd = exec.Command(path, append([]string{"--norc", "-c", `source "$1"; shift; COMP_WORDS=("$@"); ` +
						`COMP_CWORD=$(($# - 1)); _leaselock; printf '%s\n' "${COMPREPLY[@]}"`, "bash", file}, words...)...)
				case "zsh":
					// Under bashcompinit the function runs with ksharrays;
					// zsh itself then filters by the typed prefix.
					cmd = exec.Command(path, append([]string{"-f", "-c", `source "$1"; shift; setopt ksharrays; ` +
						`COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _leaselock; print -rl -- "${COMPREPLY[@]}"`, "zsh", file}, words...)...)
				case "fish":
					cmd = exec.Command(path, "--no-config", "-c", `source $argv[1]; complete -C $argv[2]`, file, tc.line)
				}
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("%q: %v\n%s", tc.line, err, out)
				}
				found := false
				for _, got := range strings.Split(string(out), "\n") {
					word, _, _ := strings.Cut(got, "\t") // fish adds a description
					found = found || word == tc.want
				}
				if !found {
					t.Errorf("%q: completions %q lack %q", tc.line, out, tc.want)
				}
			}
		})
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--version"}, {"version"}} {
		r := mustCLI(t, args...)
		if !regexp.MustCompile(`^leaselock \S+ .*go1\.\d+.* \w+/\w+\n$`).MatchString(r.stdout) {
			t.Errorf("%v: %q", args, r.stdout)
		}
	}
}
