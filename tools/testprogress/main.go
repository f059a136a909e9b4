// Command testprogress turns `go test -json` into progress a person can
// follow while a long test run goes on: one line per top-level test as it
// ends, the whole output of a failing test, and each package's closing
// ok / FAIL line as go test prints it. It exits 1 when a package or a
// build failed, or when it read no package at all.
//
//	go test -json -race ./... | go run ./tools/testprogress
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

func main() {
	if !report(os.Stdin, os.Stdout) {
		os.Exit(1)
	}
}

// event is one line of `go test -json` (see go doc test2json).
type event struct {
	Time       time.Time
	Action     string
	Package    string
	ImportPath string // build-output, build-fail
	Test       string
	Elapsed    float64
	Output     string
}

// pkgState is what is kept of a package until it ends.
type pkgState struct {
	out   strings.Builder             // package-level output
	tests map[string]*strings.Builder // output per top-level test
}

// report reads events from r and writes progress to w; it reports whether
// every package passed (or had no tests).
func report(r io.Reader, w io.Writer) bool {
	pkgs := map[string]*pkgState{}
	state := func(p string) *pkgState {
		s := pkgs[p]
		if s == nil {
			s = &pkgState{tests: map[string]*strings.Builder{}}
			pkgs[p] = s
		}
		return s
	}
	var nOK, nFail, nNone, tPass, tFail, tSkip int
	buildFailed := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			// Not an event (go vet, a build error before -json took
			// over): pass it through.
			fmt.Fprintln(w, sc.Text())
			continue
		}
		switch e.Action {
		case "build-output":
			fmt.Fprint(w, e.Output)
			continue
		case "build-fail":
			buildFailed = true
			continue
		}
		s := state(e.Package)
		top, _, _ := strings.Cut(e.Test, "/")
		switch {
		case e.Action == "output" && e.Test == "":
			s.out.WriteString(e.Output)
		case e.Action == "output":
			b := s.tests[top]
			if b == nil {
				b = &strings.Builder{}
				s.tests[top] = b
			}
			b.WriteString(e.Output)
		case e.Test != "" && e.Test == top && (e.Action == "pass" || e.Action == "fail" || e.Action == "skip"):
			switch e.Action {
			case "pass":
				tPass++
				fmt.Fprintf(w, "  PASS %s %s (%.2fs)\n", short(e.Package), e.Test, e.Elapsed)
			case "skip":
				tSkip++
				fmt.Fprintf(w, "  SKIP %s %s\n", short(e.Package), e.Test)
			case "fail":
				tFail++
				fmt.Fprintf(w, "  FAIL %s %s (%.2fs)\n", short(e.Package), e.Test, e.Elapsed)
				if b := s.tests[top]; b != nil {
					fmt.Fprint(w, indent(b.String()))
				}
			}
			delete(s.tests, top)
		case e.Test == "" && e.Action == "pass":
			nOK++
			fmt.Fprint(w, closing(s.out.String(), "ok"))
			delete(pkgs, e.Package)
		case e.Test == "" && e.Action == "skip":
			nNone++
			fmt.Fprint(w, closing(s.out.String(), "?"))
			delete(pkgs, e.Package)
		case e.Test == "" && e.Action == "fail":
			nFail++
			// Everything the package said: a panic or a timeout is
			// reported outside any test.
			for _, b := range s.tests {
				fmt.Fprint(w, b.String())
			}
			fmt.Fprint(w, s.out.String())
			delete(pkgs, e.Package)
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(w, "testprogress: reading go test output:", err)
		return false
	}
	fmt.Fprintf(w, "\n%d packages ok, %d failed, %d without tests; tests: %d passed, %d failed, %d skipped\n",
		nOK, nFail, nNone, tPass, tFail, tSkip)
	if nOK+nFail+nNone == 0 {
		fmt.Fprintln(w, "testprogress: no package was tested")
		return false
	}
	return nFail == 0 && !buildFailed
}

// closing returns the lines of out that start with prefix: go test's
// closing line of a package ("ok  \tpkg\t1.2s").
func closing(out, prefix string) string {
	var b strings.Builder
	for line := range strings.SplitAfterSeq(out, "\n") {
		if strings.HasPrefix(line, prefix) {
			b.WriteString(line)
		}
	}
	return b.String()
}

// short is a package path without the module's.
func short(pkg string) string {
	return strings.TrimPrefix(strings.TrimPrefix(pkg, "github.com/sessionq/sessionq"), "/")
}

func indent(s string) string {
	var b strings.Builder
	for line := range strings.SplitAfterSeq(s, "\n") {
		if line != "" {
			b.WriteString("    " + line)
		}
	}
	return b.String()
}
