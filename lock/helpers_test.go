package lock_test

import "github.com/leaselock/leaselock/backend"

var backendListAll = backend.ListRequest{}
