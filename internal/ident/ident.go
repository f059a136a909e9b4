// Package ident names processes: the default ID of a worker or scheduler,
// as it appears in leases, leadership and logs.
package ident

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
)

// New returns "host-pid-random": readable in logs, unique across restarts
// of the same process ID.
func New() string {
	host, _ := os.Hostname()
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}
