package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sessionq/sessionq/jobs"
)

// parseQueues reads worker.queues entries, each NAME or NAME:WEIGHT (asynq's
// weighted priority, as in --queues critical:6,default:3,low:1). It returns
// the queue names in the order given and the weights named; a queue without
// a weight has weight 1. Queue names never contain ':' (jobs.ValidateQueue),
// so the split is unambiguous.
func parseQueues(entries []string) ([]string, map[string]int, error) {
	if len(entries) == 0 {
		return nil, nil, fmt.Errorf("worker.queues: empty: name at least one queue (default %s)", jobs.DefaultQueue)
	}
	var names []string
	weights := map[string]int{}
	seen := map[string]bool{}
	for _, e := range entries {
		name, w, hasWeight := strings.Cut(strings.TrimSpace(e), ":")
		if err := jobs.ValidateQueue(name); err != nil {
			return nil, nil, fmt.Errorf("worker.queues %q: %w", e, err)
		}
		if seen[name] {
			return nil, nil, fmt.Errorf("worker.queues: queue %q named twice", name)
		}
		seen[name] = true
		names = append(names, name)
		if !hasWeight {
			continue
		}
		n, err := strconv.Atoi(w)
		if err != nil || n < 1 || n > maxQueueWeight {
			return nil, nil, fmt.Errorf("worker.queues %q: weight %q: want a whole number from 1 to %d", e, w, maxQueueWeight)
		}
		weights[name] = n
	}
	return names, weights, nil
}

// maxQueueWeight bounds a queue weight: asynq draws queues by weight, and a
// larger ratio than this is better served by --strict-priority.
const maxQueueWeight = 1000
