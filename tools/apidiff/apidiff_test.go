package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoUnallowedBreakingChange is the contract's guard: the committed
// document has no breaking change since the base revision (APIDIFF_BASE,
// else the merge-base with origin/main, else HEAD~1) that the allow file
// does not list.
func TestNoUnallowedBreakingChange(t *testing.T) {
	dir, err := root()
	if err != nil {
		t.Fatal(err)
	}
	var report strings.Builder
	err = Run(&report, dir, DefaultBase(dir))
	t.Log(report.String())
	if err != nil {
		t.Fatal(err)
	}
}

// committed is the working tree's document.
func committed(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", DocPath))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withoutJobField is doc with one required property of getJob's answer
// removed.
func withoutJobField(t *testing.T, doc []byte) ([]byte, string) {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	get := func(m any, keys ...string) any {
		for _, k := range keys {
			mm, ok := m.(map[string]any)
			if !ok {
				t.Fatalf("no %s in the document", strings.Join(keys, "/"))
			}
			m = mm[k]
		}
		return m
	}
	ref, _ := get(d, "paths", "/v1/jobs/{id}", "get", "responses", "200", "content", "application/json", "schema", "$ref").(string)
	name := strings.TrimPrefix(ref, "#/components/schemas/")
	schema, _ := get(d, "components", "schemas", name).(map[string]any)
	props, _ := schema["properties"].(map[string]any)
	required, _ := schema["required"].([]any)
	if len(props) == 0 || len(required) == 0 {
		t.Fatalf("getJob's answer %q has no required properties", ref)
	}
	field := required[0].(string)
	delete(props, field)
	schema["required"] = required[1:]
	out, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return out, field
}

func TestBreakingChangeReported(t *testing.T) {
	doc := committed(t)
	none, err := Breaking(doc, doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(none) != 0 {
		t.Fatalf("the document against itself: %v", none)
	}

	changed, field := withoutJobField(t, doc)
	refused, all, err := Check(doc, changed, Allowed{})
	if err != nil {
		t.Fatal(err)
	}
	want := Break{ID: "response-required-property-removed", Operation: "GET /v1/jobs/{id}"}
	found := false
	for _, b := range all {
		if b.ID == want.ID && b.Operation == want.Operation && strings.Contains(b.Text, field) {
			found = true
		}
	}
	if !found || len(refused) != len(all) {
		t.Fatalf("removing %s from getJob's answer: want %s reported and refused, got %d refused of %v", field, want, len(refused), all)
	}

	allowed, err := ParseAllowed(strings.NewReader("# a comment\n\n" + want.ID + " GET /v1/jobs/{id}  # on purpose, in this test\n"))
	if err != nil {
		t.Fatal(err)
	}
	refused, _, err = Check(doc, changed, allowed)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range refused {
		if b.ID == want.ID && b.Operation == want.Operation {
			t.Fatalf("allowed yet refused: %s", b)
		}
	}
}

func TestParseAllowed(t *testing.T) {
	for _, bad := range []string{
		"response-property-removed GET /v1/jobs/{id}\n",      // no reason
		"response-property-removed GET /v1/jobs/{id} #\n",    // an empty one
		"response-property-removed /v1/jobs/{id} # why\n",    // no method
		"response-property-removed GET v1/jobs/{id} # why\n", // not a path
	} {
		if _, err := ParseAllowed(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
	a, err := ParseAllowed(strings.NewReader("api-schema-removed - # gone with the old casing\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !a.Allows(Break{ID: "api-schema-removed", Operation: "-"}) || a.Allows(Break{ID: "api-schema-removed", Operation: "GET /x"}) {
		t.Fatalf("allows: %v", a)
	}
}

func TestRunWithoutBase(t *testing.T) {
	dir, err := root()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	// The repository's first commit has no document.
	first, err := git(dir, "rev-list", "--max-parents=0", "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	rev := strings.Fields(first)[0]
	if err := Run(&out, dir, rev); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "does not exist at") {
		t.Fatalf("report: %s", out.String())
	}
}
