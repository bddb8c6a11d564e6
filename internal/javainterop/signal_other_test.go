//go:build !unix

package javainterop

import "testing"

func pause(t *testing.T, _ *javaClient) { t.Skip("needs SIGSTOP") }

func resume(*testing.T, *javaClient) {}
