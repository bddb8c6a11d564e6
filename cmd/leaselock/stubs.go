package main

import (
	"context"
	"errors"
)

func runTable(ctx context.Context, e *env, args []string) error {
	return errors.New("not implemented yet")
}
func runLs(ctx context.Context, e *env, args []string) error {
	return errors.New("not implemented yet")
}
func runGet(ctx context.Context, e *env, args []string) error {
	return errors.New("not implemented yet")
}
func runRelease(ctx context.Context, e *env, args []string) error {
	return errors.New("not implemented yet")
}
func runRun(ctx context.Context, e *env, args []string) error {
	return errors.New("not implemented yet")
}
func classify(err error) *exitError { return &exitError{code: exitSoftware, err: err} }
