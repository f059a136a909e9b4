package sessiontable_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/sessiontable"
)

// furnish gives session id parameters, two sub-sessions and files.
func furnish(t *testing.T, tbl *sessiontable.Table, id string) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, tbl.SetParam(ctx, id, "k", "v"))
	require.NoError(t, tbl.SetParam(ctx, id, "k", "a1", sessiontable.Application("app1")))
	require.NoError(t, tbl.SetParam(ctx, id, "k", "a2", sessiontable.Application("app2")))
	require.NoError(t, tbl.PutFile(ctx, id, "data.xml", []byte("<doc/>")))
}

// requireGone checks that nothing of session id is left but its "dead"
// marker, which expires by itself.
func requireGone(t *testing.T, tbl *sessiontable.Table, rdb *redis.Client, cfg sessiontable.Config, id, owner, tid string) {
	t.Helper()
	ctx := context.Background()
	require.Equal(t, []string{keys.SessionMarker(id)}, sessionKeys(t, rdb, id))
	ttl, err := rdb.PTTL(ctx, keys.SessionMarker(id)).Result()
	require.NoError(t, err)
	require.Greater(t, ttl, time.Duration(0))
	require.LessOrEqual(t, ttl, time.Minute)
	require.Empty(t, existing(t, rdb, keys.TID(owner, tid)), "TID binding left")
	n, err := rdb.ZCard(ctx, keys.Owner(owner)).Result()
	require.NoError(t, err)
	require.Zero(t, n, "owner index entry left")
	n, err = rdb.ZCard(ctx, keys.Sessions).Result()
	require.NoError(t, err)
	require.Zero(t, n, "sweep index entry left")
	if d, ok := cfg.Storage.(*sessiontable.DirStorage); ok {
		_, err := os.Stat(filepath.Join(d.Root(), id))
		require.ErrorIs(t, err, os.ErrNotExist, "session directory left")
	}
	_, err = tbl.Lookup(ctx, owner, tid)
	require.ErrorIs(t, err, sessiontable.ErrNotFound)
}

func requireEvent(t *testing.T, rdb *redis.Client, typ, id string) {
	t.Helper()
	evs, err := rdb.XRange(context.Background(), keys.Events, "-", "+").Result()
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.Equal(t, typ, evs[0].Values["type"])
	require.Equal(t, id, evs[0].Values["session"])
}

// A session past its idle timeout expires; the sweep then cleans up its
// parameters, sub-sessions, files, TID binding and index entries, and emits
// one event.
func TestExpiryCleansEverything(t *testing.T) {
	backends(t, func(t *testing.T, cfg sessiontable.Config) {
		ctx := context.Background()
		logs := &logBuffer{}
		cfg.Logger = logs.logger()
		tbl, rdb := newTable(t, cfg)
		sw, err := sessiontable.NewSweeper(tbl, sessiontable.SweeperConfig{})
		require.NoError(t, err)
		in, err := tbl.Create(ctx, sessiontable.Spec{Owner: "u", TID: "term", IdleTimeout: 300 * time.Millisecond})
		require.NoError(t, err)
		id := in.ID
		furnish(t, tbl, id)
		keep := create(t, tbl, sessiontable.Spec{Owner: "u", IdleTimeout: time.Hour})

		// Not due yet: nothing happens.
		rep, err := sw.Sweep(ctx)
		require.NoError(t, err)
		require.Zero(t, rep.Ended)

		eventually(t, 5*time.Second, func() bool {
			_, err := tbl.Get(ctx, id, sessiontable.OutOfSession())
			return errors.Is(err, sessiontable.ErrNotFound)
		}, "the session to expire")
		// Expired but not swept: it reads as no session at all.
		_, err = tbl.Params(ctx, id)
		require.ErrorIs(t, err, sessiontable.ErrNotFound)
		_, err = tbl.Files(ctx, id)
		require.ErrorIs(t, err, sessiontable.ErrNotFound)

		rep, err = sw.Sweep(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, rep.Ended)
		require.NoError(t, rdb.ZRem(ctx, keys.Owner("u"), keep).Err())
		require.NoError(t, tbl.Close(ctx, keep))
		require.NoError(t, rdb.Del(ctx, keys.Events).Err())
		rep, err = sw.Sweep(ctx)
		require.NoError(t, err)
		require.Zero(t, rep.Ended, "a second sweep found more")
		requireGone(t, tbl, rdb, cfg, id, "u", "term")
		require.Contains(t, logs.String(), "msg=session.expired session="+id)
	})
}

// Closing a session does the same at once, with a "closed" event.
func TestCloseCleansAtOnce(t *testing.T) {
	backends(t, func(t *testing.T, cfg sessiontable.Config) {
		ctx := context.Background()
		tbl, rdb := newTable(t, cfg)
		in, err := tbl.Create(ctx, sessiontable.Spec{Owner: "u", TID: "term"})
		require.NoError(t, err)
		furnish(t, tbl, in.ID)
		require.NoError(t, tbl.Close(ctx, in.ID))
		requireGone(t, tbl, rdb, cfg, in.ID, "u", "term")
		requireEvent(t, rdb, "session.closed", in.ID)
		require.ErrorIs(t, tbl.Close(ctx, in.ID), sessiontable.ErrNotFound)
		// A sweep racing the close finds nothing more to do.
		sw, err := sessiontable.NewSweeper(tbl, sessiontable.SweeperConfig{})
		require.NoError(t, err)
		rep, err := sw.Sweep(ctx)
		require.NoError(t, err)
		require.Zero(t, rep.Looked)
	})
}

// A Close that dies after deleting the record is finished by the next
// sweep, at once: Close made the session due first.
func TestSweepFinishesInterruptedClose(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tbl, rdb := newTable(t, sessiontable.Config{})
	in, err := tbl.Create(ctx, sessiontable.Spec{Owner: "u", TID: "term"})
	require.NoError(t, err)
	furnish(t, tbl, in.ID)
	// What Close does before it dies: make it due, delete the record.
	member := in.ID + "|u|term"
	require.NoError(t, rdb.ZAddArgs(ctx, keys.Sessions, redis.ZAddArgs{XX: true, Members: []redis.Z{{Score: 0, Member: member}}}).Err())
	require.NoError(t, rdb.Del(ctx, keys.Session(in.ID)).Err())
	sw, err := sessiontable.NewSweeper(tbl, sessiontable.SweeperConfig{})
	require.NoError(t, err)
	rep, err := sw.Sweep(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, rep.Ended)
	requireGone(t, tbl, rdb, sessiontable.Config{}, in.ID, "u", "term")
}

// A creation that dies after claiming its TID (before writing its record)
// blocks nothing: the TID can be taken at once, the dead creation can never
// come alive, and the sweep cleans up its leftovers once its grace ran out.
func TestSweepRepairsDeadCreation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tbl, rdb := newTable(t, sessiontable.Config{MaxSessionsPerOwner: 1})
	sessiontable.SetCreationGrace(tbl, 400*time.Millisecond)
	sw, err := sessiontable.NewSweeper(tbl, sessiontable.SweeperConfig{})
	require.NoError(t, err)

	// Dead creation #1: only its leftovers remain; the sweep cleans them.
	dead, _, err := sessiontable.PrepareOnly(ctx, tbl, sessiontable.Spec{Owner: "u", TID: "t1"})
	require.NoError(t, err)
	require.Equal(t, []string{keys.TID("u", "t1")}, existing(t, rdb, keys.TID("u", "t1")))
	rep, err := sw.Sweep(ctx)
	require.NoError(t, err)
	require.Zero(t, rep.Ended, "swept before its grace ran out")
	_, err = tbl.Create(ctx, sessiontable.Spec{Owner: "u"})
	require.ErrorIs(t, err, sessiontable.ErrQuota, "a creation in flight counts against the quota")
	eventually(t, 5*time.Second, func() bool {
		rep, err := sw.Sweep(ctx)
		require.NoError(t, err)
		return rep.Ended == 1
	}, "the sweep to clean up the dead creation")
	requireGone(t, tbl, rdb, sessiontable.Config{}, dead, "u", "t1")

	// Dead creation #2 holds its TID while it may still be in flight; once
	// its grace ran out the TID is free, and should its creator wake up
	// after that, its record is refused. TIDs are per owner: the contenders
	// share one, on a table without the quota, which would refuse the
	// second creation first.
	uncapped, err := sessiontable.New(rdb, sessiontable.Config{Logger: quiet, TempDir: t.TempDir()})
	require.NoError(t, err)
	sessiontable.SetCreationGrace(uncapped, 400*time.Millisecond)
	_, wake, err := sessiontable.PrepareOnly(ctx, uncapped, sessiontable.Spec{Owner: "v", TID: "t2"})
	require.NoError(t, err)
	_, err = uncapped.Create(ctx, sessiontable.Spec{Owner: "v", TID: "t2"})
	require.ErrorIs(t, err, sessiontable.ErrTIDTaken, "the TID of a creation in flight was taken")
	var live *sessiontable.Info
	eventually(t, 5*time.Second, func() bool {
		live, err = uncapped.Create(ctx, sessiontable.Spec{Owner: "v", TID: "t2"})
		if errors.Is(err, sessiontable.ErrTIDTaken) {
			return false
		}
		require.NoError(t, err)
		return true
	}, "the dead creation's TID to be free")
	_, err = wake()
	require.ErrorContains(t, err, "took longer than")
	found, err := tbl.Lookup(ctx, "v", "t2")
	require.NoError(t, err)
	require.Equal(t, live.ID, found.ID)

	// Replacing takes the TID of a creation in flight at once; that
	// creation then never gets its record.
	_, wake, err = sessiontable.PrepareOnly(ctx, uncapped, sessiontable.Spec{Owner: "y", TID: "t3"})
	require.NoError(t, err)
	taker, err := uncapped.Create(ctx, sessiontable.Spec{Owner: "y", TID: "t3", ReplaceTID: true})
	require.NoError(t, err)
	_, err = wake()
	require.ErrorIs(t, err, sessiontable.ErrTIDTaken)
	found, err = tbl.Lookup(ctx, "y", "t3")
	require.NoError(t, err)
	require.Equal(t, taker.ID, found.ID)

	// Dead creation #3 whose creator wakes up after its grace: refused too.
	deadX, wake, err := sessiontable.PrepareOnly(ctx, tbl, sessiontable.Spec{Owner: "x"})
	require.NoError(t, err)
	eventually(t, 5*time.Second, func() bool {
		_, err := sw.Sweep(ctx)
		require.NoError(t, err)
		return rdb.ZScore(ctx, keys.Sessions, deadX+"|x|").Err() != nil
	}, "the sweep to clean up")
	_, err = wake()
	require.ErrorContains(t, err, "took longer than")
	recs, err := rdb.Keys(ctx, "sq:{*}:sess").Result()
	require.NoError(t, err)
	require.ElementsMatch(t, []string{keys.Session(live.ID), keys.Session(taker.ID)}, recs, "a dead creation came alive")
}

// The sweep runs as periodic work (Run); run repeatedly it cleans up by
// itself.
func TestSweeperRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tbl, rdb := newTable(t, sessiontable.Config{})
	sw, err := sessiontable.NewSweeper(tbl, sessiontable.SweeperConfig{})
	require.NoError(t, err)
	in, err := tbl.Create(ctx, sessiontable.Spec{TID: "t", IdleTimeout: 50 * time.Millisecond})
	require.NoError(t, err)
	eventually(t, 5*time.Second, func() bool {
		require.NoError(t, sw.Run(ctx))
		n, err := rdb.Exists(ctx, keys.TID(sessiontable.DefaultOwner, "t")).Result()
		require.NoError(t, err)
		return n == 0
	}, "the task to sweep the session")
	requireEvent(t, rdb, "session.expired", in.ID)
}

func TestSweeperConfig(t *testing.T) {
	t.Parallel()
	tbl, _ := newTable(t, sessiontable.Config{})
	for _, c := range []sessiontable.SweeperConfig{{Batch: -1}, {MaxPerRun: -1}, {MaxRunTime: time.Microsecond}} {
		_, err := sessiontable.NewSweeper(tbl, c)
		require.Error(t, err, "%+v", c)
	}
}
