package worker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/jobs"
)

// ErrNoJob is returned by Progress called with a context that is not a
// handler's.
var ErrNoJob = errors.New("worker: not a job's context")

// Progress records how far the job of the handler context ctx got: done
// of total (0: unknown) and a short message. jobs.Client.Get shows the last
// one (Info.Progress), `sessionq job get` too. A session job's progress is
// written only while it holds its lease (else ErrLeaseLost); a plain job's
// expires with its retention. Each call is one Redis round trip: report at
// a human pace, not per item.
func Progress(ctx context.Context, done, total int64, msg string) error {
	j := JobFromContext(ctx)
	if j == nil || j.progress == nil {
		return ErrNoJob
	}
	if done < 0 || total < 0 {
		return fmt.Errorf("worker: progress %d/%d: negative", done, total)
	}
	return j.progress(ctx, jobs.Progress{Done: done, Total: total, Message: msg, At: time.Now().Truncate(time.Millisecond)})
}

// progressWriter is how a job run records its progress.
func (w *Worker) progressWriter(job *Job, plainTTL time.Duration) func(context.Context, jobs.Progress) error {
	return func(ctx context.Context, p jobs.Progress) error {
		v := jobs.EncodeProgress(p)
		ctx = context.WithoutCancel(ctx)
		if job.SessionID == "" {
			if err := w.rdb.Set(ctx, keys.Progress(job.ID), v, plainTTL).Err(); err != nil {
				return fmt.Errorf("recording progress: %w", err)
			}
			return nil
		}
		ok, err := w.led.Progress(ctx, job.SessionID, job.ID, job.FencingToken, v)
		switch {
		case err != nil:
			return fmt.Errorf("recording progress: %w", err)
		case !ok:
			return fmt.Errorf("recording progress: %w", ErrLeaseLost)
		}
		return nil
	}
}

// ParseProgressLine reads one line an exec command writes to
// SESSIONQ_PROGRESS_FD: "progress DONE/TOTAL message" or "progress DONE
// message" (the total unknown). ok is false for any other line.
func ParseProgressLine(line string) (p jobs.Progress, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "progress ")
	if !found {
		return p, false
	}
	num, msg, _ := strings.Cut(strings.TrimLeft(rest, " "), " ")
	d, t, hasTotal := strings.Cut(num, "/")
	var err error
	if p.Done, err = strconv.ParseInt(d, 10, 64); err != nil || p.Done < 0 {
		return jobs.Progress{}, false
	}
	if hasTotal {
		if p.Total, err = strconv.ParseInt(t, 10, 64); err != nil || p.Total < 0 {
			return jobs.Progress{}, false
		}
	}
	p.Message = strings.TrimSpace(msg)
	return p, true
}

// progressEvery is the least time between two progress writes of one exec
// command: it may write lines as fast as it likes; the last of each burst
// is kept.
const progressEvery = 100 * time.Millisecond

// readProgress reads progress lines from r until it ends, recording the
// latest at most every progressEvery, and the last one at the end.
func readProgress(ctx context.Context, r io.Reader, job *Job) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	var (
		last    time.Time
		pending *jobs.Progress
	)
	flush := func() {
		if pending != nil && job.progress != nil {
			pending.At = time.Now().Truncate(time.Millisecond)
			_ = job.progress(ctx, *pending)
			pending, last = nil, time.Now()
		}
	}
	for sc.Scan() {
		p, ok := ParseProgressLine(sc.Text())
		if !ok {
			continue
		}
		pending = &p
		if time.Since(last) >= progressEvery {
			flush()
		}
	}
	flush()
}
