// Command leaselock is the operator's tool for leaselock: a demo of the
// lease model, DynamoDB table administration, lock inspection, force-release
// and running a command under a distributed lock. See docs/cli.md.
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
