package gateway_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/jobs"
	"github.com/sessionq/sessionq/sessiontable"
)

var update = flag.Bool("update", false, "write the served OpenAPI documents to api/ (TestOpenAPIDocumentCommitted)")

// committedDocs are the served OpenAPI documents and the files in api/
// that hold their committed form.
var committedDocs = []struct{ route, file string }{
	{"/openapi.json", "../api/openapi.json"},
	{"/openapi-3.0.json", "../api/openapi-3.0.json"},
}

// TestOpenAPIDocumentCommitted keeps the contract from drifting: the
// documents the gateway serves are the ones committed in api/, byte for
// byte once indented. A change of the API shows in the diff of a commit,
// where tools/apidiff reports the breaking ones. Run with -update to
// write the served documents:
//
//	go test ./gateway -run TestOpenAPIDocumentCommitted -update
func TestOpenAPIDocumentCommitted(t *testing.T) {
	e := newEnv(t, envOptions{noWorker: true})
	for _, d := range committedDocs {
		served := e.servedDoc(d.route)
		if *update {
			require.NoError(t, os.WriteFile(d.file, served, 0o644))
			t.Logf("wrote %s", d.file)
			continue
		}
		committed, err := os.ReadFile(d.file)
		require.NoError(t, err, "the committed document of %s (write it with -update)", d.route)
		if bytes.Equal(served, committed) {
			continue
		}
		t.Errorf("%s differs from the committed %s: if the change is meant, run\n"+
			"\tgo test ./gateway -run TestOpenAPIDocumentCommitted -update\n"+
			"and commit the file (tools/apidiff reports breaking changes).\n%s",
			d.route, filepath.Base(d.file), docDiff(t, committed, served))
	}
}

// servedDoc is the document the gateway serves at route, indented with
// two spaces and ending with a newline.
func (e *env) servedDoc(route string) []byte {
	e.t.Helper()
	res, err := e.hc.Get(e.base + route)
	require.NoError(e.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	require.Equal(e.t, http.StatusOK, res.StatusCode, "%s", b)
	var out bytes.Buffer
	require.NoError(e.t, json.Indent(&out, b, "", "  "))
	out.WriteByte('\n')
	return out.Bytes()
}

// docDiff describes how two JSON documents differ: the JSON paths of the
// first differences, each with both values.
func docDiff(t *testing.T, committed, served []byte) string {
	t.Helper()
	var a, b any
	if err := json.Unmarshal(committed, &a); err != nil {
		return "the committed document is not JSON: " + err.Error()
	}
	require.NoError(t, json.Unmarshal(served, &b))
	var diffs []string
	jsonDiff(a, b, "", &diffs)
	if len(diffs) == 0 {
		return "same JSON, other bytes (formatting): rewrite it with -update"
	}
	const max = 20
	more := ""
	if len(diffs) > max {
		more = fmt.Sprintf("\n... and %d more", len(diffs)-max)
		diffs = diffs[:max]
	}
	return strings.Join(diffs, "\n") + more
}

func jsonDiff(a, b any, path string, out *[]string) {
	short := func(v any) string {
		if v == nil {
			return "(absent)"
		}
		s, _ := json.Marshal(v)
		if len(s) > 120 {
			return string(s[:117]) + "..."
		}
		return string(s)
	}
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			p := path + "/" + strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
			jsonDiff(am[k], bm[k], p, out)
		}
		return
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok && len(al) == len(bl) {
		for i := range al {
			jsonDiff(al[i], bl[i], fmt.Sprintf("%s/%d", path, i), out)
		}
		return
	}
	if !reflect.DeepEqual(a, b) {
		*out = append(*out, fmt.Sprintf("  at %s:\n    committed: %s\n    served:    %s", path, short(a), short(b)))
	}
}

func TestDocDiff(t *testing.T) {
	got := docDiff(t, []byte(`{"paths":{"/v1/x":{"get":{"a":1}}},"l":[1,2]}`), []byte(`{"paths":{"/v1/x":{"get":{"a":2,"b":true}}},"l":[1,3]}`))
	require.Equal(t, "  at /l/1:\n    committed: 2\n    served:    3\n"+
		"  at /paths/~1v1~1x/get/a:\n    committed: 1\n    served:    2\n"+
		"  at /paths/~1v1~1x/get/b:\n    committed: (absent)\n    served:    true", got)
}

// TestOpenAPIPathPatterns checks the patterns that the document gives the
// path parameters against the validators the gateway applies: the same
// strings pass both (or, for file names, whose rules a regular expression
// cannot say whole, every valid name matches).
func TestOpenAPIPathPatterns(t *testing.T) {
	e := newEnv(t, envOptions{noWorker: true})
	type check struct {
		validate func(string) error
		exact    bool // the pattern (and maxLength) accept exactly the valid strings
		samples  []string
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	random := func(alphabet string, n int) []string {
		out := make([]string, n)
		for i := range out {
			b := make([]byte, 1+rnd.IntN(140))
			for j := range b {
				b[j] = alphabet[rnd.IntN(len(alphabet))]
			}
			out[i] = string(b)
		}
		return out
	}
	const names = "abcXYZ019._-:@/\\ {}|\x00\x1f\x7f%é"
	sessionIDs := []string{"nope", "", "S" + sessiontable.NewID()[1:], sessiontable.NewID() + "a"}
	for range 200 {
		id := sessiontable.NewID()
		// The last character carries 3 bits: the others are not canonical.
		sessionIDs = append(sessionIDs, id, id[:len(id)-1]+"b", id[:len(id)-1]+"7")
	}
	checks := map[string]check{
		"session id": {validate: sessiontable.ValidateID, exact: true, samples: sessionIDs},
		"job id":     {validate: jobs.ValidateJobID, exact: true, samples: append(random(names, 300), strings.Repeat("a", 128), strings.Repeat("a", 129))},
		"key":        {validate: sessiontable.ValidateParamKey, exact: true, samples: append(random(names, 300), "a/b", strings.Repeat("k", 129))},
		"name": {validate: sessiontable.ValidateFileName, samples: append(random(names, 300),
			"a.txt", "-a", ".", "..", "é", "a\u200eb", "a\u0085b", strings.Repeat("n", 255), strings.Repeat("n", 256))},
	}
	seen := map[string]bool{}
	for path, pi := range e.spec.Paths.Map() {
		for method, op := range pi.Operations() {
			for _, p := range op.Parameters {
				if p.Value.In != "path" {
					continue
				}
				name := p.Value.Name
				if name == "id" {
					name = "job id"
					if strings.HasPrefix(path, "/v1/sessions/") {
						name = "session id"
					}
				}
				c, ok := checks[name]
				require.True(t, ok, "%s %s: path parameter %s has no check here", method, path, p.Value.Name)
				s := p.Value.Schema.Value
				require.NotEmpty(t, s.Pattern, "%s %s: path parameter %s has no pattern", method, path, p.Value.Name)
				re := regexp.MustCompile(s.Pattern)
				seen[name] = true
				for _, v := range c.samples {
					fits := re.MatchString(v) && (s.MaxLength == nil || uint64(len(v)) <= *s.MaxLength)
					valid := c.validate(v) == nil
					if c.exact {
						require.Equal(t, valid, fits, "%s %s: %s %q: valid %v, fits the pattern %v", method, path, name, v, valid, fits)
					} else if valid {
						require.True(t, fits, "%s %s: %s %q is valid but does not fit the pattern", method, path, name, v)
					}
				}
			}
		}
	}
	require.Len(t, seen, len(checks), "every kind of path parameter is checked")
}
