package jobs_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/presence"
	"github.com/sessionq/sessionq/jobs"
)

// List reads session jobs from the ledger and plain jobs from asynq,
// filters them and pages through them.
func TestList(t *testing.T) {
	t.Parallel()
	rdb, c := setup(t)
	ctx := t.Context()
	// A live worker handles doc and mail (package presence); nobody
	// handles fax.
	require.NoError(t, presence.Publish(ctx, rdb, "w1", []string{"doc", "mail"}, time.Hour))
	var s1 []string
	for range 3 {
		sub, err := c.Submit(ctx, "doc", nil, jobs.Session("s1"))
		require.NoError(t, err)
		s1 = append(s1, sub.ID)
	}
	s2, err := c.Submit(ctx, "mail", nil, jobs.Session("s2"), jobs.Queue("b"))
	require.NoError(t, err)
	pa, err := c.Submit(ctx, "doc", nil, jobs.Queue("a"))
	require.NoError(t, err)
	pb, err := c.Submit(ctx, "mail", nil, jobs.Queue("b"))
	require.NoError(t, err)
	later, err := c.Submit(ctx, "doc", nil, jobs.Queue("a"), jobs.ProcessIn(time.Hour))
	require.NoError(t, err)
	sfax, err := c.Submit(ctx, "fax", nil, jobs.Session("s3"))
	require.NoError(t, err)
	pfax, err := c.Submit(ctx, "fax", nil, jobs.Queue("b"))
	require.NoError(t, err)

	all, err := c.List(ctx, jobs.ListOptions{})
	require.NoError(t, err)
	require.Len(t, all, 9)
	// Session jobs come first, each session in submission order.
	got, err := c.List(ctx, jobs.ListOptions{Session: "s1"})
	require.NoError(t, err)
	require.Equal(t, s1, ids(got))
	require.Equal(t, []jobs.State{jobs.StatePending, jobs.StateParked, jobs.StateParked},
		[]jobs.State{got[0].State, got[1].State, got[2].State})
	require.Equal(t, []int64{1, 2, 3}, []int64{got[0].Seq, got[1].Seq, got[2].Seq})
	got, err = c.List(ctx, jobs.ListOptions{Type: "fax"})
	require.NoError(t, err)
	require.Equal(t, []jobs.State{jobs.StateWaitingForHandler, jobs.StateWaitingForHandler}, []jobs.State{got[0].State, got[1].State})

	for _, tc := range []struct {
		o    jobs.ListOptions
		want []string
	}{
		{jobs.ListOptions{State: "parked"}, s1[1:]},
		{jobs.ListOptions{Queue: "b"}, []string{s2.ID, pb.ID, pfax.ID}},
		{jobs.ListOptions{Queue: "a"}, []string{pa.ID, later.ID}},
		{jobs.ListOptions{Type: "mail"}, []string{s2.ID, pb.ID}},
		{jobs.ListOptions{State: "scheduled"}, []string{later.ID}},
		{jobs.ListOptions{State: "waiting", Queue: "a"}, []string{pa.ID, later.ID}},
		{jobs.ListOptions{Session: "s2", State: "pending"}, []string{s2.ID}},
		{jobs.ListOptions{State: "pending"}, []string{s1[0], s2.ID, pa.ID, pb.ID, later.ID}},
		{jobs.ListOptions{State: "waiting_for_handler"}, []string{sfax.ID, pfax.ID}},
		{jobs.ListOptions{State: "waiting_for_handler", Queue: "b"}, []string{pfax.ID}},
		{jobs.ListOptions{Type: "fax"}, []string{sfax.ID, pfax.ID}},
		{jobs.ListOptions{State: "failed"}, nil},
		{jobs.ListOptions{Session: "nobody"}, nil},
	} {
		got, err := c.List(ctx, tc.o)
		require.NoError(t, err, "%+v", tc.o)
		require.ElementsMatch(t, tc.want, ids(got), "%+v", tc.o)
	}

	// Pages of 3 cover the whole list once. (Not always in the same order:
	// sessions are walked by SCAN, whose order can shift when the keyspace
	// grows between two pages, as workers' counters do; cursor paging is
	// issue 19's.)
	var paged []string
	for p := 1; p <= 4; p++ { // 9 jobs
		got, err := c.List(ctx, jobs.ListOptions{Limit: 3, Page: p})
		require.NoError(t, err)
		require.LessOrEqual(t, len(got), 3)
		paged = append(paged, ids(got)...)
	}
	require.ElementsMatch(t, ids(all), paged)

	for _, bad := range []jobs.ListOptions{
		{State: "bogus"}, {Limit: -1}, {Limit: jobs.MaxListLimit + 1}, {Page: -1},
		{Queue: "a:b"}, {Session: "a{b}"}, {Type: "a b"},
	} {
		_, err := c.List(ctx, bad)
		require.ErrorIs(t, err, jobs.ErrInvalid, "%+v", bad)
	}
}
