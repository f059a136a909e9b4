package cli

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/sessionq/sessionq/worker"
)

// knownSections are the sections of the configuration, each with the
// struct that holds its keys. Any other top-level key of sessionq.yaml, and
// any other key inside these sections, is an error; SESSIONQ_* environment
// variables that name none of these keys get a warning. A command that
// reads a new section adds it here.
var knownSections = map[string]reflect.Type{
	"redis":     reflect.TypeFor[RedisConfig](),
	"log":       reflect.TypeFor[LogConfig](),
	"client":    reflect.TypeFor[ClientConfig](),
	"worker":    reflect.TypeFor[WorkerConfig](),
	"scheduler": reflect.TypeFor[SchedulerConfig](),
	"session":   reflect.TypeFor[SessionConfig](),
	"gateway":   reflect.TypeFor[GatewayConfig](),
}

// topLevelKeys are settings outside any section.
var topLevelKeys = []string{"config"}

// jobEnv are the SESSIONQ_* variables a worker gives an exec command, which
// may itself run sessionq: they are not configuration, and not warned about.
var jobEnv = worker.ExecEnvNames()

// secretEnv are SESSIONQ_* variables that deployments (the Helm chart)
// set to secrets and substitute into SESSIONQ_REDIS_URL, or that the
// gateway reads: their values are masked in errors and logs like the
// URL's password.
var secretEnv = []string{"SESSIONQ_REDIS_PASSWORD", "SESSIONQ_REDIS_SENTINEL_PASSWORD", "SESSIONQ_ADMIN_TOKEN", envToken}

// otherEnv are SESSIONQ_* variables read by something other than the
// command line's configuration: the test harness (internal/redistest) and
// secretEnv.
var otherEnv = append([]string{"SESSIONQ_TEST_REDIS_URL", envAPIURL}, secretEnv...)

// checkKeys refuses a top-level key of the configuration that is not a
// known section, and a key of a known section that the section does not
// have. keys are viper's flattened keys (section.key).
func checkKeys(keys []string) error {
	slices.Sort(keys)
	for _, k := range keys {
		section, rest, nested := strings.Cut(k, ".")
		t, ok := knownSections[section]
		switch {
		case !ok && !nested && slices.Contains(topLevelKeys, section):
			continue
		case !ok:
			names := sectionNames()
			return fmt.Errorf("unknown section %q%s (known: %s)", section, didYouMean(section, names), strings.Join(names, ", "))
		case !nested:
			return fmt.Errorf("%s: want a mapping of keys", section)
		}
		key, _, _ := strings.Cut(rest, ".")
		known := fieldKeys(t)
		if !slices.Contains(known, key) {
			return fmt.Errorf("unknown key %s.%s%s (known: %s)", section, key, didYouMean(key, known), strings.Join(known, ", "))
		}
	}
	return nil
}

func sectionNames() []string {
	var names []string
	for n := range knownSections {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// knownEnv are the environment variables of every key of the
// configuration, sorted.
func knownEnv() []string {
	var out []string
	for _, k := range topLevelKeys {
		out = append(out, envName(k))
	}
	for section, t := range knownSections {
		for _, k := range fieldKeys(t) {
			out = append(out, envName(section+"."+k))
		}
	}
	slices.Sort(out)
	return out
}

// unknownEnv lists the SESSIONQ_* variables of environ that are neither
// configuration nor a job's variables, each with a warning that names it.
func unknownEnv(environ []string) []string {
	known := knownEnv()
	var warnings []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "SESSIONQ_") || slices.Contains(known, name) ||
			slices.Contains(jobEnv, name) || slices.Contains(otherEnv, name) {
			continue
		}
		warnings = append(warnings, fmt.Sprintf("warning: environment variable %s is not a sessionq setting and is ignored%s",
			name, didYouMean(name, known)))
	}
	slices.Sort(warnings)
	return warnings
}

// warnUnknownEnv prints a warning for each unknown SESSIONQ_* variable.
func (e *env) warnUnknownEnv() {
	for _, w := range unknownEnv(os.Environ()) {
		fmt.Fprintln(e.errOut, "sessionq:", w)
	}
}

// didYouMean suggests the candidate closest to word, if one is close.
func didYouMean(word string, candidates []string) string {
	best, bestD := "", 3 // at most 2 edits
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(word), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// editDistance is the Levenshtein distance of a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
