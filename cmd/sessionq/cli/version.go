package cli

import (
	"runtime/debug"
	"strings"
)

// commit is the VCS commit given at link time (make build:
// -ldflags "-X github.com/sessionq/sessionq/cmd/sessionq/cli.commit=..."), used
// when the Go toolchain did not stamp one (-buildvcs=false, a git worktree).
var commit string

// version is what `sessionq --version` prints after "sessionq ": the
// module version ("(devel)" for a build from a work tree), the VCS commit
// and its time when the binary was built from a repository (with
// "modified" when the tree had uncommitted changes), and the Go version.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown (built without module information)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	parts := []string{v}
	var rev, at string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev == "" && commit != "" {
		rev, at, modified = commit, "", strings.HasSuffix(commit, "-dirty")
		rev = strings.TrimSuffix(rev, "-dirty")
	}
	if rev != "" {
		c := "commit " + rev
		if at != "" {
			c += " (" + at + ")"
		}
		if modified {
			c += ", modified"
		}
		parts = append(parts, c)
	} else {
		parts = append(parts, "commit unknown")
	}
	parts = append(parts, bi.GoVersion)
	return strings.Join(parts, ", ")
}
