package users_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/redistest"
	"github.com/sessionq/sessionq/users"
)

func TestMain(m *testing.M) { redistest.Main(m) }

func TestParseRight(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"read:own", "read:all", "write:own", "write:all", "impersonate", "admin",
		"submit:*/*", "submit:default/doc.*", "submit:q/[ab]x"} {
		got, err := users.ParseRight(ok)
		require.NoError(t, err, ok)
		require.Equal(t, ok, got)
	}
	for _, bad := range []string{"", "read", "read:some", "submit:", "submit:q", "submit:/t", "submit:q/", "submit:[/t", "submit:q/a b", "ADMIN"} {
		_, err := users.ParseRight(bad)
		require.ErrorIs(t, err, users.ErrInvalid, "%q", bad)
	}
}

func TestRights(t *testing.T) {
	t.Parallel()
	u := &users.User{Name: "alice", Rights: []string{"read:own", "submit:default/doc.*", "submit:bulk/*"}}
	require.True(t, u.CanSubmit("default", "doc.render"))
	require.True(t, u.CanSubmit("", "doc.render"), "the default queue")
	require.True(t, u.CanSubmit("bulk", "anything"))
	require.False(t, u.CanSubmit("default", "echo"))
	require.False(t, u.CanSubmit("urgent", "doc.render"))
	require.True(t, u.CanRead("alice"))
	require.False(t, u.CanRead("bob"))
	require.False(t, u.CanRead(""), "what nobody owns needs read:all")
	require.False(t, u.CanWrite("alice"), "no write right")
	admin := &users.User{Name: "root", Rights: []string{"admin"}}
	require.True(t, admin.CanRead("bob") && admin.CanWrite("bob") && admin.CanSubmit("q", "t") && admin.Has(users.Impersonate))
	var none *users.User
	require.False(t, none.CanRead("x") || none.CanSubmit("q", "t") || none.Has(users.Admin))
}

func TestStore(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	s := users.New(rdb)
	ctx := context.Background()
	require.NoError(t, s.Add(ctx, "alice", "s3cret", []string{"read:own", "read:own"}))
	require.ErrorIs(t, s.Add(ctx, "alice", "", nil), users.ErrExists)
	require.ErrorIs(t, s.Add(ctx, "a{b}", "", nil), users.ErrInvalid)
	require.ErrorIs(t, s.Add(ctx, "bob", "", []string{"fly"}), users.ErrInvalid)
	require.ErrorIs(t, s.Add(ctx, "bob", strings.Repeat("x", users.MaxPasswordLen+1), nil), users.ErrInvalid)
	_, err := s.Get(ctx, "bob")
	require.ErrorIs(t, err, users.ErrNotFound, "a refused add writes nothing")

	u, err := s.Get(ctx, "alice")
	require.NoError(t, err)
	require.Equal(t, []string{"read:own"}, u.Rights)
	require.True(t, u.Password)
	u, err = s.Grant(ctx, "alice", "write:own", "submit:*/*")
	require.NoError(t, err)
	require.Equal(t, []string{"read:own", "write:own", "submit:*/*"}, u.Rights)
	u, err = s.Revoke(ctx, "alice", "read:own", "admin")
	require.NoError(t, err)
	require.Equal(t, []string{"write:own", "submit:*/*"}, u.Rights)

	_, err = s.CheckPassword(ctx, "alice", "s3cret")
	require.NoError(t, err)
	for _, c := range [][2]string{{"alice", "wrong"}, {"alice", ""}, {"nobody", "s3cret"}, {"bad name", "x"}} {
		_, err = s.CheckPassword(ctx, c[0], c[1])
		require.ErrorIs(t, err, users.ErrUnauthenticated, "%v", c)
	}
	require.NoError(t, s.Add(ctx, "nopw", "", nil))
	_, err = s.CheckPassword(ctx, "nopw", "")
	require.ErrorIs(t, err, users.ErrUnauthenticated, "a user without a password cannot log in with one")

	// The password is stored as an argon2id hash, never in clear.
	pw, err := rdb.HGet(ctx, keys.User("alice"), "pw").Result()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(pw, "$argon2id$v=19$"), pw)
	require.NotContains(t, pw, "s3cret")

	tok, info, err := s.CreateToken(ctx, "alice", "ci", 0)
	require.NoError(t, err)
	require.Regexp(t, `^sqt_alice_[a-z2-7]{52}$`, tok)
	got, err := s.Authenticate(ctx, tok)
	require.NoError(t, err)
	require.Equal(t, "alice", got.Name)
	last := "a"
	if strings.HasSuffix(tok, last) {
		last = "b"
	}
	for _, bad := range []string{tok[:len(tok)-1] + last, strings.Replace(tok, "alice", "nopw", 1), tok + "a", "sqt_alice_", ""} {
		_, err = s.Authenticate(ctx, bad)
		require.ErrorIs(t, err, users.ErrUnauthenticated, "%q", bad)
	}
	ks, err := rdb.Keys(ctx, "*").Result()
	require.NoError(t, err)
	for _, k := range ks {
		v, _ := rdb.Dump(ctx, k).Result()
		require.NotContains(t, v, tok, "the token is stored hashed only")
	}
	l, err := s.Tokens(ctx, "alice")
	require.NoError(t, err)
	require.Len(t, l, 1)
	require.Equal(t, info.ID, l[0].ID)

	short, _, err := s.CreateToken(ctx, "alice", "short", time.Second)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := s.Authenticate(ctx, short)
		return err != nil
	}, 5*time.Second, 5*time.Millisecond, "an expired token stops")
	l, err = s.Tokens(ctx, "alice")
	require.NoError(t, err)
	require.Len(t, l, 1, "expired tokens are dropped from the list")

	require.NoError(t, s.RevokeToken(ctx, "alice", info.ID))
	_, err = s.Authenticate(ctx, tok)
	require.ErrorIs(t, err, users.ErrUnauthenticated)
	require.ErrorIs(t, s.RevokeToken(ctx, "alice", info.ID), users.ErrNotFound)

	tok, _, err = s.CreateToken(ctx, "alice", "", 0)
	require.NoError(t, err)
	require.NoError(t, s.Remove(ctx, "alice"))
	_, err = s.Authenticate(ctx, tok)
	require.ErrorIs(t, err, users.ErrUnauthenticated)
	n, err := rdb.Exists(ctx, keys.User("alice"), keys.UserTokens("alice")).Result()
	require.NoError(t, err)
	require.Zero(t, n)
	all, err := s.List(ctx)
	require.NoError(t, err)
	require.Len(t, all, 1)
	require.Equal(t, "nopw", all[0].Name)
}

// TestPasswordChangeEndsLogins: a login token stops at the user's next
// password change (removal included); a service token does not.
func TestPasswordChangeEndsLogins(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	s := users.New(rdb)
	ctx := context.Background()
	require.NoError(t, s.Add(ctx, "alice", "old password", []string{users.ReadOwn}))
	u, err := s.CheckPassword(ctx, "alice", "old password")
	require.NoError(t, err)
	login, info, err := s.CreateLoginToken(ctx, u, "login", time.Hour)
	require.NoError(t, err)
	require.True(t, info.Login)
	service, _, err := s.CreateToken(ctx, "alice", "ci", 0)
	require.NoError(t, err)
	for _, tok := range []string{login, service} {
		_, err = s.Authenticate(ctx, tok)
		require.NoError(t, err)
	}

	require.NoError(t, s.SetPassword(ctx, "alice", "new password"))
	_, err = s.Authenticate(ctx, login)
	require.ErrorIs(t, err, users.ErrUnauthenticated, "a login made with the old password ends")
	_, err = s.Authenticate(ctx, service)
	require.NoError(t, err, "a service token is not tied to the password")
	l, err := s.Tokens(ctx, "alice")
	require.NoError(t, err)
	require.Len(t, l, 1, "the ended login is no longer listed")
	require.False(t, l[0].Login)

	// A check made before the change, turned into a token after it, gives
	// a dead token.
	stale := u
	u, err = s.CheckPassword(ctx, "alice", "new password")
	require.NoError(t, err)
	require.NoError(t, s.SetPassword(ctx, "alice", ""))
	for _, who := range []*users.User{stale, u} {
		tok, _, err := s.CreateLoginToken(ctx, who, "login", time.Hour)
		require.NoError(t, err)
		_, err = s.Authenticate(ctx, tok)
		require.ErrorIs(t, err, users.ErrUnauthenticated, "removing the password ends logins too")
	}
	require.ErrorIs(t, s.SetPassword(ctx, "nobody", "x"), users.ErrNotFound)
	n, err := rdb.Exists(ctx, keys.User("nobody")).Result()
	require.NoError(t, err)
	require.Zero(t, n, "a refused change writes nothing")
}

// TestRevokeTokenValue: a token revoked by its value stops at once; EndLogin
// revokes login tokens only.
func TestRevokeTokenValue(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	s := users.New(rdb)
	ctx := context.Background()
	require.NoError(t, s.Add(ctx, "alice", "pw", nil))
	tok, _, err := s.CreateToken(ctx, "alice", "", 0)
	require.NoError(t, err)
	require.NoError(t, s.RevokeTokenValue(ctx, tok))
	_, err = s.Authenticate(ctx, tok)
	require.ErrorIs(t, err, users.ErrUnauthenticated)
	require.ErrorIs(t, s.RevokeTokenValue(ctx, tok), users.ErrNotFound)
	require.ErrorIs(t, s.RevokeTokenValue(ctx, "not a token"), users.ErrNotFound)
	l, err := s.Tokens(ctx, "alice")
	require.NoError(t, err)
	require.Empty(t, l)

	service, _, err := s.CreateToken(ctx, "alice", "", 0)
	require.NoError(t, err)
	ended, err := s.EndLogin(ctx, service)
	require.NoError(t, err)
	require.False(t, ended, "a service token is not a login's to end")
	_, err = s.Authenticate(ctx, service)
	require.NoError(t, err)
	u, err := s.CheckPassword(ctx, "alice", "pw")
	require.NoError(t, err)
	login, _, err := s.CreateLoginToken(ctx, u, "", time.Hour)
	require.NoError(t, err)
	ended, err = s.EndLogin(ctx, login)
	require.NoError(t, err)
	require.True(t, ended)
	_, err = s.Authenticate(ctx, login)
	require.ErrorIs(t, err, users.ErrUnauthenticated)
}
