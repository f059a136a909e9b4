// Command apidiff reports the breaking changes of the gateway's committed
// OpenAPI document (api/openapi.json) since a base revision, with oasdiff's
// checks, and fails on those that api/breaking-allowed.txt does not list.
// It is a module of its own so that oasdiff's dependencies stay out of
// sessionq's go.mod.
//
//	cd tools/apidiff && go run . [-base REV]
//
// Its test (run by make test) does the same with the base from APIDIFF_BASE,
// else the merge-base with origin/main (or main; HEAD~1 on main itself).
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/oasdiff/oasdiff/checker"
	"github.com/oasdiff/oasdiff/diff"
	"github.com/oasdiff/oasdiff/load"
)

// Paths of the contract files, relative to the repository's root.
const (
	DocPath   = "api/openapi.json"
	AllowPath = "api/breaking-allowed.txt"
)

// Break is one breaking change: oasdiff's rule id, the operation it is
// on ("GET /v1/jobs/{id}", or "-" for none), its level and oasdiff's text.
type Break struct {
	ID        string
	Operation string
	Level     string // "error" (breaks clients) or "warning" (may break them)
	Text      string
}

func (b Break) String() string { return b.ID + " " + b.Operation + " (" + b.Level + "): " + b.Text }

// Breaking returns the breaking changes from the document base to the
// document revision, both OpenAPI JSON or YAML: oasdiff's levels ERR and
// WARN, as its breaking command reports them (a removed optional response
// field is a WARN, and breaks a client that reads it).
func Breaking(base, revision []byte) ([]Break, error) {
	s1, err := load.NewSpecInfoFromData(openapi3.NewLoader(), base, "base/"+DocPath)
	if err != nil {
		return nil, fmt.Errorf("loading the base document: %w", err)
	}
	s2, err := load.NewSpecInfoFromData(openapi3.NewLoader(), revision, "revision/"+DocPath)
	if err != nil {
		return nil, fmt.Errorf("loading the revision's document: %w", err)
	}
	d, sources, err := diff.GetWithOperationsSourcesMap(diff.NewConfig(), s1, s2)
	if err != nil {
		return nil, fmt.Errorf("diffing the documents: %w", err)
	}
	l := checker.NewDefaultLocalizer()
	var out []Break
	for _, c := range checker.CheckBackwardCompatibilityUntilLevel(checker.NewConfig(checker.GetAllChecks()), d, sources, checker.WARN) {
		op := "-"
		if c.GetOperation() != "" || c.GetPath() != "" {
			op = c.GetOperation() + " " + c.GetPath()
		}
		level := "warning"
		if c.GetLevel() == checker.ERR {
			level = "error"
		}
		out = append(out, Break{ID: c.GetId(), Operation: op, Level: level, Text: c.GetUncolorizedText(l)})
	}
	return out, nil
}

// Allowed is the allow file: each line names an oasdiff rule id and an
// operation ("METHOD /path", or "-") and says why after a '#':
//
//	response-property-removed GET /v1/jobs/{id}  # renamed to camelCase (issue 17)
type Allowed map[string]bool

// ParseAllowed reads an allow file. Blank lines and lines that start with
// '#' are comments; every entry needs its reason.
func ParseAllowed(r io.Reader) (Allowed, error) {
	a := Allowed{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		entry, why, ok := strings.Cut(line, "#")
		if !ok || strings.TrimSpace(why) == "" {
			return nil, fmt.Errorf("apidiff: line %d: %q says no reason: add one after a '#'", n, line)
		}
		f := strings.Fields(entry)
		switch {
		case len(f) == 2 && f[1] == "-":
		case len(f) == 3 && strings.HasPrefix(f[2], "/"):
		default:
			return nil, fmt.Errorf("apidiff: line %d: %q: want RULE-ID METHOD /path (or RULE-ID -) # why", n, line)
		}
		a[strings.Join(f, " ")] = true
	}
	return a, sc.Err()
}

// Allows reports whether b is listed.
func (a Allowed) Allows(b Break) bool { return a[b.ID+" "+b.Operation] }

// Check returns the breaking changes from base to revision that allowed
// does not list, and every breaking change for the report.
func Check(base, revision []byte, allowed Allowed) (refused, all []Break, err error) {
	all, err = Breaking(base, revision)
	if err != nil {
		return nil, nil, err
	}
	for _, b := range all {
		if !allowed.Allows(b) {
			refused = append(refused, b)
		}
	}
	return refused, all, nil
}

// ErrNoBase means the base revision has no committed document: nothing to
// compare with.
var ErrNoBase = errors.New("apidiff: the base revision has no " + DocPath)

// root is the repository's top folder.
func root() (string, error) {
	out, err := git("", "rev-parse", "--show-toplevel")
	return strings.TrimSpace(out), err
}

func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// DefaultBase is the revision to compare with: $APIDIFF_BASE, else the
// merge-base of HEAD and origin/main (or main, without a remote), else (on
// main itself) HEAD~1. "" when there is none (a repository of one commit).
func DefaultBase(dir string) string {
	if b := os.Getenv("APIDIFF_BASE"); b != "" {
		return b
	}
	head, _ := git(dir, "rev-parse", "HEAD")
	for _, main := range []string{"origin/main", "main"} {
		if _, err := git(dir, "rev-parse", "--verify", "--quiet", main+"^{commit}"); err != nil {
			continue
		}
		if mb, err := git(dir, "merge-base", "HEAD", main); err == nil && mb != head {
			return strings.TrimSpace(mb)
		}
		break
	}
	if _, err := git(dir, "rev-parse", "--verify", "--quiet", "HEAD~1^{commit}"); err == nil {
		return "HEAD~1"
	}
	return ""
}

// AtRevision is the committed document at rev, or ErrNoBase.
func AtRevision(dir, rev string) ([]byte, error) {
	if _, err := git(dir, "cat-file", "-e", rev+":"+DocPath); err != nil {
		return nil, fmt.Errorf("%w (%s)", ErrNoBase, rev)
	}
	out, err := git(dir, "show", rev+":"+DocPath)
	return []byte(out), err
}

// Run compares the working tree's document with the one at base and
// writes the report to w; the error lists the breaking changes that the
// allow file does not.
func Run(w io.Writer, dir, base string) error {
	if base == "" {
		fmt.Fprintln(w, "apidiff: no base revision (a repository of one commit): nothing to compare")
		return nil
	}
	old, err := AtRevision(dir, base)
	if errors.Is(err, ErrNoBase) {
		fmt.Fprintf(w, "apidiff: %s does not exist at %s: nothing to compare\n", DocPath, base)
		return nil
	}
	if err != nil {
		return err
	}
	cur, err := os.ReadFile(filepath.Join(dir, DocPath))
	if err != nil {
		return err
	}
	allowed := Allowed{}
	if f, err := os.Open(filepath.Join(dir, AllowPath)); err == nil {
		allowed, err = ParseAllowed(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", AllowPath, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	refused, all, err := Check(old, cur, allowed)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "apidiff: %s against %s: %d breaking changes, %d allowed by %s\n", DocPath, base, len(all), len(all)-len(refused), AllowPath)
	for _, b := range all {
		mark := "allowed"
		if !allowed.Allows(b) {
			mark = "REFUSED"
		}
		fmt.Fprintf(w, "  %s %s\n", mark, b)
	}
	if len(refused) > 0 {
		var sb strings.Builder
		fmt.Fprintf(&sb, "%d breaking changes of the API since %s: make them compatible, or list each in %s with the reason:\n", len(refused), base, AllowPath)
		for _, b := range refused {
			fmt.Fprintf(&sb, "%s %s  # why\n", b.ID, b.Operation)
		}
		return errors.New(sb.String())
	}
	return nil
}

func main() {
	base := flag.String("base", "", "the revision to compare with (default: $APIDIFF_BASE, else the merge-base with origin/main, else HEAD~1)")
	flag.Parse()
	dir, err := root()
	if err == nil {
		if *base == "" {
			*base = DefaultBase(dir)
		}
		err = Run(os.Stdout, dir, *base)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
