package sessiontable_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/sessiontable"
)

// The record of an idle session without parameters stays one small
// listpack hash, under 400 bytes by MEMORY USAGE (the README's figure).
func TestMemoryPerIdleSession(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tbl, rdb := newTable(t, sessiontable.Config{})
	for _, spec := range []sessiontable.Spec{
		{},
		{Owner: "alice@example.com", TID: "terminal-0042"},
		{Owner: strings.Repeat("o", 64), TID: strings.Repeat("t", 64), Lifetime: 24 * time.Hour},
	} {
		id := create(t, tbl, spec)
		n, err := rdb.MemoryUsage(ctx, keys.Session(id), 0).Result()
		require.NoError(t, err)
		enc, err := rdb.ObjectEncoding(ctx, keys.Session(id)).Result()
		require.NoError(t, err)
		t.Logf("MEMORY USAGE of the record (owner %d bytes, TID %d bytes): %d bytes, encoding %s",
			len(spec.Owner), len(spec.TID), n, enc)
		require.Equal(t, "listpack", enc)
		require.Less(t, n, int64(400))
		require.Equal(t, []string{keys.Session(id)}, sessionKeys(t, rdb, id), "an idle session without parameters has one key")
	}
}

// The whole footprint of an idle session, indexes and TID binding
// included, measured as used_memory growth on a Redis server of its own.
func TestMemoryFootprint(t *testing.T) {
	if testing.Short() {
		t.Skip("creates thousands of sessions")
	}
	ctx := context.Background()
	p := redistest.Spawn(t, redistest.SpawnOptions{})
	rdb := p.Client(t)
	tbl, err := sessiontable.New(rdb, sessiontable.Config{Logger: quiet})
	require.NoError(t, err)
	const n = 5000
	for _, withTID := range []bool{false, true} {
		before := usedMemory(t, rdb)
		for i := range n {
			spec := sessiontable.Spec{Owner: "user-" + strconv.Itoa(i%100), IdleTimeout: time.Hour}
			if withTID {
				spec.TID = fmt.Sprintf("terminal-%05d", i)
			}
			_, err := tbl.Create(ctx, spec)
			require.NoError(t, err)
		}
		per := (usedMemory(t, rdb) - before) / n
		t.Logf("used_memory per idle session (record, sweep index, owner index%s): %d bytes",
			map[bool]string{true: ", TID binding"}[withTID], per)
	}
}

func usedMemory(t *testing.T, rdb *redis.Client) int64 {
	t.Helper()
	s, err := rdb.Info(context.Background(), "memory").Result()
	require.NoError(t, err)
	for line := range strings.SplitSeq(s, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			require.NoError(t, err)
			return n
		}
	}
	t.Fatal("no used_memory in INFO")
	return 0
}

// Where an idle session's bytes go: 10,000 sessions of 50 owners (200
// each, past the 128 entries up to which Redis keeps a sorted set as a
// listpack), measured as used_memory growth, then the drop of each index
// when it is deleted. A guard against a regression of the README's figures.
func TestMemoryFootprintParts(t *testing.T) {
	if testing.Short() {
		t.Skip("creates thousands of sessions")
	}
	ctx := context.Background()
	p := redistest.Spawn(t, redistest.SpawnOptions{})
	rdb := p.Client(t)
	tbl, err := sessiontable.New(rdb, sessiontable.Config{Logger: quiet})
	require.NoError(t, err)
	const n, owners = 10000, 50
	before := usedMemory(t, rdb)
	for i := range n {
		_, err := tbl.Create(ctx, sessiontable.Spec{Owner: "user-" + strconv.Itoa(i%owners), IdleTimeout: time.Hour})
		require.NoError(t, err)
	}
	all := usedMemory(t, rdb)
	require.NoError(t, rdb.Del(ctx, keys.Sessions).Err())
	noSweep := usedMemory(t, rdb)
	for i := range owners {
		require.NoError(t, rdb.Del(ctx, keys.Owner("user-"+strconv.Itoa(i))).Err())
	}
	records := usedMemory(t, rdb)
	total, sweep, owner, rest := (all-before)/n, (all-noSweep)/n, (noSweep-records)/n, (records-before)/n
	t.Logf("used_memory per idle session: %d bytes: record %d, sweep-index entry %d, owner-index entry %d", total, rest, sweep, owner)
	require.Less(t, total, int64(600))
	require.Less(t, rest, int64(300))
	require.Less(t, sweep, int64(200))
	require.Less(t, owner, int64(200))
}
