package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// workload is a list of jobs in submission order. Every system of a scenario
// runs the same workload: the same jobs, sessions and order.
type workload struct {
	sess     []string // session of job i; "" for a job without one
	seq      []int32  // position of job i in its session, from 0, in submission order
	sessions int      // distinct sessions
}

func (w *workload) n() int { return len(w.sess) }

// plainWorkload is n jobs without a session.
func plainWorkload(n int) *workload {
	return &workload{sess: make([]string, n), seq: make([]int32, n)}
}

// spreadWorkload is n sessions of one job each.
func spreadWorkload(n int) *workload {
	w := &workload{sess: make([]string, n), seq: make([]int32, n), sessions: n}
	for i := range w.sess {
		w.sess[i] = fmt.Sprintf("spread-%06d", i)
	}
	return w
}

// oneSessionWorkload is n jobs of one session.
func oneSessionWorkload(name string, n int) *workload {
	w := &workload{sess: make([]string, n), seq: make([]int32, n), sessions: 1}
	for i := range w.sess {
		w.sess[i] = name
		w.seq[i] = int32(i)
	}
	return w
}

// zipfWorkload is n jobs whose sessions follow Zipf(s) over the given number
// of sessions: session k (from 0) has weight (k+1)^-s. The seed makes it
// the same for every system and every run.
func zipfWorkload(n, sessions int, s float64, seed uint64) *workload {
	z := newZipf(sessions, s, rand.New(rand.NewPCG(seed, seed^0x5e55)))
	w := &workload{sess: make([]string, n), seq: make([]int32, n)}
	next := make([]int32, sessions)
	names := make([]string, sessions)
	for i := range w.sess {
		k := z.draw()
		if names[k] == "" {
			names[k] = fmt.Sprintf("zipf-%04d", k)
			w.sessions++
		}
		w.sess[i] = names[k]
		w.seq[i] = next[k]
		next[k]++
	}
	return w
}

// zipf draws ranks 0..n-1 with probability proportional to (k+1)^-s, by
// inverting the cumulative distribution (math/rand's Zipf needs s > 1 too,
// but a table keeps the distribution exact for a finite n).
type zipf struct {
	cdf []float64
	r   *rand.Rand
}

func newZipf(n int, s float64, r *rand.Rand) *zipf {
	cdf := make([]float64, n)
	sum := 0.0
	for k := range n {
		sum += math.Pow(float64(k+1), -s)
		cdf[k] = sum
	}
	for k := range cdf {
		cdf[k] /= sum
	}
	return &zipf{cdf: cdf, r: r}
}

func (z *zipf) draw() int {
	u := z.r.Float64()
	lo, hi := 0, len(z.cdf)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if z.cdf[mid] < u {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// largestSession is the number of jobs of the biggest session.
func (w *workload) largestSession() int {
	c := map[string]int{}
	best := 0
	for _, s := range w.sess {
		if s == "" {
			continue
		}
		c[s]++
		best = max(best, c[s])
	}
	return best
}
