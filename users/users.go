// Package users keeps the users of the HTTP gateway in Redis: their
// passwords (argon2id), rights and API tokens.
//
// A token is "sqt_", the user's name, "_" and 256 bits from the system's
// CSPRNG; it is shown once when created and stored only as its SHA-256.
// Authenticate hashes what it is given, looks the hash up (with the user,
// in one round trip) and compares it in constant time. Revoking a token or
// removing its user deletes the record, so it stops working at the next
// request. Passwords are checked in the same time whether the user exists
// or not: an unknown user is checked against a dummy hash.
//
// A user has an auth epoch, bumped by every password change (removal
// included). A token made for a login (CreateLoginToken: the gateway's
// POST /v1/login and the dashboard's password login) records the epoch of
// the password it was made with, and Authenticate refuses it once the
// epoch moved: changing a password ends the logins made with the old one
// at once. Tokens from CreateToken (service credentials an operator makes)
// are not tied to the password and survive its change.
package users

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/argon2"

	"github.com/sessionq/sessionq/internal/keys"
	"github.com/sessionq/sessionq/internal/validate"
)

// Errors of the store.
var (
	// ErrInvalid is wrapped by every validation error.
	ErrInvalid = errors.New("users: invalid input")
	// ErrNotFound: no such user or token.
	ErrNotFound = errors.New("users: not found")
	// ErrExists: the user exists already.
	ErrExists = errors.New("users: user exists")
	// ErrUnauthenticated: the token or the user and password do not
	// authenticate anybody. It never says which part was wrong.
	ErrUnauthenticated = errors.New("users: not authenticated")
)

// MaxNameLen is the longest user name.
const MaxNameLen = 64

// MaxPasswordLen is the longest password accepted.
const MaxPasswordLen = 1024

// TokenPrefix starts every API token.
const TokenPrefix = "sqt_"

// Argon2id parameters (the second recommendation of RFC 9106 trimmed to
// OWASP's minimum memory, so that a login costs about 20 ms and 19 MiB).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

//go:embed lua/setpassword.lua
var setPasswordLua string

var setPasswordScript = redis.NewScript(setPasswordLua)

// Store keeps users in Redis. It is safe for concurrent use.
type Store struct {
	rdb   redis.UniversalClient
	dummy string // a hash to check unknown users' passwords against
}

// New returns a Store on rdb.
func New(rdb redis.UniversalClient) *Store {
	return &Store{rdb: rdb, dummy: hashPassword("sessionq dummy password")}
}

// ValidateName checks a user name: 1 to 64 bytes of letters, digits and
// . _ - @ (the same characters a session owner may hold, less ':').
func ValidateName(name string) error {
	ok := func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == '-' || c == '@'
	}
	if why := validate.Name(name, MaxNameLen, ok); why != "" {
		return fmt.Errorf("%w: user name %q: %s", ErrInvalid, validate.Cut(name), why)
	}
	return nil
}

func checkPassword(pw string) error {
	if len(pw) > MaxPasswordLen {
		return fmt.Errorf("%w: password longer than %d bytes", ErrInvalid, MaxPasswordLen)
	}
	return nil
}

func parseRights(rs []string) ([]string, error) {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		c, err := ParseRight(r)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out, nil
}

// Add creates user name with password (empty: none, the user can only
// log in through a token or be impersonated) and rights.
func (s *Store) Add(ctx context.Context, name, password string, rights []string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if err := checkPassword(password); err != nil {
		return err
	}
	rs, err := parseRights(rights)
	if err != nil {
		return err
	}
	// The auth epoch starts at the creation time: a user removed and added
	// again does not get back the epoch of its former self.
	ct := time.Now().UnixMilli()
	fields := map[string]any{"rights": strings.Join(rs, " "), "ct": ct, "ae": ct}
	if password != "" {
		fields["pw"] = hashPassword(password)
	}
	ok, err := s.rdb.HSetNX(ctx, keys.User(name), "ct", fields["ct"]).Result()
	if err != nil {
		return fmt.Errorf("adding user %s: %w", name, err)
	}
	if !ok {
		return fmt.Errorf("user %s: %w", name, ErrExists)
	}
	if err := s.rdb.HSet(ctx, keys.User(name), fields).Err(); err != nil {
		return fmt.Errorf("adding user %s: %w", name, err)
	}
	if err := s.rdb.SAdd(ctx, keys.Users, name).Err(); err != nil {
		return fmt.Errorf("adding user %s: %w", name, err)
	}
	return nil
}

// SetPassword sets (or, with "", removes) the password of user name. It
// bumps the user's auth epoch in the same step: every login token made
// before stops authenticating.
func (s *Store) SetPassword(ctx context.Context, name, password string) error {
	if _, err := s.Get(ctx, name); err != nil {
		return err
	}
	if err := checkPassword(password); err != nil {
		return err
	}
	hash := ""
	if password != "" {
		hash = hashPassword(password)
	}
	n, err := setPasswordScript.Run(ctx, s.rdb, []string{keys.User(name)}, hash).Int64()
	if err != nil {
		return fmt.Errorf("setting password of %s: %w", name, err)
	}
	if n == 0 {
		return fmt.Errorf("user %s: %w", name, ErrNotFound)
	}
	return nil
}

// Get reads user name.
func (s *Store) Get(ctx context.Context, name string) (*User, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	u, _, err := s.get(ctx, name)
	return u, err
}

func (s *Store) get(ctx context.Context, name string) (*User, string, error) {
	m, err := s.rdb.HGetAll(ctx, keys.User(name)).Result()
	if err != nil {
		return nil, "", fmt.Errorf("reading user %s: %w", name, err)
	}
	if len(m) == 0 {
		return nil, "", fmt.Errorf("user %s: %w", name, ErrNotFound)
	}
	return userFrom(name, m), m["pw"], nil
}

// userFrom is the user of record m.
func userFrom(name string, m map[string]string) *User {
	ae, _ := strconv.ParseInt(m["ae"], 10, 64)
	return &User{Name: name, Rights: strings.Fields(m["rights"]), Password: m["pw"] != "", Epoch: ae}
}

// List returns every user, by name.
func (s *Store) List(ctx context.Context) ([]*User, error) {
	names, err := s.rdb.SMembers(ctx, keys.Users).Result()
	if err != nil {
		return nil, fmt.Errorf("listing users: %w", err)
	}
	slices.Sort(names)
	out := []*User{}
	for _, n := range names {
		u, _, err := s.get(ctx, n)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// Remove deletes user name and every token of theirs.
func (s *Store) Remove(ctx context.Context, name string) error {
	if _, err := s.Get(ctx, name); err != nil {
		return err
	}
	// The user record first: Authenticate refuses a token whose user is gone.
	if err := s.rdb.Del(ctx, keys.User(name)).Err(); err != nil {
		return fmt.Errorf("removing user %s: %w", name, err)
	}
	toks, err := s.rdb.HGetAll(ctx, keys.UserTokens(name)).Result()
	if err != nil {
		return fmt.Errorf("removing tokens of %s: %w", name, err)
	}
	for _, h := range toks {
		if err := s.rdb.Del(ctx, keys.Token(h)).Err(); err != nil {
			return fmt.Errorf("removing tokens of %s: %w", name, err)
		}
	}
	if err := s.rdb.Del(ctx, keys.UserTokens(name)).Err(); err != nil {
		return fmt.Errorf("removing tokens of %s: %w", name, err)
	}
	if err := s.rdb.SRem(ctx, keys.Users, name).Err(); err != nil {
		return fmt.Errorf("removing user %s: %w", name, err)
	}
	return nil
}

// Grant adds rights to user name.
func (s *Store) Grant(ctx context.Context, name string, rights ...string) (*User, error) {
	return s.changeRights(ctx, name, rights, true)
}

// Revoke removes rights from user name. Revoking a right the user does not
// hold is not an error.
func (s *Store) Revoke(ctx context.Context, name string, rights ...string) (*User, error) {
	return s.changeRights(ctx, name, rights, false)
}

func (s *Store) changeRights(ctx context.Context, name string, rights []string, add bool) (*User, error) {
	rs, err := parseRights(rights)
	if err != nil {
		return nil, err
	}
	u, err := s.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		i := slices.Index(u.Rights, r)
		switch {
		case add && i < 0:
			u.Rights = append(u.Rights, r)
		case !add && i >= 0:
			u.Rights = slices.Delete(u.Rights, i, i+1)
		}
	}
	if err := s.rdb.HSet(ctx, keys.User(name), "rights", strings.Join(u.Rights, " ")).Err(); err != nil {
		return nil, fmt.Errorf("changing rights of %s: %w", name, err)
	}
	return u, nil
}

// CheckPassword returns user name when password is theirs, else an error
// wrapping ErrUnauthenticated. It takes the same time for an unknown user,
// a user without a password and a wrong password.
func (s *Store) CheckPassword(ctx context.Context, name, password string) (*User, error) {
	if ValidateName(name) != nil || checkPassword(password) != nil {
		verifyPassword(s.dummy, password)
		return nil, ErrUnauthenticated
	}
	u, hash, err := s.get(ctx, name)
	switch {
	case errors.Is(err, ErrNotFound):
		verifyPassword(s.dummy, password)
		return nil, ErrUnauthenticated
	case err != nil:
		return nil, err
	}
	if hash == "" {
		verifyPassword(s.dummy, password)
		return nil, ErrUnauthenticated
	}
	if !verifyPassword(hash, password) || password == "" {
		return nil, ErrUnauthenticated
	}
	return u, nil
}

// Token describes an API token; the token itself is never stored.
type Token struct {
	ID      string    `json:"id"`
	User    string    `json:"user"`
	Label   string    `json:"label,omitempty"`
	Created time.Time `json:"created"`
	// Login: made for a login (CreateLoginToken); it ends when the
	// user's password changes.
	Login bool `json:"login,omitempty"`
}

var tokenEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func tokenHash(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// CreateToken makes a new API token for user name and returns it: the only
// time it can be read. A ttl > 0 makes it expire; 0 never. It survives
// changes of the user's password (a service credential).
func (s *Store) CreateToken(ctx context.Context, name, label string, ttl time.Duration) (string, *Token, error) {
	return s.createToken(ctx, name, label, ttl, -1)
}

// CreateLoginToken makes a token as CreateToken does, for a login of user
// u, whose password was just checked (u as CheckPassword answered it): the
// token stops authenticating as soon as u's password changes, even when
// it changed between the check and now.
func (s *Store) CreateLoginToken(ctx context.Context, u *User, label string, ttl time.Duration) (string, *Token, error) {
	if u == nil {
		return "", nil, fmt.Errorf("%w: no user", ErrInvalid)
	}
	return s.createToken(ctx, u.Name, label, ttl, u.Epoch)
}

// createToken makes a token; epoch >= 0 ties it to that auth epoch.
func (s *Store) createToken(ctx context.Context, name, label string, ttl time.Duration, epoch int64) (string, *Token, error) {
	if ttl < 0 {
		return "", nil, fmt.Errorf("%w: token lifetime %s is negative", ErrInvalid, ttl)
	}
	if _, err := s.Get(ctx, name); err != nil {
		return "", nil, err
	}
	if len(label) > 128 || strings.ContainsFunc(label, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return "", nil, fmt.Errorf("%w: token label: at most 128 bytes, no control characters", ErrInvalid)
	}
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	// The user's name is part of the token, so that Authenticate reads
	// the token and the user in one round trip.
	tok := TokenPrefix + name + "_" + tokenEncoding.EncodeToString(b[:])
	h := tokenHash(tok)
	t := &Token{ID: h[:12], User: name, Label: label, Created: time.Now().Truncate(time.Millisecond), Login: epoch >= 0}
	fields := []any{"user", name, "id", t.ID, "label", label, "ct", t.Created.UnixMilli()}
	if epoch >= 0 {
		fields = append(fields, "ae", epoch)
	}
	if _, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, keys.Token(h), fields...)
		if ttl > 0 {
			p.PExpire(ctx, keys.Token(h), ttl)
		}
		return nil
	}); err != nil {
		return "", nil, fmt.Errorf("creating token: %w", err)
	}
	if err := s.rdb.HSet(ctx, keys.UserTokens(name), t.ID, h).Err(); err != nil {
		_ = s.rdb.Del(ctx, keys.Token(h)).Err()
		return "", nil, fmt.Errorf("creating token: %w", err)
	}
	// A user removed meanwhile must not keep a token.
	if _, err := s.Get(ctx, name); err != nil {
		_ = s.rdb.Del(ctx, keys.Token(h)).Err()
		return "", nil, err
	}
	return tok, t, nil
}

// Tokens lists the tokens of user name.
func (s *Store) Tokens(ctx context.Context, name string) ([]*Token, error) {
	u, err := s.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	ids, err := s.rdb.HGetAll(ctx, keys.UserTokens(name)).Result()
	if err != nil {
		return nil, fmt.Errorf("listing tokens of %s: %w", name, err)
	}
	out := []*Token{}
	for id, h := range ids {
		m, err := s.rdb.HGetAll(ctx, keys.Token(h)).Result()
		if err != nil {
			return nil, fmt.Errorf("listing tokens of %s: %w", name, err)
		}
		ae, login := m["ae"]
		if login && ae != strconv.FormatInt(u.Epoch, 10) {
			// A login whose password changed since: it no longer works.
			_ = s.rdb.Del(ctx, keys.Token(h)).Err()
			m = nil
		}
		if len(m) == 0 {
			// Expired: forget it.
			_ = s.rdb.HDel(ctx, keys.UserTokens(name), id).Err()
			continue
		}
		ct, _ := strconv.ParseInt(m["ct"], 10, 64)
		out = append(out, &Token{ID: m["id"], User: name, Label: m["label"], Created: time.UnixMilli(ct), Login: login})
	}
	slices.SortFunc(out, func(a, b *Token) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// RevokeToken deletes token id of user name; it stops working at once.
func (s *Store) RevokeToken(ctx context.Context, name, id string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	h, err := s.rdb.HGet(ctx, keys.UserTokens(name), id).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return fmt.Errorf("token %q of %s: %w", validate.Cut(id), name, ErrNotFound)
	case err != nil:
		return fmt.Errorf("revoking token: %w", err)
	}
	if err := s.rdb.Del(ctx, keys.Token(h)).Err(); err != nil {
		return fmt.Errorf("revoking token: %w", err)
	}
	if err := s.rdb.HDel(ctx, keys.UserTokens(name), id).Err(); err != nil {
		return fmt.Errorf("revoking token: %w", err)
	}
	return nil
}

// RevokeTokenValue deletes token tok itself (a logout: the caller holds
// the token, not its ID); it stops working at once. A token that does not
// authenticate is an error wrapping ErrNotFound.
func (s *Store) RevokeTokenValue(ctx context.Context, tok string) error {
	_, err := s.revokeValue(ctx, tok, false)
	return err
}

// EndLogin revokes token tok when it was made for a login
// (CreateLoginToken) and reports whether it did; any other token (a
// service credential the user logged in with) is left alone.
func (s *Store) EndLogin(ctx context.Context, tok string) (bool, error) {
	return s.revokeValue(ctx, tok, true)
}

func (s *Store) revokeValue(ctx context.Context, tok string, loginOnly bool) (bool, error) {
	name, ok := tokenUser(tok)
	if !ok {
		return false, fmt.Errorf("token: %w", ErrNotFound)
	}
	h := tokenHash(tok)
	m, err := s.rdb.HGetAll(ctx, keys.Token(h)).Result()
	if err != nil {
		return false, fmt.Errorf("revoking token: %w", err)
	}
	if len(m) == 0 || subtle.ConstantTimeCompare([]byte(m["id"]), []byte(h[:12])) != 1 || m["user"] != name {
		return false, fmt.Errorf("token: %w", ErrNotFound)
	}
	if _, login := m["ae"]; loginOnly && !login {
		return false, nil
	}
	if err := s.rdb.Del(ctx, keys.Token(h)).Err(); err != nil {
		return false, fmt.Errorf("revoking token: %w", err)
	}
	if err := s.rdb.HDel(ctx, keys.UserTokens(name), m["id"]).Err(); err != nil {
		return false, fmt.Errorf("revoking token: %w", err)
	}
	return true, nil
}

// Authenticate returns the user whose token tok is, else an error wrapping
// ErrUnauthenticated. A login token is refused once its user's password
// changed (the auth epoch read in the same round trip).
func (s *Store) Authenticate(ctx context.Context, tok string) (*User, error) {
	name, ok := tokenUser(tok)
	if !ok {
		return nil, ErrUnauthenticated
	}
	h := tokenHash(tok)
	var tc, uc *redis.MapStringStringCmd
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		tc = p.HGetAll(ctx, keys.Token(h))
		uc = p.HGetAll(ctx, keys.User(name))
		return nil
	}); err != nil {
		return nil, fmt.Errorf("reading token: %w", err)
	}
	t, u := tc.Val(), uc.Val()
	// The key is the hash already; comparing the stored ID as well, in
	// constant time, keeps a record written under the wrong key useless.
	if len(t) == 0 || subtle.ConstantTimeCompare([]byte(t["id"]), []byte(h[:12])) != 1 || t["user"] != name {
		return nil, ErrUnauthenticated
	}
	if len(u) == 0 {
		return nil, ErrUnauthenticated // the user was removed
	}
	user := userFrom(name, u)
	if ae, ok := t["ae"]; ok && ae != strconv.FormatInt(user.Epoch, 10) {
		return nil, ErrUnauthenticated // a login made with a password since changed
	}
	return user, nil
}

// tokenLen is the length of the random part of a token.
var tokenLen = tokenEncoding.EncodedLen(32)

// tokenUser returns the user name a token names, and whether it has the
// shape of a token: TokenPrefix, the name, "_", 52 base32 characters.
func tokenUser(tok string) (string, bool) {
	if !strings.HasPrefix(tok, TokenPrefix) || len(tok) < len(TokenPrefix)+2+tokenLen || len(tok) > len(TokenPrefix)+MaxNameLen+1+tokenLen {
		return "", false
	}
	cut := len(tok) - tokenLen - 1
	if tok[cut] != '_' {
		return "", false
	}
	name := tok[len(TokenPrefix):cut]
	if ValidateName(name) != nil {
		return "", false
	}
	return name, true
}

// hashPassword returns the argon2id hash of pw in the PHC string format.
func hashPassword(pw string) string {
	salt := make([]byte, argonSaltLen)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// verifyPassword checks pw against a hash from hashPassword, in constant
// time once the hash is computed.
func verifyPassword(hash, pw string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || m > 1<<20 || t == 0 || t > 16 || p == 0 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(key) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1
}
