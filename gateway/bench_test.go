package gateway_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkSubmit measures submits per second through the gateway (HTTP
// keep-alive, token auth, JSON) against direct jobs.Client submits on the
// same Redis, in one run, with 8 concurrent submitters each, and reports
// both rates and their ratio. Jobs are plain (no session) and no worker
// takes them.
func BenchmarkSubmit(b *testing.B) {
	e := newEnv(b, envOptions{noWorker: true})
	tok := e.user("bench", "submit:*/*")
	const workers = 8
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	b.Cleanup(hc.CloseIdleConnections)
	body := []byte(`{"type":"bench","payload":"x"}`)

	run := func(f func() error) float64 {
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(b.N) {
					if err := f(); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		return float64(b.N) / time.Since(start).Seconds()
	}
	ctx := context.Background()
	b.ResetTimer()
	direct := run(func() error {
		_, err := e.jobs.Submit(ctx, "bench", []byte("x"))
		return err
	})
	gw := run(func() error {
		req, err := http.NewRequest("POST", e.base+"/v1/jobs", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		res, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		if res.StatusCode != http.StatusAccepted {
			require.Equal(b, http.StatusAccepted, res.StatusCode)
		}
		return nil
	})
	b.StopTimer()
	b.ReportMetric(direct, "direct-submits/s")
	b.ReportMetric(gw, "gateway-submits/s")
	b.ReportMetric(gw/direct, "ratio")
	b.ReportMetric(0, "ns/op")
}
