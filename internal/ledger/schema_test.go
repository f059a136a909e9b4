package ledger

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// ledgerKeys are the key builders of internal/keys that name the ledger's
// keys: only this package may call them (tests may, to look).
var ledgerKeys = []string{"Run", "Pending", "Job", "JobPrefix", "JobIndex", "Dead", "PendingPattern", "SessionFromPending", "QueueCounts"}

// ledgerFields are fields of the ledger's hashes no other package's Lua
// script may name (it goes through LuaLib instead).
var ledgerFields = []string{"cmt", "tok", "wid", "until", "fence", "lss", "gen", "att", "dat", "pat", "cx", "prog"}

// moduleRoot is the directory of go.mod above this package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		up := filepath.Dir(dir)
		require.NotEqual(t, dir, up, "no go.mod above the ledger")
		dir = up
	}
}

// walkModule calls f with the path (and the path relative to root) of
// every file under root whose name ends in ext, outside internal/ledger,
// testdata and hidden folders.
func walkModule(t *testing.T, root, ext string, f func(rel, path string) error) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == "internal/ledger" || d.Name() == "testdata" || d.Name() == "node_modules" ||
				strings.HasPrefix(d.Name(), ".") && rel != "." {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ext) {
			return nil
		}
		return f(rel, path)
	})
	require.NoError(t, err)
}

// ledgerKeyUses lists, as "file:line: keys.X", every call or use of a
// ledger key builder in the non-test Go files under root outside
// internal/ledger and internal/keys.
func ledgerKeyUses(t *testing.T, root string) []string {
	t.Helper()
	const keysPath = "github.com/sessionq/sessionq/internal/keys"
	var out []string
	fset := token.NewFileSet()
	walkModule(t, root, ".go", func(rel, path string) error {
		if strings.HasPrefix(rel, "internal/keys/") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		name := ""
		for _, im := range f.Imports {
			if p, _ := strconv.Unquote(im.Path.Value); p == keysPath {
				name = "keys"
				if im.Name != nil {
					name = im.Name.Name
				}
			}
		}
		if name == "" {
			return nil
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); ok && x.Name == name && slices.Contains(ledgerKeys, sel.Sel.Name) {
				out = append(out, rel+":"+strconv.Itoa(fset.Position(sel.Pos()).Line)+": keys."+sel.Sel.Name)
			}
			return true
		})
		return nil
	})
	return out
}

// No package but the ledger names a ledger key: the others go through its
// API (Record, Backlog, Runs, Dead, ...). A test file may still look.
func TestNoLedgerKeysOutside(t *testing.T) {
	t.Parallel()
	offenders := ledgerKeyUses(t, moduleRoot(t))
	require.Empty(t, offenders, "build ledger keys in internal/ledger only; these do it elsewhere:\n%s",
		strings.Join(offenders, "\n"))
}

// No Lua script of another package names a field of the ledger's hashes:
// a write-back goes through LuaLib's fenced and commit.
func TestNoLedgerFieldsInOtherScripts(t *testing.T) {
	t.Parallel()
	root := moduleRoot(t)
	var offenders []string
	walkModule(t, root, ".lua", func(rel, path string) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "--") {
				continue
			}
			for _, f := range ledgerFields {
				if strings.Contains(line, "'"+f+"'") {
					offenders = append(offenders, rel+":"+strconv.Itoa(i+1)+": '"+f+"'")
				}
			}
		}
		return nil
	})
	require.Empty(t, offenders, "ledger fields named outside internal/ledger:\n%s", strings.Join(offenders, "\n"))
}

// declaredVerdicts are the constants of type Verdict in this package's
// non-test files.
func declaredVerdicts(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, s := range g.Specs {
				v := s.(*ast.ValueSpec)
				if id, ok := v.Type.(*ast.Ident); !ok || id.Name != "Verdict" {
					continue
				}
				for i, n := range v.Names {
					lit, ok := v.Values[i].(*ast.BasicLit)
					require.True(t, ok, "verdict %s is not a literal", n.Name)
					w, _ := strconv.Unquote(lit.Value)
					out[w] = n.Name
				}
			}
		}
	}
	return out
}

// replyWords are the quoted words of every table a script returns (or
// hands to take_lease to return).
var replyWords = regexp.MustCompile(`(?:return|take_lease\()\s*\{([^}]*)\}`)
var quoted = regexp.MustCompile(`'([a-z]+)'`)

// Every word a ledger script answers with is a Verdict constant (or a job
// state, as a record holds it), and every Verdict is answered by some
// script: the two sides cannot drift.
func TestVerdictsAreDeclared(t *testing.T) {
	t.Parallel()
	verdicts := declaredVerdicts(t)
	require.NotEmpty(t, verdicts)
	states := []string{StatePending, StateParked, StateRunning, StateRetrying, StateSucceeded, StateFailed, StateCancelled}
	scripts, err := filepath.Glob("lua/*.lua")
	require.NoError(t, err)
	used := map[string]bool{}
	var undeclared []string
	for _, path := range scripts {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		for _, m := range replyWords.FindAllStringSubmatch(string(b), -1) {
			for _, q := range quoted.FindAllStringSubmatch(m[1], -1) {
				w := q[1]
				used[w] = true
				if _, ok := verdicts[w]; !ok && !slices.Contains(states, w) {
					undeclared = append(undeclared, path+": "+w)
				}
			}
		}
	}
	require.Empty(t, undeclared, "script verdicts with no Verdict constant")
	for w, name := range verdicts {
		require.True(t, used[w], "Verdict %s (%q) is returned by no script", name, w)
	}
}
