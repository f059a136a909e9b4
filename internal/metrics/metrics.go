// Package metrics holds what sessionq's Prometheus collectors share.
package metrics

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers cs with reg; a nil reg registers nothing, and a
// collector registered already (a second worker on the same registry) is
// not an error.
func Register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				continue
			}
			return fmt.Errorf("registering metrics: %w", err)
		}
	}
	return nil
}
